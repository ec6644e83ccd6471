"""Adding, reading, changing, suspending and deleting domains, each applied to the host."""

from __future__ import annotations

from typing import Any

import anyio
from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.principal import Principal
from wispanel.core.context import PanelContext
from wispanel.core.database import utcnow
from wispanel.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from wispanel.core.events import AuditContext
from wispanel.core.pagination import PageRequest, paginate
from wispanel.dns import zones as dns_zones
from wispanel.domains import hosting
from wispanel.domains.models import Domain
from wispanel.domains.names import (
    check_name_available,
    check_registrable,
    document_root_from_request,
    find_parent,
    normalise,
    unicode_name,
)
from wispanel.domains.schemas import DomainCreate, DomainOut, DomainUpdate
from wispanel.host.errors import HostError
from wispanel.host.nginx import validate_redirect_url
from wispanel.users.limits import enforce_limit, features_of
from wispanel.users.models import AccountStatus, Role, User
from wispanel.users.scope import (
    get_account_in_scope,
    get_named_in_scope,
    manages,
    owner_filter,
)

HOSTED_ROLES = frozenset({Role.USER, Role.RESELLER})
NO_PHP = "none"


def domain_out(panel: PanelContext, domain: Domain, owner: User, parent: str | None) -> DomainOut:
    home = hosting.home_of(panel, owner.username)
    aliases = [alias.name for alias in domain.aliases]
    by_account = owner.status == AccountStatus.SUSPENDED
    names = [domain.name, *aliases]
    return DomainOut(
        id=domain.id,
        domain=domain.name,
        unicode_domain=unicode_name(domain.name),
        owner=owner.username,
        parent_domain=parent,
        webserver=domain.webserver,
        php_version=domain.php_version,
        document_root=str(home / domain.document_root),
        status="suspended" if domain.suspended or by_account else "active",
        suspended=domain.suspended,
        suspended_by_account=by_account,
        redirect_url=domain.redirect_url,
        redirect_code=domain.redirect_code,
        ssl_enabled=domain.ssl_enabled,
        force_https=domain.force_https,
        hsts=domain.hsts,
        has_custom_directives=bool(domain.custom_directives.strip()),
        aliases=aliases,
        server_names=[n for name in names for n in (name, f"www.{name}")],
        created_at=domain.created_at,
        updated_at=domain.updated_at,
    )


async def describe(db: AsyncSession, panel: PanelContext, domain: Domain) -> DomainOut:
    owner = await db.get(User, domain.owner_id)
    assert owner is not None  # noqa: S101 - the foreign key guarantees the owner
    parent = await db.get(Domain, domain.parent_id) if domain.parent_id else None
    return domain_out(panel, domain, owner, parent.name if parent else None)


async def get_domain_in_scope(db: AsyncSession, principal: Principal, raw: str) -> Domain:
    """Return the named domain if the caller may see it, else raise 404."""
    return await get_named_in_scope(
        db,
        principal,
        Domain,
        (Domain.name, Domain.owner_id),
        raw,
        normalise=normalise,
        noun="Domain",
    )


async def owner_of(db: AsyncSession, domain: Domain) -> User:
    owner = await db.get(User, domain.owner_id)
    assert owner is not None  # noqa: S101 - the foreign key guarantees the owner
    return owner


def list_statement(principal: Principal) -> Select[Domain]:
    return (
        select(Domain)
        .where(owner_filter(principal, Domain.owner_id))
        .order_by(Domain.created_at, Domain.id)
    )


async def list_domains(
    db: AsyncSession, panel: PanelContext, principal: Principal, page: PageRequest
) -> list[Any] | dict[str, Any]:
    owners = {
        user.id: user
        for user in (
            await db.scalars(select(User).where(User.id.in_(select(Domain.owner_id).distinct())))
        ).all()
    }
    parents = select(Domain.parent_id).where(Domain.parent_id.is_not(None))
    rows = await db.execute(select(Domain.id, Domain.name).where(Domain.id.in_(parents)))
    names = {row.id: row.name for row in rows}

    def serialize(domain: Domain) -> DomainOut:
        parent = names.get(domain.parent_id) if domain.parent_id else None
        return domain_out(panel, domain, owners[domain.owner_id], parent)

    return await paginate(db, list_statement(principal), page, serialize)


async def _resolve_owner(db: AsyncSession, principal: Principal, username: str | None) -> User:
    if username is None:
        owner = await db.get(User, principal.user_id)
        if owner is None:
            raise NotFound(f"User {principal.username} not found")
    else:
        owner = await get_account_in_scope(db, principal, username)
    if owner.role not in HOSTED_ROLES:
        raise ValidationFailed(
            f"Account {owner.username} is an admin and has no home; pass owner with a user"
            " or reseller account",
            details={"owner": ["must be a user or reseller account"]},
        )
    if owner.status == AccountStatus.SUSPENDED:
        raise Conflict(f"Account {owner.username} is suspended; unsuspend it first")
    return owner


async def _php_version(
    panel: PanelContext, db: AsyncSession, owner: User, raw: str | None
) -> str | None:
    """Return the PHP version to use, None for no PHP; raise 400/403/503 when it can't be."""
    web = hosting.web_of(panel)
    php_allowed = (await features_of(db, owner))["php"]
    if raw is not None and raw.strip().lower() == NO_PHP:
        return None
    if not php_allowed:
        if raw is not None:
            raise Forbidden(
                f"The package of {owner.username} doesn't include PHP; use php_version none",
                details={"php_version": ["PHP is not in the package"]},
            )
        return None
    installed = [item.version for item in await hosting.on_host(web.php.versions)]
    if raw is None:
        return await hosting.on_host(web.php.default_version)
    if raw not in installed:
        known = ", ".join(installed) or "none"
        raise ValidationFailed(
            f"php_version {raw[:16]} is not installed; installed versions: {known}",
            details={"php_version": ["not installed"]},
        )
    return raw


async def create_domain(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    context: AuditContext,
    body: DomainCreate,
) -> DomainOut:
    """Add a domain: checks, row, document root, vhost and pool, then the event."""
    if not body.domain or not body.domain.strip():
        raise ValidationFailed("Domain is required", details={"domain": ["required"]})
    web = hosting.web_of(panel)
    await hosting.on_host(web.require_installed)
    name = check_registrable(normalise(body.domain))
    owner = await _resolve_owner(db, principal, body.owner)
    await check_name_available(db, name, owner.id)
    parent = await find_parent(db, name, owner.id)
    await enforce_limit(db, owner, "max_subdomains" if parent else "max_domains")
    php_version = await _php_version(panel, db, owner, body.php_version)
    home = hosting.home_of(panel, owner.username)
    document_root = document_root_from_request(
        body.document_root or f"domains/{name}/public_html", str(home)
    )

    domain = Domain(
        name=name,
        owner_id=owner.id,
        parent_id=parent.id if parent else None,
        webserver=body.webserver,
        php_version=php_version,
        document_root=document_root,
        custom_directives="",
        aliases=[],
    )
    db.add(domain)
    try:
        await db.flush()
    except IntegrityError as error:
        raise Conflict(f"Domain {name} already exists", details={"domain": ["taken"]}) from error
    panel.events.publish(
        db,
        context,
        "domain.created",
        {
            "domain": name,
            "owner": owner.username,
            "webserver": domain.webserver,
            "php_version": php_version,
        },
        object_type="domain",
        object_id=name,
        owner_id=owner.id,
    )
    created = await hosting.on_host(
        hosting.create_document_root, panel, owner.username, name, document_root
    )
    undo_zone = None
    try:
        # The zone reaches PowerDNS before the commit; a later failure takes it out again.
        undo_zone = await dns_zones.create_for_domain(db, panel, domain, owner)
        site = hosting.site_config(panel, domain, owner)
        await hosting.commit_with_host(
            db, panel, {name: site}, await hosting.pools_for(db, panel, owner)
        )
    except BaseException:
        if undo_zone is not None:
            await undo_zone()
        await anyio.to_thread.run_sync(hosting.remove_directories, panel, owner.username, created)
        raise
    return domain_out(panel, domain, owner, parent.name if parent else None)


async def get_domain(
    db: AsyncSession, panel: PanelContext, principal: Principal, raw: str
) -> DomainOut:
    return await describe(db, panel, await get_domain_in_scope(db, principal, raw))


async def _collect_changes(
    db: AsyncSession, panel: PanelContext, domain: Domain, owner: User, body: DomainUpdate
) -> dict[str, Any]:
    """Return the validated fields of the request that differ from the domain's values."""
    changes: dict[str, Any] = {}
    fields = body.model_fields_set
    if "php_version" in fields:
        changes["php_version"] = await _php_version(panel, db, owner, body.php_version)
    if "document_root" in fields and body.document_root is not None:
        home = hosting.home_of(panel, owner.username)
        changes["document_root"] = document_root_from_request(body.document_root, str(home))
    if "redirect_url" in fields:
        url = body.redirect_url or None
        if url is not None:
            try:
                validate_redirect_url(url)
            except HostError as error:
                raise ValidationFailed(str(error), details={"redirect_url": ["invalid"]}) from error
        changes["redirect_url"] = url
    for name in ("redirect_code", "ssl_enabled", "force_https", "hsts"):
        value = getattr(body, name)
        if name in fields and value is not None:
            changes[name] = value
    return {key: value for key, value in changes.items() if getattr(domain, key) != value}


async def update_domain(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    context: AuditContext,
    raw: str,
    *,
    body: DomainUpdate,
) -> DomainOut:
    """Change PHP version, document root, redirect or HTTPS settings and re-apply the site."""
    domain = await get_domain_in_scope(db, principal, raw)
    owner = await owner_of(db, domain)
    hosting.web_of(panel)
    changes = await _collect_changes(db, panel, domain, owner, body)
    if not changes:
        return await describe(db, panel, domain)

    for key, value in changes.items():
        setattr(domain, key, value)
    domain.updated_at = utcnow()
    await db.flush()
    created: list[str] = []
    if "document_root" in changes:
        created = await hosting.on_host(
            hosting.create_document_root,
            panel,
            owner.username,
            domain.name,
            domain.document_root,
        )
    panel.events.publish(
        db,
        context,
        "domain.updated",
        {"domain": domain.name, "owner": owner.username, "changes": changes},
        object_type="domain",
        object_id=domain.name,
        owner_id=owner.id,
    )
    try:
        pools = await hosting.pools_for(db, panel, owner) if "php_version" in changes else {}
        site = hosting.site_config(panel, domain, owner)
        await hosting.commit_with_host(db, panel, {domain.name: site}, pools)
    except BaseException:
        await anyio.to_thread.run_sync(hosting.remove_directories, panel, owner.username, created)
        raise
    return await describe(db, panel, domain)


async def delete_domain(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    context: AuditContext,
    raw: str,
) -> str:
    """Remove the domain's row, server block and (when unused) pool; keep files by setting."""
    domain = await get_domain_in_scope(db, principal, raw)
    owner = await owner_of(db, domain)
    name = domain.name
    panel.events.publish(
        db,
        context,
        "domain.deleted",
        {"domain": name, "owner": owner.username},
        object_type="domain",
        object_id=name,
        owner_id=owner.id,
    )
    undo_zone = await dns_zones.remove_for_domain(db, panel, domain)
    await db.delete(domain)
    await db.flush()
    try:
        await hosting.commit_with_host(
            db, panel, {name: None}, await hosting.pools_for(db, panel, owner)
        )
    except BaseException:
        await undo_zone()
        raise
    await hosting.on_host(hosting.remove_domain_files, panel, owner.username, name)
    return f"Domain {name} deleted"


async def set_suspended(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    context: AuditContext,
    raw: str,
    *,
    suspended: bool,
) -> DomainOut:
    """Suspend or unsuspend one domain; only the owner's admin or reseller may."""
    domain = await get_domain_in_scope(db, principal, raw)
    owner = await owner_of(db, domain)
    if not manages(principal, owner):
        raise Forbidden(f"You can't suspend or unsuspend domain {domain.name}")
    if domain.suspended == suspended:
        state = "already suspended" if suspended else "not suspended"
        raise Conflict(f"Domain {domain.name} is {state}")
    domain.suspended = suspended
    domain.suspended_at = utcnow() if suspended else None
    await db.flush()
    panel.events.publish(
        db,
        context,
        "domain.suspended" if suspended else "domain.unsuspended",
        {"domain": domain.name, "owner": owner.username},
        object_type="domain",
        object_id=domain.name,
        owner_id=owner.id,
    )
    site = hosting.site_config(panel, domain, owner)
    await hosting.commit_with_host(db, panel, {domain.name: site})
    return await describe(db, panel, domain)


async def count_domains(db: AsyncSession, owner_ids: list[int] | Any, *, subdomains: bool) -> int:
    condition = Domain.parent_id.is_not(None) if subdomains else Domain.parent_id.is_(None)
    count = await db.scalar(
        select(func.count()).select_from(Domain).where(Domain.owner_id.in_(owner_ids), condition)
    )
    return int(count or 0)
