"""Bring the panel database to the newest schema; run at every start and by `wispanel migrate`."""

from __future__ import annotations

import fcntl
from pathlib import Path

import structlog
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

log = structlog.get_logger(__name__)
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, lock_dir: Path) -> None:
    """Apply pending migrations, one process at a time on this machine.

    NOTE: the lock is a file lock, so it orders processes on one machine only; processes on
    several machines sharing one PostgreSQL or MariaDB must not start at the same moment.
    """
    lock_dir.mkdir(parents=True, exist_ok=True)
    with (lock_dir / ".migrate.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "heads")
    log.info("database.migrated", backend=engine.dialect.name)
