"""The caller's own sessions: refresh, log out, list and revoke."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.principal import Principal
from wispanel.auth.schemas import RevokedSessions, SessionOut, TokenResponse
from wispanel.auth.session_store import live_sessions, revoke_sessions
from wispanel.core.context import PanelContext
from wispanel.core.errors import NotFound, Unauthorized, ValidationFailed
from wispanel.core.events import AuditContext


def _require_session(principal: Principal, action: str) -> str:
    if principal.session_id is None:
        raise ValidationFailed(f"{action} needs a session token; an API key has no session")
    return principal.session_id


async def refresh(panel: PanelContext, principal: Principal) -> TokenResponse:
    _require_session(principal, "Refreshing a token")
    token = await panel.authenticator.refresh(principal)
    if token is None:
        raise Unauthorized("Session ended")
    claims = panel.authenticator.codec.decode(token)
    return TokenResponse(token=token, expires_in=claims.expires_at - claims.issued_at)


async def logout(
    db: AsyncSession, panel: PanelContext, principal: Principal, context: AuditContext
) -> None:
    session_id = _require_session(principal, "Logging out")
    await revoke_sessions(db, principal.user_id, only=session_id)
    panel.events.audit(
        db,
        context,
        "auth.logout",
        object_type="session",
        object_id=session_id,
        owner_id=principal.user_id,
    )
    await db.commit()
    panel.authenticator.cache.invalidate(session_id)


async def list_sessions(db: AsyncSession, principal: Principal) -> list[SessionOut]:
    return [
        SessionOut(
            id=item.id,
            ip=item.ip,
            user_agent=item.user_agent,
            created_at=item.created_at,
            last_seen_at=item.last_seen_at,
            expires_at=item.expires_at,
            current=item.id == principal.session_id,
            impersonator=item.impersonator,
        )
        for item in await live_sessions(db, principal.user_id)
    ]


async def revoke_session(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    context: AuditContext,
    session_id: str,
) -> None:
    if len(session_id) > 32 or not await revoke_sessions(db, principal.user_id, only=session_id):
        raise NotFound(f"Session {session_id[:32]} not found")
    panel.events.audit(
        db,
        context,
        "auth.session_revoked",
        object_type="session",
        object_id=session_id,
        owner_id=principal.user_id,
    )
    await db.commit()
    panel.authenticator.cache.invalidate(session_id)


async def revoke_other_sessions(
    db: AsyncSession, panel: PanelContext, principal: Principal, context: AuditContext
) -> RevokedSessions:
    """Revoke every session of the caller but the one making the request."""
    count = await revoke_sessions(db, principal.user_id, keep=principal.session_id)
    panel.events.audit(
        db,
        context,
        "auth.sessions_revoked",
        object_type="user",
        object_id=principal.username,
        owner_id=principal.user_id,
        details={"revoked": count},
    )
    await db.commit()
    noun = "session" if count == 1 else "sessions"
    return RevokedSessions(message=f"Revoked {count} other {noun}", revoked=count)
