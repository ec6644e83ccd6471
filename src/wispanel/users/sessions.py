"""The live login sessions of an account, for the account, its reseller and admins."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.models import LoginSession
from wispanel.auth.principal import Principal
from wispanel.auth.revocation import revoke_all_tokens
from wispanel.core.context import PanelContext
from wispanel.core.database import utcnow
from wispanel.core.errors import Forbidden
from wispanel.core.events import AuditContext
from wispanel.users.models import User
from wispanel.users.schemas import SessionOut
from wispanel.users.scope import get_account_in_scope, manages


async def _account(db: AsyncSession, principal: Principal, username: str) -> User:
    user = await get_account_in_scope(db, principal, username)
    if user.id != principal.user_id and not manages(principal, user):
        raise Forbidden(f"You can't see or end the sessions of account {username}")
    return user


async def list_sessions(db: AsyncSession, principal: Principal, username: str) -> list[SessionOut]:
    """Sessions neither ended nor expired, newest first."""
    user = await _account(db, principal, username)
    rows = await db.scalars(
        select(LoginSession)
        .where(
            LoginSession.user_id == user.id,
            LoginSession.revoked_at.is_(None),
            LoginSession.expires_at > utcnow(),
        )
        .order_by(LoginSession.created_at.desc(), LoginSession.id)
    )
    return [
        SessionOut(
            id=row.id,
            ip=row.ip,
            user_agent=row.user_agent,
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            expires_at=row.expires_at,
        )
        for row in rows.all()
    ]


async def end_sessions(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    context: AuditContext,
    username: str,
) -> int:
    """End every session of the account and revoke its tokens; return how many ended."""
    user = await _account(db, principal, username)
    result = await db.execute(
        update(LoginSession)
        .where(LoginSession.user_id == user.id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    await revoke_all_tokens(db, user)
    ended = int(getattr(result, "rowcount", 0) or 0)
    panel.events.audit(
        db,
        context,
        "user.sessions_ended",
        object_type="user",
        object_id=user.username,
        owner_id=user.id,
        details={"sessions": ended},
    )
    await db.commit()
    return ended
