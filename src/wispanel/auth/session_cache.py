"""Short-lived copies of session rows, so most requests need no database round trip."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wispanel.auth.accounts import AccountSnapshot, snapshot_of
from wispanel.auth.models import AccountSecurity, LoginSession
from wispanel.auth.revocation import register_cache
from wispanel.auth.shared_loads import SharedLoads
from wispanel.core.database import utcnow
from wispanel.users.models import User

MAX_ENTRIES = 50_000


@dataclass(frozen=True, slots=True)
class SessionState:
    account: AccountSnapshot
    expires_at: datetime
    revoked: bool
    last_seen_at: datetime
    ip: str = ""
    # The account's IP-binding override: None follows the role's setting.
    ip_binding: bool | None = None
    impersonator: str | None = None


class SessionCache:
    """Session states keyed by session id, each reused for `ttl_seconds`.

    Revocation through `invalidate` is immediate in this process; other API processes see it
    once their copy is older than `ttl_seconds`. Requests that miss the cache together share
    one database load.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        ttl_seconds: float,
        touch_seconds: int,
    ) -> None:
        self._sessions = sessions
        self._ttl = ttl_seconds
        self._touch = touch_seconds
        self._entries: dict[str, tuple[float, SessionState | None]] = {}
        self._loads: SharedLoads[str, SessionState | None] = SharedLoads()
        register_cache(self)

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return self._sessions

    async def get(self, session_id: str) -> SessionState | None:
        cached = self._entries.get(session_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        return await self._loads.get(session_id, self._load, self._store)

    def invalidate(self, session_id: str) -> None:
        self._entries.pop(session_id, None)
        self._loads.forget(session_id)

    def invalidate_all(self) -> None:
        self._entries.clear()
        self._loads.forget_all()

    async def extend(self, session_id: str, expires_at: datetime) -> None:
        """Move a live session's expiry to `expires_at`, in the database and in the cache."""
        async with self._sessions() as db:
            await db.execute(
                update(LoginSession)
                .where(LoginSession.id == session_id, LoginSession.revoked_at.is_(None))
                .values(expires_at=expires_at)
            )
            await db.commit()
        cached = self._entries.get(session_id)
        if cached is not None and cached[1] is not None:
            self._entries[session_id] = (cached[0], replace(cached[1], expires_at=expires_at))

    def _store(self, session_id: str, state: SessionState | None) -> None:
        if self._ttl <= 0:
            return
        if len(self._entries) > MAX_ENTRIES:
            self._entries.clear()
        self._entries[session_id] = (time.monotonic() + self._ttl, state)

    async def _load(self, session_id: str) -> SessionState | None:
        async with self._sessions() as db:
            row = (
                await db.execute(
                    select(LoginSession, User, AccountSecurity.ip_binding)
                    .join(User, User.id == LoginSession.user_id)
                    .outerjoin(AccountSecurity, AccountSecurity.user_id == User.id)
                    .where(LoginSession.id == session_id)
                )
            ).first()
            if row is None:
                return None
            login, user, ip_binding = row
            now = utcnow()
            if (now - login.last_seen_at).total_seconds() >= self._touch:
                await db.execute(
                    update(LoginSession)
                    .where(LoginSession.id == session_id)
                    .values(last_seen_at=now)
                )
                await db.commit()
            return SessionState(
                account=snapshot_of(user),
                expires_at=login.expires_at,
                revoked=login.revoked_at is not None,
                last_seen_at=login.last_seen_at,
                ip=login.ip,
                ip_binding=ip_binding,
                impersonator=login.impersonator,
            )
