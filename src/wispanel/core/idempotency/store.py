"""Where Idempotency-Key records live: the panel database, or Redis when configured.

Both stores hold a record per (principal, key) with the request's fingerprint; a record
without a response is in flight until its lease runs out, so a key whose process died is
usable again after the lease.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Any, Protocol

import orjson
from redis.asyncio import Redis
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wispanel.core.database import utcnow
from wispanel.core.models import IdempotencyRecord


class Outcome(Enum):
    STARTED = "started"
    REPLAY = "replay"
    IN_FLIGHT = "in_flight"
    MISMATCH = "mismatch"


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    headers: list[list[str]]
    body: bytes


@dataclass(frozen=True, slots=True)
class Claim:
    outcome: Outcome
    response: StoredResponse | None = None


class IdempotencyStore(Protocol):
    async def claim(self, principal: str, key: str, fingerprint: str) -> Claim: ...

    async def complete(self, principal: str, key: str, response: StoredResponse) -> None: ...

    async def release(self, principal: str, key: str) -> None: ...


class DatabaseIdempotencyStore:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, ttl_seconds: int, lease_seconds: int
    ) -> None:
        self._sessions = sessions
        self._ttl = timedelta(seconds=ttl_seconds)
        self._lease = timedelta(seconds=lease_seconds)

    async def claim(self, principal: str, key: str, fingerprint: str) -> Claim:
        now = utcnow()
        async with self._sessions() as db:
            await db.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.principal == principal,
                    IdempotencyRecord.key == key,
                    IdempotencyRecord.expires_at <= now,
                )
            )
            db.add(
                IdempotencyRecord(
                    principal=principal,
                    key=key,
                    fingerprint=fingerprint,
                    created_at=now,
                    lease_until=now + self._lease,
                    expires_at=now + self._ttl,
                )
            )
            try:
                await db.commit()
                return Claim(Outcome.STARTED)
            except IntegrityError:
                await db.rollback()
            record = (
                await db.execute(
                    select(IdempotencyRecord).where(
                        IdempotencyRecord.principal == principal, IdempotencyRecord.key == key
                    )
                )
            ).scalar_one_or_none()
            if record is None:  # removed between the insert and the read; the caller retries
                return Claim(Outcome.IN_FLIGHT)
            if record.fingerprint != fingerprint:
                return Claim(Outcome.MISMATCH)
            if record.response_status is not None:
                return Claim(
                    Outcome.REPLAY,
                    StoredResponse(
                        record.response_status,
                        record.response_headers or [],
                        base64.b64decode(record.response_body or ""),
                    ),
                )
            if record.lease_until > now:
                return Claim(Outcome.IN_FLIGHT)
            taken = await db.execute(
                update(IdempotencyRecord)
                .where(
                    IdempotencyRecord.id == record.id,
                    IdempotencyRecord.lease_until == record.lease_until,
                    IdempotencyRecord.response_status.is_(None),
                )
                .values(lease_until=now + self._lease)
            )
            await db.commit()
            return Claim(Outcome.STARTED if _rowcount(taken) == 1 else Outcome.IN_FLIGHT)

    async def complete(self, principal: str, key: str, response: StoredResponse) -> None:
        async with self._sessions() as db:
            await db.execute(
                update(IdempotencyRecord)
                .where(IdempotencyRecord.principal == principal, IdempotencyRecord.key == key)
                .values(
                    response_status=response.status,
                    response_headers=response.headers,
                    response_body=base64.b64encode(response.body).decode("ascii"),
                )
            )
            await db.commit()

    async def release(self, principal: str, key: str) -> None:
        async with self._sessions() as db:
            await db.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.principal == principal,
                    IdempotencyRecord.key == key,
                    IdempotencyRecord.response_status.is_(None),
                )
            )
            await db.commit()

    async def purge_expired(self) -> int:
        async with self._sessions() as db:
            result = await db.execute(
                delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= utcnow())
            )
            await db.commit()
            return _rowcount(result)


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


class RedisIdempotencyStore:
    """One Redis key per record; SET NX gives the same first-wins claim as the unique index."""

    def __init__(self, url: str, *, ttl_seconds: int, lease_seconds: int) -> None:
        self._redis: Redis = Redis.from_url(url)
        self._ttl = ttl_seconds
        self._lease = lease_seconds

    @staticmethod
    def _name(principal: str, key: str) -> str:
        encoded = base64.urlsafe_b64encode(key.encode()).decode()
        return f"wispanel-idempotency:{principal}:{encoded}"

    async def claim(self, principal: str, key: str, fingerprint: str) -> Claim:
        name = self._name(principal, key)
        record = orjson.dumps({"fingerprint": fingerprint})
        if await self._redis.set(name, record, nx=True, ex=self._lease):
            return Claim(Outcome.STARTED)
        raw = await self._redis.get(name)
        if raw is None:
            return Claim(Outcome.IN_FLIGHT)
        stored = orjson.loads(raw)
        if stored["fingerprint"] != fingerprint:
            return Claim(Outcome.MISMATCH)
        if "status" not in stored:
            return Claim(Outcome.IN_FLIGHT)
        return Claim(
            Outcome.REPLAY,
            StoredResponse(stored["status"], stored["headers"], base64.b64decode(stored["body"])),
        )

    async def complete(self, principal: str, key: str, response: StoredResponse) -> None:
        name = self._name(principal, key)
        raw = await self._redis.get(name)
        fingerprint = orjson.loads(raw)["fingerprint"] if raw else ""
        await self._redis.set(
            name,
            orjson.dumps(
                {
                    "fingerprint": fingerprint,
                    "status": response.status,
                    "headers": response.headers,
                    "body": base64.b64encode(response.body).decode(),
                }
            ),
            ex=self._ttl,
        )

    async def release(self, principal: str, key: str) -> None:
        name = self._name(principal, key)
        raw = await self._redis.get(name)
        if raw is not None and "status" not in orjson.loads(raw):
            await self._redis.delete(name)
