"""The Idempotency-Key layer: a repeated mutating request gets the first response again.

Keys are scoped to the principal. Responses to requests rejected before any work ran
(bad input, authentication, permission, rate limit) and server errors are not stored, so the
client may fix the request or retry with the same key.
"""

from __future__ import annotations

import hashlib

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wispanel.core.asgi import Headers, header, send_error, state
from wispanel.core.errors import (
    IdempotencyKeyInUse,
    IdempotencyKeyMismatch,
    ValidationFailed,
)
from wispanel.core.idempotency.store import IdempotencyStore, Outcome, StoredResponse

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NOT_STORED_STATUSES = frozenset({400, 401, 403, 413, 415, 429, 431})
STORED_HEADERS = frozenset({"content-type", "location"})
MAX_KEY_LENGTH = 255
log = structlog.get_logger(__name__)


def valid_key(key: str) -> bool:
    return 1 <= len(key) <= MAX_KEY_LENGTH and all(" " <= char <= "~" for char in key)


class IdempotencyMiddleware:
    def __init__(
        self, app: ASGIApp, store: IdempotencyStore, *, max_stored_body_bytes: int
    ) -> None:
        self.app = app
        self.store = store
        self.max_stored_body_bytes = max_stored_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = header(scope, b"idempotency-key") if scope["type"] == "http" else None
        if key is None or scope["method"] not in MUTATING_METHODS:
            await self.app(scope, receive, send)
            return
        request_state = state(scope)
        request_id = request_state.get("request_id")
        if not valid_key(key):
            error = ValidationFailed(
                f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
                details={"Idempotency-Key": ["invalid"]},
            )
            await send_error(send, error, request_id)
            return
        if request_state.get("auth_error") is not None:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        principal = request_state.get("principal")
        scope_name = (
            principal.idempotency_scope if principal else f"ip:{request_state['client_ip']}"
        )
        fingerprint = _fingerprint(scope, body)
        claim = await self.store.claim(scope_name, key, fingerprint)
        if claim.outcome is Outcome.MISMATCH:
            await send_error(send, IdempotencyKeyMismatch(), request_id)
            return
        if claim.outcome is Outcome.IN_FLIGHT:
            await send_error(send, IdempotencyKeyInUse(), request_id)
            return
        if claim.outcome is Outcome.REPLAY and claim.response is not None:
            log.info("idempotency.replayed", status=claim.response.status)
            await _replay(send, claim.response)
            return
        await self._run_and_store(scope, body, send, scope_name, key)

    async def _run_and_store(
        self, scope: Scope, body: bytes, send: Send, principal: str, key: str
    ) -> None:
        status = 500
        headers: Headers = []
        chunks: list[bytes] = []
        finished = False

        async def replay_body() -> Message:
            nonlocal body
            message: Message = {"type": "http.request", "body": body, "more_body": False}
            body = b""
            return message

        async def capture(message: Message) -> None:
            nonlocal status, headers, finished
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                finished = not message.get("more_body", False)
            await send(message)

        stored = False
        try:
            await self.app(scope, replay_body, capture)
            content = b"".join(chunks)
            if (
                finished
                and status < 500
                and status not in NOT_STORED_STATUSES
                and len(content) <= self.max_stored_body_bytes
            ):
                kept = [
                    [name.decode("latin-1"), value.decode("latin-1")]
                    for name, value in headers
                    if name.decode("latin-1").lower() in STORED_HEADERS
                ]
                await self.store.complete(principal, key, StoredResponse(status, kept, content))
                stored = True
        finally:
            if not stored:
                await self.store.release(principal, key)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _fingerprint(scope: Scope, body: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(scope["method"].encode())
    digest.update(b"\n")
    digest.update(scope["path"].encode())
    digest.update(b"?")
    digest.update(scope.get("query_string", b""))
    digest.update(b"\n")
    digest.update(hashlib.sha256(body).digest())
    return digest.hexdigest()


async def _replay(send: Send, response: StoredResponse) -> None:
    headers: Headers = [(name.encode(), value.encode()) for name, value in response.headers]
    headers.append((b"content-length", str(len(response.body)).encode()))
    headers.append((b"idempotent-replayed", b"true"))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
