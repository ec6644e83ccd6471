"""The outermost layer: request ids, header and body limits, the access log, last-resort 500s."""

from __future__ import annotations

import re
import secrets
import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wispanel.core.asgi import Headers, client_ip, header, parse_networks, send_error, state
from wispanel.core.errors import HeadersTooLarge, InternalError, PayloadTooLarge
from wispanel.core.logging import access_log

REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
log = structlog.get_logger("wispanel.access")


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_header_bytes: int,
        trusted_proxies: list[str],
        access_log: bool = True,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_header_bytes = max_header_bytes
        self.trusted = parse_networks(trusted_proxies)
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        inbound = header(scope, b"x-request-id")
        request_id = (
            inbound if inbound and REQUEST_ID_PATTERN.match(inbound) else secrets.token_hex(16)
        )
        request_state = state(scope)
        request_state["request_id"] = request_id
        request_state["client_ip"] = client_ip(scope, self.trusted)
        path = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            scope["path"] = path.rstrip("/") or "/"
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers: Headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            rejection = self._check_limits(scope)
            if rejection is not None:
                await send_error(send_with_id, rejection, request_id)
            else:
                await self.app(scope, self._limited_receive(receive), send_with_id)
        except Exception:
            log.exception("request.failed", method=scope["method"], path=scope["path"])
            if not response_started:
                await send_error(send_with_id, InternalError(), request_id)
        finally:
            if self.access_log:
                principal = request_state.get("principal")
                access_log().write(
                    {
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        "client_ip": request_state["client_ip"],
                        "user": principal.username if principal else None,
                    }
                )
            structlog.contextvars.unbind_contextvars("request_id")

    def _check_limits(self, scope: Scope) -> HeadersTooLarge | PayloadTooLarge | None:
        size = sum(len(key) + len(value) for key, value in scope["headers"])
        if size > self.max_header_bytes:
            return HeadersTooLarge(
                f"Request headers are {size} bytes; the limit is {self.max_header_bytes}"
            )
        length = header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            return PayloadTooLarge(
                f"Request body is {length} bytes; the limit is {self.max_body_bytes}"
            )
        return None

    def _limited_receive(self, receive: Receive) -> Receive:
        received = 0
        limit = self.max_body_bytes

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(f"Request body is over the limit of {limit} bytes")
            return message

        return limited
