"""Server-side sessions: creating them with their token, listing and revoking them."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.models import LoginSession
from wispanel.auth.revocation import invalidate_after_commit
from wispanel.core.context import PanelContext
from wispanel.core.database import utcnow
from wispanel.core.events import AuditContext
from wispanel.users.models import User


def start_session(
    db: AsyncSession,
    panel: PanelContext,
    user: User,
    context: AuditContext,
    user_agent: str,
    *,
    ttl_seconds: int,
    impersonator: str | None = None,
) -> tuple[str, str]:
    """Add a session row for `user` to the transaction; returns its id and a token for it.

    The token is valid once the caller commits.
    """
    session_id = secrets.token_hex(16)
    now = utcnow()
    db.add(
        LoginSession(
            id=session_id,
            user_id=user.id,
            ip=(context.source_ip or "")[:45],
            user_agent=user_agent[:512],
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
            impersonator=impersonator,
        )
    )
    token = panel.authenticator.codec.issue(
        user_id=user.id,
        role=user.role,
        session_id=session_id,
        token_version=user.token_version,
        ttl_seconds=ttl_seconds,
        impersonator=impersonator,
    )
    return session_id, token


async def live_sessions(db: AsyncSession, user_id: int) -> list[LoginSession]:
    statement = (
        select(LoginSession)
        .where(
            LoginSession.user_id == user_id,
            LoginSession.revoked_at.is_(None),
            LoginSession.expires_at > utcnow(),
        )
        .order_by(LoginSession.created_at, LoginSession.id)
    )
    return list((await db.scalars(statement)).all())


async def revoke_sessions(
    db: AsyncSession, user_id: int, *, keep: str | None = None, only: str | None = None
) -> int:
    """Revoke the account's live sessions (all, all but `keep`, or just `only`).

    Returns how many were revoked; the caches forget them when the caller commits.
    """
    statement = update(LoginSession).where(
        LoginSession.user_id == user_id,
        LoginSession.revoked_at.is_(None),
        LoginSession.expires_at > utcnow(),
    )
    if keep is not None:
        statement = statement.where(LoginSession.id != keep)
    if only is not None:
        statement = statement.where(LoginSession.id == only)
    result = await db.execute(
        statement.values(revoked_at=utcnow()).execution_options(synchronize_session=False)
    )
    invalidate_after_commit(db)
    return int(getattr(result, "rowcount", 0) or 0)
