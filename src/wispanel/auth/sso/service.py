"""Single sign-on for billing systems: mint a link, redeem it once, exchange the hand-off.

An integration mints a nonce with its API key; the user's browser opens the consume URL,
which redeems the nonce and redirects to the target path with a short-lived hand-off value
in the URL fragment (fragments are not sent to servers or in Referer headers); the UI then
exchanges that value for a session token.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.crypto import sha256_hex
from wispanel.auth.models import SsoNonce
from wispanel.auth.principal import Principal
from wispanel.auth.schemas import LoginResponse
from wispanel.auth.service import account_out
from wispanel.auth.session_store import start_session
from wispanel.auth.sso.schemas import SsoMintRequest, SsoMintResponse
from wispanel.core.context import PanelContext
from wispanel.core.database import utcnow
from wispanel.core.errors import Forbidden, NotFound, Unauthorized
from wispanel.core.events import AuditContext
from wispanel.users.models import AccountStatus, Role, User
from wispanel.users.scope import get_account_in_scope

NONCE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")
HANDOFF_SECONDS = 60
CONSUME_PATH = "/sso/consume/"


async def mint(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    *,
    request: SsoMintRequest,
    context: AuditContext,
    base_url: str,
) -> SsoMintResponse:
    if principal.kind != "api_key":
        raise Forbidden("SSO links are minted with an API key; session tokens can't mint them")
    if principal.role not in (Role.ADMIN, Role.RESELLER):
        raise Forbidden("Only admin and reseller API keys can mint SSO links")
    target = await get_account_in_scope(db, principal, request.username)
    if target.role == Role.ADMIN:
        raise Forbidden("Cannot mint SSO for admin accounts")
    if target.status != AccountStatus.ACTIVE:
        raise Forbidden("Cannot mint SSO for suspended accounts")
    nonce = secrets.token_urlsafe(32)
    now = utcnow()
    db.add(
        SsoNonce(
            nonce_hash=sha256_hex(nonce),
            user_id=target.id,
            minted_by_id=principal.user_id,
            api_key_id=principal.api_key_id,
            target_path=request.target_path,
            reason=request.reason,
            created_at=now,
            expires_at=now + timedelta(seconds=request.expires_in),
        )
    )
    panel.events.audit(
        db,
        context,
        "sso.minted",
        object_type="user",
        object_id=target.username,
        owner_id=target.id,
        details={"expires_in": request.expires_in, "reason": request.reason},
    )
    await db.commit()
    return SsoMintResponse(
        nonce=nonce,
        consume_url=base_url.rstrip("/") + CONSUME_PATH + nonce,
        expires_in=request.expires_in,
        target_path=request.target_path,
    )


async def consume(db: AsyncSession, nonce: str) -> str:
    """Redeem a nonce once; returns the URL to redirect the browser to."""
    invalid = NotFound("SSO link is invalid, already used or expired; ask for a new one")
    if not NONCE_PATTERN.match(nonce):
        raise invalid
    now = utcnow()
    handoff = secrets.token_urlsafe(32)
    nonce_hash = sha256_hex(nonce)
    result = await db.execute(
        update(SsoNonce)
        .where(
            SsoNonce.nonce_hash == nonce_hash,
            SsoNonce.consumed_at.is_(None),
            SsoNonce.expires_at > now,
        )
        .values(
            consumed_at=now,
            handoff_hash=sha256_hex(handoff),
            handoff_expires_at=now + timedelta(seconds=HANDOFF_SECONDS),
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise invalid
    target_path = await db.scalar(
        select(SsoNonce.target_path).where(SsoNonce.nonce_hash == nonce_hash)
    )
    await db.commit()
    return f"{target_path}#sso={handoff}"


async def exchange(
    db: AsyncSession,
    panel: PanelContext,
    handoff: str,
    context: AuditContext,
    user_agent: str,
) -> LoginResponse:
    """Turn a hand-off value into a session token of the link's account, once."""
    invalid = Unauthorized("SSO hand-off value is invalid, already used or expired")
    now = utcnow()
    handoff_hash = sha256_hex(handoff)
    result = await db.execute(
        update(SsoNonce)
        .where(
            SsoNonce.handoff_hash == handoff_hash,
            SsoNonce.exchanged_at.is_(None),
            SsoNonce.handoff_expires_at > now,
        )
        .values(exchanged_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise invalid
    row = (
        await db.execute(
            select(SsoNonce, User)
            .join(User, User.id == SsoNonce.user_id)
            .where(SsoNonce.handoff_hash == handoff_hash)
        )
    ).first()
    if row is None:
        raise invalid
    link, user = row
    if user.role == Role.ADMIN or user.status != AccountStatus.ACTIVE:
        await db.commit()
        raise Forbidden("This account can't log in through SSO")
    ttl = panel.settings.auth.token_ttl
    session_id, token = start_session(db, panel, user, context, user_agent, ttl_seconds=ttl)
    panel.events.audit(
        db,
        context,
        "auth.sso_login",
        object_type="session",
        object_id=session_id,
        owner_id=user.id,
        actor=user.username,
        details={"minted_by_id": link.minted_by_id, "reason": link.reason},
    )
    await db.commit()
    return LoginResponse(token=token, expires_in=ttl, user=account_out(user))
