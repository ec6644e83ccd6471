"""Resellers: their shapes, limits handed out to accounts, suspension and deletion."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import update
from starlette.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD, bearer, login
from wispanel.core.config import Settings
from wispanel.core.database import create_sync_engine
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


def create_reseller(client: TestClient, token: str, username: str, **extra: Any) -> None:
    body = {"username": username, "email": f"{username}@example.com", "password": PASSWORD}
    response = client.post("/api/v1/resellers", json={**body, **extra}, headers=bearer(token))
    assert response.status_code == 201, response.text


def create_package(client: TestClient, token: str, name: str, **limits: Any) -> None:
    response = client.post("/api/v1/packages", json={"name": name, **limits}, headers=bearer(token))
    assert response.status_code == 201, response.text


def post_user(client: TestClient, token: str, username: str, **extra: Any) -> Any:
    body = {"username": username, "email": f"{username}@example.com", "password": PASSWORD}
    return client.post("/api/v1/users", json={**body, **extra}, headers=bearer(token))


@pytest.fixture
def reseller_token(client: TestClient, admin_token: str) -> str:
    create_package(client, admin_token, "small", max_domains=5, disk_quota_mb=1000)
    create_reseller(
        client,
        admin_token,
        "resella",
        package="small",
        max_users=2,
        max_domains=10,
        disk_quota_mb=2000,
    )
    return login(client, "resella", PASSWORD)


def test_create_answers_wispanel_shape(client: TestClient, admin_token: str) -> None:
    body = {"username": "resella", "email": "r@example.com", "password": PASSWORD}
    response = client.post("/api/v1/resellers", json=body, headers=bearer(admin_token))
    assert response.status_code == 201
    assert response.json() == {
        "success": True,
        "message": "Reseller created successfully",
        "username": "resella",
        "package": "default",
    }


def test_get_shape_has_limits_and_grants(
    client: TestClient, admin_token: str, reseller_token: str
) -> None:
    body = client.get("/api/v1/resellers/resella", headers=bearer(admin_token)).json()
    assert body["max_users"] == 2
    assert body["max_domains"] == 10
    assert body["max_databases"] == -1
    assert body["disk_quota_mb"] == 2000
    assert body["can_grant_php"] is True
    assert body["can_grant_ssh"] is False
    assert body["allow_overselling"] is False
    assert body["users_count"] == 0
    own = client.get("/api/v1/resellers/resella", headers=bearer(reseller_token))
    assert own.status_code == 200


def test_reseller_creates_accounts_up_to_max_users(client: TestClient, reseller_token: str) -> None:
    assert post_user(client, reseller_token, "custa", package="small").status_code == 201
    assert post_user(client, reseller_token, "custb", package="small").status_code == 201
    over = post_user(client, reseller_token, "custc", package="small")
    assert over.status_code == 403
    assert over.json()["code"] == "QUOTA_EXCEEDED"
    assert "max_users" in over.json()["message"]
    assert list(over.json()["details"]) == ["max_users"]


def test_reseller_cannot_hand_out_more_than_it_has(
    client: TestClient, admin_token: str, reseller_token: str
) -> None:
    unlimited = post_user(client, reseller_token, "custa")
    assert unlimited.status_code == 403
    assert unlimited.json()["code"] == "QUOTA_EXCEEDED"
    assert set(unlimited.json()["details"]) >= {"max_domains", "disk_quota_mb"}
    assert post_user(client, reseller_token, "custa", package="small").status_code == 201
    at_edge = post_user(client, reseller_token, "custb", package="small", limits={"max_domains": 5})
    assert at_edge.status_code == 201, at_edge.text
    response = client.put(
        "/api/v1/resellers/resella/limits", json={"max_users": 3}, headers=bearer(admin_token)
    )
    assert response.status_code == 200
    over_edge = post_user(
        client, reseller_token, "custc", package="small", limits={"max_domains": 1}
    )
    assert over_edge.status_code == 403
    assert "max_domains" in over_edge.json()["details"]


def test_overselling_lifts_the_sum(
    client: TestClient, admin_token: str, reseller_token: str
) -> None:
    response = client.put(
        "/api/v1/resellers/resella/limits",
        json={"allow_overselling": True},
        headers=bearer(admin_token),
    )
    assert response.json()["allow_overselling"] is True
    assert post_user(client, reseller_token, "custa").status_code == 201


def test_reseller_cannot_grant_missing_feature(client: TestClient, reseller_token: str) -> None:
    response = post_user(client, reseller_token, "custa", package="small", features={"ssh": True})
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"
    assert response.json()["details"] == {"ssh": ["not granted to the reseller"]}


def test_reseller_creates_users_only(client: TestClient, reseller_token: str) -> None:
    response = post_user(client, reseller_token, "custa", package="small", role="reseller")
    assert response.status_code == 403


def test_account_belongs_to_reseller(client: TestClient, reseller_token: str) -> None:
    body = post_user(client, reseller_token, "custa", package="small").json()
    assert body["reseller"] == "resella"


def test_limits_below_allocation_refused(
    client: TestClient, admin_token: str, reseller_token: str
) -> None:
    post_user(client, reseller_token, "custa", package="small")
    post_user(client, reseller_token, "custb", package="small")
    response = client.put(
        "/api/v1/resellers/resella/limits",
        json={"max_users": 1, "max_domains": 6},
        headers=bearer(admin_token),
    )
    assert response.status_code == 403
    assert response.json()["code"] == "QUOTA_EXCEEDED"
    assert set(response.json()["details"]) == {"max_users", "max_domains"}
    unchanged = client.get("/api/v1/resellers/resella", headers=bearer(admin_token)).json()
    assert unchanged["max_users"] == 2
    assert unchanged["allocated"]["max_domains"] == 10


def test_only_admin_changes_reseller_limits(client: TestClient, reseller_token: str) -> None:
    response = client.put(
        "/api/v1/resellers/resella/limits", json={"max_users": 50}, headers=bearer(reseller_token)
    )
    assert response.status_code == 403


def test_suspending_reseller_suspends_accounts(
    client: TestClient, admin_token: str, reseller_token: str, settings: Settings
) -> None:
    post_user(client, reseller_token, "custa", package="small")
    post_user(client, reseller_token, "custb", package="small")
    before = client.post(
        "/api/v1/users/custb/suspend", json={"reason": "abuse"}, headers=bearer(reseller_token)
    )
    assert before.status_code == 200
    customer = login(client, "custa", PASSWORD)
    client.post("/api/v1/users/resella/suspend", headers=bearer(admin_token))
    assert client.get("/api/v1/users/custa", headers=bearer(customer)).status_code == 401
    statuses = {
        item["username"]: item["status"]
        for item in client.get("/api/v1/users", headers=bearer(admin_token)).json()
    }
    assert statuses == {
        "admin": "active",
        "resella": "suspended",
        "custa": "suspended",
        "custb": "suspended",
    }
    blocked = client.post("/api/v1/users/custa/unsuspend", headers=bearer(admin_token))
    assert blocked.status_code == 409
    client.post("/api/v1/users/resella/unsuspend", headers=bearer(admin_token))
    after = client.get("/api/v1/users", headers=bearer(admin_token)).json()
    statuses = {item["username"]: item["status"] for item in after}
    assert statuses["custa"] == "active"
    assert statuses["custb"] == "suspended"
    reasons = {item["username"]: item["suspension_reason"] for item in after}
    assert reasons["custb"] == "abuse"


def test_delete_refused_while_accounts_remain(
    client: TestClient, admin_token: str, reseller_token: str, settings: Settings
) -> None:
    post_user(client, reseller_token, "custa", package="small")
    refused = client.delete("/api/v1/resellers/resella", headers=bearer(admin_token))
    assert refused.status_code == 409
    assert refused.json()["details"] == {"accounts": ["custa"]}
    client.delete("/api/v1/users/custa", headers=bearer(admin_token))
    deleted = client.delete("/api/v1/resellers/resella", headers=bearer(admin_token))
    assert deleted.status_code == 200
    assert deleted.json() == {"success": True, "message": "Reseller deleted"}
    assert not (settings.data_dir / "home" / "resella").exists()


def test_delete_reassigns_accounts(
    client: TestClient, admin_token: str, reseller_token: str
) -> None:
    post_user(client, reseller_token, "custa", package="small")
    create_reseller(client, admin_token, "resellb", package="small", max_domains=5)
    to_user = client.delete(
        "/api/v1/resellers/resella?reassign_to=custa", headers=bearer(admin_token)
    )
    assert to_user.status_code == 400
    moved = client.delete(
        "/api/v1/resellers/resella?reassign_to=resellb", headers=bearer(admin_token)
    )
    assert moved.status_code == 200, moved.text
    account = client.get("/api/v1/users/custa", headers=bearer(admin_token)).json()
    assert account["reseller"] == "resellb"


def test_delete_reassign_respects_target_limits(
    client: TestClient, admin_token: str, reseller_token: str
) -> None:
    post_user(client, reseller_token, "custa", package="small")
    create_reseller(client, admin_token, "resellb", package="small", max_domains=4)
    refused = client.delete(
        "/api/v1/resellers/resella?reassign_to=resellb", headers=bearer(admin_token)
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "QUOTA_EXCEEDED"
    to_admin = client.delete(
        "/api/v1/resellers/resella?reassign_to=admin", headers=bearer(admin_token)
    )
    assert to_admin.status_code == 200
    account = client.get("/api/v1/users/custa", headers=bearer(admin_token)).json()
    assert account["reseller"] is None


def test_reseller_lists(client: TestClient, admin_token: str, reseller_token: str) -> None:
    create_reseller(client, admin_token, "resellb")
    listed = client.get("/api/v1/resellers", headers=bearer(admin_token)).json()
    assert [item["username"] for item in listed] == ["resella", "resellb"]
    own = client.get("/api/v1/resellers", headers=bearer(reseller_token)).json()
    assert [item["username"] for item in own] == ["resella"]
    paged = client.get("/api/v1/resellers?per_page=1", headers=bearer(admin_token)).json()
    assert paged["meta"]["total"] == 2
    assert [item["username"] for item in paged["data"]] == ["resella"]


def test_simultaneous_creates_stay_within_max_users(
    client: TestClient, reseller_token: str
) -> None:
    names = ["custa", "custb", "custc", "custd", "custe"]
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        responses = list(
            pool.map(lambda name: post_user(client, reseller_token, name, package="small"), names)
        )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201, 201, 403, 403, 403], [r.text for r in responses]
    listed = client.get("/api/v1/users", headers=bearer(reseller_token)).json()
    assert len([user for user in listed if user["role"] == "user"]) == 2
