"""API keys resolved to their owner, cached by the key's SHA-256 for a few seconds."""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wispanel.auth.accounts import AccountSnapshot, snapshot_of
from wispanel.auth.models import ApiKey
from wispanel.auth.revocation import register_cache
from wispanel.auth.shared_loads import SharedLoads
from wispanel.core.database import utcnow
from wispanel.users.models import User

MAX_ENTRIES = 50_000
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class ApiKeyState:
    id: str
    account: AccountSnapshot
    scopes: frozenset[str]
    networks: tuple[Network, ...]
    enabled: bool
    expires_at: datetime | None
    rate_limit_per_minute: int | None

    def allows_address(self, address: str | None) -> bool:
        """Return whether the key may be used from `address`; an empty allowlist allows any."""
        if not self.networks:
            return True
        try:
            parsed = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(parsed in network for network in self.networks)


class ApiKeyCache:
    """Key states keyed by the key's SHA-256, each reused for `ttl_seconds`.

    `last_used_at` is written when a state is loaded and the stored value is older than
    `touch_seconds`, so a busy key costs at most one write a minute. Requests that miss the
    cache together share one database load.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        ttl_seconds: float,
        touch_seconds: int = 60,
    ) -> None:
        self._sessions = sessions
        self._ttl = ttl_seconds
        self._touch = touch_seconds
        self._entries: dict[str, tuple[float, ApiKeyState | None]] = {}
        self._loads: SharedLoads[str, ApiKeyState | None] = SharedLoads()
        register_cache(self)

    async def get(self, key_hash: str) -> ApiKeyState | None:
        cached = self._entries.get(key_hash)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        return await self._loads.get(key_hash, self._load, self._store)

    def invalidate_all(self) -> None:
        self._entries.clear()
        self._loads.forget_all()

    def _store(self, key_hash: str, state: ApiKeyState | None) -> None:
        if self._ttl <= 0:
            return
        if len(self._entries) > MAX_ENTRIES:
            self._entries.clear()
        self._entries[key_hash] = (time.monotonic() + self._ttl, state)

    async def _load(self, key_hash: str) -> ApiKeyState | None:
        async with self._sessions() as db:
            row = (
                await db.execute(
                    select(ApiKey, User)
                    .join(User, User.id == ApiKey.user_id)
                    .where(ApiKey.key_hash == key_hash)
                )
            ).first()
            if row is None:
                return None
            key, user = row
            now = utcnow()
            # NOTE: the touch happens before the allowlist and expiry checks, so a rejected
            # request still moves `last_used`.
            if key.last_used_at is None or (now - key.last_used_at).total_seconds() >= self._touch:
                await db.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
                await db.commit()
            return ApiKeyState(
                id=key.id,
                account=snapshot_of(user),
                scopes=frozenset(key.permissions),
                networks=tuple(
                    ipaddress.ip_network(entry, strict=False) for entry in key.ip_whitelist
                ),
                enabled=key.enabled,
                expires_at=key.expires_at,
                rate_limit_per_minute=key.rate_limit_per_minute,
            )
