"""From zone rows to PowerDNS: render the rrsets, push them, then commit the transaction.

Every write follows one sequence: change the rows and flush, push the whole zone to
PowerDNS, commit. When PowerDNS fails, nothing reached it and the transaction rolls back.
When the commit fails after the push, the zone as it was before is pushed back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence

import anyio
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.core.config import DnsSettings
from wispanel.core.context import PanelContext
from wispanel.core.errors import ApplyFailed, Conflict, PanelError, ServiceUnavailable
from wispanel.dns.models import DnsRecord, DnsZone
from wispanel.dns.records import RecordData, fqdn, record_data, soa_data
from wispanel.host.errors import HostError
from wispanel.host.powerdns import PowerDns
from wispanel.host.powerdns_api import RRset

log = structlog.get_logger(__name__)
Undo = Callable[[], Awaitable[None]]


def dns_of(panel: PanelContext) -> PowerDns:
    if panel.dns is None:
        raise ServiceUnavailable("The DNS server component is not configured in this panel")
    return panel.dns


def translate(error: HostError) -> PanelError:
    if error.code == "SERVICE_UNAVAILABLE":
        return ServiceUnavailable(str(error))
    if error.code == "CONFLICT":
        return Conflict(str(error))
    return ApplyFailed(str(error))


def data_of(record: DnsRecord) -> RecordData:
    return RecordData(
        name=record.name,
        type=record.type,
        content=record.content,
        ttl=record.ttl,
        priority=record.priority,
        weight=record.weight,
        port=record.port,
        flags=record.flags,
        tag=record.tag,
    )


def zone_rrsets(
    zone: str, serial: int, records: Sequence[RecordData], settings: DnsSettings
) -> list[RRset]:
    """Group records into rrsets, with the SOA; an rrset's TTL is the lowest of its records."""
    groups: dict[tuple[str, str], list[RecordData]] = defaultdict(list)
    for record in records:
        groups[(fqdn(record.name, zone), record.type)].append(record)
    rrsets = [RRset(f"{zone}.", "SOA", settings.ttl_default, (soa_data(zone, serial, settings),))]
    for (name, kind), members in sorted(groups.items()):
        contents = tuple(sorted({record_data(member) for member in members}))
        rrsets.append(RRset(name, kind, min(member.ttl for member in members), contents))
    return rrsets


async def records_of(db: AsyncSession, zone: DnsZone) -> list[DnsRecord]:
    rows = await db.scalars(
        select(DnsRecord).where(DnsRecord.zone_id == zone.id).order_by(DnsRecord.id)
    )
    return list(rows.all())


async def rendered(db: AsyncSession, panel: PanelContext, zone: DnsZone) -> list[RRset]:
    records = [data_of(record) for record in await records_of(db, zone)]
    return zone_rrsets(zone.name, zone.serial, records, panel.settings.dns)


async def _on_host(function: Callable[..., None], *args: object) -> None:
    try:
        await anyio.to_thread.run_sync(function, *args)
    except HostError as error:
        raise translate(error) from error


async def push(db: AsyncSession, panel: PanelContext, zone: str, after: list[RRset] | None) -> None:
    """Flush the rows, then make PowerDNS hold `after` for the zone (None deletes the zone)."""
    dns = dns_of(panel)
    await db.flush()
    if after is None:
        await _on_host(dns.delete_zone, f"{zone}.")
    else:
        await _on_host(dns.sync_zone, f"{zone}.", after)


def undo_for(panel: PanelContext, zone: str, before: list[RRset] | None) -> Undo:
    """Return a coroutine function that puts the zone back as `before` (None: no zone)."""

    async def undo() -> None:
        dns = dns_of(panel)
        try:
            if before is None:
                await anyio.to_thread.run_sync(dns.delete_zone, f"{zone}.")
            else:
                await anyio.to_thread.run_sync(dns.sync_zone, f"{zone}.", before)
        except HostError:
            # NOTE: PowerDNS differs from the database for this zone until its next change
            # or `wispanel reconcile`.
            log.exception("dns.undo_failed", zone=zone)

    return undo


async def commit_with_dns(
    db: AsyncSession,
    panel: PanelContext,
    zone: str,
    before: list[RRset] | None,
    after: list[RRset] | None,
) -> None:
    """Push the zone, then commit; on a failed commit put the zone back as it was."""
    await push(db, panel, zone, after)
    try:
        await db.commit()
    except BaseException:
        await undo_for(panel, zone, before)()
        raise
