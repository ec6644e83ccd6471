"""The parts of a domain beside its settings: vhost directives, aliases and logs."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.principal import Principal
from wispanel.core.context import PanelContext
from wispanel.core.database import utcnow
from wispanel.core.errors import Conflict, NotFound, ValidationFailed
from wispanel.core.events import AuditContext
from wispanel.dns import zones as dns_zones
from wispanel.dns.apply import Undo
from wispanel.domains import hosting
from wispanel.domains.models import Domain, DomainAlias
from wispanel.domains.names import check_name_available, check_registrable, normalise
from wispanel.domains.schemas import AliasOut, LogOut, PhpVersionOut, VhostOut
from wispanel.domains.service import get_domain_in_scope, owner_of
from wispanel.host.nginx import tail_lines
from wispanel.host.nginx_directives import DirectiveError, check_custom_directives
from wispanel.users.models import User


async def get_vhost(
    db: AsyncSession, panel: PanelContext, principal: Principal, raw: str
) -> VhostOut:
    domain = await get_domain_in_scope(db, principal, raw)
    web = hosting.web_of(panel)
    return VhostOut(
        domain=domain.name,
        webserver=domain.webserver,
        config_file=str(web.nginx.site_file(domain.name)),
        config=await hosting.on_host(web.nginx.read_site, domain.name),
        custom_directives=domain.custom_directives,
    )


async def set_custom_directives(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    context: AuditContext,
    raw: str,
    *,
    text: str,
) -> VhostOut:
    """Check the directives, then apply them; nginx -t failing leaves the old block serving."""
    domain = await get_domain_in_scope(db, principal, raw)
    owner = await owner_of(db, domain)
    text = text.replace("\r\n", "\n")
    try:
        check_custom_directives(text, hosting.home_of(panel, owner.username))
    except DirectiveError as error:
        raise hosting.translate(error) from error
    domain.custom_directives = text
    domain.updated_at = utcnow()
    await db.flush()
    panel.events.publish(
        db,
        context,
        "domain.updated",
        {"domain": domain.name, "owner": owner.username, "changes": ["custom_directives"]},
        object_type="domain",
        object_id=domain.name,
        owner_id=owner.id,
    )
    site = hosting.site_config(panel, domain, owner)
    await hosting.commit_with_host(db, panel, {domain.name: site})
    return await get_vhost(db, panel, principal, domain.name)


def alias_out(alias: DomainAlias, domain_name: str) -> AliasOut:
    return AliasOut(alias=alias.name, domain=domain_name, created_at=alias.created_at)


async def list_aliases(db: AsyncSession, principal: Principal, raw: str) -> list[AliasOut]:
    domain = await get_domain_in_scope(db, principal, raw)
    return [alias_out(alias, domain.name) for alias in domain.aliases]


async def add_alias(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    context: AuditContext,
    raw: str,
    *,
    raw_alias: str | None,
) -> AliasOut:
    """Add a name served by the domain's block; unique like a domain."""
    domain = await get_domain_in_scope(db, principal, raw)
    owner = await owner_of(db, domain)
    if not raw_alias or not raw_alias.strip():
        raise ValidationFailed("Alias is required", details={"alias": ["required"]})
    name = check_registrable(normalise(raw_alias, "alias"), "alias")
    await check_name_available(db, name, owner.id)
    alias = DomainAlias(name=name, created_at=utcnow())
    domain.aliases.append(alias)
    domain.updated_at = utcnow()
    try:
        await db.flush()
    except IntegrityError as error:
        raise Conflict(f"Domain {name} already exists", details={"alias": ["taken"]}) from error
    panel.events.publish(
        db,
        context,
        "domain.updated",
        {"domain": domain.name, "owner": owner.username, "changes": {"alias_added": name}},
        object_type="domain",
        object_id=domain.name,
        owner_id=owner.id,
    )
    # The alias's zone reaches PowerDNS before the commit; a later failure takes it out again.
    undo_zone = await dns_zones.create_for_domain(db, panel, domain, owner, name=name)
    await _commit_site(db, panel, domain, owner, undo_zone)
    return alias_out(alias, domain.name)


async def remove_alias(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    context: AuditContext,
    raw: str,
    *,
    raw_alias: str,
) -> str:
    domain = await get_domain_in_scope(db, principal, raw)
    owner = await owner_of(db, domain)
    try:
        name = normalise(raw_alias, "alias")
    except ValidationFailed:
        raise NotFound(f"Alias {raw_alias[:80]} of {domain.name} not found") from None
    alias = (
        await db.scalars(
            select(DomainAlias).where(DomainAlias.domain_id == domain.id, DomainAlias.name == name)
        )
    ).first()
    if alias is None:
        raise NotFound(f"Alias {name} of {domain.name} not found")
    domain.aliases.remove(alias)
    domain.updated_at = utcnow()
    await db.flush()
    panel.events.publish(
        db,
        context,
        "domain.updated",
        {"domain": domain.name, "owner": owner.username, "changes": {"alias_removed": name}},
        object_type="domain",
        object_id=domain.name,
        owner_id=owner.id,
    )
    undo_zone = await dns_zones.remove_for_domain(db, panel, domain, alias=name)
    await _commit_site(db, panel, domain, owner, undo_zone)
    return f"Alias {name} removed from {domain.name}"


async def _commit_site(
    db: AsyncSession, panel: PanelContext, domain: Domain, owner: User, undo_zone: Undo
) -> None:
    """Apply the domain's block and commit; on a failure put its zone back as it was."""
    try:
        site = hosting.site_config(panel, domain, owner)
        await hosting.commit_with_host(db, panel, {domain.name: site})
    except BaseException:
        await undo_zone()
        raise


async def tail_log(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    raw: str,
    *,
    kind: Literal["access", "error"],
    lines: int | None,
) -> LogOut:
    """Return the last lines of the domain's access or error log, capped by the settings."""
    domain = await get_domain_in_scope(db, principal, raw)
    owner = await owner_of(db, domain)
    settings = panel.settings.web
    count = min(lines or settings.logs_default_lines, settings.logs_max_lines)
    access_log, error_log = hosting.site_logs(panel, owner.username, domain.name)
    path = access_log if kind == "access" else error_log
    found = await hosting.on_host(tail_lines, path, count)
    return LogOut(
        domain=domain.name,
        type=kind,
        lines=found,
        count=len(found),
        max_lines=settings.logs_max_lines,
    )


async def php_versions(panel: PanelContext) -> list[PhpVersionOut]:
    web = hosting.web_of(panel)
    installed = await hosting.on_host(web.php.versions)
    default = await hosting.on_host(web.php.default_version) if installed else None
    return [
        PhpVersionOut(
            version=item.version, binary=str(item.binary), default=item.version == default
        )
        for item in installed
    ]
