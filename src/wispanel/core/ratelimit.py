"""Per-principal and per-address request limits with the X-RateLimit-* and IETF headers.

Counters use a sliding window in memory on one process, or in Redis when several API
processes share the work.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wispanel.core.asgi import Headers, send_error, state
from wispanel.core.config import RateLimitSettings
from wispanel.core.errors import RateLimited

LOGIN_PATH = "/api/v1/auth/login"


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    key: str
    per_minute: int


def create_storage(redis_url: str | None) -> Storage:
    if redis_url:
        return RedisStorage(
            redis_url.replace("redis://", "async+redis://", 1)
            if redis_url.startswith("redis://")
            else redis_url,
            implementation="redispy",
            key_prefix="wispanel-ratelimit",
        )
    return MemoryStorage()


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, settings: RateLimitSettings, storage: Storage) -> None:
        self.app = app
        self.settings = settings
        self.limiter = SlidingWindowCounterRateLimiter(storage)
        self._items: dict[int, RateLimitItemPerMinute] = {}

    def policy_for(self, scope: Scope) -> Policy:
        request_state = state(scope)
        if scope["path"] == LOGIN_PATH:
            return Policy(
                "login", f"login:{request_state['client_ip']}", self.settings.login_per_minute
            )
        principal = request_state.get("principal")
        if principal is not None:
            # An API key may carry its own limit, which replaces its owner's role limit.
            per_minute = principal.rate_limit_per_minute or self.settings.per_role(principal.role)
            return Policy(principal.role, principal.rate_limit_key, per_minute)
        return Policy(
            "anonymous", f"ip:{request_state['client_ip']}", self.settings.anonymous_per_minute
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not self.settings.enabled
            or not scope["path"].startswith("/api/")
        ):
            await self.app(scope, receive, send)
            return
        policy = self.policy_for(scope)
        item = self._items.get(policy.per_minute)
        if item is None:
            item = self._items.setdefault(
                policy.per_minute, RateLimitItemPerMinute(policy.per_minute)
            )
        allowed = await self.limiter.hit(item, policy.key)
        stats = await self.limiter.get_window_stats(item, policy.key)
        reset_at = max(math.ceil(stats.reset_time), int(time.time()) + 1)
        headers = self._headers(policy, stats.remaining, reset_at)
        if not allowed:
            retry_after = str(max(1, reset_at - int(time.time())))
            error = RateLimited(
                f"Rate limit of {policy.per_minute} requests a minute exceeded; retry in "
                f"{retry_after} s",
                headers={"Retry-After": retry_after},
            )
            await send_error(send, error, state(scope).get("request_id"), headers)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    @staticmethod
    def _headers(policy: Policy, remaining: int, reset_at: int) -> Headers:
        seconds_left = max(0, reset_at - int(time.time()))
        return [
            (b"x-ratelimit-limit", str(policy.per_minute).encode()),
            (b"x-ratelimit-remaining", str(max(0, remaining)).encode()),
            (b"x-ratelimit-reset", str(reset_at).encode()),
            (b"ratelimit-policy", f'"{policy.name}";q={policy.per_minute};w=60'.encode()),
            (
                b"ratelimit",
                f'"{policy.name}";r={max(0, remaining)};t={seconds_left}'.encode(),
            ),
        ]
