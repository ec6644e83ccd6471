"""Two-factor authentication of the caller's own account: setup, enable, disable, codes.

Turning 2FA on or off raises the account's token version, so every other session must log
in again; the caller's own session gets a new token in the response.
"""

from __future__ import annotations

import time

from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.crypto import decrypt_totp_secret, encrypt_totp_secret
from wispanel.auth.deps import forbid_impersonation, require_session_token
from wispanel.auth.principal import Principal
from wispanel.auth.reauth import require_recent_reauth
from wispanel.auth.revocation import revoke_all_tokens
from wispanel.auth.schemas import (
    CodeRequest,
    RecoveryCodesResponse,
    TwoFactorDisabledResponse,
    TwoFactorDisableRequest,
    TwoFactorSetupResponse,
)
from wispanel.auth.security_state import ensure_security
from wispanel.auth.service import check_password
from wispanel.auth.totp import (
    accept_totp,
    delete_recovery_codes,
    matching_step,
    new_secret,
    provisioning_uri,
    qr_code_data_uri,
    replace_recovery_codes,
    use_recovery_code,
)
from wispanel.core.context import PanelContext
from wispanel.core.errors import Conflict, Unauthorized, ValidationFailed
from wispanel.core.events import AuditContext
from wispanel.users.models import User

WHAT = "two-factor authentication"
SESSION_ONLY = "Two-factor settings"


def _check_caller(principal: Principal) -> None:
    require_session_token(principal, SESSION_ONLY)
    forbid_impersonation(principal, WHAT)


def _required(value: str | None, field: str, label: str) -> str:
    if not value:
        raise ValidationFailed(f"{label} is required", details={field: ["required"]})
    return value


async def setup(
    db: AsyncSession, panel: PanelContext, principal: Principal, context: AuditContext
) -> TwoFactorSetupResponse:
    """Store a new pending secret; it takes effect once `enable` confirms a code of it."""
    _check_caller(principal)
    security = await ensure_security(db, principal.user_id)
    if security.totp_enabled:
        raise Conflict("Two-factor authentication is already enabled; disable it first")
    secret = new_secret()
    security.totp_pending_secret = encrypt_totp_secret(panel.secrets.encryption_key, secret)
    panel.events.audit(
        db,
        context,
        "auth.2fa_setup",
        object_type="user",
        object_id=principal.username,
        owner_id=principal.user_id,
    )
    await db.commit()
    uri = provisioning_uri(secret, principal.username)
    return TwoFactorSetupResponse(
        secret=secret,
        otpauth_uri=uri,
        qr_code=qr_code_data_uri(uri),
        message="Scan the QR code, then confirm with POST /api/v1/auth/2fa/enable",
    )


async def enable(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    request: CodeRequest,
    context: AuditContext,
) -> RecoveryCodesResponse:
    _check_caller(principal)
    code = _required(request.code, "code", "Code")
    key = panel.secrets.encryption_key
    security = await ensure_security(db, principal.user_id, lock=True)
    if security.totp_enabled:
        raise Conflict("Two-factor authentication is already enabled")
    if security.totp_pending_secret is None:
        raise Conflict("Start with POST /api/v1/auth/2fa/setup before enabling 2FA")
    secret = decrypt_totp_secret(key, security.totp_pending_secret)
    step = matching_step(secret, code, after_step=None)
    if step is None:
        raise Unauthorized("Invalid two-factor authentication code")
    security.totp_secret = security.totp_pending_secret
    security.totp_pending_secret = None
    security.totp_enabled = True
    security.totp_last_step = step
    codes = await replace_recovery_codes(db, principal.user_id, key)
    token = await _rotate_tokens(db, panel, principal)
    panel.events.audit(
        db,
        context,
        "auth.2fa_enabled",
        object_type="user",
        object_id=principal.username,
        owner_id=principal.user_id,
    )
    await db.commit()
    return RecoveryCodesResponse(
        message="Two-factor authentication enabled; store the recovery codes safely",
        recovery_codes=codes,
        token=token,
    )


async def disable(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    request: TwoFactorDisableRequest,
    context: AuditContext,
) -> TwoFactorDisabledResponse:
    _check_caller(principal)
    await require_recent_reauth(db, principal, "Disabling two-factor authentication")
    password = _required(request.password, "password", "Password")
    if not request.code and not request.recovery_code:
        raise ValidationFailed(
            "A code or a recovery code is required",
            details={"code": ["required unless recovery_code is given"]},
        )
    user = await db.get(User, principal.user_id)
    if not await check_password(panel, user, password):
        raise Unauthorized("Invalid credentials")
    key = panel.secrets.encryption_key
    security = await ensure_security(db, principal.user_id, lock=True)
    if not security.totp_enabled:
        raise Conflict("Two-factor authentication is not enabled")
    if request.code:
        accepted = await accept_totp(db, security, key, request.code)
    else:
        accepted = await use_recovery_code(db, principal.user_id, key, request.recovery_code or "")
    if not accepted:
        raise Unauthorized("Invalid two-factor authentication code")
    security.totp_enabled = False
    security.totp_secret = None
    security.totp_pending_secret = None
    security.totp_last_step = None
    await delete_recovery_codes(db, principal.user_id)
    token = await _rotate_tokens(db, panel, principal)
    panel.events.audit(
        db,
        context,
        "auth.2fa_disabled",
        object_type="user",
        object_id=principal.username,
        owner_id=principal.user_id,
    )
    await db.commit()
    return TwoFactorDisabledResponse(message="Two-factor authentication disabled", token=token)


async def new_recovery_codes(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    request: CodeRequest,
    context: AuditContext,
) -> RecoveryCodesResponse:
    """Replace the recovery codes after checking a current TOTP code."""
    _check_caller(principal)
    code = _required(request.code, "code", "Code")
    key = panel.secrets.encryption_key
    security = await ensure_security(db, principal.user_id, lock=True)
    if not security.totp_enabled:
        raise Conflict("Two-factor authentication is not enabled")
    if not await accept_totp(db, security, key, code):
        raise Unauthorized("Invalid two-factor authentication code")
    codes = await replace_recovery_codes(db, principal.user_id, key)
    panel.events.audit(
        db,
        context,
        "auth.2fa_recovery_codes",
        object_type="user",
        object_id=principal.username,
        owner_id=principal.user_id,
    )
    await db.commit()
    return RecoveryCodesResponse(message="New recovery codes created", recovery_codes=codes)


async def _rotate_tokens(db: AsyncSession, panel: PanelContext, principal: Principal) -> str:
    """Revoke the account's tokens and return a new one for the caller's session."""
    user = await db.get(User, principal.user_id)
    if user is None:
        raise Unauthorized("Session not found")
    await revoke_all_tokens(db, user)
    session_id = principal.session_id or ""
    return panel.authenticator.codec.issue(
        user_id=user.id,
        role=user.role,
        session_id=session_id,
        token_version=user.token_version,
        ttl_seconds=max(60, (principal.token_expires_at or 0) - int(time.time())),
    )
