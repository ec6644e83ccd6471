"""Revoking every token of an account at once, and telling the caches when it happened.

Authentication caches register here. A transaction that revoked tokens marks its session,
and once that transaction commits every registered cache drops its entries, so the next
request of the account reads the new token version. Other API processes see the change
when their cached copies expire (a few seconds).
"""

from __future__ import annotations

import weakref
from typing import Protocol

from sqlalchemy import event as orm_event
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from wispanel.users.models import User

INVALIDATE_KEY = "wispanel.invalidate_auth_caches"


class InvalidatableCache(Protocol):
    def invalidate_all(self) -> None: ...


_caches: weakref.WeakSet[InvalidatableCache] = weakref.WeakSet()


def register_cache(cache: InvalidatableCache) -> None:
    _caches.add(cache)


def invalidate_after_commit(db: AsyncSession) -> None:
    """Empty the authentication caches once the caller's transaction commits."""
    db.sync_session.info[INVALIDATE_KEY] = True


async def revoke_all_tokens(db: AsyncSession, user: User | int) -> None:
    """Raise the account's token version in the caller's transaction.

    Every session token issued before fails with 401 `Token revoked` once the transaction
    commits. Call it on password change, suspension, role change and "log out everywhere".
    The caller commits.
    """
    user_id = user if isinstance(user, int) else user.id
    await db.execute(
        update(User)
        .where(User.id == user_id)
        .values(token_version=User.token_version + 1)
        .execution_options(synchronize_session=False)
    )
    if isinstance(user, User):
        await db.refresh(user, ["token_version"])
    invalidate_after_commit(db)


@orm_event.listens_for(Session, "after_commit")
def _invalidate(session: Session) -> None:
    if session.info.pop(INVALIDATE_KEY, False):
        for cache in list(_caches):
            cache.invalidate_all()


@orm_event.listens_for(Session, "after_rollback")
def _discard(session: Session) -> None:
    session.info.pop(INVALIDATE_KEY, None)
