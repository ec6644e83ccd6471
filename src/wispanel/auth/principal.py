"""Who is calling: resolving the Authorization header to a principal once per request."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wispanel.auth.models import LoginSession
from wispanel.auth.tokens import TokenCodec
from wispanel.core.database import utcnow
from wispanel.core.errors import Unauthorized
from wispanel.users.models import AccountStatus, User


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """The caller's account as last read from the database (at most the cache age old)."""

    id: int
    username: str
    email: str
    role: str
    status: str
    token_version: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of a request."""

    account: AccountSnapshot
    kind: str  # "session" or "api_key"
    session_id: str | None = None
    impersonator: str | None = None
    token_expires_at: int | None = None
    # Scopes of an API key; session tokens carry none and are limited by role alone.
    scopes: frozenset[str] = frozenset()
    api_key_id: str | None = None

    @property
    def user_id(self) -> int:
        return self.account.id

    @property
    def username(self) -> str:
        return self.account.username

    @property
    def role(self) -> str:
        return self.account.role

    @property
    def rate_limit_key(self) -> str:
        return f"user:{self.user_id}"

    @property
    def idempotency_scope(self) -> str:
        return f"user:{self.user_id}"


@dataclass(frozen=True, slots=True)
class SessionState:
    account: AccountSnapshot
    expires_at: datetime
    revoked: bool
    last_seen_at: datetime


class SessionCache:
    """Short-lived copies of session rows, so most requests need no database round trip.

    Revocation through `invalidate` is immediate in this process; other API processes see it
    once their copy is older than `ttl_seconds`.
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

    async def get(self, session_id: str) -> SessionState | None:
        cached = self._entries.get(session_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        state = await self._load(session_id)
        if self._ttl > 0:
            if len(self._entries) > 50_000:
                self._entries.clear()
            self._entries[session_id] = (time.monotonic() + self._ttl, state)
        return state

    def invalidate(self, session_id: str) -> None:
        self._entries.pop(session_id, None)

    def invalidate_all(self) -> None:
        self._entries.clear()

    async def _load(self, session_id: str) -> SessionState | None:
        async with self._sessions() as db:
            row = (
                await db.execute(
                    select(LoginSession, User)
                    .join(User, User.id == LoginSession.user_id)
                    .where(LoginSession.id == session_id)
                )
            ).first()
            if row is None:
                return None
            login, user = row
            now = utcnow()
            if (now - login.last_seen_at).total_seconds() >= self._touch:
                await db.execute(
                    update(LoginSession)
                    .where(LoginSession.id == session_id)
                    .values(last_seen_at=now)
                )
                await db.commit()
            return SessionState(
                account=AccountSnapshot(
                    id=user.id,
                    username=user.username,
                    email=user.email,
                    role=user.role,
                    status=user.status,
                    token_version=user.token_version,
                    created_at=user.created_at,
                ),
                expires_at=login.expires_at,
                revoked=login.revoked_at is not None,
                last_seen_at=login.last_seen_at,
            )


class Authenticator:
    def __init__(self, codec: TokenCodec, cache: SessionCache) -> None:
        self.codec = codec
        self.cache = cache

    async def authenticate(self, authorization: str) -> Principal:
        """Resolve an Authorization header value, or raise Unauthorized saying why not."""
        scheme, _, credential = authorization.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise Unauthorized("Missing authorization")
        if credential.startswith("wsp_"):
            # NOTE: API keys are not issued yet; every wsp_ credential is unknown until they are.
            raise Unauthorized("Invalid credentials")
        claims = self.codec.decode(credential)
        state = await self.cache.get(claims.session_id)
        if state is None or state.account.id != claims.user_id:
            raise Unauthorized("Session not found")
        if state.revoked or state.expires_at <= utcnow():
            raise Unauthorized("Session ended")
        if claims.token_version < state.account.token_version:
            raise Unauthorized("Token revoked")
        if state.account.status != AccountStatus.ACTIVE:
            raise Unauthorized("Account is suspended")
        return Principal(
            account=state.account,
            kind="session",
            session_id=claims.session_id,
            impersonator=claims.impersonator,
            token_expires_at=claims.expires_at,
        )
