"""Logging in: password, lockout, the second factor, single-session mode and the token."""

from __future__ import annotations

from typing import Any, NoReturn

import anyio
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.accounts import AccountSnapshot
from wispanel.auth.lockout import (
    clear_failures,
    lock_seconds_left,
    locked_error,
    register_failure,
)
from wispanel.auth.models import AccountSecurity
from wispanel.auth.passwords import verify_password
from wispanel.auth.principal import Principal
from wispanel.auth.schemas import AccountOut, LoginRequest, LoginResponse, TwoFactorRequired
from wispanel.auth.security_state import ensure_security, find_security
from wispanel.auth.session_store import live_sessions, revoke_sessions, start_session
from wispanel.auth.totp import accept_totp, use_recovery_code
from wispanel.core.context import PanelContext
from wispanel.core.database import utcnow
from wispanel.core.errors import Conflict, Forbidden, Unauthorized, ValidationFailed
from wispanel.core.events import AuditContext
from wispanel.users.models import AccountStatus, User

# Verified against when the account does not exist, so a missing account costs as much time
# as a wrong password and can't be distinguished by timing.
_DUMMY_PASSWORD = "wispanel-timing-equaliser"  # noqa: S105 - not a credential
TWO_FACTOR_REQUIRED = "Two-factor authentication required"


class ExistingSession(Conflict):
    """A login in single-session mode while another session of the account is live."""

    def __init__(self, session_info: dict[str, Any]) -> None:
        super().__init__(
            "Another session of this account is live; send force: true to end it and log in"
        )
        self.session_info = session_info


def account_out(user: User | AccountSnapshot) -> AccountOut:
    return AccountOut(
        id=user.id,
        username=user.username,
        email=user.email,
        role=user.role,
        status=user.status,
        created_at=user.created_at,
    )


async def find_account(db: AsyncSession, name: str) -> User | None:
    """Find an account by username or email, ignoring case."""
    lowered = name.strip().lower()
    statement = select(User).where(
        or_(func.lower(User.username) == lowered, func.lower(User.email) == lowered)
    )
    return (await db.scalars(statement)).first()


async def check_password(panel: PanelContext, user: User | None, password: str) -> bool:
    """Verify a password in a worker thread; a missing account costs the same time."""
    stored_hash = user.password_hash if user else await _dummy_hash(panel)
    matches: bool = await anyio.to_thread.run_sync(
        verify_password, panel.hasher, stored_hash, password
    )
    return matches and user is not None


async def login(
    db: AsyncSession,
    panel: PanelContext,
    request: LoginRequest,
    context: AuditContext,
    user_agent: str,
) -> LoginResponse | TwoFactorRequired:
    if not request.username or not request.password:
        missing = {
            name: ["required"] for name in ("username", "password") if not getattr(request, name)
        }
        raise ValidationFailed("Username and password are required", details=missing)

    name = request.username.strip().lower()
    user = await find_account(db, name)
    security = await find_security(db, user.id) if user else None
    seconds_left = lock_seconds_left(security, utcnow())
    if user is not None and seconds_left:
        await _audit_failure(db, panel, context, name=name, user=user, reason="locked")
        await db.commit()
        raise locked_error(seconds_left)

    if not await check_password(panel, user, request.password) or user is None:
        await _reject(db, panel, context, name=name, user=user, reason="password")
    if user.status != AccountStatus.ACTIVE:
        raise Forbidden("Account is suspended")
    if security is not None and security.totp_enabled:
        if not request.totp_code and not request.recovery_code:
            return TwoFactorRequired(message=TWO_FACTOR_REQUIRED)
        if not await _second_factor(db, panel, security, request):
            await _reject(db, panel, context, name=name, user=user, reason="two_factor")

    if security is not None and (security.failed_logins or security.locked_until):
        clear_failures(security)
    if panel.settings.auth.single_session:
        await _enforce_single_session(db, user, force=request.force)

    ttl = panel.settings.auth.token_ttl
    session_id, token = start_session(db, panel, user, context, user_agent, ttl_seconds=ttl)
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
    return LoginResponse(token=token, expires_in=ttl, user=account_out(user))


async def _second_factor(
    db: AsyncSession, panel: PanelContext, security: AccountSecurity, request: LoginRequest
) -> bool:
    key = panel.secrets.encryption_key
    if request.totp_code:
        return await accept_totp(db, security, key, request.totp_code)
    return bool(request.recovery_code) and await use_recovery_code(
        db, security.user_id, key, request.recovery_code or ""
    )


async def _reject(
    db: AsyncSession,
    panel: PanelContext,
    context: AuditContext,
    *,
    name: str,
    user: User | None,
    reason: str,
) -> NoReturn:
    """Count and audit a failed login, commit, and raise 401."""
    if user is not None:
        security = await ensure_security(db, user.id, lock=True)
        register_failure(
            db, security, panel.settings.auth, ip=context.source_ip, username=user.username
        )
    await _audit_failure(db, panel, context, name=name, user=user, reason=reason)
    await db.commit()
    if reason == "two_factor":
        raise Unauthorized("Invalid two-factor authentication code")
    raise Unauthorized("Invalid credentials")


async def _audit_failure(
    db: AsyncSession,
    panel: PanelContext,
    context: AuditContext,
    *,
    name: str,
    user: User | None,
    reason: str,
) -> None:
    panel.events.audit(
        db,
        context,
        "auth.login_failed",
        object_type="user",
        object_id=name[:255],
        owner_id=user.id if user else None,
        actor=name[:32],
        details={"reason": reason},
    )


async def _enforce_single_session(db: AsyncSession, user: User, *, force: bool) -> None:
    sessions = [item for item in await live_sessions(db, user.id) if item.impersonator is None]
    if not sessions:
        return
    if not force:
        latest = max(sessions, key=lambda item: item.last_seen_at)
        raise ExistingSession(
            {
                "ip": latest.ip,
                "device": latest.user_agent,
                "login_at": latest.created_at.isoformat(),
                "last_seen": latest.last_seen_at.isoformat(),
            }
        )
    await revoke_sessions(db, user.id)


async def _dummy_hash(panel: PanelContext) -> str:
    hasher = panel.hasher
    key = (hasher.time_cost, hasher.memory_cost, hasher.parallelism)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = await anyio.to_thread.run_sync(hasher.hash, _DUMMY_PASSWORD)
    return _dummy_hashes[key]


_dummy_hashes: dict[tuple[int, int, int], str] = {}


def current_account(principal: Principal) -> AccountOut:
    """Describe the caller from the snapshot taken while authenticating: no database read."""
    return account_out(principal.account)
