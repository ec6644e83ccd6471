"""Routes of DNS zones and their records."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import PlainTextResponse
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.deps import Audit, CurrentPrincipal
from wispanel.auth.scopes import area_scope
from wispanel.core.context import PanelContext, get_panel
from wispanel.core.database import get_session
from wispanel.core.pagination import PageRequest, page_request
from wispanel.core.schemas import MessageResponse
from wispanel.dns import hooks as _hooks  # noqa: F401 - registers the account hooks
from wispanel.dns import service, zones
from wispanel.dns.schemas import RecordIn, RecordOut, ZoneCreate, ZoneOut, ZoneSummary

router = APIRouter(prefix="/api/v1/dns", tags=["04 DNS"], dependencies=[area_scope("dns")])

HOST_ERRORS: dict[int | str, dict[str, Any]] = {
    502: {"description": "PowerDNS rejected the change; nothing changed (APPLY_FAILED)"},
    503: {"description": "PowerDNS is not installed or not running (SERVICE_UNAVAILABLE)"},
}
ZoneList = list[ZoneSummary] | dict[str, Any]
Session = Annotated[AsyncSession, Depends(get_session)]
Panel = Annotated[PanelContext, Depends(get_panel)]
ZoneName = Annotated[
    str, Path(max_length=1024, description="Zone name; Unicode names are IDNA-encoded")
]
RecordId = Annotated[int, Path(ge=1, le=2**62, description="The record's id")]


@router.get(
    "/zones",
    operation_id="listDnsZones",
    summary="List zones in scope",
    response_model=ZoneList,
)
async def list_zones(
    *,
    principal: CurrentPrincipal,
    db: Session,
    page: Annotated[PageRequest, Depends(page_request)],
) -> Any:
    return await zones.list_zones(db, principal, page)


@router.post(
    "/zones",
    operation_id="createDnsZone",
    summary="Create a zone (for a domain hosted here or DNS-only)",
    description="Hosted domains get their zone when they are added; this creates a DNS-only"
    " zone (SOA and NS) for a name not hosted here, under the same ownership rules.",
    status_code=201,
    response_model=ZoneOut,
    responses=HOST_ERRORS,
)
async def create_zone(
    *, principal: CurrentPrincipal, context: Audit, db: Session, panel: Panel, body: ZoneCreate
) -> ZoneOut:
    return await zones.create_zone(db, panel, principal, context, body)


@router.get(
    "/zones/{domain}",
    operation_id="getDnsZone",
    summary="A zone with its SOA serial and records",
    response_model=ZoneOut,
)
async def get_zone(
    *, principal: CurrentPrincipal, db: Session, panel: Panel, domain: ZoneName
) -> ZoneOut:
    return await zones.get_zone(db, panel, principal, domain)


@router.delete(
    "/zones/{domain}",
    operation_id="deleteDnsZone",
    summary="Remove a DNS-only zone",
    response_model=MessageResponse,
    responses=HOST_ERRORS,
)
async def delete_zone(
    *, principal: CurrentPrincipal, context: Audit, db: Session, panel: Panel, domain: ZoneName
) -> MessageResponse:
    message = await zones.delete_zone(db, panel, principal, context, domain)
    return MessageResponse(message=message)


@router.get(
    "/zones/{domain}/export",
    operation_id="exportDnsZone",
    summary="The zone in RFC 1035 master-file format",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def export_zone(
    *, principal: CurrentPrincipal, db: Session, panel: Panel, domain: ZoneName
) -> PlainTextResponse:
    text = await zones.export_zone(db, panel, principal, domain)
    return PlainTextResponse(text, media_type="text/dns")


@router.post(
    "/zones/{domain}/records",
    operation_id="createDnsRecord",
    summary="Add a record",
    status_code=201,
    response_model=RecordOut,
    responses=HOST_ERRORS,
)
async def add_record(
    *,
    principal: CurrentPrincipal,
    context: Audit,
    db: Session,
    panel: Panel,
    domain: ZoneName,
    body: RecordIn,
) -> RecordOut:
    return await service.add_record(db, panel, principal, context, domain, body=body)


@router.put(
    "/zones/{domain}/records/{record_id}",
    operation_id="updateDnsRecord",
    summary="Change a record",
    response_model=RecordOut,
    responses=HOST_ERRORS,
)
async def change_record(
    *,
    principal: CurrentPrincipal,
    context: Audit,
    db: Session,
    panel: Panel,
    domain: ZoneName,
    record_id: RecordId,
    body: RecordIn,
) -> RecordOut:
    return await service.change_record(
        db, panel, principal, context, domain, record_id=record_id, body=body
    )


@router.delete(
    "/zones/{domain}/records/{record_id}",
    operation_id="deleteDnsRecord",
    summary="Remove a record",
    response_model=MessageResponse,
    responses=HOST_ERRORS,
)
async def delete_record(
    *,
    principal: CurrentPrincipal,
    context: Audit,
    db: Session,
    panel: Panel,
    domain: ZoneName,
    record_id: RecordId,
) -> MessageResponse:
    message = await service.delete_record(
        db, panel, principal, context, domain, record_id=record_id
    )
    return MessageResponse(message=message)
