"""Logging in and out: password checks, server-side sessions and token issue."""

from __future__ import annotations

import secrets
from datetime import timedelta

import anyio
from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.models import LoginSession
from wispanel.auth.passwords import verify_password
from wispanel.auth.principal import Principal
from wispanel.auth.schemas import AccountOut, LoginRequest, LoginResponse
from wispanel.core.context import PanelContext
from wispanel.core.database import utcnow
from wispanel.core.errors import Forbidden, Unauthorized, ValidationFailed
from wispanel.core.events import AuditContext
from wispanel.users.models import AccountStatus, User

# Verified against when the account does not exist, so a missing account costs as much time
# as a wrong password and can't be told apart by timing.
_DUMMY_PASSWORD = "wispanel-timing-equaliser"  # noqa: S105 - not a credential


def account_out(user: User) -> AccountOut:
    return AccountOut(
        id=user.id,
        username=user.username,
        email=user.email,
        role=user.role,
        status=user.status,
        created_at=user.created_at,
    )


async def login(
    db: AsyncSession,
    panel: PanelContext,
    request: LoginRequest,
    context: AuditContext,
    user_agent: str,
) -> LoginResponse:
    if not request.username or not request.password:
        missing = {
            name: ["required"]
            for name in ("username", "password")
            if not getattr(request, name)
        }
        raise ValidationFailed("Username and password are required", details=missing)
    name = request.username.strip().lower()
    user = (
        await db.scalars(
            select(User).where(or_(func.lower(User.username) == name, func.lower(User.email) == name))
        )
    ).first()
    stored_hash = user.password_hash if user else await _dummy_hash(panel)
    matches = await anyio.to_thread.run_sync(
        verify_password, panel.hasher, stored_hash, request.password
    )
    if user is None or not matches:
        panel.events.audit(
            db,
            context,
            "auth.login_failed",
            object_type="user",
            object_id=name[:255],
            owner_id=user.id if user else None,
            actor=name[:32],
        )
        await db.commit()
        raise Unauthorized("Invalid credentials")
    if user.status != AccountStatus.ACTIVE:
        raise Forbidden("Account is suspended")
    session_id = secrets.token_hex(16)
    now = utcnow()
    ttl = panel.settings.auth.token_ttl
    db.add(
        LoginSession(
            id=session_id,
            user_id=user.id,
            ip=context.source_ip or "",
            user_agent=user_agent[:512],
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=ttl),
        )
    )
    panel.events.audit(
        db,
        context,
        "auth.login",
        object_type="session",
        object_id=session_id,
        owner_id=user.id,
        actor=user.username,
    )
    await db.commit()
    token = panel.authenticator.codec.issue(
        user_id=user.id,
        role=user.role,
        session_id=session_id,
        token_version=user.token_version,
        ttl_seconds=ttl,
    )
    return LoginResponse(token=token, expires_in=ttl, user=account_out(user))


async def _dummy_hash(panel: PanelContext) -> str:
    hasher = panel.hasher
    key = (hasher.time_cost, hasher.memory_cost, hasher.parallelism)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = await anyio.to_thread.run_sync(hasher.hash, _DUMMY_PASSWORD)
    return _dummy_hashes[key]


_dummy_hashes: dict[tuple[int, int, int], str] = {}


async def logout(
    db: AsyncSession, panel: PanelContext, principal: Principal, context: AuditContext
) -> None:
    if principal.session_id is None:
        raise ValidationFailed("Logout ends a session; an API key has none to end")
    await db.execute(
        update(LoginSession)
        .where(LoginSession.id == principal.session_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    panel.events.audit(
        db,
        context,
        "auth.logout",
        object_type="session",
        object_id=principal.session_id,
        owner_id=principal.user_id,
    )
    await db.commit()
    panel.authenticator.cache.invalidate(principal.session_id)


def current_account(principal: Principal) -> AccountOut:
    """Describe the caller from the snapshot taken while authenticating: no database read."""
    account = principal.account
    return AccountOut(
        id=account.id,
        username=account.username,
        email=account.email,
        role=account.role,
        status=account.status,
        created_at=account.created_at,
    )
