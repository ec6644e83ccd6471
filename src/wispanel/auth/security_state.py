"""The per-account security row (2FA, IP binding, lockout), created on first need."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.models import AccountSecurity


async def ensure_security(db: AsyncSession, user_id: int, *, lock: bool = False) -> AccountSecurity:
    """Return the account's security row, inserting the defaults when it has none.

    The insert ignores a row that a concurrent request created first, on every backend.
    `lock` takes a row lock (SELECT ... FOR UPDATE) where the backend has them.
    """
    values = {
        "user_id": user_id,
        "totp_enabled": False,
        "failed_logins": 0,
    }
    dialect = db.get_bind().dialect.name
    if dialect == "postgresql":
        await db.execute(postgresql.insert(AccountSecurity).values(values).on_conflict_do_nothing())
    elif dialect == "mysql":
        await db.execute(mysql.insert(AccountSecurity).values(values).prefix_with("IGNORE"))
    else:
        await db.execute(sqlite.insert(AccountSecurity).values(values).on_conflict_do_nothing())
    statement = select(AccountSecurity).where(AccountSecurity.user_id == user_id)
    if lock:
        statement = statement.with_for_update()
    return (await db.scalars(statement.execution_options(populate_existing=True))).one()


async def find_security(db: AsyncSession, user_id: int) -> AccountSecurity | None:
    """Return the account's security row without creating one."""
    return await db.get(AccountSecurity, user_id)


async def set_ip_binding(db: AsyncSession, user_id: int, bound: bool | None) -> None:
    """Override the role's IP-binding setting for one account; None follows the role again.

    Takes effect for existing sessions once the session cache refreshes. The caller commits.
    """
    security = await ensure_security(db, user_id)
    security.ip_binding = bound
