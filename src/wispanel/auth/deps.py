"""Dependencies routes use to require a caller and to describe it to the audit log,
and the checks services share about what kind of credential the caller holds.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from wispanel.auth.principal import Principal
from wispanel.core.errors import Forbidden, Unauthorized
from wispanel.core.events import AuditContext


async def require_principal(request: Request) -> Principal:
    """Return the authenticated caller, or raise 401 with the reason the credential failed."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        error: Unauthorized | None = getattr(request.state, "auth_error", None)
        raise error or Unauthorized("Missing authorization")
    return principal


async def audit_context(request: Request) -> AuditContext:
    return AuditContext(
        principal=getattr(request.state, "principal", None),
        source_ip=getattr(request.state, "client_ip", None),
        request_id=getattr(request.state, "request_id", None),
    )


def forbid_impersonation(principal: Principal, what: str) -> None:
    """Raise 403 when the caller acts through a login-as token.

    `what` names the protected thing in the message, e.g. "password" or "API keys".
    """
    if principal.impersonator is not None:
        raise Forbidden(
            f"A login-as token can't change the account's {what}; "
            "the account's owner must do it with their own login"
        )


def require_session_token(principal: Principal, action: str) -> str:
    """Return the caller's session id, or raise 403 when the caller uses an API key.

    `action` starts the message, e.g. "Two-factor settings".
    """
    if principal.session_id is None:
        raise Forbidden(
            f"{action} need a session token from POST /api/v1/auth/login, not an API key"
        )
    return principal.session_id


CurrentPrincipal = Annotated[Principal, Depends(require_principal)]
Audit = Annotated[AuditContext, Depends(audit_context)]
