"""Resolve the caller once per request and leave the result in the request state.

Nothing is rejected here: routes declare whether they need a principal, and the rate
limiter needs to know the caller (or its address) even for public routes. Two things ride
along on the way out: `X-New-Token` for a session token past half of its lifetime, and a
rate-limit event when the login limit per address strikes.
"""

from __future__ import annotations

import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wispanel.auth.lockout import record_rate_limit_event
from wispanel.auth.principal import Authenticator
from wispanel.core.asgi import header, state
from wispanel.core.errors import Unauthorized
from wispanel.core.ratelimit import LOGIN_PATH

log = structlog.get_logger(__name__)
# One rate-limit event per address and minute is enough for the security summary; an
# attacker hammering the login must not turn every rejected request into a database write.
EVENT_INTERVAL_SECONDS = 60


class AuthenticationMiddleware:
    def __init__(self, app: ASGIApp, authenticator: Authenticator) -> None:
        self.app = app
        self.authenticator = authenticator
        self._last_event: dict[str, float] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_state = state(scope)
        request_state["principal"] = None
        authorization = header(scope, b"authorization")
        new_token: str | None = None
        if authorization:
            try:
                principal = await self.authenticator.authenticate(
                    authorization, request_state.get("client_ip")
                )
            except Unauthorized as error:
                request_state["auth_error"] = error
            else:
                request_state["principal"] = principal
                new_token = await self.authenticator.sliding_token(principal)
        watch_login = scope["path"] == LOGIN_PATH
        if new_token is None and not watch_login:
            await self.app(scope, receive, send)
            return
        limited = False

        async def send_wrapped(message: Message) -> None:
            nonlocal limited
            if message["type"] == "http.response.start":
                if new_token is not None and message["status"] < 400:
                    message["headers"] = [
                        *message.get("headers", []),
                        (b"x-new-token", new_token.encode()),
                    ]
                limited = message["status"] == 429
            await send(message)

        await self.app(scope, receive, send_wrapped)
        # The login route marks requests it handled; a 429 without the mark came from the
        # per-address limiter, while the route records account lockouts itself.
        if watch_login and limited and not request_state.get("login_handled"):
            await self._record_login_limit(request_state.get("client_ip"))

    async def _record_login_limit(self, client_ip: str | None) -> None:
        address = client_ip or "unknown"
        now = time.monotonic()
        if now - self._last_event.get(address, -EVENT_INTERVAL_SECONDS) < EVENT_INTERVAL_SECONDS:
            return
        if len(self._last_event) > 10_000:
            self._last_event.clear()
        self._last_event[address] = now
        try:
            async with self.authenticator.cache.sessions() as db:
                record_rate_limit_event(db, "login_ip", ip=client_ip)
                await db.commit()
        except Exception:
            log.exception("auth.rate_limit_event_failed", kind="login_ip", ip=client_ip)
