"""API key scopes, checked once per router: `dependencies=[area_scope("domains")]`.

A key with `all` may do anything its owner may; a key with the area's scope may use every
method of that area; `read` allows GET requests in every area. Session tokens are not
limited by scopes, only by role and tenancy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends
from starlette.requests import Request

from wispanel.auth.deps import require_principal
from wispanel.auth.principal import Principal
from wispanel.core.errors import Forbidden

AREAS = (
    "users",
    "domains",
    "dns",
    "ssl",
    "databases",
    "email",
    "ftp",
    "files",
    "cron",
    "backups",
    "wordpress",
    "security",
    "system",
    "webhooks",
)
SCOPES = frozenset({"read", "all", *AREAS})
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def scope_allows(scopes: frozenset[str], area: str, method: str) -> bool:
    if "all" in scopes or area in scopes:
        return True
    return "read" in scopes and method in READ_METHODS


def area_scope(area: str) -> Any:
    """Build a router dependency that limits API keys to the scopes of `area`."""
    if area not in AREAS:
        raise ValueError(f"unknown API area {area!r}; known: {', '.join(AREAS)}")

    async def check(
        request: Request, principal: Annotated[Principal, Depends(require_principal)]
    ) -> None:
        if principal.kind == "api_key" and not scope_allows(principal.scopes, area, request.method):
            raise Forbidden(f"API key is not scoped for '{area}' on this request")

    check.__name__ = f"require_{area}_scope"
    dependency: Callable[..., Awaitable[None]] = check
    return Depends(dependency)
