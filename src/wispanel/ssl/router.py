"""Routes of certificates: issue, renew, upload, CSRs, list, show and remove."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.deps import Audit, CurrentPrincipal
from wispanel.auth.scopes import area_scope
from wispanel.core.context import PanelContext, get_panel
from wispanel.core.database import get_session
from wispanel.core.pagination import PageRequest, page_request
from wispanel.core.schemas import MessageResponse
from wispanel.ssl import hooks as _hooks  # noqa: F401 - registers the account hooks
from wispanel.ssl import service
from wispanel.ssl.schemas import (
    CertificateOut,
    CsrOut,
    CsrRequest,
    InstallRequest,
    IssueRequest,
    JobAccepted,
    RenewRequest,
)

router = APIRouter(
    prefix="/api/v1/ssl", tags=["05 SSL Certificates"], dependencies=[area_scope("ssl")]
)

HOST_ERRORS: dict[int | str, dict[str, Any]] = {
    502: {"description": "nginx rejected the change or did not serve it; nothing changed"},
    503: {"description": "nginx is not installed or not running (SERVICE_UNAVAILABLE)"},
}
JOB_ERRORS: dict[int | str, dict[str, Any]] = {
    409: {"description": "A certificate job for the domain is already queued or running"},
    503: {"description": "nginx (or, for wildcards, PowerDNS) is not available"},
}
CertificateList = list[CertificateOut] | dict[str, Any]
Session = Annotated[AsyncSession, Depends(get_session)]
Panel = Annotated[PanelContext, Depends(get_panel)]
DomainName = Annotated[
    str, Path(max_length=1024, description="Domain name; Unicode names are IDNA-encoded")
]


@router.get(
    "/certificates",
    operation_id="listCertificates",
    summary="Certificates in scope with issuer, names and expiry (opt-in pagination)",
    response_model=CertificateList,
)
async def list_certificates(
    *, principal: CurrentPrincipal, db: Session, page: Annotated[PageRequest, Depends(page_request)]
) -> Any:
    return await service.list_certificates(db, principal, page)


@router.get(
    "/certificates/{domain}",
    operation_id="getCertificate",
    summary="One certificate, including what the web server actually serves",
    description="`served` comes from a TLS handshake with the domain as SNI to the panel's"
    " nginx on its HTTPS port; `matches` is true when it sends the installed certificate.",
    response_model=CertificateOut,
)
async def get_certificate(
    *, principal: CurrentPrincipal, db: Session, panel: Panel, domain: DomainName
) -> CertificateOut:
    return await service.get_certificate(db, panel, principal, domain)


@router.delete(
    "/certificates/{domain}",
    operation_id="deleteCertificate",
    summary="Remove a certificate; the site falls back to HTTP",
    response_model=MessageResponse,
    responses=HOST_ERRORS,
)
async def delete_certificate(
    *, principal: CurrentPrincipal, context: Audit, db: Session, panel: Panel, domain: DomainName
) -> MessageResponse:
    message = await service.delete_certificate(db, panel, principal, context, domain)
    return MessageResponse(message=message)


@router.post(
    "/issue",
    operation_id="issueCertificate",
    summary="Issue through ACME (HTTP-01, or DNS-01 for wildcards); a job",
    description="Returns 202 with a job to follow at `url`. The job orders the certificate,"
    " installs it, checks that nginx serves it, and then emits `ssl.issued`; on failure it"
    " emits `ssl.failed`, keeps the previous certificate and puts the reason in the job's"
    " `error`. With `include_www`, www.<domain>, the aliases and their www names are added"
    " when the panel's DNS points them at this server.",
    status_code=202,
    response_model=JobAccepted,
    responses=JOB_ERRORS,
)
async def issue(
    *, principal: CurrentPrincipal, context: Audit, db: Session, panel: Panel, body: IssueRequest
) -> JobAccepted:
    return await service.issue(db, panel, principal, context, body)


@router.post(
    "/renew",
    operation_id="renewCertificate",
    summary="Renew now; the scheduler also renews before expiry",
    description="Returns 202 with a job that orders the same names again and emits"
    " `ssl.renewed`. Uploaded certificates are renewed by uploading a new one (409).",
    status_code=202,
    response_model=JobAccepted,
    responses=JOB_ERRORS,
)
async def renew(
    *, principal: CurrentPrincipal, context: Audit, db: Session, panel: Panel, body: RenewRequest
) -> JobAccepted:
    return await service.renew(db, panel, principal, context, body)


@router.post(
    "/csr",
    operation_id="createCsr",
    summary="Generate a private key and CSR",
    description="The key stays on the server (0600) until a certificate is installed with"
    " POST /ssl/install without `private_key`; a new CSR replaces it.",
    response_model=CsrOut,
)
async def create_csr(
    *, principal: CurrentPrincipal, context: Audit, db: Session, panel: Panel, body: CsrRequest
) -> CsrOut:
    return await service.create_csr(db, panel, principal, context, body)


@router.post(
    "/install",
    operation_id="installCertificate",
    summary="Install an uploaded certificate, key and chain (checked to match)",
    description="Rejects (400) input that is not PEM or is too large, a key that doesn't"
    " match, a certificate that doesn't cover the domain or is not valid now. Emits"
    " `ssl.issued` with `source: uploaded` once nginx serves the certificate.",
    response_model=CertificateOut,
    responses=HOST_ERRORS,
)
async def install(
    *, principal: CurrentPrincipal, context: Audit, db: Session, panel: Panel, body: InstallRequest
) -> CertificateOut:
    return await service.install(db, panel, principal, context, body)
