"""Routes of domains, their vhost, aliases and logs, and the installed PHP versions."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.deps import Audit, CurrentPrincipal
from wispanel.auth.scopes import area_scope
from wispanel.core.context import PanelContext, get_panel
from wispanel.core.database import get_session
from wispanel.core.pagination import PageRequest, page_request
from wispanel.core.schemas import MessageResponse
from wispanel.domains import extras, service
from wispanel.domains import hooks as _hooks  # noqa: F401 - registers account hooks and counters
from wispanel.domains.schemas import (
    AliasCreate,
    AliasOut,
    DomainCreate,
    DomainOut,
    DomainUpdate,
    LogOut,
    PhpVersionOut,
    VhostOut,
    VhostUpdate,
)

router = APIRouter(
    prefix="/api/v1/domains", tags=["03 Domains"], dependencies=[area_scope("domains")]
)
system_router = APIRouter(
    prefix="/api/v1/system", tags=["14 System & Services"], dependencies=[area_scope("system")]
)

HOST_ERRORS: dict[int | str, dict[str, Any]] = {
    502: {"description": "nginx or PHP-FPM rejected the change; nothing changed (APPLY_FAILED)"},
    503: {"description": "nginx or PHP-FPM is not installed or not running (SERVICE_UNAVAILABLE)"},
}
DomainList = list[DomainOut] | dict[str, Any]
Session = Annotated[AsyncSession, Depends(get_session)]
Panel = Annotated[PanelContext, Depends(get_panel)]
DomainName = Annotated[
    str, Path(max_length=1024, description="Domain name; Unicode names are IDNA-encoded")
]


@router.get(
    "",
    operation_id="listDomains",
    summary="List domains in scope (opt-in pagination)",
    response_model=DomainList,
)
async def list_domains(
    *,
    principal: CurrentPrincipal,
    db: Session,
    panel: Panel,
    page: Annotated[PageRequest, Depends(page_request)],
) -> Any:
    return await service.list_domains(db, panel, principal, page)


@router.post(
    "",
    operation_id="createDomain",
    summary="Add a domain or subdomain: docroot, vhost, PHP-FPM pool, DNS zone",
    status_code=201,
    response_model=DomainOut,
    responses=HOST_ERRORS,
)
async def create_domain(
    *, principal: CurrentPrincipal, context: Audit, db: Session, panel: Panel, body: DomainCreate
) -> DomainOut:
    return await service.create_domain(db, panel, principal, context, body)


@router.get(
    "/{domain}",
    operation_id="getDomain",
    summary="One domain with its web settings",
    response_model=DomainOut,
)
async def get_domain(
    *, principal: CurrentPrincipal, db: Session, panel: Panel, domain: DomainName
) -> DomainOut:
    return await service.get_domain(db, panel, principal, domain)


@router.put(
    "/{domain}",
    operation_id="updateDomain",
    summary="Change PHP version, docroot, redirect, HTTPS settings",
    response_model=DomainOut,
    responses=HOST_ERRORS,
)
async def update_domain(
    *,
    principal: CurrentPrincipal,
    context: Audit,
    db: Session,
    panel: Panel,
    domain: DomainName,
    body: DomainUpdate,
) -> DomainOut:
    return await service.update_domain(db, panel, principal, context, domain, body=body)


@router.delete(
    "/{domain}",
    operation_id="deleteDomain",
    summary="Remove a domain and its host configuration",
    response_model=MessageResponse,
    responses=HOST_ERRORS,
)
async def delete_domain(
    *, principal: CurrentPrincipal, context: Audit, db: Session, panel: Panel, domain: DomainName
) -> MessageResponse:
    message = await service.delete_domain(db, panel, principal, context, domain)
    return MessageResponse(message=message)


@router.post(
    "/{domain}/suspend",
    operation_id="suspendDomain",
    summary="Serve the suspended page instead of the site",
    response_model=DomainOut,
    responses=HOST_ERRORS,
)
async def suspend_domain(
    *, principal: CurrentPrincipal, context: Audit, db: Session, panel: Panel, domain: DomainName
) -> DomainOut:
    return await service.set_suspended(db, panel, principal, context, domain, suspended=True)


@router.post(
    "/{domain}/unsuspend",
    operation_id="unsuspendDomain",
    summary="Serve the site again",
    response_model=DomainOut,
    responses=HOST_ERRORS,
)
async def unsuspend_domain(
    *, principal: CurrentPrincipal, context: Audit, db: Session, panel: Panel, domain: DomainName
) -> DomainOut:
    return await service.set_suspended(db, panel, principal, context, domain, suspended=False)


@router.get(
    "/{domain}/vhost",
    operation_id="getDomainVhost",
    summary="The rendered vhost and the custom directives",
    response_model=VhostOut,
)
async def get_vhost(
    *, principal: CurrentPrincipal, db: Session, panel: Panel, domain: DomainName
) -> VhostOut:
    return await extras.get_vhost(db, panel, principal, domain)


@router.put(
    "/{domain}/vhost",
    operation_id="updateDomainVhost",
    summary="Set custom directives (validated by the web server; rolled back on failure)",
    response_model=VhostOut,
    responses=HOST_ERRORS,
)
async def update_vhost(
    *,
    principal: CurrentPrincipal,
    context: Audit,
    db: Session,
    panel: Panel,
    domain: DomainName,
    body: VhostUpdate,
) -> VhostOut:
    return await extras.set_custom_directives(
        db, panel, principal, context, domain, text=body.custom_directives
    )


@router.get(
    "/{domain}/aliases",
    operation_id="listDomainAliases",
    summary="Alias (parked) domains",
    response_model=list[AliasOut],
)
async def list_aliases(*, principal: CurrentPrincipal, db: Session, domain: DomainName) -> Any:
    return await extras.list_aliases(db, principal, domain)


@router.post(
    "/{domain}/aliases",
    operation_id="createDomainAlias",
    summary="Add an alias domain",
    status_code=201,
    response_model=AliasOut,
    responses=HOST_ERRORS,
)
async def add_alias(
    *,
    principal: CurrentPrincipal,
    context: Audit,
    db: Session,
    panel: Panel,
    domain: DomainName,
    body: AliasCreate,
) -> AliasOut:
    return await extras.add_alias(db, panel, principal, context, domain, raw_alias=body.alias)


@router.delete(
    "/{domain}/aliases/{alias}",
    operation_id="deleteDomainAlias",
    summary="Remove an alias domain",
    response_model=MessageResponse,
    responses=HOST_ERRORS,
)
async def remove_alias(
    *,
    principal: CurrentPrincipal,
    context: Audit,
    db: Session,
    panel: Panel,
    domain: DomainName,
    alias: Annotated[str, Path(max_length=1024, description="The alias name")],
) -> MessageResponse:
    message = await extras.remove_alias(db, panel, principal, context, domain, raw_alias=alias)
    return MessageResponse(message=message)


@router.get(
    "/{domain}/logs",
    operation_id="getDomainLogs",
    summary="Tail of the access or error log",
    response_model=LogOut,
)
async def get_logs(
    *,
    principal: CurrentPrincipal,
    db: Session,
    panel: Panel,
    domain: DomainName,
    log_type: Annotated[
        Literal["access", "error"], Query(alias="type", description="Which log to read")
    ] = "access",
    lines: Annotated[
        int | None, Query(ge=1, description="Lines from the end; capped by the settings")
    ] = None,
) -> LogOut:
    return await extras.tail_log(db, panel, principal, domain, kind=log_type, lines=lines)


@system_router.get(
    "/php-versions",
    operation_id="listPhpVersions",
    summary="Installed PHP-FPM versions",
    response_model=list[PhpVersionOut],
)
async def php_versions(_principal: CurrentPrincipal, panel: Panel) -> list[PhpVersionOut]:
    return await extras.php_versions(panel)
