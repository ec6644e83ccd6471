"""Growing lockouts after repeated failed logins of one account, and rate-limit events."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.models import AccountSecurity, RateLimitEvent
from wispanel.core.config import AuthSettings
from wispanel.core.database import utcnow
from wispanel.core.errors import RateLimited


def record_rate_limit_event(
    db: AsyncSession, kind: str, *, ip: str | None = None, username: str | None = None
) -> None:
    """Add a rate-limit event to the caller's transaction."""
    db.add(
        RateLimitEvent(
            kind=kind,
            ip=(ip or None) and ip[:45],
            username=username[:255] if username else None,
            created_at=utcnow(),
        )
    )


def lock_seconds_left(security: AccountSecurity | None, now: datetime) -> int:
    if security is None or security.locked_until is None:
        return 0
    return max(0, math.ceil((security.locked_until - now).total_seconds()))


def locked_error(seconds: int) -> RateLimited:
    return RateLimited(
        f"Too many failed logins for this account; try again in {seconds} s",
        headers={"Retry-After": str(seconds)},
    )


def register_failure(
    db: AsyncSession,
    security: AccountSecurity,
    settings: AuthSettings,
    *,
    ip: str | None,
    username: str,
) -> int:
    """Count a failed login; lock the account once failures reach the threshold.

    The first lock lasts `lockout_base_seconds` and each failure after it doubles the lock,
    up to `lockout_max_seconds`. Failures older than `lockout_window_seconds` are forgotten.
    Returns the lock length in seconds, 0 when the account stays unlocked.
    """
    now = utcnow()
    window = timedelta(seconds=settings.lockout_window_seconds)
    if security.last_failed_at is None or now - security.last_failed_at > window:
        security.failed_logins = 0
    security.failed_logins += 1
    security.last_failed_at = now
    excess = security.failed_logins - settings.lockout_threshold
    if excess < 0:
        return 0
    doubled: int = settings.lockout_base_seconds * 2 ** min(excess, 20)
    seconds = min(settings.lockout_max_seconds, doubled)
    security.locked_until = now + timedelta(seconds=seconds)
    record_rate_limit_event(db, "account_lockout", ip=ip, username=username)
    return seconds


def clear_failures(security: AccountSecurity) -> None:
    security.failed_logins = 0
    security.last_failed_at = None
    security.locked_until = None
