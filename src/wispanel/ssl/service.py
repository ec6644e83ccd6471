"""Certificates of hosted domains: issue and renew through ACME, upload, CSRs, list and remove."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

import anyio
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.principal import Principal
from wispanel.core.context import PanelContext
from wispanel.core.errors import Conflict, Forbidden, NotFound, ServiceUnavailable, ValidationFailed
from wispanel.core.events import AuditContext
from wispanel.core.pagination import PageRequest, paginate
from wispanel.domains import hosting
from wispanel.domains.models import Domain
from wispanel.domains.service import get_domain_in_scope, owner_of
from wispanel.host import certificates
from wispanel.jobs import service as jobs
from wispanel.ssl import installation, issuance, names, uploads
from wispanel.ssl.models import Certificate, CertificateSource
from wispanel.ssl.names import current_names
from wispanel.ssl.schemas import (
    CertificateOut,
    CsrOut,
    CsrRequest,
    InstallRequest,
    IssueRequest,
    JobAccepted,
    RenewRequest,
    ServedOut,
)
from wispanel.users.limits import features_of, reseller_of
from wispanel.users.models import User
from wispanel.users.scope import owner_filter


def _required(raw: str | None) -> str:
    if raw is None or not raw.strip():
        raise ValidationFailed("Domain is required", details={"domain": ["required"]})
    return raw


async def domain_for_ssl(
    db: AsyncSession, principal: Principal, raw: str | None
) -> tuple[Domain, User]:
    """Return the domain in scope and its owner, if the owner's package allows certificates."""
    domain = await get_domain_in_scope(db, principal, _required(raw))
    owner = await owner_of(db, domain)
    if not (await features_of(db, owner))["ssl"]:
        raise Forbidden(
            f"The package of {owner.username} doesn't include SSL certificates",
            details={"domain": ["SSL is not in the package"]},
        )
    reseller = await reseller_of(db, owner)
    if reseller is not None and not (await features_of(db, reseller))["ssl"]:
        raise Forbidden(
            f"The reseller {reseller.username} may not hand out SSL certificates",
            details={"domain": ["SSL is not in the reseller's package"]},
        )
    return domain, owner


async def _lock_domain(db: AsyncSession, domain: Domain) -> None:
    """Hold the domain's row until the transaction ends.

    A no-op UPDATE takes a row lock on PostgreSQL and MariaDB and the write lock on SQLite,
    so a second request for the domain waits here until the first has committed its job.
    """
    await db.execute(
        update(Domain)
        .where(Domain.id == domain.id)
        .values(updated_at=Domain.updated_at)
        .execution_options(synchronize_session=False)
    )


async def _submit(
    db: AsyncSession,
    panel: PanelContext,
    context: AuditContext,
    domain: Domain,
    *,
    kind: str,
    order: list[str],
) -> JobAccepted:
    """Queue the job unless one is queued or running; the check and the insert are atomic."""
    await _lock_domain(db, domain)
    if domain.id in await db.run_sync(issuance.pending_domain_ids):
        raise Conflict(f"A certificate job for {domain.name} is already queued or running")
    params: dict[str, Any] = {
        "domain_id": domain.id,
        "domain": domain.name,
        "names": order,
        "request_id": context.request_id,
    }
    panel.events.audit(
        db,
        context,
        f"{kind}.requested",
        object_type="certificate",
        object_id=domain.name,
        owner_id=domain.owner_id,
        details={"names": order},
    )
    job = await jobs.submit(db, panel.jobs, kind, params, domain.owner_id)
    verb = "renewal" if kind == issuance.JOB_RENEW else "issuance"
    return JobAccepted(
        message=f"Certificate {verb} for {domain.name} started",
        job_id=job.id,
        status=job.status,
        url=f"/api/v1/jobs/{job.id}",
    )


async def issue(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    context: AuditContext,
    body: IssueRequest,
) -> JobAccepted:
    """Check the request and queue an ACME order for the domain as a job."""
    domain, _owner = await domain_for_ssl(db, principal, body.domain)
    hosting.web_of(panel)
    if body.wildcard and panel.dns is None:
        raise ServiceUnavailable("Wildcard certificates need the panel's DNS server (DNS-01)")
    order = await anyio.to_thread.run_sync(
        lambda: names.order_names(
            panel, domain, include_www=body.include_www, wildcard=body.wildcard
        )
    )
    return await _submit(db, panel, context, domain, kind=issuance.JOB_ISSUE, order=order)


async def renew(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    context: AuditContext,
    body: RenewRequest,
) -> JobAccepted:
    """Queue a renewal of the domain's ACME certificate for the same names."""
    domain, _owner = await domain_for_ssl(db, principal, body.domain)
    hosting.web_of(panel)
    row = await installation.record_of(db, domain)
    if row is None:
        raise NotFound(
            f"Domain {domain.name} has no certificate; issue one with POST /api/v1/ssl/issue"
        )
    if row.source != CertificateSource.ACME:
        raise Conflict(
            f"The certificate of {domain.name} was uploaded; upload a new one to renew it"
        )
    order = current_names(domain, list(row.names))
    return await _submit(db, panel, context, domain, kind=issuance.JOB_RENEW, order=order)


def _days_remaining(not_after: datetime) -> int:
    return (not_after - datetime.now(UTC)).days


def certificate_out(
    row: Certificate, domain: Domain, owner: User, served: ServedOut | None = None
) -> CertificateOut:
    return CertificateOut(
        domain=domain.name,
        owner=owner.username,
        source=row.source,
        subject=row.subject,
        issuer=row.issuer,
        names=list(row.names),
        not_before=row.not_before,
        not_after=row.not_after,
        days_remaining=_days_remaining(row.not_after),
        serial=row.serial,
        fingerprint_sha256=row.fingerprint_sha256,
        ssl_enabled=domain.ssl_enabled,
        served=served,
    )


async def list_certificates(
    db: AsyncSession, principal: Principal, page: PageRequest
) -> list[Any] | dict[str, Any]:
    """List the certificates of the domains in scope, oldest first."""
    scope = owner_filter(principal, Domain.owner_id)
    domains = {
        domain.id: domain
        for domain in (
            await db.scalars(
                select(Domain).where(scope, Domain.id.in_(select(Certificate.domain_id)))
            )
        ).all()
    }
    owner_ids = {domain.owner_id for domain in domains.values()}
    owners = {
        user.id: user
        for user in (await db.scalars(select(User).where(User.id.in_(owner_ids)))).all()
    }
    statement = (
        select(Certificate)
        .join(Domain, Domain.id == Certificate.domain_id)
        .where(scope)
        .order_by(Certificate.created_at, Certificate.id)
    )

    def serialize(row: Certificate) -> CertificateOut:
        domain = domains[row.domain_id]
        return certificate_out(row, domain, owners[domain.owner_id])

    return await paginate(db, statement, page, serialize)


async def get_certificate(
    db: AsyncSession, panel: PanelContext, principal: Principal, raw: str
) -> CertificateOut:
    """Return the domain's certificate and what nginx serves for it right now."""
    domain = await get_domain_in_scope(db, principal, raw)
    owner = await owner_of(db, domain)
    row = await installation.record_of(db, domain)
    if row is None:
        raise NotFound(f"Domain {domain.name} has no certificate")
    served = await anyio.to_thread.run_sync(installation.served_fingerprint, panel, domain.name)
    return certificate_out(
        row,
        domain,
        owner,
        ServedOut(
            port=panel.settings.web.https_port,
            fingerprint_sha256=served,
            matches=served == row.fingerprint_sha256,
        ),
    )


async def delete_certificate(
    db: AsyncSession, panel: PanelContext, principal: Principal, context: AuditContext, raw: str
) -> str:
    """Remove the domain's certificate; its site goes back to HTTP only."""
    domain = await get_domain_in_scope(db, principal, raw)
    owner = await owner_of(db, domain)
    row = await installation.record_of(db, domain)
    if row is None and not domain.ssl_enabled:
        raise NotFound(f"Domain {domain.name} has no certificate")
    panel.events.audit(
        db,
        context,
        "ssl.deleted",
        object_type="certificate",
        object_id=domain.name,
        owner_id=owner.id,
    )
    await installation.remove(db, panel, domain, owner)
    return f"Certificate of {domain.name} deleted"


async def install(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    context: AuditContext,
    body: InstallRequest,
) -> CertificateOut:
    """Check an uploaded certificate, chain and key, install them and verify they are served."""
    domain, owner = await domain_for_ssl(db, principal, body.domain)
    hosting.web_of(panel)

    directory = installation.directory_of(panel, domain.name)
    pending = None
    if body.private_key is None:
        pending = await anyio.to_thread.run_sync(
            certificates.read_pending_key, directory, domain.created_at
        )
    check = functools.partial(
        uploads.check_upload,
        domain.name,
        certificate=body.certificate,
        chain=body.chain,
        private_key=body.private_key,
        pending_key=pending,
        max_bytes=panel.settings.ssl.max_upload_bytes,
    )
    checked = await anyio.to_thread.run_sync(check)

    row = await installation.install(
        db,
        panel,
        domain,
        owner,
        fullchain=checked.fullchain,
        key=checked.key,
        source=CertificateSource.UPLOADED,
    )
    if pending is not None:
        await anyio.to_thread.run_sync(uploads.drop_pending_key, directory)

    out = certificate_out(row, domain, owner)
    panel.events.publish(
        db,
        context,
        "ssl.issued",
        _event_data(out),
        object_type="certificate",
        object_id=domain.name,
        owner_id=owner.id,
    )
    await db.commit()
    return out


def _event_data(out: CertificateOut) -> dict[str, Any]:
    return {
        "domain": out.domain,
        "owner": out.owner,
        "source": out.source,
        "names": out.names,
        "issuer": out.issuer,
        "not_after": out.not_after.isoformat(),
        "fingerprint_sha256": out.fingerprint_sha256,
    }


async def create_csr(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    context: AuditContext,
    body: CsrRequest,
) -> CsrOut:
    """Generate a key and CSR; the key stays on the server for a later install."""
    domain, owner = await domain_for_ssl(db, principal, body.domain)
    requested = uploads.csr_names(domain, body.names)
    key_type = body.key_type or panel.settings.ssl.key_type
    key = await anyio.to_thread.run_sync(certificates.generate_key, key_type)
    csr = certificates.build_csr(key, requested)
    directory = installation.directory_of(panel, domain.name)
    await hosting.on_host(certificates.save_pending_key, directory, certificates.key_pem(key))
    panel.events.audit(
        db,
        context,
        "ssl.csr_created",
        object_type="certificate",
        object_id=domain.name,
        owner_id=owner.id,
        details={"names": requested, "key_type": key_type},
    )
    await db.commit()
    return CsrOut(domain=domain.name, names=requested, key_type=key_type, csr=csr.decode("ascii"))
