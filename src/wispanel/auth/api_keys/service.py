"""API keys: created by admins for anyone and by everyone else for themselves.

Only the SHA-256 of a key is stored; the secret is shown once, in the creation response.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from wispanel.auth.crypto import sha256_hex
from wispanel.auth.deps import forbid_impersonation
from wispanel.auth.models import ApiKey
from wispanel.auth.principal import Principal
from wispanel.auth.reauth import require_recent_reauth
from wispanel.auth.revocation import invalidate_after_commit
from wispanel.core.context import PanelContext
from wispanel.core.database import utcnow
from wispanel.core.errors import Forbidden, NotFound, QuotaExceeded
from wispanel.core.events import AuditContext
from wispanel.core.pagination import PageRequest, paginate
from wispanel.users.models import Role, User
from wispanel.users.scope import get_account_in_scope, manages

KEY_PREFIX = "wsp_"
PREFIX_LENGTH = 12
MAX_KEYS_PER_ACCOUNT = 100
# The zero time the WisPanel API shows for "never" in `last_used` and `expires_at`.
NEVER = datetime(1, 1, 1, tzinfo=UTC)


def new_key() -> str:
    """`wsp_` and 48 lowercase hex digits (192 random bits)."""
    return KEY_PREFIX + secrets.token_hex(24)


def key_out(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=key.id,
        name=key.name,
        key_prefix=key.key_prefix,
        permissions=list(key.permissions),
        ip_whitelist=list(key.ip_whitelist),
        rate_limit=key.rate_limit_per_minute,
        last_used=key.last_used_at or NEVER,
        created_at=key.created_at,
        expires_at=key.expires_at or NEVER,
        enabled=key.enabled,
    )


async def _owner_for_listing(db: AsyncSession, principal: Principal, username: str) -> User:
    """The account whose keys the caller may list and revoke: itself, or one it manages."""
    owner = await get_account_in_scope(db, principal, username)
    if owner.id != principal.user_id and not manages(principal, owner):
        raise NotFound(f"User {username} not found")
    return owner


async def create_key(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    *,
    username: str,
    request: ApiKeyCreate,
    context: AuditContext,
) -> ApiKeyCreated:
    owner = await get_account_in_scope(db, principal, username)
    if owner.id != principal.user_id and principal.role != Role.ADMIN:
        raise Forbidden("Only admins can create API keys for other accounts")
    forbid_impersonation(principal, "API keys")
    if principal.kind == "api_key" and "all" not in principal.scopes:
        extra = sorted(set(request.permissions) - principal.scopes)
        if extra:
            raise Forbidden(
                f"An API key can only create keys with its own scopes; it lacks {', '.join(extra)}"
            )
    await require_recent_reauth(db, principal, "Creating an API key")
    count = await db.scalar(select(func.count()).where(ApiKey.user_id == owner.id))
    if (count or 0) >= MAX_KEYS_PER_ACCOUNT:
        raise QuotaExceeded(
            f"An account can have at most {MAX_KEYS_PER_ACCOUNT} API keys; revoke unused ones"
        )
    secret = new_key()
    now = utcnow()
    key = ApiKey(
        id=secrets.token_hex(8),
        user_id=owner.id,
        name=request.name,
        key_prefix=secret[:PREFIX_LENGTH],
        key_hash=sha256_hex(secret),
        permissions=request.permissions,
        ip_whitelist=request.ip_whitelist,
        rate_limit_per_minute=request.rate_limit,
        enabled=True,
        created_at=now,
        expires_at=now + timedelta(days=request.expires_in) if request.expires_in else None,
    )
    db.add(key)
    panel.events.audit(
        db,
        context,
        "api_key.created",
        object_type="api_key",
        object_id=key.id,
        owner_id=owner.id,
        details={"name": key.name, "permissions": key.permissions, "prefix": key.key_prefix},
    )
    await db.commit()
    return ApiKeyCreated(
        message="API key created; the secret is shown only once",
        secret_key=secret,
        api_key=secret,
        key=key_out(key),
    )


async def list_keys(
    db: AsyncSession, principal: Principal, username: str, page: PageRequest
) -> list[Any] | dict[str, Any]:
    owner = await _owner_for_listing(db, principal, username)
    statement = (
        select(ApiKey).where(ApiKey.user_id == owner.id).order_by(ApiKey.created_at, ApiKey.id)
    )
    return await paginate(db, statement, page, lambda key: key_out(key).model_dump(mode="json"))


async def revoke_key(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    *,
    username: str,
    key_id: str,
    context: AuditContext,
) -> None:
    owner = await _owner_for_listing(db, principal, username)
    forbid_impersonation(principal, "API keys")
    result = await db.execute(
        delete(ApiKey)
        .where(ApiKey.user_id == owner.id, ApiKey.id == key_id)
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        raise NotFound(f"API key {key_id} not found")
    panel.events.audit(
        db,
        context,
        "api_key.revoked",
        object_type="api_key",
        object_id=key_id,
        owner_id=owner.id,
    )
    invalidate_after_commit(db)
    await db.commit()
