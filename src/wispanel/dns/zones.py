"""Zones: listing, DNS-only zones, the template of domain zones, export, and removal."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.principal import Principal
from wispanel.core.context import PanelContext
from wispanel.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from wispanel.core.events import AuditContext
from wispanel.core.pagination import PageRequest, paginate
from wispanel.dns.apply import (
    Undo,
    commit_with_dns,
    data_of,
    push,
    records_of,
    rendered,
    undo_for,
)
from wispanel.dns.models import DnsRecord, DnsZone
from wispanel.dns.records import (
    APEX,
    SOA_TIMERS,
    RecordData,
    fqdn,
    next_serial,
    record_data,
    soa_data,
)
from wispanel.dns.schemas import RecordOut, SoaOut, ZoneCreate, ZoneOut, ZoneSummary
from wispanel.domains.models import Domain
from wispanel.domains.names import check_name_available, check_registrable, normalise
from wispanel.users.limits import features_of, reseller_of
from wispanel.users.models import AccountStatus, Role, User
from wispanel.users.scope import get_account_in_scope, get_named_in_scope, owner_filter

HOSTED_ROLES = frozenset({Role.USER, Role.RESELLER})


def today() -> datetime:
    return datetime.now(UTC)


def bump_serial(zone: DnsZone) -> None:
    zone.serial = next_serial(zone.serial, today().date())
    zone.updated_at = today()


def first_serial() -> int:
    return next_serial(0, today().date())


def record_out(zone: DnsZone, record: DnsRecord) -> RecordOut:
    return RecordOut(
        id=record.id,
        name=record.name,
        fqdn=fqdn(record.name, zone.name),
        type=record.type,
        content=record.content,
        ttl=record.ttl,
        priority=record.priority,
        weight=record.weight,
        port=record.port,
        flags=record.flags,
        tag=record.tag,
        data=record_data(data_of(record)),
    )


async def get_zone_in_scope(db: AsyncSession, principal: Principal, raw: str) -> DnsZone:
    """Return the named zone if the caller may see it, else raise 404."""
    return await get_named_in_scope(
        db,
        principal,
        DnsZone,
        (DnsZone.name, DnsZone.owner_id),
        raw,
        normalise=normalise,
        noun="Zone",
    )


async def owner_of(db: AsyncSession, zone: DnsZone) -> User:
    owner = await db.get(User, zone.owner_id)
    assert owner is not None  # noqa: S101 - the foreign key guarantees the owner
    return owner


async def may_edit(db: AsyncSession, owner: User) -> bool:
    """Return whether the owner's package, and its reseller's, include dns_control."""
    if owner.role == Role.ADMIN:
        return True
    if not (await features_of(db, owner))["dns_control"]:
        return False
    reseller = await reseller_of(db, owner)
    return reseller is None or (await features_of(db, reseller))["dns_control"]


async def require_editable(db: AsyncSession, principal: Principal, owner: User) -> None:
    if principal.role == Role.ADMIN:
        return
    if not await may_edit(db, owner):
        raise Forbidden(
            f"The package of {owner.username} doesn't include DNS control (dns_control)",
            details={"dns_control": ["not in the package"]},
        )


async def describe(db: AsyncSession, panel: PanelContext, zone: DnsZone) -> ZoneOut:
    owner = await owner_of(db, zone)
    records = await records_of(db, zone)
    settings = panel.settings.dns
    primary, contact, _serial, *_timers = soa_data(zone.name, zone.serial, settings).split()
    refresh, retry, expire, minimum = SOA_TIMERS
    return ZoneOut(
        id=zone.id,
        domain=zone.name,
        kind=zone.kind,
        owner=owner.username,
        serial=zone.serial,
        records_count=len(records),
        created_at=zone.created_at,
        updated_at=zone.updated_at,
        soa=SoaOut(
            primary=primary,
            contact=contact,
            serial=zone.serial,
            refresh=refresh,
            retry=retry,
            expire=expire,
            minimum=minimum,
        ),
        nameservers=list(settings.nameservers),
        editable=await may_edit(db, owner),
        records=[record_out(zone, record) for record in records],
    )


async def list_zones(
    db: AsyncSession, principal: Principal, page: PageRequest
) -> list[Any] | dict[str, Any]:
    rows = await db.execute(select(DnsRecord.zone_id, func.count()).group_by(DnsRecord.zone_id))
    counts = {int(zone_id): int(count) for zone_id, count in rows}
    owners = {
        user.id: user.username
        for user in (
            await db.scalars(select(User).where(User.id.in_(select(DnsZone.owner_id).distinct())))
        ).all()
    }

    def serialize(zone: DnsZone) -> ZoneSummary:
        return ZoneSummary(
            id=zone.id,
            domain=zone.name,
            kind=zone.kind,
            owner=owners[zone.owner_id],
            serial=zone.serial,
            records_count=counts.get(zone.id, 0),
            created_at=zone.created_at,
            updated_at=zone.updated_at,
        )

    statement = (
        select(DnsZone)
        .where(owner_filter(principal, DnsZone.owner_id))
        .order_by(DnsZone.created_at, DnsZone.id)
    )
    return await paginate(db, statement, page, serialize)


def template_records(zone: str, panel: PanelContext) -> list[RecordData]:
    """Build the records a new zone starts with: NS, A/AAAA for apex, www and mail, MX, SPF."""
    settings = panel.settings.dns
    ttl = settings.ttl_default
    records = [RecordData(APEX, "NS", ns, ttl) for ns in settings.nameservers]
    for name in (APEX, "www", "mail"):
        if settings.server_ipv4:
            records.append(RecordData(name, "A", settings.server_ipv4, ttl))
        if settings.server_ipv6:
            records.append(RecordData(name, "AAAA", settings.server_ipv6, ttl))
    records.append(RecordData(APEX, "MX", f"mail.{zone}.", ttl, priority=10))
    records.append(RecordData(APEX, "TXT", "v=spf1 a mx ~all", ttl))
    return records


def add_rows(db: AsyncSession, zone: DnsZone, records: list[RecordData]) -> None:
    for record in records:
        db.add(
            DnsRecord(
                zone_id=zone.id,
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
        )


async def _check_zone_name_free(db: AsyncSession, name: str, owner_id: int) -> DnsZone | None:
    """Raise 409 when the name or a parent zone belongs to another account.

    Returns the owner's existing zone of that name, if any.
    """
    existing = (await db.scalars(select(DnsZone).where(DnsZone.name == name))).first()
    if existing is not None and existing.owner_id != owner_id:
        raise Conflict(f"Zone {name} already exists", details={"domain": ["taken"]})
    labels = name.split(".")
    parents = [".".join(labels[index:]) for index in range(1, len(labels) - 1)]
    if parents:
        other = await db.scalar(
            select(DnsZone.name).where(DnsZone.name.in_(parents), DnsZone.owner_id != owner_id)
        )
        if other is not None:
            raise Conflict(
                f"{name} is under the zone {other}, which belongs to another account",
                details={"domain": ["parent zone belongs to another account"]},
            )
    return existing


async def _resolve_owner(db: AsyncSession, principal: Principal, username: str | None) -> User:
    if username is None:
        owner = await db.get(User, principal.user_id)
        if owner is None:
            raise NotFound(f"User {principal.username} not found")
    else:
        owner = await get_account_in_scope(db, principal, username)
    if owner.role not in HOSTED_ROLES:
        raise ValidationFailed(
            f"Account {owner.username} is an admin; pass owner with a user or reseller account",
            details={"owner": ["must be a user or reseller account"]},
        )
    if owner.status == AccountStatus.SUSPENDED:
        raise Conflict(f"Account {owner.username} is suspended; unsuspend it first")
    return owner


async def create_zone(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    context: AuditContext,
    body: ZoneCreate,
) -> ZoneOut:
    """Create a DNS-only zone (SOA and NS) for a name not hosted here as a domain."""
    if not body.domain or not body.domain.strip():
        raise ValidationFailed("Domain is required", details={"domain": ["required"]})
    name = check_registrable(normalise(body.domain))
    owner = await _resolve_owner(db, principal, body.owner)
    await require_editable(db, principal, owner)
    await check_name_available(db, name, owner.id)
    if await _check_zone_name_free(db, name, owner.id) is not None:
        raise Conflict(f"Zone {name} already exists", details={"domain": ["taken"]})
    zone = DnsZone(name=name, owner_id=owner.id, kind="dns_only", serial=first_serial())
    db.add(zone)
    try:
        await db.flush()
    except IntegrityError as error:
        raise Conflict(f"Zone {name} already exists", details={"domain": ["taken"]}) from error
    ttl = panel.settings.dns.ttl_default
    add_rows(db, zone, [RecordData(APEX, "NS", ns, ttl) for ns in panel.settings.dns.nameservers])
    await db.flush()
    panel.events.audit(
        db,
        context,
        "dns.zone.created",
        object_type="dns_zone",
        object_id=name,
        owner_id=owner.id,
        details={"domain": name, "owner": owner.username},
    )
    await commit_with_dns(db, panel, name, None, await rendered(db, panel, zone))
    return await describe(db, panel, zone)


async def get_zone(
    db: AsyncSession, panel: PanelContext, principal: Principal, raw: str
) -> ZoneOut:
    return await describe(db, panel, await get_zone_in_scope(db, principal, raw))


async def delete_zone(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    context: AuditContext,
    raw: str,
) -> str:
    """Delete a DNS-only zone; a domain's zone goes when its domain is deleted."""
    zone = await get_zone_in_scope(db, principal, raw)
    owner = await owner_of(db, zone)
    await require_editable(db, principal, owner)
    if zone.kind != "dns_only" or zone.domain_id is not None:
        raise Conflict(
            f"Zone {zone.name} serves a hosted domain or alias; remove that first",
            details={"domain": ["zone of a hosted domain"]},
        )
    name = zone.name
    before = await rendered(db, panel, zone)
    panel.events.audit(
        db,
        context,
        "dns.zone.deleted",
        object_type="dns_zone",
        object_id=name,
        owner_id=owner.id,
        details={"domain": name, "owner": owner.username},
    )
    await db.delete(zone)
    await commit_with_dns(db, panel, name, before, None)
    return f"Zone {name} deleted"


async def export_zone(db: AsyncSession, panel: PanelContext, principal: Principal, raw: str) -> str:
    """Return the zone in RFC 1035 master-file format."""
    zone = await get_zone_in_scope(db, principal, raw)
    settings = panel.settings.dns
    lines = [
        f"; Zone {zone.name}, serial {zone.serial}, exported by WisPanel",
        f"$ORIGIN {zone.name}.",
        f"$TTL {settings.ttl_default}",
        f"@\t{settings.ttl_default}\tIN\tSOA\t{soa_data(zone.name, zone.serial, settings)}",
    ]
    records = sorted(
        await records_of(db, zone), key=lambda r: (r.name != APEX, r.name, r.type, r.id)
    )
    for record in records:
        data = record_data(data_of(record))
        lines.append(f"{record.name}\t{record.ttl}\tIN\t{record.type}\t{data}")
    return "\n".join(lines) + "\n"


# Zones of hosted domains, called by the domains area inside its own transaction.


async def create_for_domain(
    db: AsyncSession,
    panel: PanelContext,
    domain: Domain,
    owner: User,
    *,
    name: str | None = None,
) -> Undo:
    """Create the zone of a new domain or alias and push it, or use the owner's DNS-only one.

    `name` is the alias when the zone is made for one; the zone then belongs to the domain
    that serves the alias and goes with it. The caller commits; when a later step fails it
    awaits the returned undo, which restores PowerDNS as it was.
    """
    zone_name = name or domain.name
    kind = "alias" if name else "domain"
    existing = await _check_zone_name_free(db, zone_name, owner.id)
    if existing is not None:
        # The owner's DNS-only zone serves the new name as it is. It stays DNS-only, so it
        # outlives the domain or alias with its records.
        existing.domain_id = domain.id
        return _nothing_to_undo
    zone = DnsZone(name=zone_name, owner_id=owner.id, domain_id=domain.id, kind=kind)
    zone.serial = first_serial()
    db.add(zone)
    await db.flush()
    add_rows(db, zone, template_records(zone.name, panel))
    await push(db, panel, zone.name, await rendered(db, panel, zone))
    return undo_for(panel, zone.name, None)


async def _nothing_to_undo() -> None:
    return None


async def remove_for_domain(
    db: AsyncSession, panel: PanelContext, domain: Domain, *, alias: str | None = None
) -> Undo:
    """Delete the zones made for a domain being deleted, or for one alias being removed.

    DNS-only zones that served the name stay, with their records. The caller commits;
    when a later step fails it awaits the returned undo, which puts the zones back into
    PowerDNS.
    """
    statement = select(DnsZone).where(DnsZone.domain_id == domain.id)
    if alias is not None:
        statement = statement.where(DnsZone.name == alias)
    undos: list[Undo] = []
    for zone in (await db.scalars(statement)).all():
        if zone.kind == "dns_only":
            zone.domain_id = None
            continue
        name = zone.name
        before = await rendered(db, panel, zone)
        await db.delete(zone)
        await push(db, panel, name, None)
        undos.append(undo_for(panel, name, before))

    async def undo() -> None:
        for step in undos:
            await step()

    return undo
