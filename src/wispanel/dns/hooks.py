"""Zone removal when the owning account is deleted."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.core.context import PanelContext
from wispanel.dns.apply import push
from wispanel.dns.models import DnsZone
from wispanel.users.lifecycle import on_account_delete
from wispanel.users.models import User


@on_account_delete
async def remove_zones(db: AsyncSession, user: User, *, panel: PanelContext) -> None:
    """Remove every zone of the account from the rows and from PowerDNS."""
    zones = list((await db.scalars(select(DnsZone).where(DnsZone.owner_id == user.id))).all())
    for zone in zones:
        name = zone.name
        await db.delete(zone)
        # NOTE: the users area commits after its hooks; if that commit fails, these zones
        # are gone from PowerDNS but still in the database until `wispanel reconcile`.
        await push(db, panel, name, None)
