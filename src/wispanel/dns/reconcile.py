"""Bring PowerDNS back in line with the zone rows: missing, changed and stray zones."""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.core.context import PanelContext
from wispanel.core.drift import Drift
from wispanel.dns.apply import dns_of, rendered, translate
from wispanel.dns.models import DnsZone
from wispanel.host.errors import HostError
from wispanel.host.powerdns_api import RRset


@dataclass
class DnsPlan:
    """The zones to write to PowerDNS, and those to remove from it."""

    drift: list[Drift] = field(default_factory=list)
    sync: dict[str, list[RRset]] = field(default_factory=dict)
    remove: list[str] = field(default_factory=list)


async def find_drift(db: AsyncSession, panel: PanelContext) -> DnsPlan:
    """Compare every zone row, rendered, with what PowerDNS serves."""
    dns = dns_of(panel)
    plan = DnsPlan()
    expected: set[str] = set()
    try:
        for zone in (await db.scalars(select(DnsZone).order_by(DnsZone.name))).all():
            name = f"{zone.name}."
            expected.add(name)
            rrsets = await rendered(db, panel, zone)
            action = await anyio.to_thread.run_sync(dns.zone_drift, name, rrsets)
            if action in ("create", "update"):
                plan.sync[name] = rrsets
            if action:
                plan.drift.append(Drift("powerdns", zone.name, action))
        present = await anyio.to_thread.run_sync(dns.zone_names)
    except HostError as error:
        raise translate(error) from error
    for name in sorted(present - expected):
        plan.remove.append(name)
        plan.drift.append(Drift("powerdns", name.removesuffix("."), "remove"))
    return plan


async def repair(panel: PanelContext, plan: DnsPlan) -> None:
    dns = dns_of(panel)
    try:
        for name, rrsets in plan.sync.items():
            await anyio.to_thread.run_sync(dns.sync_zone, name, rrsets)
        for name in plan.remove:
            await anyio.to_thread.run_sync(dns.delete_zone, name)
    except HostError as error:
        raise translate(error) from error
