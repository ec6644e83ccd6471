"""Tenancy: which accounts and owned objects a caller may see.

Admins see everything, resellers themselves and the accounts they created, users only
themselves. Anything outside that is reported as not found, never as forbidden, so ids
can't be probed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from wispanel.auth.principal import Principal
from wispanel.core.errors import NotFound, ValidationFailed
from wispanel.users.models import Role, User

Owned = TypeVar("Owned")


def account_filter(principal: Principal) -> ColumnElement[bool]:
    """Build the WHERE clause on `User` that keeps the accounts the caller may see."""
    if principal.role == Role.ADMIN:
        return true()
    if principal.role == Role.RESELLER:
        return or_(User.id == principal.user_id, User.parent_id == principal.user_id)
    return User.id == principal.user_id


def owner_filter(
    principal: Principal, owner_column: QueryableAttribute[Any]
) -> ColumnElement[bool]:
    """Build the WHERE clause on an owned object's `owner_id` column, by the same rules."""
    if principal.role == Role.ADMIN:
        return true()
    if principal.role == Role.RESELLER:
        managed = select(User.id).where(
            or_(User.id == principal.user_id, User.parent_id == principal.user_id)
        )
        return owner_column.in_(managed)
    return owner_column == principal.user_id


async def get_account_in_scope(db: AsyncSession, principal: Principal, username: str) -> User:
    """Return the named account if the caller may see it, else raise 404."""
    user = (
        await db.scalars(select(User).where(User.username == username, account_filter(principal)))
    ).first()
    if user is None:
        raise NotFound(f"User {username} not found")
    return user


async def get_named_in_scope(
    db: AsyncSession,
    principal: Principal,
    model: type[Owned],
    columns: tuple[QueryableAttribute[str], QueryableAttribute[Any]],
    raw: str,
    *,
    normalise: Callable[[str], str],
    noun: str,
) -> Owned:
    """Return the object named `raw` (normalised) if the caller may see it, else raise 404.

    `columns` are the model's name and owner columns. A name that does not normalise is
    reported as not found too, so malformed and foreign names look alike.
    """
    name_column, owner_column = columns
    try:
        name = normalise(raw)
    except ValidationFailed:
        raise NotFound(f"{noun} {raw[:80]} not found") from None
    found = (
        await db.scalars(
            select(model).where(name_column == name, owner_filter(principal, owner_column))
        )
    ).first()
    if found is None:
        raise NotFound(f"{noun} {name} not found")
    return found


def manages(principal: Principal, user: User) -> bool:
    """Return whether the caller administers the account (not its own, unless admin)."""
    if principal.role == Role.ADMIN:
        return True
    return principal.role == Role.RESELLER and user.parent_id == principal.user_id
