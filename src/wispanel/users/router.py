"""Routes of hosting accounts, resellers and packages (folder 02 Users & Resellers)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.deps import Audit, CurrentPrincipal
from wispanel.auth.scopes import area_scope
from wispanel.core.context import PanelContext, get_panel
from wispanel.core.database import get_session
from wispanel.core.pagination import PageRequest, page_request
from wispanel.core.schemas import MessageResponse
from wispanel.users import removal, service, sessions, suspension
from wispanel.users.schemas import (
    SessionOut,
    SuspendRequest,
    UserCreate,
    UserOut,
    UserUpdate,
)

FOLDER = "02 Users & Resellers"
HOST_ERRORS: dict[int | str, dict[str, Any]] = {
    502: {"description": "The host refused to create or remove the Linux account (APPLY_FAILED)"}
}
router = APIRouter(prefix="/api/v1/users", tags=[FOLDER], dependencies=[area_scope("users")])
Db = Annotated[AsyncSession, Depends(get_session)]
Panel = Annotated[PanelContext, Depends(get_panel)]
Page = Annotated[PageRequest, Depends(page_request)]
Username = Annotated[str, Path(max_length=64, description="Account username", examples=["john"])]
UserList = list[UserOut] | dict[str, Any]


@router.get(
    "",
    operation_id="listUsers",
    summary="List users in the caller's scope (opt-in pagination)",
    response_model=UserList,
)
async def list_users(
    db: Db,
    principal: CurrentPrincipal,
    page: Page,
    role: Annotated[Literal["admin", "reseller", "user"] | None, Query()] = None,
    status: Annotated[Literal["active", "suspended"] | None, Query()] = None,
) -> list[Any] | dict[str, Any]:
    return await service.list_users(db, principal, page, role=role, status=status)


@router.post(
    "",
    operation_id="createUser",
    summary="Create a hosting account (system user, home directory, package limits)",
    status_code=201,
    response_model=UserOut,
    responses=HOST_ERRORS,
)
async def create_user(
    db: Db,
    panel: Panel,
    principal: CurrentPrincipal,
    context: Audit,
    body: Annotated[UserCreate, Body()],
) -> UserOut:
    return await service.create_user(db, panel, principal, context, body)


@router.get(
    "/{username}",
    operation_id="getUser",
    summary="One account with limits and usage",
    response_model=UserOut,
)
async def get_user(db: Db, principal: CurrentPrincipal, username: Username) -> UserOut:
    return await service.get_user(db, principal, username)


@router.put(
    "/{username}",
    operation_id="updateUser",
    summary="Change email, password, package or limits",
    response_model=UserOut,
)
async def update_user(
    *,
    db: Db,
    panel: Panel,
    principal: CurrentPrincipal,
    context: Audit,
    username: Username,
    body: Annotated[UserUpdate, Body()],
) -> UserOut:
    return await service.update_user(db, panel, principal, context, username=username, body=body)


@router.delete(
    "/{username}",
    operation_id="deleteUser",
    summary="Remove an account and everything it owns on the host",
    response_model=MessageResponse,
    responses=HOST_ERRORS,
)
async def delete_user(
    db: Db, panel: Panel, principal: CurrentPrincipal, context: Audit, username: Username
) -> MessageResponse:
    await removal.delete_account(db, panel, principal, context, username)
    return MessageResponse(message=f"User {username} deleted")


@router.post(
    "/{username}/suspend",
    operation_id="suspendUser",
    summary="Suspend: sites, mail, FTP, cron and logins stop",
    response_model=UserOut,
)
async def suspend_user(
    *,
    db: Db,
    panel: Panel,
    principal: CurrentPrincipal,
    context: Audit,
    username: Username,
    body: Annotated[SuspendRequest | None, Body()] = None,
) -> UserOut:
    reason = body.reason if body else None
    return await suspension.suspend(db, panel, principal, context, username=username, reason=reason)


@router.post(
    "/{username}/unsuspend",
    operation_id="unsuspendUser",
    summary="Undo a suspension",
    response_model=UserOut,
)
async def unsuspend_user(
    db: Db, panel: Panel, principal: CurrentPrincipal, context: Audit, username: Username
) -> UserOut:
    return await suspension.unsuspend(db, panel, principal, context, username)


@router.get(
    "/{username}/sessions",
    operation_id="listUserSessions",
    summary="An account's live sessions (admin or its reseller)",
    response_model=list[SessionOut],
)
async def list_sessions(
    db: Db, principal: CurrentPrincipal, username: Username
) -> list[SessionOut]:
    return await sessions.list_sessions(db, principal, username)


@router.delete(
    "/{username}/sessions",
    operation_id="endUserSessions",
    summary="Log an account out everywhere (bumps its token version)",
    response_model=MessageResponse,
)
async def end_sessions(
    db: Db, panel: Panel, principal: CurrentPrincipal, context: Audit, username: Username
) -> MessageResponse:
    ended = await sessions.end_sessions(db, panel, principal, context, username)
    return MessageResponse(message=f"Logged {username} out of {ended} sessions")
