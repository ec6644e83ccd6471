"""Domain changes when the owning account is suspended, unsuspended or deleted."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.core.context import PanelContext
from wispanel.domains import hosting
from wispanel.domains.models import Domain
from wispanel.domains.service import count_domains
from wispanel.host.nginx import SiteConfig
from wispanel.users.lifecycle import on_account_delete, on_account_suspend, on_account_unsuspend
from wispanel.users.limits import register_usage_counter
from wispanel.users.models import User


async def _domains_of(db: AsyncSession, user: User) -> list[Domain]:
    return list((await db.scalars(select(Domain).where(Domain.owner_id == user.id))).all())


async def _rerender(db: AsyncSession, user: User, panel: PanelContext) -> None:
    # NOTE: the users area commits after its hooks, so these sites change before that commit.
    # If that commit fails, the files stay ahead of the database until the next change of
    # each domain or `wispanel reconcile` rewrites them.
    domains = await _domains_of(db, user)
    if not domains or panel.web is None:
        return
    sites = {domain.name: hosting.site_config(panel, domain, user) for domain in domains}
    await hosting.apply_now(panel, sites)


@on_account_suspend
async def suspend_sites(db: AsyncSession, user: User, *, panel: PanelContext) -> None:
    """Serve the suspended page on every domain of the account; the status is already set."""
    await _rerender(db, user, panel)


@on_account_unsuspend
async def unsuspend_sites(db: AsyncSession, user: User, *, panel: PanelContext) -> None:
    """Serve every domain again, except those suspended on their own."""
    await _rerender(db, user, panel)


@on_account_delete
async def remove_sites(db: AsyncSession, user: User, *, panel: PanelContext) -> None:
    """Remove every domain of the account: rows, server blocks and pools."""
    domains = await _domains_of(db, user)
    if not domains:
        return
    sites: dict[str, SiteConfig | None] = {domain.name: None for domain in domains}
    for domain in domains:
        await db.delete(domain)
    await db.flush()
    if panel.web is not None:
        await hosting.apply_now(panel, sites, await hosting.pools_for(db, panel, user))
        await hosting.on_host(hosting.remove_site_logs, panel, user.username)


async def _count_domains(db: AsyncSession, owner_ids: Sequence[int]) -> int:
    return await count_domains(db, list(owner_ids), subdomains=False)


async def _count_subdomains(db: AsyncSession, owner_ids: Sequence[int]) -> int:
    return await count_domains(db, list(owner_ids), subdomains=True)


register_usage_counter("max_domains", _count_domains)
register_usage_counter("max_subdomains", _count_subdomains)
