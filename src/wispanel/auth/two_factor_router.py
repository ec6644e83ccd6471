"""Routes of two-factor authentication, part of the authentication area."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth import two_factor
from wispanel.auth.deps import Audit, CurrentPrincipal
from wispanel.auth.schemas import (
    CodeRequest,
    RecoveryCodesResponse,
    TwoFactorDisabledResponse,
    TwoFactorDisableRequest,
    TwoFactorSetupResponse,
)
from wispanel.core.context import PanelContext, get_panel
from wispanel.core.database import get_session

router = APIRouter(prefix="/2fa", tags=["01 Auth & Session"])
Db = Annotated[AsyncSession, Depends(get_session)]
Panel = Annotated[PanelContext, Depends(get_panel)]


@router.post(
    "/setup",
    operation_id="setupTwoFactor",
    summary="Start TOTP enrolment: secret, otpauth URI, QR code",
    description="Needs a session token. The secret is stored encrypted and takes effect "
    "once `POST /api/v1/auth/2fa/enable` confirms a code of it.",
    response_model=TwoFactorSetupResponse,
)
async def setup(
    db: Db, panel: Panel, principal: CurrentPrincipal, context: Audit
) -> TwoFactorSetupResponse:
    return await two_factor.setup(db, panel, principal, context)


@router.post(
    "/enable",
    operation_id="enableTwoFactor",
    summary="Confirm enrolment with a TOTP code; returns one-time recovery codes",
    description="Raises the token version: other sessions must log in again, and this "
    "session continues with the `token` of the answer.",
    response_model=RecoveryCodesResponse,
)
async def enable(
    db: Db,
    panel: Panel,
    principal: CurrentPrincipal,
    context: Audit,
    body: Annotated[CodeRequest, Body()],
) -> RecoveryCodesResponse:
    return await two_factor.enable(db, panel, principal, body, context)


@router.post(
    "/disable",
    operation_id="disableTwoFactor",
    summary="Turn TOTP off (password and a code or recovery code)",
    description="Needs a re-authentication within 5 minutes (`POST /api/v1/auth/reauth`). "
    "Raises the token version like `enable`.",
    response_model=TwoFactorDisabledResponse,
)
async def disable(
    db: Db,
    panel: Panel,
    principal: CurrentPrincipal,
    context: Audit,
    body: Annotated[TwoFactorDisableRequest, Body()],
) -> TwoFactorDisabledResponse:
    return await two_factor.disable(db, panel, principal, body, context)


@router.post(
    "/recovery-codes",
    operation_id="replaceRecoveryCodes",
    summary="Replace the recovery codes",
    description="Takes a current TOTP `code`; the previous recovery codes stop working.",
    response_model=RecoveryCodesResponse,
)
async def recovery_codes(
    db: Db,
    panel: Panel,
    principal: CurrentPrincipal,
    context: Audit,
    body: Annotated[CodeRequest, Body()],
) -> RecoveryCodesResponse:
    return await two_factor.new_recovery_codes(db, panel, principal, body, context)
