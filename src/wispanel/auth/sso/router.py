"""Routes of single sign-on: minting (API keys of admins and resellers) and the public
consume and exchange steps."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, Path
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from wispanel.auth.deps import Audit, CurrentPrincipal
from wispanel.auth.schemas import LoginResponse
from wispanel.auth.scopes import area_scope
from wispanel.auth.sso import service
from wispanel.auth.sso.schemas import SsoExchangeRequest, SsoMintRequest, SsoMintResponse
from wispanel.core.context import PanelContext, get_panel
from wispanel.core.database import get_session

FOLDER = "16 SSO"
Db = Annotated[AsyncSession, Depends(get_session)]
Panel = Annotated[PanelContext, Depends(get_panel)]

mint_router = APIRouter(
    prefix="/api/v1/auth/sso", tags=[FOLDER], dependencies=[area_scope("users")]
)
exchange_router = APIRouter(prefix="/api/v1/auth/sso", tags=[FOLDER])
consume_router = APIRouter(tags=[FOLDER])


@mint_router.post(
    "/mint",
    operation_id="mintSso",
    summary="Mint a single-use login link for a managed user (API key only)",
    description="Needs an API key of an admin or reseller with the `users` scope (or `all`). "
    "The target must be neither an admin nor suspended. `expires_in` is clamped to 30-900 "
    "seconds (default 300). The nonce is 43 base64url characters and works once.",
    response_model=SsoMintResponse,
)
async def mint(
    request: Request,
    *,
    db: Db,
    panel: Panel,
    principal: CurrentPrincipal,
    context: Audit,
    body: Annotated[SsoMintRequest, Body()],
) -> SsoMintResponse:
    return await service.mint(
        db, panel, principal, request=body, context=context, base_url=str(request.base_url)
    )


@consume_router.get(
    "/sso/consume/{nonce}",
    operation_id="consumeSso",
    summary="Browser lands here; redeems the nonce and hands off to the UI",
    description="Redeems the nonce once and responds with a 302 redirect to "
    "`<target_path>#sso=<hand-off>`. "
    "The hand-off value sits in the URL fragment, so it is neither sent to a server nor "
    "leaked in a Referer header; the UI posts it to `POST /api/v1/auth/sso/exchange` within "
    "60 seconds. An unknown, used or expired nonce is 404.",
    status_code=302,
    response_class=RedirectResponse,
    responses={302: {"description": "Redirect to the target path with the hand-off value"}},
    openapi_extra={"security": []},
)
async def consume(
    db: Db,
    nonce: Annotated[str, Path(max_length=64, description="Nonce from the mint response")],
) -> RedirectResponse:
    location = await service.consume(db, nonce)
    return RedirectResponse(
        location,
        status_code=302,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


@exchange_router.post(
    "/exchange",
    operation_id="exchangeSso",
    summary="Exchange the hand-off value for a session token",
    description="Works once, within 60 seconds of the consume redirect. The session belongs "
    "to the account the link was minted for; its 2FA is not asked again, because the "
    "minting integration vouches for the user.",
    response_model=LoginResponse,
    responses={401: {"description": "The hand-off value is invalid, used or expired"}},
    openapi_extra={"security": []},
)
async def exchange(
    db: Db,
    panel: Panel,
    context: Audit,
    body: Annotated[SsoExchangeRequest, Body()],
    user_agent: Annotated[str, Header(include_in_schema=False)] = "",
) -> LoginResponse:
    return await service.exchange(db, panel, body.handoff, context, user_agent)
