"""Bring nginx server blocks, PHP-FPM pools and document roots back in line with the rows.

A crash between a host change and its commit, or a hand edit, can leave the host out of
step with the database. `find_drift` compares what the rows want with the files on disk;
`repair` writes every difference as one web change (one check, one reload).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.core.context import PanelContext
from wispanel.core.drift import Drift
from wispanel.domains import hosting
from wispanel.domains.models import Domain
from wispanel.host.errors import HostError
from wispanel.host.nginx import SiteConfig
from wispanel.host.paths import validate_hostname, validate_username
from wispanel.host.phpfpm import PoolConfig
from wispanel.host.web import PoolKey
from wispanel.users.models import User


@dataclass
class WebPlan:
    """The web change that removes the drift found."""

    drift: list[Drift] = field(default_factory=list)
    sites: dict[str, SiteConfig | None] = field(default_factory=dict)
    pools: dict[PoolKey, PoolConfig | None] = field(default_factory=dict)
    document_roots: list[tuple[str, str, str]] = field(default_factory=list)


def _valid(check: Callable[[str], str], name: str) -> bool:
    try:
        check(name)
    except HostError:
        return False
    return True


def _differs(path: Path, content: str) -> str | None:
    try:
        current = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return "create"
    return "update" if current != content else None


async def find_drift(db: AsyncSession, panel: PanelContext) -> WebPlan:
    """Compare every domain's block, every account's pools and the document roots with disk."""
    plan = WebPlan()
    rows = (await db.execute(select(Domain, User).join(User, Domain.owner_id == User.id))).all()
    _site_drift(panel, [(domain, owner) for domain, owner in rows], plan)
    owners = {owner.id: owner for _domain, owner in rows}
    expected: dict[PoolKey, PoolConfig] = {}
    for owner in owners.values():
        pools = await hosting.pools_for(db, panel, owner)
        expected.update({key: pool for key, pool in pools.items() if pool is not None})
    _pool_drift(panel, expected, plan)
    return plan


def _site_drift(panel: PanelContext, rows: list[tuple[Domain, User]], plan: WebPlan) -> None:
    nginx = hosting.web_of(panel).nginx
    for domain, owner in rows:
        try:
            site = hosting.site_config(panel, domain, owner)
        except HostError as error:
            plan.drift.append(Drift("nginx", domain.name, f"can't be rendered: {error}"))
            continue
        action = _differs(nginx.site_file(domain.name), nginx.render_site(site))
        if action:
            plan.sites[domain.name] = site
            plan.drift.append(Drift("nginx", domain.name, action))
        if not (hosting.home_of(panel, owner.username) / domain.document_root).is_dir():
            plan.document_roots.append((owner.username, domain.name, domain.document_root))
            plan.drift.append(Drift("document root", domain.name, "create"))
    expected = {domain.name for domain, _owner in rows}
    for path in sorted(nginx.layout.sites_dir.glob("*.conf")):
        name = path.name.removesuffix(".conf")
        if name in expected:
            continue
        if _valid(validate_hostname, name):
            plan.sites[name] = None
            plan.drift.append(Drift("nginx", name, "remove"))
        else:
            plan.drift.append(Drift("nginx", path.name, "unknown file, left alone"))


def _pool_drift(panel: PanelContext, expected: dict[PoolKey, PoolConfig], plan: WebPlan) -> None:
    php = hosting.web_of(panel).php
    expected_files = set()
    for key, pool in expected.items():
        path = php.layout.pool_file(*key)
        expected_files.add(path)
        action = _differs(path, php.render_pool(pool))
        if action:
            plan.pools[key] = pool
            plan.drift.append(Drift("php-fpm", f"{key[0]} php{key[1]}", action))
    for version in (item.version for item in php.versions()):
        for path in php.layout.pool_files(version):
            if path in expected_files:
                continue
            username = path.name.removesuffix(".conf").removeprefix("wispanel-")
            if _valid(validate_username, username):
                plan.pools[(username, version)] = None
                plan.drift.append(Drift("php-fpm", f"{username} php{version}", "remove"))
            else:
                plan.drift.append(Drift("php-fpm", path.name, "unknown file, left alone"))


async def repair(panel: PanelContext, plan: WebPlan) -> None:
    """Create the missing document roots, then write the plan's files as one web change."""
    for username, domain, document_root in plan.document_roots:
        try:
            await anyio.to_thread.run_sync(
                hosting.create_document_root, panel, username, domain, document_root
            )
        except HostError as error:
            plan.drift.append(Drift("document root", domain, f"can't be created: {error}"))
    if plan.sites or plan.pools:
        await hosting.apply_now(panel, plan.sites, plan.pools)
