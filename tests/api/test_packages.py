"""Hosting packages, and the one place limits are enforced for every countable resource."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD, bearer, login
from tests.factories import change_account
from wispanel.core.config import Settings
from wispanel.core.database import create_api_engine, create_sync_engine, session_factory
from wispanel.core.errors import QuotaExceeded
from wispanel.users import limits
from wispanel.users.models import User

PASSWORD = "account-password"


def confirm_password(client: TestClient, token: str, password: str) -> None:
    """Confirm the session's password, which deletions and own password changes need."""
    response = client.post(
        "/api/v1/auth/reauth", json={"password": password}, headers=bearer(token)
    )
    assert response.status_code == 200, response.text


@pytest.fixture(autouse=True)
def detach_accounts(settings: Settings) -> Iterator[None]:
    """Clear reseller links after each test.

    MariaDB checks the self-referencing `parent_id` key row by row, so the suite's
    `DELETE FROM users` between tests fails while accounts still point at a reseller.
    """
    yield
    engine = create_sync_engine(settings.database_url)
    with engine.begin() as connection:
        connection.execute(update(User).values(parent_id=None))
    engine.dispose()


@pytest.fixture
def admin_token(client: TestClient) -> str:
    """An admin session token that has just confirmed its password."""
    token = login(client)
    confirm_password(client, token, ADMIN_PASSWORD)
    return token


def post_user(client: TestClient, token: str, username: str, **extra: Any) -> Any:
    body = {"username": username, "email": f"{username}@example.com", "password": PASSWORD}
    return client.post("/api/v1/users", json={**body, **extra}, headers=bearer(token))


@pytest.fixture
def domain_counts() -> Iterator[dict[int, int]]:
    """A stand-in domain counter: account id to the number of domains it has."""
    counts: dict[int, int] = {}

    async def count(db: AsyncSession, owner_ids: Sequence[int]) -> int:
        return sum(counts.get(owner_id, 0) for owner_id in owner_ids)

    real = limits._counters.get("max_domains")
    limits.register_usage_counter("max_domains", count)
    yield counts
    if real is None:
        limits._counters.pop("max_domains", None)
    else:
        limits.register_usage_counter("max_domains", real)


def test_default_package_exists(client: TestClient, admin_token: str) -> None:
    listed = client.get("/api/v1/packages", headers=bearer(admin_token)).json()
    assert [item["name"] for item in listed] == ["default"]
    assert listed[0]["max_domains"] == -1


def test_package_lifecycle(client: TestClient, admin_token: str) -> None:
    created = client.post(
        "/api/v1/packages",
        json={"name": "gold", "max_domains": 10, "ssh": True, "description": "Ten sites"},
        headers=bearer(admin_token),
    )
    assert created.status_code == 201, created.text
    assert created.json()["max_domains"] == 10
    assert created.json()["max_databases"] == -1
    assert created.json()["ssh"] is True
    duplicate = client.post("/api/v1/packages", json={"name": "GOLD"}, headers=bearer(admin_token))
    assert duplicate.status_code == 409
    changed = client.put(
        "/api/v1/packages/gold", json={"max_domains": 20}, headers=bearer(admin_token)
    )
    assert changed.json()["max_domains"] == 20
    assert changed.json()["description"] == "Ten sites"
    deleted = client.delete("/api/v1/packages/gold", headers=bearer(admin_token))
    assert deleted.json() == {"success": True, "message": "Package gold deleted"}
    assert (
        client.put("/api/v1/packages/gold", json={}, headers=bearer(admin_token)).status_code == 404
    )


@pytest.mark.parametrize("name", ["", "../x", "a b", "x" * 40, "-lead"])
def test_package_name_validated(client: TestClient, admin_token: str, name: str) -> None:
    response = client.post("/api/v1/packages", json={"name": name}, headers=bearer(admin_token))
    assert response.status_code == 400


def test_package_in_use_or_default_kept(client: TestClient, admin_token: str) -> None:
    client.post("/api/v1/packages", json={"name": "gold"}, headers=bearer(admin_token))
    post_user(client, admin_token, "john", package="gold")
    assert client.delete("/api/v1/packages/gold", headers=bearer(admin_token)).status_code == 409
    assert client.delete("/api/v1/packages/default", headers=bearer(admin_token)).status_code == 409


def test_package_change_reaches_accounts(client: TestClient, admin_token: str) -> None:
    client.post("/api/v1/packages", json={"name": "gold"}, headers=bearer(admin_token))
    post_user(client, admin_token, "john", package="gold")
    client.put("/api/v1/packages/gold", json={"max_databases": 7}, headers=bearer(admin_token))
    account = client.get("/api/v1/users/john", headers=bearer(admin_token)).json()
    assert account["limits"]["max_databases"] == 7


def test_only_admin_writes_packages(client: TestClient, admin_token: str) -> None:
    post_user(client, admin_token, "john")
    token = login(client, "john", PASSWORD)
    listed = client.get("/api/v1/packages", headers=bearer(token)).json()
    assert [item["name"] for item in listed] == ["default"]
    refused = client.post("/api/v1/packages", json={"name": "gold"}, headers=bearer(token))
    assert refused.status_code == 403


def test_package_change_over_usage_refused(
    client: TestClient, admin_token: str, settings: Settings, domain_counts: dict[int, int]
) -> None:
    client.post("/api/v1/packages", json={"name": "gold"}, headers=bearer(admin_token))
    client.post(
        "/api/v1/packages",
        json={"name": "tiny", "max_domains": 1, "disk_quota_mb": 10},
        headers=bearer(admin_token),
    )
    john = post_user(client, admin_token, "john", package="gold").json()
    domain_counts[john["id"]] = 3
    change_account(settings, "john", disk_used_bytes=50 * 1024 * 1024)
    refused = client.put(
        "/api/v1/users/john", json={"package": "tiny"}, headers=bearer(admin_token)
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "QUOTA_EXCEEDED"
    assert refused.json()["details"] == {
        "max_domains": ["3 in use, more than the new limit 1"],
        "disk_quota_mb": ["50 in use, more than the new limit 10"],
    }
    shrink = client.put(
        "/api/v1/packages/gold", json={"max_domains": 2}, headers=bearer(admin_token)
    )
    assert shrink.status_code == 403
    assert list(shrink.json()["details"]) == ["max_domains"]
    at_edge = client.put(
        "/api/v1/packages/gold", json={"max_domains": 3}, headers=bearer(admin_token)
    )
    assert at_edge.status_code == 200


def _run(settings: Settings, check: Any) -> Any:
    async def main() -> Any:
        engine = create_api_engine(settings.database_url)
        try:
            async with session_factory(engine)() as db:
                return await check(db)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def test_enforce_limit_walks_up_to_reseller(
    client: TestClient, admin_token: str, settings: Settings, domain_counts: dict[int, int]
) -> None:
    client.post(
        "/api/v1/packages", json={"name": "small", "max_domains": 3}, headers=bearer(admin_token)
    )
    body = {"username": "resella", "email": "r@example.com", "password": PASSWORD}
    client.post(
        "/api/v1/resellers",
        json={**body, "max_domains": 4, "package": "small", "allow_overselling": True},
        headers=bearer(admin_token),
    )
    reseller = login(client, "resella", PASSWORD)
    custa = post_user(client, reseller, "custa", package="small").json()
    custb = post_user(client, reseller, "custb", package="small").json()

    async def check(db: AsyncSession, username: str) -> str | None:
        owner = (await db.scalars(select(User).where(User.username == username))).one()
        try:
            await limits.enforce_limit(db, owner, "max_domains")
        except QuotaExceeded as error:
            return str(error.details)
        return None

    domain_counts[custa["id"]] = 2
    assert _run(settings, lambda db: check(db, "custa")) is None
    domain_counts[custa["id"]] = 3
    assert "3 of 3 in use" in _run(settings, lambda db: check(db, "custa"))
    domain_counts[custa["id"]] = 1
    domain_counts[custb["id"]] = 3
    reseller_full = _run(settings, lambda db: check(db, "custa"))
    assert "4 of 4 in use by the reseller and its accounts" in reseller_full
    admin_free = _run(settings, lambda db: check(db, "admin"))
    assert admin_free is None
