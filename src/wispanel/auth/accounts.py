"""The caller's account as the authenticator last read it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from wispanel.users.models import User


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """The caller's account as last read from the database (at most the cache age old)."""

    id: int
    username: str
    email: str
    role: str
    status: str
    token_version: int
    created_at: datetime


def snapshot_of(user: User) -> AccountSnapshot:
    return AccountSnapshot(
        id=user.id,
        username=user.username,
        email=user.email,
        role=user.role,
        status=user.status,
        token_version=user.token_version,
        created_at=user.created_at,
    )
