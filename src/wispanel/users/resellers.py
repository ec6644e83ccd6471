"""Resellers: accounts that create and manage hosting accounts within their own limits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.principal import Principal
from wispanel.core.context import PanelContext
from wispanel.core.errors import Forbidden, NotFound
from wispanel.core.events import AuditContext
from wispanel.core.pagination import DEFAULT_PER_PAGE, PageRequest, page_envelope
from wispanel.users.limits import (
    RESELLER_LIMIT_NAMES,
    check_reseller_limits,
    effective_limits,
    package_of,
)
from wispanel.users.models import Role, User
from wispanel.users.schemas import (
    FeatureValues,
    ResellerCreate,
    ResellerCreated,
    ResellerLimitsUpdate,
    ResellerOut,
    UserCreate,
)
from wispanel.users.scope import account_filter, get_account_in_scope
from wispanel.users.serialize import reseller_out
from wispanel.users.service import create_account

GRANT_PREFIX = "can_grant_"


def _require_admin(principal: Principal, action: str) -> None:
    if principal.role != Role.ADMIN:
        raise Forbidden(f"Only admins can {action} resellers")


def _split_limits(
    body: ResellerLimitsUpdate,
) -> tuple[dict[str, int | None], dict[str, bool | None]]:
    """The limit and feature fields a request sent, `null` included (it clears an override)."""
    limits: dict[str, int | None] = {}
    features: dict[str, bool | None] = {}
    for name in body.model_fields_set:
        if name in RESELLER_LIMIT_NAMES:
            limits[name] = getattr(body, name)
        elif name.startswith(GRANT_PREFIX):
            features[name.removeprefix(GRANT_PREFIX)] = getattr(body, name)
    return limits, features


def _merge(current: dict[str, Any] | None, changes: dict[str, Any]) -> dict[str, Any] | None:
    merged = dict(current or {})
    for name, value in changes.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged or None


async def _reseller_in_scope(db: AsyncSession, principal: Principal, username: str) -> User:
    user = await get_account_in_scope(db, principal, username)
    if user.role != Role.RESELLER:
        raise NotFound(f"Reseller {username} not found")
    return user


async def create_reseller(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    context: AuditContext,
    body: ResellerCreate,
) -> ResellerCreated:
    _require_admin(principal, "create")
    limits, features = _split_limits(body)
    account = UserCreate(
        username=body.username,
        email=body.email,
        password=body.password,
        package=body.package,
        role="reseller",
        features=FeatureValues.model_validate(features) if features else None,
    )
    overselling = body.allow_overselling
    if overselling is None:
        overselling = panel.settings.accounts.allow_overselling
    user = await create_account(
        db,
        panel,
        principal,
        context,
        account,
        extra_limits={name: value for name, value in limits.items() if value is not None},
        allow_overselling=overselling,
    )
    return ResellerCreated(
        message="Reseller created successfully", username=user.username, package=body.package
    )


async def list_resellers(
    db: AsyncSession, principal: Principal, page: PageRequest
) -> list[Any] | dict[str, Any]:
    """Admins see every reseller, a reseller itself, users none."""
    statement = (
        select(User)
        .where(User.role == Role.RESELLER, account_filter(principal))
        .order_by(User.created_at, User.id)
    )
    if not page.requested:
        return [await reseller_out(db, row) for row in (await db.scalars(statement)).all()]
    number = page.page or 1
    per_page = page.per_page or DEFAULT_PER_PAGE
    total = await db.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    rows = (await db.scalars(statement.limit(per_page).offset((number - 1) * per_page))).all()
    items = [await reseller_out(db, row) for row in rows]
    return page_envelope(items, total or 0, number, per_page)


async def get_reseller(db: AsyncSession, principal: Principal, username: str) -> ResellerOut:
    return await reseller_out(db, await _reseller_in_scope(db, principal, username))


async def update_limits(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    context: AuditContext,
    *,
    username: str,
    body: ResellerLimitsUpdate,
) -> ResellerOut:
    """Change a reseller's limits; refused below what its accounts use or hold."""
    reseller = await _reseller_in_scope(db, principal, username)
    _require_admin(principal, "change the limits of")
    limits, features = _split_limits(body)
    reseller.limit_overrides = _merge(reseller.limit_overrides, limits)
    reseller.feature_overrides = _merge(reseller.feature_overrides, features)
    if body.allow_overselling is not None:
        reseller.allow_overselling = body.allow_overselling
    new_limits = effective_limits(reseller, await package_of(db, reseller))
    await check_reseller_limits(db, reseller, new_limits, overselling=reseller.allow_overselling)
    panel.events.publish(
        db,
        context,
        "user.updated",
        {"username": reseller.username, "changed": sorted(body.model_fields_set)},
        object_type="user",
        object_id=reseller.username,
        owner_id=reseller.id,
    )
    await db.commit()
    return await reseller_out(db, reseller)
