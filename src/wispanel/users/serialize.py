"""Turning account rows into the API's user and reseller shapes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.users.limits import (
    FEATURE_NAMES,
    LIMIT_NAMES,
    MEBIBYTE,
    accounts_of,
    effective_features,
    effective_limits,
    limits_of,
    package_of,
)
from wispanel.users.models import UNLIMITED, Package, Role, User
from wispanel.users.schemas import (
    FeaturesOut,
    LimitsOut,
    ResellerOut,
    UsageOut,
    UserOut,
)


def usage_out(user: User) -> UsageOut:
    used = None
    if user.disk_used_bytes is not None:
        used = round(user.disk_used_bytes / MEBIBYTE, 2)
    return UsageOut(disk_used_mb=used, disk_measured_at=user.disk_measured_at)


def build_user_out(user: User, package: Package | None, reseller: str | None) -> UserOut:
    limits: dict[str, Any] = dict(effective_limits(user, package))
    return UserOut(
        id=user.id,
        username=user.username,
        email=user.email,
        role=user.role,
        status=user.status,
        package=package.name if package else None,
        reseller=reseller,
        limits=LimitsOut.model_validate(limits),
        features=FeaturesOut.model_validate(effective_features(user, package)),
        usage=usage_out(user),
        suspension_reason=user.suspension_reason,
        suspended_at=user.suspended_at,
        created_at=user.created_at,
        updated_at=user.updated_at,
    )


async def user_out(db: AsyncSession, user: User) -> UserOut:
    reseller = await db.get(User, user.parent_id) if user.parent_id else None
    return build_user_out(user, await package_of(db, user), reseller.username if reseller else None)


class UserSerializer:
    """Serializes many accounts with two queries in all, for lists."""

    def __init__(self, packages: Mapping[int, Package], names: Mapping[int, str]) -> None:
        self.packages = packages
        self.names = names

    @classmethod
    async def load(cls, db: AsyncSession) -> UserSerializer:
        packages = {package.id: package for package in (await db.scalars(select(Package))).all()}
        rows = await db.execute(select(User.id, User.username).where(User.role != Role.USER))
        return cls(packages, {row.id: row.username for row in rows})

    def __call__(self, user: User) -> UserOut:
        package = self.packages.get(user.package_id) if user.package_id else None
        reseller = self.names.get(user.parent_id) if user.parent_id else None
        return build_user_out(user, package, reseller)


def allocated_limits(account_limits: list[dict[str, int]]) -> dict[str, int]:
    """Sum each limit over a reseller's accounts; one unlimited account makes the sum -1."""
    totals: dict[str, int] = {}
    for name in LIMIT_NAMES:
        values = [limits[name] for limits in account_limits]
        totals[name] = UNLIMITED if UNLIMITED in values else sum(values)
    return totals


async def reseller_out(db: AsyncSession, reseller: User) -> ResellerOut:
    package = await package_of(db, reseller)
    limits = effective_limits(reseller, package)
    features = effective_features(reseller, package)
    accounts = await accounts_of(db, reseller)
    values: dict[str, Any] = {
        "id": reseller.id,
        "username": reseller.username,
        "email": reseller.email,
        "status": reseller.status,
        "package": package.name if package else None,
        **limits,
        **{f"can_grant_{name}": features[name] for name in FEATURE_NAMES},
        "allow_overselling": reseller.allow_overselling,
        "users_count": len(accounts),
        "allocated": allocated_limits([await limits_of(db, account) for account in accounts]),
        "usage": usage_out(reseller),
        "suspension_reason": reseller.suspension_reason,
        "created_at": reseller.created_at,
    }
    return ResellerOut.model_validate(values)
