"""Resolve the caller once per request and leave the result in the request state.

Nothing is rejected here: routes declare whether they need a principal, and the rate
limiter needs to know the caller (or its address) even for public routes.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from wispanel.auth.principal import Authenticator
from wispanel.core.asgi import header, state
from wispanel.core.errors import Unauthorized


class AuthenticationMiddleware:
    def __init__(self, app: ASGIApp, authenticator: Authenticator) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request_state = state(scope)
            request_state["principal"] = None
            authorization = header(scope, b"authorization")
            if authorization:
                try:
                    request_state["principal"] = await self.authenticator.authenticate(
                        authorization
                    )
                except Unauthorized as error:
                    request_state["auth_error"] = error
        await self.app(scope, receive, send)
