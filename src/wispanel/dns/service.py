"""Adding, changing and removing records; each change raises the serial and reaches PowerDNS."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.principal import Principal
from wispanel.core.context import PanelContext
from wispanel.core.errors import NotFound
from wispanel.core.events import AuditContext
from wispanel.dns.apply import commit_with_dns, data_of, records_of, rendered
from wispanel.dns.models import DnsRecord, DnsZone
from wispanel.dns.records import check_name_conflicts, check_record, fqdn, record_data
from wispanel.dns.schemas import RecordIn, RecordOut
from wispanel.dns.zones import bump_serial, get_zone_in_scope, owner_of, record_out
from wispanel.dns.zones import require_editable as _require_editable


async def _editable_zone(db: AsyncSession, principal: Principal, raw: str) -> DnsZone:
    zone = await get_zone_in_scope(db, principal, raw)
    await _require_editable(db, principal, await owner_of(db, zone))
    return zone


async def _record_in_zone(db: AsyncSession, zone: DnsZone, record_id: int) -> DnsRecord:
    record = (
        await db.scalars(
            select(DnsRecord).where(DnsRecord.id == record_id, DnsRecord.zone_id == zone.id)
        )
    ).first()
    if record is None:
        raise NotFound(f"Record {record_id} not found in zone {zone.name}")
    return record


def _event_data(zone: DnsZone, record: DnsRecord, owner: str) -> dict[str, object]:
    return {
        "domain": zone.name,
        "owner": owner,
        "id": record.id,
        "name": fqdn(record.name, zone.name),
        "type": record.type,
        "content": record_data(data_of(record)),
        "ttl": record.ttl,
    }


async def add_record(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    context: AuditContext,
    raw: str,
    *,
    body: RecordIn,
) -> RecordOut:
    zone = await _editable_zone(db, principal, raw)
    data = check_record(body, zone.name, panel.settings.dns)
    existing = await records_of(db, zone)
    check_name_conflicts(data, [data_of(record) for record in existing])
    before = await rendered(db, panel, zone)
    record = DnsRecord(zone_id=zone.id, **data.__dict__)
    db.add(record)
    bump_serial(zone)
    await db.flush()
    owner = await owner_of(db, zone)
    panel.events.publish(
        db,
        context,
        "dns.record.created",
        _event_data(zone, record, owner.username),
        object_type="dns_record",
        object_id=str(record.id),
        owner_id=owner.id,
    )
    await commit_with_dns(db, panel, zone.name, before, await rendered(db, panel, zone))
    return record_out(zone, record)


async def change_record(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    context: AuditContext,
    raw: str,
    *,
    record_id: int,
    body: RecordIn,
) -> RecordOut:
    zone = await _editable_zone(db, principal, raw)
    record = await _record_in_zone(db, zone, record_id)
    data = check_record(body, zone.name, panel.settings.dns)
    others = [data_of(other) for other in await records_of(db, zone) if other.id != record.id]
    check_name_conflicts(data, others)
    before = await rendered(db, panel, zone)
    for key, value in data.__dict__.items():
        setattr(record, key, value)
    bump_serial(zone)
    await db.flush()
    owner = await owner_of(db, zone)
    panel.events.publish(
        db,
        context,
        "dns.record.updated",
        _event_data(zone, record, owner.username),
        object_type="dns_record",
        object_id=str(record.id),
        owner_id=owner.id,
    )
    await commit_with_dns(db, panel, zone.name, before, await rendered(db, panel, zone))
    return record_out(zone, record)


async def delete_record(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    context: AuditContext,
    raw: str,
    *,
    record_id: int,
) -> str:
    zone = await _editable_zone(db, principal, raw)
    record = await _record_in_zone(db, zone, record_id)
    before = await rendered(db, panel, zone)
    owner = await owner_of(db, zone)
    panel.events.publish(
        db,
        context,
        "dns.record.deleted",
        _event_data(zone, record, owner.username),
        object_type="dns_record",
        object_id=str(record.id),
        owner_id=owner.id,
    )
    await db.delete(record)
    bump_serial(zone)
    await db.flush()
    await commit_with_dns(db, panel, zone.name, before, await rendered(db, panel, zone))
    return f"Record {record_id} deleted from zone {zone.name}"
