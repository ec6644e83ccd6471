"""Fixtures shared by the whole suite: settings in a temporary data directory, and the app.

API tests run on SQLite by default. With WISPANEL_TEST_DATABASE_URL pointing at a
PostgreSQL or MariaDB server, the session creates its own database there, each test starts
from empty tables, and the database is dropped at the end.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from wispanel.app import create_app
from wispanel.core.config import Settings, load_settings
from wispanel.core.database import Base, create_sync_engine
from wispanel.core.model_registry import import_models

ADMIN_PASSWORD = "admin-test-password"
SERVER_URL_VARIABLE = "WISPANEL_TEST_DATABASE_URL"
# Every test client connects from this address, so IP-bound tokens work across clients.
CLIENT_ADDRESS = ("127.0.0.1", 40000)


@pytest.fixture(scope="session")
def server_database_url() -> Iterator[str | None]:
    """A database of this test session on the configured server, or None for SQLite."""
    server_url = os.environ.get(SERVER_URL_VARIABLE)
    if not server_url:
        yield None
        return
    url = make_url(server_url)
    backend = url.get_backend_name()
    name = f"wispanel_test_{secrets.token_hex(4)}"
    driver = "postgresql+psycopg" if backend.startswith("postgres") else "mysql+pymysql"
    admin = create_engine(url.set(drivername=driver), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        if backend.startswith("postgres"):
            connection.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        else:
            connection.execute(text(f"DROP DATABASE {name}"))
    admin.dispose()


def _empty_tables(url: str) -> None:
    import_models()
    engine = create_sync_engine(url)
    with engine.begin() as connection:
        existing = set(engine.dialect.get_table_names(connection))
        if "users" in existing:
            # MariaDB checks the self-reference row by row, so break it before deleting.
            connection.execute(text("UPDATE users SET parent_id = NULL"))
        for table in reversed(Base.metadata.sorted_tables):
            if table.name in existing:
                connection.execute(table.delete())
    engine.dispose()


@pytest.fixture
def make_settings(tmp_path: Path, server_database_url: str | None) -> Callable[..., Settings]:
    """Build settings for a data directory under tmp_path; keyword sections override.

    On a database server, the test starts from empty tables.
    """
    if server_database_url:
        _empty_tables(server_database_url)

    def build(data_dir: Path | None = None, **sections: Any) -> Settings:
        directory = data_dir or tmp_path / "data"
        base: dict[str, Any] = {
            "admin_password": ADMIN_PASSWORD,
            # Cheap hashing keeps the suite fast; production parameters are benchmarked.
            "auth": {"argon2_time_cost": 1, "argon2_memory_kib": 8192},
            "jobs": {"workers": 1},
            "logging": {"access_log": False},
            # A closed loopback port: no test may order a certificate from a public CA.
            "ssl": {"acme_directory_url": "https://127.0.0.1:9/directory"},
        }
        if server_database_url:
            base["database"] = {"url": server_database_url}
        for section, values in sections.items():
            if isinstance(values, dict) and isinstance(base.get(section), dict):
                base[section] = {**base[section], **values}
            else:
                base[section] = values
        return load_settings(directory, **base)

    return build


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), client=CLIENT_ADDRESS) as test_client:
        yield test_client


def login(client: TestClient, username: str = "admin", password: str = ADMIN_PASSWORD) -> str:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin_token(client: TestClient) -> str:
    return login(client)
