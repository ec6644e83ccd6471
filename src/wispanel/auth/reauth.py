"""Re-authentication: confirming the password unlocks sensitive operations for a while.

Services call `require_recent_reauth` before disabling 2FA, creating API keys, changing the
caller's own password and deleting accounts. It only restricts session tokens: an API key
is a credential of its own and has no session to mark.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.deps import forbid_impersonation, require_session_token
from wispanel.auth.lockout import lock_seconds_left, locked_error, register_failure
from wispanel.auth.models import LoginSession
from wispanel.auth.principal import Principal
from wispanel.auth.schemas import PasswordRequest, ReauthResponse
from wispanel.auth.security_state import ensure_security, find_security
from wispanel.auth.service import check_password
from wispanel.core.context import PanelContext
from wispanel.core.database import utcnow
from wispanel.core.errors import Forbidden, Unauthorized, ValidationFailed
from wispanel.core.events import AuditContext
from wispanel.users.models import User

REAUTH_REQUIRED = "REAUTH_REQUIRED"
REAUTH_PATH = "/api/v1/auth/reauth"


async def reauthenticate(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    request: PasswordRequest,
    context: AuditContext,
) -> ReauthResponse:
    session_id = require_session_token(principal, "Re-authentication and sensitive changes")
    forbid_impersonation(principal, "password confirmation")
    if not request.password:
        raise ValidationFailed("Password is required", details={"password": ["required"]})
    security = await find_security(db, principal.user_id)
    seconds_left = lock_seconds_left(security, utcnow())
    if seconds_left:
        raise locked_error(seconds_left)
    user = await db.get(User, principal.user_id)
    if not await check_password(panel, user, request.password) or user is None:
        security = await ensure_security(db, principal.user_id, lock=True)
        register_failure(
            db, security, panel.settings.auth, ip=context.source_ip, username=principal.username
        )
        panel.events.audit(
            db,
            context,
            "auth.reauth_failed",
            object_type="session",
            object_id=session_id,
            owner_id=principal.user_id,
        )
        await db.commit()
        raise Unauthorized("Invalid credentials")
    seconds = panel.settings.auth.reauth_seconds
    until = utcnow() + timedelta(seconds=seconds)
    await db.execute(
        update(LoginSession).where(LoginSession.id == session_id).values(reauth_until=until)
    )
    panel.events.audit(
        db,
        context,
        "auth.reauth",
        object_type="session",
        object_id=session_id,
        owner_id=principal.user_id,
    )
    await db.commit()
    return ReauthResponse(
        message="Password confirmed; sensitive operations are unlocked",
        expires_in=seconds,
        reauth_until=until,
    )


async def require_recent_reauth(
    db: AsyncSession, principal: Principal, action: str = "This change"
) -> None:
    """Raise 403 (`REAUTH_REQUIRED` in details) unless the caller's session confirmed its
    password recently. API keys pass: they have no session to confirm.

    `action` starts the message, e.g. "Deleting an account".
    """
    if principal.kind != "session" or principal.session_id is None:
        return
    until: datetime | None = await db.scalar(
        select(LoginSession.reauth_until).where(LoginSession.id == principal.session_id)
    )
    if until is not None and until > utcnow():
        return
    raise Forbidden(
        f"{action} needs a recent password confirmation: POST {REAUTH_PATH} with your "
        "password, then retry",
        details={"reason": REAUTH_REQUIRED, "reauth_url": REAUTH_PATH},
    )
