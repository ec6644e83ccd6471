"""Deleting accounts: each area removes what the account owns, then the host account goes."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.principal import Principal
from wispanel.auth.reauth import require_recent_reauth
from wispanel.core.context import PanelContext
from wispanel.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from wispanel.core.events import AuditContext
from wispanel.users.lifecycle import run_hooks
from wispanel.users.limits import accounts_of, check_allocation, features_of, limits_of
from wispanel.users.models import Role, User
from wispanel.users.scope import get_account_in_scope, manages
from wispanel.users.service import HOSTED_ROLES, host_of, on_host


async def _reassign(db: AsyncSession, reseller: User, target_name: str) -> int:
    """Move every account of `reseller` to another reseller, or to the top level for an admin."""
    target = (await db.scalars(select(User).where(User.username == target_name))).first()
    if target is None or target.role not in (Role.RESELLER, Role.ADMIN):
        raise ValidationFailed(
            f"reassign_to must name another reseller or an admin; {target_name} is neither",
            details={"reassign_to": ["not a reseller or admin"]},
        )
    if target.id == reseller.id:
        raise ValidationFailed(
            "reassign_to must name another account than the reseller being deleted",
            details={"reassign_to": ["same reseller"]},
        )
    accounts = await accounts_of(db, reseller)
    if target.role == Role.RESELLER:
        # Each account is checked as if the target reseller created it now.
        for account in accounts:
            await check_allocation(
                db,
                target,
                await limits_of(db, account),
                await features_of(db, account),
                adding_account=True,
            )
            account.parent_id = target.id
            await db.flush()
    else:
        await db.execute(update(User).where(User.parent_id == reseller.id).values(parent_id=None))
    return len(accounts)


async def remove_account(
    db: AsyncSession, panel: PanelContext, context: AuditContext, user: User
) -> None:
    """Run every area's removal hook, delete the row, remove the host account, then commit."""
    await run_hooks("delete", db, panel, user)
    username, role, user_id = user.username, user.role, user.id
    panel.events.publish(
        db,
        context,
        "user.deleted",
        {"username": username, "role": role},
        object_type="user",
        object_id=username,
        owner_id=user_id,
    )
    await db.delete(user)
    await db.flush()
    if role in HOSTED_ROLES:
        # Before the commit, so a host failure leaves the account in place to retry.
        await on_host(host_of(panel).remove, username)
    await db.commit()


async def delete_account(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    context: AuditContext,
    username: str,
    *,
    reassign_to: str | None = None,
    only_role: Role | None = None,
) -> None:
    """Delete an account the caller manages; a reseller with accounts needs `reassign_to`."""
    user = await get_account_in_scope(db, principal, username)
    if only_role is not None and user.role != only_role:
        raise NotFound(f"Reseller {username} not found")
    if user.id == principal.user_id:
        raise Forbidden("You can't delete your own account")
    if not manages(principal, user):
        raise Forbidden(f"You can't delete account {username}")
    await require_recent_reauth(db, principal, "Deleting an account")
    if user.role == Role.RESELLER:
        accounts = await accounts_of(db, user)
        if accounts and reassign_to is None:
            raise Conflict(
                f"Reseller {username} still has {len(accounts)} accounts; delete them first "
                "or pass reassign_to with another reseller or an admin",
                details={"accounts": [account.username for account in accounts[:50]]},
            )
        if accounts and reassign_to is not None:
            moved = await _reassign(db, user, reassign_to)
            panel.events.audit(
                db,
                context,
                "reseller.accounts_reassigned",
                object_type="user",
                object_id=username,
                details={"to": reassign_to, "count": moved},
            )
    elif reassign_to is not None:
        raise ValidationFailed(
            "reassign_to applies to resellers only", details={"reassign_to": ["not a reseller"]}
        )
    await remove_account(db, panel, context, user)
