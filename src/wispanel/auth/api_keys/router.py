"""Routes of API keys, part of the users area: `/api/v1/users/{username}/api-keys`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.api_keys import service
from wispanel.auth.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from wispanel.auth.deps import Audit, CurrentPrincipal
from wispanel.auth.scopes import area_scope
from wispanel.core.context import PanelContext, get_panel
from wispanel.core.database import get_session
from wispanel.core.pagination import PageRequest, page_request
from wispanel.core.schemas import MessageResponse

router = APIRouter(
    prefix="/api/v1/users/{username}/api-keys",
    tags=["02 Users & Resellers"],
    dependencies=[area_scope("users")],
)
Db = Annotated[AsyncSession, Depends(get_session)]
Panel = Annotated[PanelContext, Depends(get_panel)]
Username = Annotated[str, Path(max_length=32, description="Account that owns the keys")]


@router.post(
    "",
    operation_id="createApiKey",
    summary="Create an API key (wsp_ secret shown once; scopes, IP allowlist, expiry)",
    description="Admins create keys for any account, everyone else for themselves. With a "
    "session token this needs a re-authentication within 5 minutes (403 `REAUTH_REQUIRED`). "
    "A key never has more rights than its owner, and a key creating keys can't grant scopes "
    "it lacks.",
    status_code=201,
    response_model=ApiKeyCreated,
)
async def create_api_key(
    db: Db,
    *,
    panel: Panel,
    principal: CurrentPrincipal,
    context: Audit,
    username: Username,
    body: Annotated[ApiKeyCreate, Body()],
) -> ApiKeyCreated:
    return await service.create_key(
        db, panel, principal, username=username, request=body, context=context
    )


@router.get(
    "",
    operation_id="listApiKeys",
    summary="List API keys (prefix only)",
    response_model=list[ApiKeyOut] | dict[str, Any],
)
async def list_api_keys(
    db: Db,
    principal: CurrentPrincipal,
    username: Username,
    pages: Annotated[PageRequest, Depends(page_request)],
) -> Any:
    return await service.list_keys(db, principal, username, pages)


@router.delete(
    "/{key_id}",
    operation_id="revokeApiKey",
    summary="Revoke an API key",
    response_model=MessageResponse,
)
async def revoke_api_key(
    db: Db,
    *,
    panel: Panel,
    principal: CurrentPrincipal,
    context: Audit,
    username: Username,
    key_id: Annotated[str, Path(max_length=32, description="Key id")],
) -> MessageResponse:
    await service.revoke_key(
        db, panel, principal, username=username, key_id=key_id, context=context
    )
    return MessageResponse(message="API key revoked")
