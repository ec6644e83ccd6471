"""Routes of hosting packages (folder 02 Users & Resellers)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.deps import Audit, CurrentPrincipal
from wispanel.auth.scopes import area_scope
from wispanel.core.context import PanelContext, get_panel
from wispanel.core.database import get_session
from wispanel.core.pagination import PageRequest, page_request
from wispanel.core.schemas import MessageResponse
from wispanel.users import packages
from wispanel.users.router import FOLDER
from wispanel.users.schemas import PackageCreate, PackageFields, PackageOut

router = APIRouter(prefix="/api/v1/packages", tags=[FOLDER], dependencies=[area_scope("users")])
Db = Annotated[AsyncSession, Depends(get_session)]
Panel = Annotated[PanelContext, Depends(get_panel)]
Name = Annotated[str, Path(max_length=64, description="Package name", examples=["gold"])]


@router.get(
    "",
    operation_id="listPackages",
    summary="List hosting packages (plans)",
    response_model=list[PackageOut] | dict[str, Any],
)
async def list_packages(
    db: Db, principal: CurrentPrincipal, page: Annotated[PageRequest, Depends(page_request)]
) -> list[Any] | dict[str, Any]:
    return await packages.list_packages(db, principal, page)


@router.post(
    "",
    operation_id="createPackage",
    summary="Create a package",
    status_code=201,
    response_model=PackageOut,
)
async def create_package(
    db: Db,
    panel: Panel,
    principal: CurrentPrincipal,
    context: Audit,
    body: Annotated[PackageCreate, Body()],
) -> PackageOut:
    return await packages.create_package(db, panel, principal, context, body)


@router.put(
    "/{name}",
    operation_id="updatePackage",
    summary="Change a package; accounts on it get the new limits",
    response_model=PackageOut,
)
async def update_package(
    *,
    db: Db,
    panel: Panel,
    principal: CurrentPrincipal,
    context: Audit,
    name: Name,
    body: Annotated[PackageFields, Body()],
) -> PackageOut:
    return await packages.update_package(db, panel, principal, context, name=name, body=body)


@router.delete(
    "/{name}",
    operation_id="deletePackage",
    summary="Remove an unused package",
    response_model=MessageResponse,
)
async def delete_package(
    db: Db, panel: Panel, principal: CurrentPrincipal, context: Audit, name: Name
) -> MessageResponse:
    await packages.delete_package(db, panel, principal, context, name)
    return MessageResponse(message=f"Package {name} deleted")
