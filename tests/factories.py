"""Rows the API can't create yet, written straight into the panel database."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from wispanel.auth.passwords import password_hasher
from wispanel.core.config import Settings
from wispanel.core.database import create_sync_engine
from wispanel.users.models import Role, User


def create_account(
    settings: Settings,
    username: str,
    *,
    password: str = "account-password",
    role: Role = Role.USER,
    parent_id: int | None = None,
) -> int:
    engine = create_sync_engine(settings.database_url)
    with Session(engine) as db:
        user = User(
            username=username,
            email=f"{username}@example.com",
            password_hash=password_hasher(settings.auth).hash(password),
            role=role,
            parent_id=parent_id,
        )
        db.add(user)
        db.commit()
        user_id = user.id
    engine.dispose()
    return user_id


def change_account(settings: Settings, username: str, **values: object) -> None:
    engine = create_sync_engine(settings.database_url)
    with Session(engine) as db:
        db.execute(update(User).where(User.username == username).values(**values))
        db.commit()
    engine.dispose()
