"""TOTP (RFC 6238: SHA-1, 6 digits, 30-second steps, one step of drift) and recovery codes."""

from __future__ import annotations

import base64
import hmac
import io
import re
import secrets
import time

import pyotp
import segno
from sqlalchemy import delete, or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.crypto import decrypt_totp_secret, recovery_code_hash
from wispanel.auth.models import AccountSecurity, RecoveryCode
from wispanel.core.database import utcnow

ISSUER = "WisPanel"
STEP_SECONDS = 30
DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
CODE_PATTERN = re.compile(r"^\d{6}$")


def new_secret() -> str:
    """A random base32 secret of 160 bits, the length RFC 4226 recommends."""
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_code_data_uri(uri: str) -> str:
    """Render the otpauth URI as an SVG QR code in a data URI."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", scale=4, border=2)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


def matching_step(secret: str, code: str, *, after_step: int | None) -> int | None:
    """Return the time step whose code equals `code`, within the drift window, or None.

    Steps up to and including `after_step` are skipped: their codes were used already.
    """
    if not CODE_PATTERN.match(code):
        return None
    totp = pyotp.TOTP(secret)
    current = int(time.time()) // STEP_SECONDS
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if after_step is not None and step <= after_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


async def accept_totp(
    db: AsyncSession, security: AccountSecurity, encryption_key: str, code: str
) -> bool:
    """Accept an enabled account's TOTP code once, recording its step in the transaction.

    The conditional UPDATE makes two requests racing with the same code accept it once.
    """
    if not security.totp_enabled or security.totp_secret is None:
        return False
    secret = decrypt_totp_secret(encryption_key, security.totp_secret)
    step = matching_step(secret, code, after_step=security.totp_last_step)
    if step is None:
        return False
    result = await db.execute(
        update(AccountSecurity)
        .where(
            AccountSecurity.user_id == security.user_id,
            or_(AccountSecurity.totp_last_step.is_(None), AccountSecurity.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        return False
    security.totp_last_step = step
    return True


def new_recovery_codes() -> list[str]:
    """Ten codes of ten characters (about 49 bits each), shown as `xxxxx-xxxxx`."""
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


async def delete_recovery_codes(db: AsyncSession, user_id: int) -> None:
    await db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))


async def replace_recovery_codes(db: AsyncSession, user_id: int, encryption_key: str) -> list[str]:
    """Delete the account's recovery codes and add ten new ones; returns them in clear."""
    await delete_recovery_codes(db, user_id)
    codes = new_recovery_codes()
    now = utcnow()
    for code in codes:
        db.add(
            RecoveryCode(
                user_id=user_id, code_hash=recovery_code_hash(encryption_key, code), created_at=now
            )
        )
    return codes


async def use_recovery_code(db: AsyncSession, user_id: int, encryption_key: str, code: str) -> bool:
    """Mark a matching unused recovery code as used; False when there is none."""
    if len(code) > 64:
        return False
    result = await db.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_hash == recovery_code_hash(encryption_key, code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1
