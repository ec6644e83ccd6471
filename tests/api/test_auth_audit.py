"""The audit log: which entries each role can read, filters and opt-in pagination."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.conftest import bearer, login
from tests.factories import create_account
from wispanel.core.config import Settings
from wispanel.users.models import Role


def _setup(client: TestClient, settings: Settings) -> dict[str, str]:
    rex = create_account(settings, "rex", password="rex-password", role=Role.RESELLER)
    create_account(settings, "john", password="john-password", parent_id=rex)
    create_account(settings, "jane", password="jane-password")
    tokens = {
        "admin": login(client),
        "rex": login(client, "rex", "rex-password"),
        "john": login(client, "john", "john-password"),
        "jane": login(client, "jane", "jane-password"),
    }
    client.post("/api/v1/auth/login", json={"username": "jane", "password": "wrong"})
    return tokens


def _actors(client: TestClient, token: str, query: str = "") -> set[str]:
    response = client.get(f"/api/v1/auth/audit{query}", headers=bearer(token))
    assert response.status_code == 200, response.text
    return {entry["actor"] for entry in response.json()}


def test_scope_per_role(client: TestClient, settings: Settings) -> None:
    tokens = _setup(client, settings)
    assert _actors(client, tokens["admin"]) == {"admin", "rex", "john", "jane"}
    assert _actors(client, tokens["rex"]) == {"rex", "john"}
    assert _actors(client, tokens["john"]) == {"john"}
    assert _actors(client, tokens["jane"]) == {"jane"}


def test_filters(client: TestClient, settings: Settings) -> None:
    tokens = _setup(client, settings)
    failed = client.get(
        "/api/v1/auth/audit?action=auth.login_failed", headers=bearer(tokens["admin"])
    ).json()
    assert len(failed) == 1
    assert failed[0]["details"] == {"reason": "password"}
    assert _actors(client, tokens["admin"], "?actor=rex") == {"rex"}
    prefixed = client.get("/api/v1/auth/audit?action=auth.*", headers=bearer(tokens["admin"]))
    assert len(prefixed.json()) == 5
    sessions = client.get("/api/v1/auth/audit?object=session", headers=bearer(tokens["admin"]))
    assert len(sessions.json()) == 4
    future = client.get(
        "/api/v1/auth/audit?from=2999-01-01T00:00:00Z", headers=bearer(tokens["admin"])
    )
    assert future.json() == []
    past = client.get("/api/v1/auth/audit?to=2000-01-01T00:00:00", headers=bearer(tokens["admin"]))
    assert past.json() == []
    reversed_range = client.get(
        "/api/v1/auth/audit?from=2030-01-01T00:00:00Z&to=2020-01-01T00:00:00Z",
        headers=bearer(tokens["admin"]),
    )
    assert reversed_range.status_code == 400


def test_pagination(client: TestClient, settings: Settings) -> None:
    tokens = _setup(client, settings)
    first = client.get("/api/v1/auth/audit?per_page=2", headers=bearer(tokens["admin"])).json()
    assert first["success"] is True
    assert first["meta"] == {"total": 5, "per_page": 2, "current_page": 1, "last_page": 3}
    ids = [entry["id"] for entry in first["data"]]
    second = client.get(
        "/api/v1/auth/audit?per_page=2&page=2", headers=bearer(tokens["admin"])
    ).json()
    ids += [entry["id"] for entry in second["data"]]
    assert ids == sorted(ids)
    assert len(set(ids)) == 4


def test_bad_filters(client: TestClient, admin_token: str) -> None:
    for query in ("?action=auth%0d%0a", "?from=yesterday", "?per_page=500", "?actor=" + "a" * 40):
        response = client.get(f"/api/v1/auth/audit{query}", headers=bearer(admin_token))
        assert response.status_code == 400, query
        assert response.json()["code"] == "VALIDATION_ERROR"


def test_needs_authentication(client: TestClient) -> None:
    assert client.get("/api/v1/auth/audit").status_code == 401
