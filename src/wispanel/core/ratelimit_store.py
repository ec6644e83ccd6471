"""Sliding-window request counters: in memory for one process, in Redis for several.

Both stores approximate a sliding window with two fixed windows, as the `limits` library's
sliding window counter does. The previous window's count is weighted by the part of it that
still overlaps the sliding window, and the current window's count is added. A request is
allowed when that weighted count plus one stays within the limit. `limits` rounds the
weighted count down first, which lets one request more through whenever the previous
window's part is fractional, as right after a window boundary. Only allowed requests are
counted, and a key's count is kept when its limit changes.

In memory, windows are aligned to the Unix epoch; in Redis, a key's windows start with its
first request, as in `limits`. Each store handles a request with one operation: a few dict
reads and one write in memory, one Lua script call in Redis. The `limits` strategies needed
two storage calls per request (hit, then window stats for the headers), which cost about
40 µs a request in memory (docs/benchmarks.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import NamedTuple, Protocol

from redis.asyncio import Redis

REDIS_KEY_PREFIX = "wispanel-ratelimit"

# KEYS[1] contains the previous window's count, KEYS[2] the current one's. A window starts with
# the first request of a key and lasts ARGV[2] seconds. The current key lives two windows, so
# once its TTL drops below one window, the window is over: the key becomes the previous one
# and a new current window starts where the old one ended. The script returns whether the
# request is allowed, both counts after it, and the milliseconds left in the current window.
SLIDING_WINDOW_SCRIPT = """
local limit = tonumber(ARGV[1])
local expiry = tonumber(ARGV[2]) * 1000

local ttl = redis.call('pttl', KEYS[2])
if ttl > 0 and ttl < expiry then
    redis.call('rename', KEYS[2], KEYS[1])
    redis.call('set', KEYS[2], 0, 'PX', ttl + expiry)
    ttl = ttl + expiry
end

local previous_count = tonumber(redis.call('get', KEYS[1])) or 0
local current_count = tonumber(redis.call('get', KEYS[2])) or 0
local left = math.max(ttl - expiry, 0)

local allowed = 0
if previous_count * left / expiry + current_count + 1 <= limit then
    allowed = 1
    if ttl > 0 then
        current_count = redis.call('incrby', KEYS[2], 1)
    else
        redis.call('set', KEYS[2], 1, 'PX', expiry * 2)
        current_count = 1
        left = expiry
    end
end
return {allowed, previous_count, current_count, left}
"""


class WindowResult(NamedTuple):
    """The outcome of one request against a limit."""

    allowed: bool
    remaining: int
    # Unix time of the next drop of the count: the previous window's weighted count losing
    # one request, or the end of the current window, whichever comes first.
    reset_at: float


class RateLimitStore(Protocol):
    async def hit(self, key: str, limit: int) -> WindowResult:
        """Count one request for `key` if it fits within `limit` requests a window."""
        ...


def window_result(
    *,
    allowed: bool,
    limit: int,
    window_seconds: float,
    previous_count: int,
    current_count: int,
    seconds_left: float,
    now: float,
) -> WindowResult:
    """Build the result from both windows' counts after the request.

    `seconds_left` is the time until the current window ends, which is also the part of the
    previous window that still overlaps the sliding window. The reset time is the earlier
    of two moments: the weighted previous count dropping by one, and the end of the current
    window.
    """
    weighted = previous_count * seconds_left / window_seconds + current_count
    remaining = max(0, limit - math.ceil(weighted))
    reset_in = math.inf
    if previous_count:
        reset_in = seconds_left % (window_seconds / previous_count)
    if current_count:
        reset_in = min(reset_in, seconds_left)
    if reset_in == math.inf:
        reset_in = 0.0
    return WindowResult(allowed, remaining, now + reset_in)


class MemoryRateLimitStore:
    """Counters of one process in two dicts, for the current and the previous window.

    Windows are aligned to the Unix epoch. When a new window begins, the current dict
    becomes the previous one, so counters of keys that stopped sending requests are dropped
    after two windows without any sweep. Nothing awaits between reading and writing a
    counter, so requests on one event loop can't interleave there.
    """

    def __init__(self, window_seconds: int, clock: Callable[[], float] = time.time) -> None:
        self._window_seconds = window_seconds
        self._clock = clock
        self._window = -1
        self._current: dict[str, int] = {}
        self._previous: dict[str, int] = {}

    async def hit(self, key: str, limit: int) -> WindowResult:
        now = self._clock()
        window_seconds = self._window_seconds
        window = int(now // window_seconds)
        if window != self._window:
            self._advance(window)
        seconds_left = (window + 1) * window_seconds - now
        previous_count = self._previous.get(key, 0)
        current_count = self._current.get(key, 0)
        weighted = previous_count * seconds_left / window_seconds + current_count
        allowed = weighted + 1 <= limit
        if allowed:
            current_count += 1
            self._current[key] = current_count
        return window_result(
            allowed=allowed,
            limit=limit,
            window_seconds=window_seconds,
            previous_count=previous_count,
            current_count=current_count,
            seconds_left=seconds_left,
            now=now,
        )

    def _advance(self, window: int) -> None:
        self._previous = self._current if window == self._window + 1 else {}
        self._current = {}
        self._window = window


class RedisRateLimitStore:
    """Counters shared by every API process through Redis, one script call per request."""

    def __init__(self, url: str, window_seconds: int) -> None:
        self._window_seconds = window_seconds
        self._redis: Redis = Redis.from_url(url)
        self._script = self._redis.register_script(SLIDING_WINDOW_SCRIPT)

    async def hit(self, key: str, limit: int) -> WindowResult:
        name = f"{REDIS_KEY_PREFIX}:{key}"
        allowed, previous_count, current_count, milliseconds_left = await self._script(
            keys=[f"{name}:previous", f"{name}:current"], args=[limit, self._window_seconds]
        )
        return window_result(
            allowed=bool(allowed),
            limit=limit,
            window_seconds=self._window_seconds,
            previous_count=int(previous_count),
            current_count=int(current_count),
            seconds_left=int(milliseconds_left) / 1000,
            now=time.time(),
        )


def create_store(redis_url: str | None, window_seconds: int) -> RateLimitStore:
    """Return the Redis store when a URL is configured, else the in-memory store."""
    if redis_url:
        return RedisRateLimitStore(redis_url, window_seconds)
    return MemoryRateLimitStore(window_seconds)
