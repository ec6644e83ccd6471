"""Small helpers for the panel's pure ASGI middleware."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

import orjson
from starlette.types import Scope, Send

from wispanel.core.errors import PanelError, envelope

Headers = list[tuple[bytes, bytes]]


def state(scope: Scope) -> dict[str, Any]:
    """Return the per-request state dict that `request.state` reads."""
    value: dict[str, Any] = scope.setdefault("state", {})
    return value


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def send_error(
    send: Send, error: PanelError, request_id: str | None, extra: Headers | None = None
) -> None:
    """Send the error envelope as a complete response."""
    body = orjson.dumps(
        envelope(error.code, error.status, error.message, request_id, error.details)
    )
    headers: Headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    headers += extra or []
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def parse_networks(
    values: Iterable[str],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(value, strict=False) for value in values)


def client_ip(
    scope: Scope, trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
) -> str:
    """Return the client address: the socket peer, or X-Forwarded-For behind a trusted proxy.

    The forwarded chain is read from the right, skipping trusted proxies, so a client can't
    choose its own address by sending the header itself.
    """
    peer = scope.get("client")
    address = peer[0] if peer else "0.0.0.0"  # noqa: S104 - no peer is only possible in tests
    if not trusted or not _in_networks(address, trusted):
        return str(address)
    forwarded = header(scope, b"x-forwarded-for")
    if not forwarded:
        return str(address)
    for hop in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return str(address)
        if not _in_networks(hop, trusted):
            return hop
    return str(address)


def _in_networks(
    address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in networks)
