"""Reading the audit log, limited to what the caller may see.

Users see the entries about their own objects and the ones they made; resellers also
those of their accounts; admins everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.principal import Principal
from wispanel.auth.schemas import AuditEntryOut
from wispanel.core.errors import ValidationFailed
from wispanel.core.models import AuditEntry
from wispanel.core.pagination import PageRequest, paginate
from wispanel.users.models import Role, User


@dataclass(frozen=True, slots=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    object: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def audit_scope(principal: Principal) -> ColumnElement[bool]:
    if principal.role == Role.ADMIN:
        return true()
    if principal.role == Role.RESELLER:
        managed = select(User.id).where(
            or_(User.id == principal.user_id, User.parent_id == principal.user_id)
        )
        return or_(AuditEntry.owner_id.in_(managed), AuditEntry.actor_id.in_(managed))
    return or_(AuditEntry.owner_id == principal.user_id, AuditEntry.actor_id == principal.user_id)


def _conditions(query: AuditFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.actor:
        conditions.append(
            or_(AuditEntry.actor == query.actor, AuditEntry.impersonator == query.actor)
        )
    if query.action:
        if query.action.endswith(".*"):
            prefix = query.action[:-1].replace("%", "").replace("_", "\\_")
            conditions.append(AuditEntry.action.like(prefix + "%", escape="\\"))
        else:
            conditions.append(AuditEntry.action == query.action)
    if query.object:
        object_type, _, object_id = query.object.partition(":")
        conditions.append(AuditEntry.object_type == object_type)
        if object_id:
            conditions.append(AuditEntry.object_id == object_id)
    if query.since is not None:
        conditions.append(AuditEntry.occurred_at >= query.since)
    if query.until is not None:
        conditions.append(AuditEntry.occurred_at <= query.until)
    return conditions


def _aware(value: datetime | None) -> datetime | None:
    """Read a time without an offset as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def entry_out(entry: AuditEntry) -> dict[str, Any]:
    return AuditEntryOut.model_validate(entry, from_attributes=True).model_dump(mode="json")


async def list_entries(
    db: AsyncSession, principal: Principal, query: AuditFilter, page: PageRequest
) -> list[Any] | dict[str, Any]:
    if query.since and query.until and query.since > query.until:
        raise ValidationFailed(
            "from must not be later than to", details={"from": ["later than to"]}
        )
    query = AuditFilter(
        actor=query.actor,
        action=query.action,
        object=query.object,
        since=_aware(query.since),
        until=_aware(query.until),
    )
    statement = (
        select(AuditEntry)
        .where(audit_scope(principal), *_conditions(query))
        .order_by(AuditEntry.occurred_at, AuditEntry.id)
    )
    return await paginate(db, statement, page, entry_out)
