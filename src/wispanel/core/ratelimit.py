"""Per-principal and per-address request limits with the X-RateLimit-* and IETF headers.

Each policy allows a number of requests a minute, counted with a sliding window counter
(see `wispanel.core.ratelimit_store`): in memory on one process, or in Redis when several
API processes share the work.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wispanel.core.asgi import Headers, send_error, state
from wispanel.core.config import RateLimitSettings
from wispanel.core.errors import RateLimited
from wispanel.core.ratelimit_store import RateLimitStore, create_store

LOGIN_PATH = "/api/v1/auth/login"
# Every policy counts requests a minute.
WINDOW_SECONDS = 60


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    key: str
    per_minute: int


def create_storage(redis_url: str | None) -> RateLimitStore:
    """Return the Redis store when a URL is configured, else this process's memory store."""
    return create_store(redis_url, WINDOW_SECONDS)


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, settings: RateLimitSettings, storage: RateLimitStore) -> None:
        self.app = app
        self.settings = settings
        self.store = storage

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
        result = await self.store.hit(policy.key, policy.per_minute)
        now = time.time()
        # Whole seconds, rounded up so that a client waiting this long finds room again.
        seconds_left = max(1, math.ceil(result.reset_at - now))
        reset_at = max(math.ceil(result.reset_at), int(now) + 1)
        headers = self._headers(policy, result.remaining, reset_at, seconds_left)
        if not result.allowed:
            error = RateLimited(
                f"Rate limit of {policy.per_minute} requests a minute exceeded; retry in "
                f"{seconds_left} s",
                headers={"Retry-After": str(seconds_left)},
            )
            await send_error(send, error, state(scope).get("request_id"), headers)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    @staticmethod
    def _headers(policy: Policy, remaining: int, reset_at: int, seconds_left: int) -> Headers:
        return [
            (b"x-ratelimit-limit", str(policy.per_minute).encode()),
            (b"x-ratelimit-remaining", str(remaining).encode()),
            (b"x-ratelimit-reset", str(reset_at).encode()),
            (
                b"ratelimit-policy",
                f'"{policy.name}";q={policy.per_minute};w={WINDOW_SECONDS}'.encode(),
            ),
            (b"ratelimit", f'"{policy.name}";r={remaining};t={seconds_left}'.encode()),
        ]
