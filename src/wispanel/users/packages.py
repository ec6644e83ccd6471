"""Hosting packages: admins define them, every account of a package gets its limits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from wispanel.auth.principal import Principal
from wispanel.core.context import PanelContext
from wispanel.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from wispanel.core.events import AuditContext
from wispanel.core.pagination import PageRequest, paginate
from wispanel.users.limits import FEATURE_NAMES, LIMIT_NAMES, check_usage_fits, effective_limits
from wispanel.users.models import Package, Role, User
from wispanel.users.schemas import PackageCreate, PackageFields, PackageOut

DEFAULT_PACKAGE = "default"


def ensure_default_package(engine: Engine) -> None:
    """Create the `default` package (unlimited, every feature but SSH) when it is missing."""
    with Session(engine) as db:
        if db.scalar(select(Package.id).where(Package.name == DEFAULT_PACKAGE)) is None:
            db.add(Package(name=DEFAULT_PACKAGE, description="Unlimited; every feature but SSH"))
            db.commit()


async def package_named(db: AsyncSession, name: str) -> Package:
    """Return a package named in the path, or raise 404."""
    package = (await db.scalars(select(Package).where(Package.name == name))).first()
    if package is None:
        raise NotFound(f"Package {name} not found")
    return package


async def package_for_field(db: AsyncSession, name: str) -> Package:
    """Return a package named in a request body, or raise 400 on the `package` field."""
    package = (await db.scalars(select(Package).where(Package.name == name))).first()
    if package is None:
        raise ValidationFailed(
            f"Package {name} does not exist; list them with GET /api/v1/packages",
            details={"package": ["not found"]},
        )
    return package


async def _accounts_on(db: AsyncSession, package: Package) -> int:
    count = await db.scalar(
        select(func.count()).select_from(User).where(User.package_id == package.id)
    )
    return int(count or 0)


def _require_admin(principal: Principal) -> None:
    if principal.role != Role.ADMIN:
        raise Forbidden("Only admins can create, change or delete packages")


def _serialize(package: Package, accounts: int) -> PackageOut:
    values: dict[str, Any] = {
        name: getattr(package, name)
        for name in ("id", "name", "description", *LIMIT_NAMES, *FEATURE_NAMES)
    }
    return PackageOut.model_validate(
        {
            **values,
            "accounts": accounts,
            "created_at": package.created_at,
            "updated_at": package.updated_at,
        }
    )


async def package_out(db: AsyncSession, package: Package) -> PackageOut:
    return _serialize(package, await _accounts_on(db, package))


async def list_packages(
    db: AsyncSession, principal: Principal, page: PageRequest
) -> list[Any] | dict[str, Any]:
    """Admins and resellers see every package; a user sees its own."""
    statement = select(Package).order_by(Package.created_at, Package.id)
    if principal.role == Role.USER:
        own = select(User.package_id).where(User.id == principal.user_id).scalar_subquery()
        statement = statement.where(Package.id == own)
    counts = dict(
        (await db.execute(select(User.package_id, func.count()).group_by(User.package_id))).all()
    )

    return await paginate(
        db, statement, page, lambda package: _serialize(package, int(counts.get(package.id, 0)))
    )


def _apply_fields(package: Package, fields: PackageFields) -> None:
    for name in fields.model_fields_set:
        value = getattr(fields, name)
        if value is None and name != "description":
            continue
        setattr(package, name, value if value is not None else "")


async def create_package(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    context: AuditContext,
    body: PackageCreate,
) -> PackageOut:
    _require_admin(principal)
    existing = await db.scalar(
        select(Package.id).where(func.lower(Package.name) == body.name.lower())
    )
    if existing is not None:
        raise Conflict(f"Package {body.name} already exists", details={"name": ["taken"]})
    package = Package(name=body.name, description="")
    _apply_fields(package, body)
    db.add(package)
    await db.flush()
    panel.events.audit(
        db, context, "package.created", object_type="package", object_id=package.name
    )
    await db.commit()
    return await package_out(db, package)


async def update_package(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    context: AuditContext,
    *,
    name: str,
    body: PackageFields,
) -> PackageOut:
    """Change a package; refused when an account on it already uses more than a new limit."""
    _require_admin(principal)
    package = await package_named(db, name)
    _apply_fields(package, body)
    accounts = (await db.scalars(select(User).where(User.package_id == package.id))).all()
    for account in accounts:
        await check_usage_fits(db, account, effective_limits(account, package))
    panel.events.audit(
        db,
        context,
        "package.updated",
        object_type="package",
        object_id=package.name,
        details={"changed": sorted(body.model_fields_set)},
    )
    await db.commit()
    return await package_out(db, package)


async def delete_package(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    context: AuditContext,
    name: str,
) -> None:
    _require_admin(principal)
    package = await package_named(db, name)
    if package.name == DEFAULT_PACKAGE:
        raise Conflict("The default package can't be deleted")
    in_use = await _accounts_on(db, package)
    if in_use:
        raise Conflict(
            f"Package {name} is used by {in_use} accounts; move them to another package first"
        )
    await db.delete(package)
    panel.events.audit(db, context, "package.deleted", object_type="package", object_id=name)
    await db.commit()
