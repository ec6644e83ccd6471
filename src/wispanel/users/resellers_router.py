"""Routes of resellers (folder 02 Users & Resellers)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.deps import Audit, CurrentPrincipal
from wispanel.auth.scopes import area_scope
from wispanel.core.context import PanelContext, get_panel
from wispanel.core.database import get_session
from wispanel.core.pagination import PageRequest, page_request
from wispanel.core.schemas import MessageResponse
from wispanel.users import removal, resellers
from wispanel.users.models import Role
from wispanel.users.router import FOLDER, HOST_ERRORS
from wispanel.users.schemas import (
    ResellerCreate,
    ResellerCreated,
    ResellerLimitsUpdate,
    ResellerOut,
)

router = APIRouter(prefix="/api/v1/resellers", tags=[FOLDER], dependencies=[area_scope("users")])
Db = Annotated[AsyncSession, Depends(get_session)]
Panel = Annotated[PanelContext, Depends(get_panel)]
Username = Annotated[str, Path(max_length=64, description="Reseller username", examples=["acme"])]


@router.get(
    "",
    operation_id="listResellers",
    summary="List resellers (opt-in pagination)",
    response_model=list[ResellerOut] | dict[str, Any],
)
async def list_resellers(
    db: Db, principal: CurrentPrincipal, page: Annotated[PageRequest, Depends(page_request)]
) -> list[Any] | dict[str, Any]:
    return await resellers.list_resellers(db, principal, page)


@router.post(
    "",
    operation_id="createReseller",
    summary="Create a reseller",
    status_code=201,
    response_model=ResellerCreated,
    responses=HOST_ERRORS,
)
async def create_reseller(
    db: Db,
    panel: Panel,
    principal: CurrentPrincipal,
    context: Audit,
    body: Annotated[ResellerCreate, Body()],
) -> ResellerCreated:
    return await resellers.create_reseller(db, panel, principal, context, body)


@router.get(
    "/{username}",
    operation_id="getReseller",
    summary="One reseller with limits and can_grant_* flags",
    response_model=ResellerOut,
)
async def get_reseller(db: Db, principal: CurrentPrincipal, username: Username) -> ResellerOut:
    return await resellers.get_reseller(db, principal, username)


@router.put(
    "/{username}/limits",
    operation_id="updateResellerLimits",
    summary="Change a reseller's limits",
    response_model=ResellerOut,
)
async def update_limits(
    *,
    db: Db,
    panel: Panel,
    principal: CurrentPrincipal,
    context: Audit,
    username: Username,
    body: Annotated[ResellerLimitsUpdate, Body()],
) -> ResellerOut:
    return await resellers.update_limits(
        db, panel, principal, context, username=username, body=body
    )


@router.delete(
    "/{username}",
    operation_id="deleteReseller",
    summary="Remove a reseller (refused while it still has accounts unless told to reassign)",
    response_model=MessageResponse,
    responses=HOST_ERRORS,
)
async def delete_reseller(
    *,
    db: Db,
    panel: Panel,
    principal: CurrentPrincipal,
    context: Audit,
    username: Username,
    reassign_to: Annotated[
        str | None,
        Query(
            max_length=64,
            description="Another reseller or an admin that takes over the reseller's accounts",
        ),
    ] = None,
) -> MessageResponse:
    await removal.delete_account(
        db, panel, principal, context, username, reassign_to=reassign_to, only_role=Role.RESELLER
    )
    return MessageResponse(message="Reseller deleted")
