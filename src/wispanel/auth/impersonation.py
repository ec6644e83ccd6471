"""Login-as: an admin or reseller acts as an account it manages, behind a 2FA gate.

The token names the impersonator in its `act` claim, lives at most an hour, and every audit
row written with it carries both names. Every refusal is audited as well.
"""

from __future__ import annotations

from typing import NoReturn

from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.principal import Principal
from wispanel.auth.schemas import LoginAsRequest, LoginAsResponse
from wispanel.auth.security_state import find_security
from wispanel.auth.service import account_out
from wispanel.auth.session_store import start_session
from wispanel.auth.totp import accept_totp
from wispanel.core.context import PanelContext
from wispanel.core.errors import Forbidden, NotFound, PanelError
from wispanel.core.events import AuditContext
from wispanel.users.models import AccountStatus, Role, User
from wispanel.users.scope import get_account_in_scope, manages


async def login_as(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    *,
    username: str,
    request: LoginAsRequest,
    context: AuditContext,
    user_agent: str,
) -> LoginAsResponse:
    try:
        target = await _check_allowed(db, panel, principal, username, request)
    except PanelError as error:
        await _reject_and_audit(
            db, panel, context, principal=principal, username=username, error=error
        )
    ttl = min(panel.settings.auth.impersonation_ttl, panel.settings.auth.token_ttl)
    session_id, token = start_session(
        db, panel, target, context, user_agent, ttl_seconds=ttl, impersonator=principal.username
    )
    panel.events.audit(
        db,
        context,
        "auth.login_as",
        object_type="user",
        object_id=target.username,
        owner_id=target.id,
        details={"session_id": session_id, "expires_in": ttl},
    )
    await db.commit()
    return LoginAsResponse(
        token=token, expires_in=ttl, user=account_out(target), impersonator=principal.username
    )


async def _check_allowed(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    username: str,
    request: LoginAsRequest,
) -> User:
    if principal.impersonator is not None:
        raise Forbidden("A login-as token can't start another login-as")
    if principal.session_id is None:
        raise Forbidden("Login-as needs a session token from POST /api/v1/auth/login")
    if principal.role not in (Role.ADMIN, Role.RESELLER):
        raise Forbidden("Only admins and resellers can log in as another account")
    target = await get_account_in_scope(db, principal, username)
    if target.id == principal.user_id:
        raise Forbidden("You are already logged in as this account")
    if target.role == Role.ADMIN:
        raise Forbidden("Cannot log in as an admin account")
    if not manages(principal, target):
        raise NotFound(f"User {username} not found")
    if target.status != AccountStatus.ACTIVE:
        raise Forbidden("Cannot log in as a suspended account; unsuspend it first")
    security = await find_security(db, principal.user_id)
    if security is None or not security.totp_enabled:
        raise Forbidden(
            "Login-as needs two-factor authentication on your own account; "
            "turn it on with POST /api/v1/auth/2fa/setup"
        )
    if not request.totp_code:
        raise Forbidden(
            "Login-as needs a current totp_code of your own account",
            details={"totp_code": ["required"]},
        )
    if not await accept_totp(db, security, panel.secrets.encryption_key, request.totp_code):
        raise Forbidden("Invalid two-factor authentication code")
    return target


async def _reject_and_audit(
    db: AsyncSession,
    panel: PanelContext,
    context: AuditContext,
    *,
    principal: Principal,
    username: str,
    error: PanelError,
) -> NoReturn:
    """Audit a refused login-as in its own transaction, then raise the refusal."""
    await db.rollback()
    panel.events.audit(
        db,
        context,
        "auth.login_as_refused",
        object_type="user",
        object_id=username[:255],
        owner_id=principal.user_id,
        details={"reason": error.message},
    )
    await db.commit()
    raise error
