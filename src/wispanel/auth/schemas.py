"""Request and response bodies of the authentication endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from wispanel.core.schemas import Line, RequestModel, ShortLine

TotpCode = ShortLine


class LoginRequest(RequestModel):
    username: ShortLine | None = Field(
        default=None, description="Username or email address", examples=["admin"]
    )
    password: Line | None = Field(default=None, max_length=1024, examples=["s3cret-passphrase"])
    totp_code: TotpCode | None = Field(
        default=None,
        max_length=16,
        description="Current 6-digit TOTP code; needed when the account has 2FA on",
        examples=["123456"],
    )
    recovery_code: TotpCode | None = Field(
        default=None,
        max_length=32,
        description="One of the account's single-use recovery codes, instead of totp_code",
        examples=["abcde-fghjk"],
    )
    force: bool = Field(
        default=False,
        description="In single-session mode, end the account's other sessions instead of "
        "answering 409",
    )


class AccountOut(BaseModel):
    id: int
    username: str = Field(examples=["john"])
    email: str = Field(examples=["john@example.com"])
    role: str = Field(examples=["user"])
    status: str = Field(examples=["active"])
    created_at: datetime


class LoginResponse(BaseModel):
    success: bool = True
    token: str
    expires_in: int = Field(examples=[86400])
    user: AccountOut


class TwoFactorRequired(BaseModel):
    """Response to a correct password on an account with 2FA on, sent without a code."""

    success: bool = True
    requires_2fa: bool = True
    message: str = Field(examples=["Two-factor authentication required"])


class SessionInfo(BaseModel):
    ip: str = Field(examples=["203.0.113.7"])
    device: str = Field(examples=["Mozilla/5.0 (X11; Linux x86_64)"])
    login_at: datetime
    last_seen: datetime


class ExistingSessionError(BaseModel):
    """The 409 response to a login in single-session mode while another session is live."""

    success: bool = False
    code: str = Field(examples=["CONFLICT"])
    error: str
    message: str
    status: int = Field(examples=[409])
    existing_session: bool = True
    session_info: SessionInfo
    request_id: str | None = None


class TokenResponse(BaseModel):
    success: bool = True
    token: str
    expires_in: int = Field(examples=[86400])


class PasswordRequest(RequestModel):
    password: Line | None = Field(default=None, max_length=1024, examples=["s3cret-passphrase"])


class ReauthResponse(BaseModel):
    success: bool = True
    message: str = Field(examples=["Password confirmed; sensitive operations are unlocked"])
    expires_in: int = Field(examples=[300])
    reauth_until: datetime


class SessionOut(BaseModel):
    id: str = Field(examples=["4f1c0a9e2b7d4c3a8e6f5d2c1b0a9f8e"])
    ip: str = Field(examples=["203.0.113.7"])
    user_agent: str = Field(examples=["Mozilla/5.0 (X11; Linux x86_64)"])
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    current: bool = Field(description="Whether the request was made with this session")
    impersonator: str | None = Field(
        default=None, description="Who acts through this login-as session", examples=[None]
    )


class RevokedSessions(BaseModel):
    success: bool = True
    message: str = Field(examples=["Revoked 2 other sessions"])
    revoked: int = Field(examples=[2])


class TwoFactorSetupResponse(BaseModel):
    success: bool = True
    secret: str = Field(description="Base32 TOTP secret", examples=["JBSWY3DPEHPK3PXPJBSWY3DP"])
    otpauth_uri: str = Field(
        examples=["otpauth://totp/WisPanel:john?secret=JBSWY3DPEHPK3PXP&issuer=WisPanel"]
    )
    qr_code: str = Field(description="SVG QR code of otpauth_uri as a data URI")
    message: str = Field(
        examples=["Scan the QR code, then confirm with POST /api/v1/auth/2fa/enable"]
    )


class CodeRequest(RequestModel):
    code: TotpCode | None = Field(
        default=None, max_length=16, description="Current 6-digit TOTP code", examples=["123456"]
    )


class TwoFactorDisableRequest(RequestModel):
    password: Line | None = Field(default=None, max_length=1024, examples=["s3cret-passphrase"])
    code: TotpCode | None = Field(default=None, max_length=16, examples=["123456"])
    recovery_code: TotpCode | None = Field(default=None, max_length=32, examples=["abcde-fghjk"])


class RecoveryCodesResponse(BaseModel):
    success: bool = True
    message: str = Field(examples=["Two-factor authentication enabled"])
    recovery_codes: list[str] = Field(
        description="Ten single-use codes, shown only now", examples=[["abcde-fghjk"]]
    )
    token: str | None = Field(
        default=None,
        description="A new token for this session: changing 2FA revokes every older token",
    )


class TwoFactorDisabledResponse(BaseModel):
    success: bool = True
    message: str = Field(examples=["Two-factor authentication disabled"])
    token: str | None = Field(
        default=None,
        description="A new token for this session: changing 2FA revokes every older token",
    )


class LoginAsRequest(RequestModel):
    totp_code: TotpCode | None = Field(
        default=None,
        max_length=16,
        description="A current TOTP code of the caller's own account",
        examples=["123456"],
    )


class LoginAsResponse(BaseModel):
    success: bool = True
    token: str
    expires_in: int = Field(examples=[3600])
    user: AccountOut
    impersonator: str = Field(examples=["admin"])


class AuditEntryOut(BaseModel):
    id: int
    occurred_at: datetime
    actor: str | None = Field(examples=["admin"])
    actor_id: int | None
    impersonator: str | None = Field(examples=[None])
    action: str = Field(examples=["auth.login"])
    object_type: str | None = Field(examples=["session"])
    object_id: str | None
    owner_id: int | None
    source_ip: str | None = Field(examples=["203.0.113.7"])
    request_id: str | None
    details: dict[str, Any] | None = None
