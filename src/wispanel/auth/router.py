"""Routes of the authentication area: login, tokens, sessions, reauth, login-as, audit."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from wispanel.auth import audit, impersonation, reauth, service, sessions_service
from wispanel.auth.deps import Audit, CurrentPrincipal
from wispanel.auth.schemas import (
    AccountOut,
    AuditEntryOut,
    ExistingSessionError,
    LoginAsRequest,
    LoginAsResponse,
    LoginRequest,
    LoginResponse,
    PasswordRequest,
    ReauthResponse,
    RevokedSessions,
    SessionOut,
    TokenResponse,
    TwoFactorRequired,
)
from wispanel.auth.two_factor_router import router as two_factor_router
from wispanel.core.context import PanelContext, get_panel
from wispanel.core.database import get_session
from wispanel.core.errors import envelope
from wispanel.core.pagination import PageRequest, page_request
from wispanel.core.schemas import MessageResponse

router = APIRouter(prefix="/api/v1/auth", tags=["01 Auth & Session"])
Db = Annotated[AsyncSession, Depends(get_session)]
Panel = Annotated[PanelContext, Depends(get_panel)]
UserAgent = Annotated[str, Header(include_in_schema=False)]
Pages = Annotated[PageRequest, Depends(page_request)]


@router.post(
    "/login",
    operation_id="login",
    summary="Log in with username or email and password (plus totp_code when 2FA is on); "
    "returns a JWT",
    description=(
        "With 2FA on and no `totp_code` (or `recovery_code`), a correct password answers 200 "
        "`{requires_2fa: true}`; a wrong code is 401. At most 20 attempts a minute per client "
        "address; repeated failures lock the account for growing periods (429 with "
        "`Retry-After`). In single-session mode a login while another session is live answers "
        "409 with `existing_session` unless `force` is true."
    ),
    response_model=LoginResponse | TwoFactorRequired,
    responses={
        409: {"model": ExistingSessionError, "description": "Another session is live"},
        401: {"description": "Invalid credentials or two-factor code"},
    },
    openapi_extra={"security": []},
)
async def login(
    request: Request,
    *,
    db: Db,
    panel: Panel,
    context: Audit,
    body: Annotated[LoginRequest, Body()],
    user_agent: UserAgent = "",
) -> Any:
    request.state.login_handled = True
    try:
        return await service.login(db, panel, body, context, user_agent)
    except service.ExistingSession as error:
        content = envelope(
            error.code, error.status, error.message, context.request_id, error.details
        )
        content.update(existing_session=True, session_info=error.session_info)
        return JSONResponse(content, status_code=error.status)


@router.get(
    "/me",
    operation_id="getCurrentAccount",
    summary="The caller's account (JWT or API key)",
    response_model=AccountOut,
)
async def me(principal: CurrentPrincipal) -> AccountOut:
    return service.current_account(principal)


@router.post(
    "/logout",
    operation_id="logout",
    summary="End the current session",
    response_model=MessageResponse,
)
async def logout(
    db: Db, panel: Panel, principal: CurrentPrincipal, context: Audit
) -> MessageResponse:
    await sessions_service.logout(db, panel, principal, context)
    return MessageResponse(message="Logged out")


@router.post(
    "/refresh",
    operation_id="refreshToken",
    summary="Exchange a valid session token for a fresh one",
    description="The session's expiry moves with the new token, except for login-as "
    "sessions, which end at their original time.",
    response_model=TokenResponse,
)
async def refresh(panel: Panel, principal: CurrentPrincipal) -> TokenResponse:
    return await sessions_service.refresh(panel, principal)


@router.post(
    "/reauth",
    operation_id="reauthenticate",
    summary="Confirm the password; unlocks sensitive operations for 5 minutes",
    description="Disabling 2FA, creating API keys, changing one's own password and deleting "
    "accounts with a session token answer 403 with `details.reason` `REAUTH_REQUIRED` "
    "until this call succeeded within the last 5 minutes.",
    response_model=ReauthResponse,
)
async def reauthenticate(
    db: Db,
    panel: Panel,
    principal: CurrentPrincipal,
    context: Audit,
    body: Annotated[PasswordRequest, Body()],
) -> ReauthResponse:
    return await reauth.reauthenticate(db, panel, principal, body, context)


@router.post(
    "/login-as/{username}",
    operation_id="loginAs",
    summary="Admin or reseller impersonates a user they manage (2FA gate)",
    description="The caller needs 2FA on and a current `totp_code`. Admins may act as any "
    "non-admin account, resellers as their own accounts. The token lasts at most an hour, "
    "carries the caller in its `act` claim and can't change the account's password, 2FA or "
    "API keys; every refusal is audited.",
    response_model=LoginAsResponse,
)
async def login_as(
    db: Db,
    *,
    panel: Panel,
    principal: CurrentPrincipal,
    context: Audit,
    username: Annotated[str, Path(max_length=32, description="Account to act as")],
    body: Annotated[LoginAsRequest, Body()],
    user_agent: UserAgent = "",
) -> LoginAsResponse:
    return await impersonation.login_as(
        db,
        panel,
        principal,
        username=username,
        request=body,
        context=context,
        user_agent=user_agent,
    )


@router.get(
    "/sessions",
    operation_id="listSessions",
    summary="The caller's live sessions",
    response_model=list[SessionOut],
)
async def list_sessions(db: Db, principal: CurrentPrincipal) -> list[SessionOut]:
    return await sessions_service.list_sessions(db, principal)


@router.delete(
    "/sessions/{session_id}",
    operation_id="revokeSession",
    summary="Revoke one of the caller's sessions",
    response_model=MessageResponse,
)
async def revoke_session(
    db: Db,
    panel: Panel,
    principal: CurrentPrincipal,
    context: Audit,
    session_id: Annotated[str, Path(max_length=64, description="Session id")],
) -> MessageResponse:
    await sessions_service.revoke_session(db, panel, principal, context, session_id)
    return MessageResponse(message="Session revoked")


@router.delete(
    "/sessions",
    operation_id="revokeOtherSessions",
    summary="Revoke every other session of the caller; the current one stays",
    response_model=RevokedSessions,
)
async def revoke_other_sessions(
    db: Db, panel: Panel, principal: CurrentPrincipal, context: Audit
) -> RevokedSessions:
    return await sessions_service.revoke_other_sessions(db, panel, principal, context)


@router.get(
    "/audit",
    operation_id="listAuditLog",
    summary="Audit log: own entries, or everything in scope for admins and resellers",
    description="A bare array in creation order unless `page` or `per_page` is given. "
    "`action` takes an exact name or a prefix such as `auth.*`; `object` takes a type or "
    "`type:id`; `actor` matches the acting or the impersonating username.",
    response_model=list[AuditEntryOut] | dict[str, Any],
)
async def list_audit(
    db: Db,
    *,
    principal: CurrentPrincipal,
    pages: Pages,
    actor: Annotated[str | None, Query(max_length=32, description="Username")] = None,
    action: Annotated[
        str | None, Query(max_length=64, pattern=r"^[a-z0-9_.]+(\.\*)?$", examples=["auth.*"])
    ] = None,
    object_: Annotated[
        str | None, Query(alias="object", max_length=300, examples=["user:john"])
    ] = None,
    since: Annotated[datetime | None, Query(alias="from", description="RFC 3339 time")] = None,
    until: Annotated[datetime | None, Query(alias="to", description="RFC 3339 time")] = None,
) -> Any:
    query = audit.AuditFilter(actor=actor, action=action, object=object_, since=since, until=until)
    return await audit.list_entries(db, principal, query, pages)


router.include_router(two_factor_router)
