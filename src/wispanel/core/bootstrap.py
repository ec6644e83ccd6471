"""First start of an install: the `admin` account."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import structlog
from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from wispanel.core.config import Settings
from wispanel.users.models import Role, User

log = structlog.get_logger(__name__)
INITIAL_PASSWORD_FILE = "initial-admin-password"  # noqa: S105 - a file name, not a password


def ensure_first_admin(engine: Engine, settings: Settings, hasher: PasswordHasher) -> None:
    """Create `admin` when the database has no account yet.

    The password comes from WISPANEL_ADMIN_PASSWORD, or is generated and written once to a
    0600 file in the data directory, whose path (never the password) goes to the log.
    """
    with Session(engine) as db:
        if db.scalar(select(func.count()).select_from(User)):
            return
        configured = settings.admin_password
        password = configured.get_secret_value() if configured else secrets.token_urlsafe(18)
        db.add(
            User(
                username="admin",
                email=settings.admin_email,
                password_hash=hasher.hash(password),
                role=Role.ADMIN,
            )
        )
        db.commit()
    if configured:
        log.info(
            "bootstrap.admin_created",
            username="admin",
            password_source="environment",  # noqa: S106 - names the source, not the value
        )
        return
    path = settings.data_dir / INITIAL_PASSWORD_FILE
    _write_private(path, password + "\n")
    log.warning("bootstrap.admin_created", username="admin", password_file=str(path))


def _write_private(path: Path, text: str) -> None:
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
