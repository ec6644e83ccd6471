"""Dependencies routes use to require a caller and to describe it to the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from wispanel.auth.principal import Principal
from wispanel.core.errors import Unauthorized
from wispanel.core.events import AuditContext


def require_principal(request: Request) -> Principal:
    """Return the authenticated caller, or raise 401 with the reason the credential failed."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        error: Unauthorized | None = getattr(request.state, "auth_error", None)
        raise error or Unauthorized("Missing authorization")
    return principal


def audit_context(request: Request) -> AuditContext:
    return AuditContext(
        principal=getattr(request.state, "principal", None),
        source_ip=getattr(request.state, "client_ip", None),
        request_id=getattr(request.state, "request_id", None),
    )


CurrentPrincipal = Annotated[Principal, Depends(require_principal)]
Audit = Annotated[AuditContext, Depends(audit_context)]
