"""Panel database: engines for SQLite (WAL), PostgreSQL and MariaDB, and the ORM base.

The API uses the asyncio engine so request handlers never block a thread; migrations, the
CLI and jobs use the synchronous engine on the same database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, MetaData, TypeDecorator, create_engine, event
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect, Engine, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeEngine
from starlette.requests import Request

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SYNC_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql"}
ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+psycopg_async",
    "mysql": "mysql+aiomysql",
}
BACKEND_ALIASES = {"mariadb": "mysql", "postgres": "postgresql"}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as naive UTC and always returned timezone-aware.

    SQLite and MariaDB keep no offset, so values are normalised to UTC on the way in.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        # MariaDB drops fractions of a second unless the column declares them.
        if dialect.name == "mysql":
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use datetime.now(UTC)")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def driver_url(url: str, *, use_async: bool) -> str:
    """Return `url` with the driver the panel uses for its backend, sync or async."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    backend = BACKEND_ALIASES.get(backend, backend)
    drivers = ASYNC_DRIVERS if use_async else SYNC_DRIVERS
    if backend not in drivers:
        raise ValueError(
            f"unsupported database backend {backend!r}; use sqlite, postgresql or mysql"
        )
    rendered: str = parsed.set(drivername=drivers[backend]).render_as_string(hide_password=False)
    return rendered


def _engine_options(url: str) -> dict[str, Any]:
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        return {"connect_args": {"timeout": 30}}
    if backend == "mysql":
        # InnoDB's default REPEATABLE READ keeps a transaction's first snapshot, so a count
        # taken after waiting for a row lock would miss the rows the lock holder added.
        # READ COMMITTED reads the newest commits in each statement, as PostgreSQL does.
        return {"pool_pre_ping": True, "pool_recycle": 3600, "isolation_level": "READ COMMITTED"}
    return {"pool_pre_ping": True}


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _set_pragmas(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


def create_sync_engine(url: str, *, echo: bool = False) -> Engine:
    sync_url = driver_url(url, use_async=False)
    engine = create_engine(sync_url, echo=echo, **_engine_options(sync_url))
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def create_api_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    async_url = driver_url(url, use_async=True)
    engine = create_async_engine(async_url, echo=echo, **_engine_options(async_url))
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine.sync_engine)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Give a handler one session; the service decides when to commit."""
    factory: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with factory() as session:
        yield session
