"""Suspending accounts: logins, tokens and everything the account runs stop together."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.principal import Principal
from wispanel.auth.revocation import revoke_all_tokens
from wispanel.core.context import PanelContext
from wispanel.core.database import utcnow
from wispanel.core.errors import Conflict, Forbidden
from wispanel.core.events import AuditContext
from wispanel.users.lifecycle import run_hooks
from wispanel.users.limits import accounts_of, reseller_of
from wispanel.users.models import AccountStatus, Role, User
from wispanel.users.schemas import UserOut
from wispanel.users.scope import get_account_in_scope, manages
from wispanel.users.serialize import user_out
from wispanel.users.service import HOSTED_ROLES, host_of, on_host


async def _suspend_one(
    db: AsyncSession,
    panel: PanelContext,
    context: AuditContext,
    user: User,
    reason: str | None,
    *,
    with_reseller: bool,
) -> None:
    user.status = AccountStatus.SUSPENDED
    user.suspension_reason = reason
    user.suspended_at = utcnow()
    user.suspended_with_reseller = with_reseller
    await revoke_all_tokens(db, user)
    await run_hooks("suspend", db, panel, user)
    if user.role in HOSTED_ROLES:
        await on_host(host_of(panel).suspend, user.username)
    panel.events.publish(
        db,
        context,
        "user.suspended",
        {"username": user.username, "reason": reason, "with_reseller": with_reseller},
        object_type="user",
        object_id=user.username,
        owner_id=user.id,
    )


async def _unsuspend_one(
    db: AsyncSession, panel: PanelContext, context: AuditContext, user: User
) -> None:
    user.status = AccountStatus.ACTIVE
    user.suspension_reason = None
    user.suspended_at = None
    user.suspended_with_reseller = False
    await run_hooks("unsuspend", db, panel, user)
    if user.role in HOSTED_ROLES:
        await on_host(host_of(panel).unsuspend, user.username)
    panel.events.publish(
        db,
        context,
        "user.unsuspended",
        {"username": user.username},
        object_type="user",
        object_id=user.username,
        owner_id=user.id,
    )


async def _managed_account(db: AsyncSession, principal: Principal, username: str) -> User:
    user = await get_account_in_scope(db, principal, username)
    if user.id == principal.user_id:
        raise Forbidden("You can't suspend or unsuspend your own account")
    if not manages(principal, user):
        raise Forbidden(f"You can't suspend or unsuspend account {username}")
    return user


async def suspend(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    context: AuditContext,
    *,
    username: str,
    reason: str | None,
) -> UserOut:
    """Suspend an account; suspending a reseller suspends its active accounts with it."""
    user = await _managed_account(db, principal, username)
    if user.status == AccountStatus.SUSPENDED:
        raise Conflict(f"Account {username} is already suspended")
    await _suspend_one(db, panel, context, user, reason, with_reseller=False)
    if user.role == Role.RESELLER:
        for account in await accounts_of(db, user):
            if account.status == AccountStatus.ACTIVE:
                await _suspend_one(
                    db, panel, context, account, reason or "Reseller suspended", with_reseller=True
                )
    await db.commit()
    return await user_out(db, user)


async def unsuspend(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    context: AuditContext,
    username: str,
) -> UserOut:
    """Undo a suspension; a reseller's accounts suspended with it come back, no others."""
    user = await _managed_account(db, principal, username)
    if user.status != AccountStatus.SUSPENDED:
        raise Conflict(f"Account {username} is not suspended")
    reseller = await reseller_of(db, user)
    if reseller is not None and reseller.status == AccountStatus.SUSPENDED:
        raise Conflict(
            f"Reseller {reseller.username} of account {username} is suspended; "
            "unsuspend the reseller first"
        )
    await _unsuspend_one(db, panel, context, user)
    if user.role == Role.RESELLER:
        for account in await accounts_of(db, user):
            if account.status == AccountStatus.SUSPENDED and account.suspended_with_reseller:
                await _unsuspend_one(db, panel, context, account)
    await db.commit()
    return await user_out(db, user)
