"""The sliding-window counters behind the rate limiter, in memory and in Redis."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator

import pytest
from redis import Redis

from wispanel.core.ratelimit_store import (
    REDIS_KEY_PREFIX,
    MemoryRateLimitStore,
    RedisRateLimitStore,
    WindowResult,
    window_result,
)

REDIS_URL = "redis://127.0.0.1:6379/15"
WINDOW = 60
# A window boundary: 29,000,000 windows of 60 s after the Unix epoch.
WINDOW_START = 1_740_000_000.0


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def hit(store: MemoryRateLimitStore | RedisRateLimitStore, key: str, limit: int) -> WindowResult:
    return asyncio.run(store.hit(key, limit))


def test_memory_counts_up_to_limit() -> None:
    clock = FakeClock(WINDOW_START + 10)
    store = MemoryRateLimitStore(WINDOW, clock)
    results = [hit(store, "user:1", 3) for _ in range(4)]
    assert [result.allowed for result in results] == [True, True, True, False]
    assert [result.remaining for result in results] == [2, 1, 0, 0]
    # Nothing of the previous window counts, so one request fits again when this one ends.
    assert results[-1].reset_at == WINDOW_START + WINDOW


def test_memory_keys_are_independent() -> None:
    store = MemoryRateLimitStore(WINDOW, FakeClock(WINDOW_START + 1))
    assert hit(store, "ip:192.0.2.1", 1).allowed
    assert not hit(store, "ip:192.0.2.1", 1).allowed
    assert hit(store, "ip:192.0.2.2", 1).allowed
    assert hit(store, "user:1", 1).allowed


def test_memory_weights_previous_window() -> None:
    clock = FakeClock(WINDOW_START + 30)
    store = MemoryRateLimitStore(WINDOW, clock)
    for _ in range(10):
        assert hit(store, "user:1", 10).allowed
    # A quarter into the next window, 3/4 of the previous 10 requests still count: 7.5.
    clock.now = WINDOW_START + WINDOW + 15
    first = hit(store, "user:1", 10)
    assert first.allowed
    assert first.remaining == 1  # 8.5 counted, so one more request fits
    second = hit(store, "user:1", 10)
    assert second.allowed
    assert second.remaining == 0
    denied = hit(store, "user:1", 10)  # 9.5 + 1 is over the limit
    assert not denied.allowed
    assert denied.remaining == 0
    # The previous window weighs one request less every 6 s (60 s / 10 requests). At 42 s
    # left it weighs 7, and 7 + 2 leaves room for one request.
    assert denied.reset_at == pytest.approx(WINDOW_START + WINDOW + 18)
    clock.now = WINDOW_START + WINDOW + 17.5
    assert not hit(store, "user:1", 10).allowed
    clock.now = WINDOW_START + WINDOW + 18
    assert hit(store, "user:1", 10).allowed


def test_memory_strict_after_window_boundary() -> None:
    clock = FakeClock(WINDOW_START + WINDOW - 0.5)
    store = MemoryRateLimitStore(WINDOW, clock)
    assert [hit(store, "login:192.0.2.1", 3).allowed for _ in range(3)] == [True] * 3
    # Just past the boundary the previous window still weighs 2.98 of its 3 requests.
    clock.now = WINDOW_START + WINDOW + 0.5
    result = hit(store, "login:192.0.2.1", 3)
    assert not result.allowed
    assert result.remaining == 0


def test_memory_drops_windows_older_than_previous() -> None:
    clock = FakeClock(WINDOW_START)
    store = MemoryRateLimitStore(WINDOW, clock)
    assert hit(store, "user:1", 1).allowed
    clock.now += 2 * WINDOW
    result = hit(store, "user:1", 1)
    assert result.allowed
    assert result.remaining == 0


def test_window_result_without_requests() -> None:
    result = window_result(
        allowed=False,
        limit=5,
        window_seconds=WINDOW,
        previous_count=0,
        current_count=0,
        seconds_left=30.0,
        now=100.0,
    )
    assert result == WindowResult(allowed=False, remaining=5, reset_at=100.0)


@pytest.fixture
def redis_key() -> Iterator[str]:
    key = f"test:{secrets.token_hex(4)}"
    yield key
    client = Redis.from_url(REDIS_URL)
    client.delete(f"{REDIS_KEY_PREFIX}:{key}:previous", f"{REDIS_KEY_PREFIX}:{key}:current")
    client.close()


def test_redis_counts_up_to_limit(redis_key: str) -> None:
    async def run() -> list[WindowResult]:
        store = RedisRateLimitStore(REDIS_URL, WINDOW)
        return [await store.hit(redis_key, 3) for _ in range(4)]

    results = asyncio.run(run())
    assert [result.allowed for result in results] == [True, True, True, False]
    assert [result.remaining for result in results] == [2, 1, 0, 0]
    # The window began with the first request, so it ends about 60 s from now.
    assert time.time() + WINDOW - 5 < results[-1].reset_at <= time.time() + WINDOW


def test_redis_shared_between_stores(redis_key: str) -> None:
    async def run() -> list[bool]:
        first = RedisRateLimitStore(REDIS_URL, WINDOW)
        second = RedisRateLimitStore(REDIS_URL, WINDOW)
        return [(await store.hit(redis_key, 2)).allowed for store in (first, second, first)]

    assert asyncio.run(run()) == [True, True, False]


def test_redis_one_key_per_window(redis_key: str) -> None:
    async def run() -> None:
        await RedisRateLimitStore(REDIS_URL, WINDOW).hit(redis_key, 5)

    asyncio.run(run())
    client = Redis.from_url(REDIS_URL)
    current = f"{REDIS_KEY_PREFIX}:{redis_key}:current"
    assert client.get(current) == b"1"
    # The current window's counter outlives it by one window, as the previous window's.
    assert WINDOW * 1000 < client.pttl(current) <= 2 * WINDOW * 1000
    assert client.exists(f"{REDIS_KEY_PREFIX}:{redis_key}:previous") == 0
    client.close()
