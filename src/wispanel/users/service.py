"""Creating, reading and changing hosting accounts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.deps import forbid_impersonation
from wispanel.auth.principal import Principal
from wispanel.auth.reauth import require_recent_reauth
from wispanel.auth.revocation import revoke_all_tokens
from wispanel.core.context import PanelContext
from wispanel.core.errors import Conflict, Forbidden, ValidationFailed
from wispanel.core.events import AuditContext
from wispanel.core.pagination import PageRequest, paginate
from wispanel.host.accounts import AccountHost, account_host
from wispanel.users.limits import (
    accounts_of,
    check_allocation,
    check_usage_fits,
    effective_features,
    effective_limits,
    package_of,
    reseller_of,
)
from wispanel.users.models import Package, Role, User
from wispanel.users.packages import package_for_field
from wispanel.users.schemas import FeatureValues, LimitValues, UserCreate, UserOut, UserUpdate
from wispanel.users.scope import account_filter, get_account_in_scope, manages
from wispanel.users.serialize import UserSerializer, user_out
from wispanel.users.validation import (
    check_password,
    check_username,
    normalise_email,
    require_fields,
)

T = TypeVar("T")
HOSTED_ROLES = frozenset({Role.USER, Role.RESELLER})


def host_of(panel: PanelContext) -> AccountHost:
    return account_host(panel.settings, panel.runner)


async def on_host(function: Callable[..., T], *args: Any) -> T:
    """Run a blocking host call in a worker thread."""
    return await anyio.to_thread.run_sync(function, *args)


async def hash_password(panel: PanelContext, password: str) -> str:
    return await anyio.to_thread.run_sync(panel.hasher.hash, password)


async def caller_account(db: AsyncSession, principal: Principal) -> User:
    user = await db.get(User, principal.user_id)
    if user is None:  # the account was deleted after its token was checked
        raise Forbidden("Your account no longer exists")
    return user


def merged_overrides(
    current: dict[str, Any] | None, changes: LimitValues | FeatureValues | None
) -> dict[str, Any] | None:
    """Apply the fields a request sent: a value sets an override, `null` removes it."""
    if changes is None:
        return current
    merged = dict(current or {})
    for name in changes.model_fields_set:
        value = getattr(changes, name)
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged or None


async def check_unique(
    db: AsyncSession, *, username: str | None = None, email: str | None = None, exclude: int = 0
) -> None:
    if username is not None:
        taken = await db.scalar(
            select(User.id).where(func.lower(User.username) == username, User.id != exclude)
        )
        if taken is not None:
            raise Conflict(f"Username {username} is already taken", details={"username": ["taken"]})
    if email is not None:
        taken = await db.scalar(
            select(User.id).where(func.lower(User.email) == email, User.id != exclude)
        )
        if taken is not None:
            raise Conflict(
                f"Email address {email} is already used by another account",
                details={"email": ["taken"]},
            )


async def _parent_for_new_account(
    db: AsyncSession, principal: Principal, body: UserCreate
) -> User | None:
    if principal.role == Role.RESELLER:
        if body.reseller is not None and body.reseller != principal.username:
            raise Forbidden("Only admins can choose the reseller of a new account")
        return await caller_account(db, principal)
    if body.reseller is None:
        return None
    if body.role != "user":
        raise ValidationFailed(
            "Only user accounts belong to a reseller; omit reseller for resellers and admins",
            details={"reseller": ["not allowed for this role"]},
        )
    parent = (
        await db.scalars(
            select(User).where(User.username == body.reseller, User.role == Role.RESELLER)
        )
    ).first()
    if parent is None:
        raise ValidationFailed(
            f"Reseller {body.reseller} does not exist", details={"reseller": ["not found"]}
        )
    return parent


async def create_account(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    context: AuditContext,
    body: UserCreate,
    *,
    extra_limits: dict[str, int] | None = None,
    allow_overselling: bool = False,
) -> User:
    """Create an account in the database and on the host, in one transaction.

    The host account is created last, before the commit; if the commit fails it is removed.
    """
    if principal.role == Role.USER:
        raise Forbidden("Only admins and resellers can create accounts")
    require_fields(username=body.username, email=body.email, password=body.password)
    username = check_username(body.username or "")
    email = normalise_email(body.email or "")
    password = check_password(body.password or "", panel.settings.accounts.min_password_length)
    role = Role(body.role)
    if role != Role.USER and principal.role != Role.ADMIN:
        raise Forbidden("Only admins can create resellers and admins")
    parent = await _parent_for_new_account(db, principal, body)
    await check_unique(db, username=username, email=email)
    host = host_of(panel)
    if role in HOSTED_ROLES and await on_host(host.system_account_exists, username):
        raise Conflict(
            f"A system account named {username} already exists on this host; choose another",
            details={"username": ["taken by a system account"]},
        )

    package: Package | None = None
    if role != Role.ADMIN:
        package = await package_for_field(db, body.package)
    user = User(
        username=username,
        email=email,
        password_hash=await hash_password(panel, password),
        role=role,
        parent_id=parent.id if parent else None,
        package_id=package.id if package else None,
        limit_overrides=merged_overrides(extra_limits, body.limits),
        feature_overrides=merged_overrides(None, body.features),
        allow_overselling=allow_overselling,
    )
    if role == Role.ADMIN and (user.limit_overrides or user.feature_overrides):
        raise ValidationFailed("Admins are not limited; omit limits and features")
    if parent is not None:
        await check_allocation(
            db,
            parent,
            effective_limits(user, package),
            effective_features(user, package),
            adding_account=True,
        )
    db.add(user)
    try:
        await db.flush()
    except IntegrityError as error:
        raise Conflict(f"Username {username} or its email address is already taken") from error
    panel.events.publish(
        db,
        context,
        "user.created",
        {
            "username": username,
            "email": email,
            "role": role.value,
            "package": package.name if package else None,
            "creator": principal.username,
        },
        object_type="user",
        object_id=username,
        owner_id=user.id,
    )
    if role in HOSTED_ROLES:
        await on_host(host.create, username)
    try:
        await db.commit()
    except Exception:
        if role in HOSTED_ROLES:
            await on_host(host.remove, username)
        raise
    return user


async def create_user(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    context: AuditContext,
    body: UserCreate,
) -> UserOut:
    user = await create_account(db, panel, principal, context, body)
    return await user_out(db, user)


async def get_user(db: AsyncSession, principal: Principal, username: str) -> UserOut:
    return await user_out(db, await get_account_in_scope(db, principal, username))


async def list_users(
    db: AsyncSession,
    principal: Principal,
    page: PageRequest,
    *,
    role: str | None = None,
    status: str | None = None,
) -> list[Any] | dict[str, Any]:
    statement = select(User).where(account_filter(principal))
    if role is not None:
        statement = statement.where(User.role == role)
    if status is not None:
        statement = statement.where(User.status == status)
    statement = statement.order_by(User.created_at, User.id)
    return await paginate(db, statement, page, await UserSerializer.load(db))


MANAGED_FIELDS = frozenset({"package", "limits", "features", "role"})


async def _change_password(
    db: AsyncSession, panel: PanelContext, principal: Principal, user: User, password: str | None
) -> None:
    password = check_password(password or "", panel.settings.accounts.min_password_length)
    forbid_impersonation(principal, "password")
    if user.id == principal.user_id:
        await require_recent_reauth(db, principal, "Changing your own password")
    user.password_hash = await hash_password(panel, password)
    await revoke_all_tokens(db, user)


async def _change_role(db: AsyncSession, principal: Principal, user: User, role: Role) -> None:
    if principal.role != Role.ADMIN:
        raise Forbidden("Only admins can change the role of an account")
    if user.id == principal.user_id:
        raise Forbidden("Admins can't change their own role")
    if user.role == role:
        return
    if user.role == Role.ADMIN:
        raise Conflict("Admin accounts keep their role; create a new account instead")
    if role == Role.RESELLER and user.parent_id is not None:
        parent = await db.get(User, user.parent_id)
        raise Conflict(
            f"Account {user.username} belongs to reseller {parent.username if parent else '?'}; "
            "a reseller can't belong to another reseller"
        )
    if role == Role.USER:
        accounts = await accounts_of(db, user)
        if accounts:
            raise Conflict(
                f"Reseller {user.username} still has {len(accounts)} accounts; "
                "delete or reassign them first"
            )
        overrides = dict(user.limit_overrides or {})
        overrides.pop("max_users", None)
        user.limit_overrides = overrides or None
    user.role = role
    await revoke_all_tokens(db, user)


async def update_user(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    context: AuditContext,
    *,
    username: str,
    body: UserUpdate,
) -> UserOut:
    """Change email, password, package, limits, features or role, checking limits first."""
    user = await get_account_in_scope(db, principal, username)
    changed = sorted(name for name in body.model_fields_set if name != "password")
    is_self = user.id == principal.user_id
    if not manages(principal, user) and not is_self:
        raise Forbidden(f"You can't change account {username}")
    if MANAGED_FIELDS & body.model_fields_set and not manages(principal, user):
        raise Forbidden(
            "Only an admin or the account's reseller can change its package, limits or role"
        )

    if "email" in body.model_fields_set:
        email = normalise_email(body.email or "")
        await check_unique(db, email=email, exclude=user.id)
        user.email = email
    if "password" in body.model_fields_set:
        await _change_password(db, panel, principal, user, body.password)
        changed.append("password")
    if body.role is not None:
        await _change_role(db, principal, user, Role(body.role))

    if {"package", "limits", "features"} & body.model_fields_set:
        await _change_limits(db, user, body)
    panel.events.publish(
        db,
        context,
        "user.updated",
        {"username": user.username, "changed": sorted(changed)},
        object_type="user",
        object_id=user.username,
        owner_id=user.id,
    )
    await db.commit()
    return await user_out(db, user)


async def _change_limits(db: AsyncSession, user: User, body: UserUpdate) -> None:
    if user.role == Role.ADMIN:
        raise ValidationFailed("Admins are not limited and have no package")
    package = await package_of(db, user)
    if body.package is not None:
        package = await package_for_field(db, body.package)
        user.package_id = package.id
    user.limit_overrides = merged_overrides(user.limit_overrides, body.limits)
    user.feature_overrides = merged_overrides(user.feature_overrides, body.features)
    limits = effective_limits(user, package)
    await check_usage_fits(db, user, limits)
    reseller = await reseller_of(db, user)
    if reseller is not None:
        await check_allocation(
            db, reseller, limits, effective_features(user, package), replacing=user
        )
