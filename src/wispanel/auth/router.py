"""Routes of the authentication area: log in, who am I, log out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth import service
from wispanel.auth.deps import Audit, CurrentPrincipal
from wispanel.auth.schemas import AccountOut, LoginRequest, LoginResponse
from wispanel.core.context import PanelContext, get_panel
from wispanel.core.database import get_session
from wispanel.core.schemas import MessageResponse

router = APIRouter(prefix="/api/v1/auth", tags=["01 Auth & Session"])
Db = Annotated[AsyncSession, Depends(get_session)]
Panel = Annotated[PanelContext, Depends(get_panel)]


@router.post(
    "/login",
    operation_id="login",
    summary="Log in with username or email and password; returns a session token",
    response_model=LoginResponse,
    openapi_extra={"security": []},
)
async def login(
    db: Db,
    panel: Panel,
    context: Audit,
    body: Annotated[LoginRequest, Body()],
    user_agent: Annotated[str, Header(include_in_schema=False)] = "",
) -> LoginResponse:
    return await service.login(db, panel, body, context, user_agent)


@router.get(
    "/me",
    operation_id="getCurrentAccount",
    summary="The caller's account (session token or API key)",
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
    await service.logout(db, panel, principal, context)
    return MessageResponse(message="Logged out")
