"""API keys: creation, storage, listing, revocation, scopes, allowlists, expiry and limits."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD, bearer, login
from tests.factories import change_account, create_account
from wispanel.auth.models import ApiKey
from wispanel.core.config import Settings
from wispanel.core.database import create_sync_engine, utcnow
from wispanel.users.models import Role

KEY_PATTERN = re.compile(r"^wsp_[0-9a-f]{48}$")


def reauth(client: TestClient, token: str, password: str = ADMIN_PASSWORD) -> None:
    response = client.post(
        "/api/v1/auth/reauth", headers=bearer(token), json={"password": password}
    )
    assert response.status_code == 200, response.text


def create_key(
    client: TestClient, token: str, username: str = "admin", **body: object
) -> dict[str, object]:
    response = client.post(
        f"/api/v1/users/{username}/api-keys", headers=bearer(token), json={"name": "ci", **body}
    )
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


def _rows(settings: Settings) -> list[ApiKey]:
    engine = create_sync_engine(settings.database_url)
    with Session(engine) as db:
        rows = list(db.scalars(select(ApiKey)).all())
        db.expunge_all()
    engine.dispose()
    return rows


def test_create_needs_reauth(client: TestClient, admin_token: str) -> None:
    response = client.post(
        "/api/v1/users/admin/api-keys", headers=bearer(admin_token), json={"name": "ci"}
    )
    assert response.status_code == 403
    assert response.json()["details"]["reason"] == "REAUTH_REQUIRED"


def test_create_returns_secret_once(
    client: TestClient, settings: Settings, admin_token: str
) -> None:
    reauth(client, admin_token)
    created = create_key(client, admin_token, ip_whitelist=["203.0.113.0/24"], expires_in=30)
    secret = str(created["secret_key"])
    assert KEY_PATTERN.match(secret)
    assert created["api_key"] == secret
    key = created["key"]
    assert isinstance(key, dict)
    assert key["key_prefix"] == secret[:12]
    assert key["permissions"] == ["read"]
    assert key["ip_whitelist"] == ["203.0.113.0/24"]
    assert key["last_used"] == "0001-01-01T00:00:00Z"
    assert key["expires_at"] != "0001-01-01T00:00:00Z"
    assert key["enabled"] is True
    rows = _rows(settings)
    assert len(rows) == 1
    assert rows[0].key_hash == hashlib.sha256(secret.encode()).hexdigest()
    listed = client.get("/api/v1/users/admin/api-keys", headers=bearer(admin_token)).json()
    assert len(listed) == 1
    assert secret not in str(listed)
    assert listed[0]["key_prefix"] == secret[:12]
    paged = client.get(
        "/api/v1/users/admin/api-keys?per_page=1", headers=bearer(admin_token)
    ).json()
    assert paged["meta"]["total"] == 1


def test_key_authenticates_and_tracks_use(
    client: TestClient, settings: Settings, admin_token: str
) -> None:
    reauth(client, admin_token)
    secret = str(create_key(client, admin_token)["api_key"])
    response = client.get("/api/v1/auth/me", headers=bearer(secret))
    assert response.status_code == 200
    assert response.json()["username"] == "admin"
    assert _rows(settings)[0].last_used_at is not None
    listed = client.get("/api/v1/users/admin/api-keys", headers=bearer(secret)).json()
    assert listed[0]["last_used"] != "0001-01-01T00:00:00Z"


def test_scope_check_on_router(client: TestClient, admin_token: str) -> None:
    reauth(client, admin_token)
    read_only = str(create_key(client, admin_token)["api_key"])
    assert client.get("/api/v1/users/admin/api-keys", headers=bearer(read_only)).status_code == 200
    refused = client.post(
        "/api/v1/users/admin/api-keys", headers=bearer(read_only), json={"name": "more"}
    )
    assert refused.status_code == 403
    assert refused.json()["message"] == "API key is not scoped for 'users' on this request"
    dns_only = str(create_key(client, admin_token, permissions=["dns"])["api_key"])
    listed = client.get("/api/v1/users/admin/api-keys", headers=bearer(dns_only))
    assert listed.status_code == 403
    assert listed.json()["message"] == "API key is not scoped for 'users' on this request"


def test_key_cannot_grant_more_scopes(client: TestClient, admin_token: str) -> None:
    reauth(client, admin_token)
    users_key = str(create_key(client, admin_token, permissions=["users"])["api_key"])
    wider = client.post(
        "/api/v1/users/admin/api-keys",
        headers=bearer(users_key),
        json={"name": "wider", "permissions": ["all"]},
    )
    assert wider.status_code == 403
    same = client.post(
        "/api/v1/users/admin/api-keys",
        headers=bearer(users_key),
        json={"name": "same", "permissions": ["users"]},
    )
    assert same.status_code == 201


def test_revoke_key(client: TestClient, admin_token: str) -> None:
    reauth(client, admin_token)
    created = create_key(client, admin_token)
    key = created["key"]
    assert isinstance(key, dict)
    response = client.delete(
        f"/api/v1/users/admin/api-keys/{key['id']}", headers=bearer(admin_token)
    )
    assert response.status_code == 200
    assert response.json() == {"success": True, "message": "API key revoked"}
    assert client.get("/api/v1/auth/me", headers=bearer(str(created["api_key"]))).status_code == 401
    again = client.delete(f"/api/v1/users/admin/api-keys/{key['id']}", headers=bearer(admin_token))
    assert again.status_code == 404


def test_ip_allowlist(client: TestClient, admin_token: str) -> None:
    reauth(client, admin_token)
    elsewhere = str(create_key(client, admin_token, ip_whitelist=["203.0.113.7"])["api_key"])
    response = client.get("/api/v1/auth/me", headers=bearer(elsewhere))
    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHORIZED"
    assert "127.0.0.1" in response.json()["message"]
    local = str(create_key(client, admin_token, ip_whitelist=["127.0.0.0/8"])["api_key"])
    assert client.get("/api/v1/auth/me", headers=bearer(local)).status_code == 200


def test_expired_key(client: TestClient, settings: Settings, admin_token: str) -> None:
    reauth(client, admin_token)
    secret = str(create_key(client, admin_token, expires_in=1)["api_key"])
    engine = create_sync_engine(settings.database_url)
    with Session(engine) as db:
        db.execute(update(ApiKey).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.commit()
    engine.dispose()
    client.app.state.panel.authenticator.keys.invalidate_all()  # type: ignore[attr-defined]
    response = client.get("/api/v1/auth/me", headers=bearer(secret))
    assert response.status_code == 401
    assert response.json()["message"] == "API key expired"


def test_unknown_and_malformed_keys(client: TestClient) -> None:
    for credential in ("wsp_" + "a" * 48, "wsp_" + "A" * 48, "wsp_short", "wsp_" + "a" * 49):
        response = client.get("/api/v1/auth/me", headers=bearer(credential))
        assert response.status_code == 401, credential
        assert response.json()["message"] == "Invalid credentials"


def test_user_keys_for_others(client: TestClient, settings: Settings, admin_token: str) -> None:
    reseller_id = create_account(settings, "rex", password="rex-password", role=Role.RESELLER)
    create_account(settings, "john", password="john-password", parent_id=reseller_id)
    create_account(settings, "jane", password="jane-password")
    john = login(client, "john", "john-password")
    reauth(client, john, "john-password")
    assert (
        client.post(
            "/api/v1/users/jane/api-keys", headers=bearer(john), json={"name": "x"}
        ).status_code
        == 404
    )
    assert client.get("/api/v1/users/jane/api-keys", headers=bearer(john)).status_code == 404
    assert (
        client.post(
            "/api/v1/users/admin/api-keys", headers=bearer(john), json={"name": "x"}
        ).status_code
        == 404
    )
    own = create_key(client, john, username="john")
    assert isinstance(own["key"], dict)
    rex = login(client, "rex", "rex-password")
    reauth(client, rex, "rex-password")
    for_child = client.post("/api/v1/users/john/api-keys", headers=bearer(rex), json={"name": "x"})
    assert for_child.status_code == 403
    assert client.get("/api/v1/users/john/api-keys", headers=bearer(rex)).status_code == 200
    assert client.get("/api/v1/users/jane/api-keys", headers=bearer(rex)).status_code == 404
    reauth(client, admin_token)
    for_jane = create_key(client, admin_token, username="jane")
    assert for_jane["api_key"]
    jane_key = str(for_jane["api_key"])
    assert client.get("/api/v1/auth/me", headers=bearer(jane_key)).json()["username"] == "jane"


def test_per_key_rate_limit(client: TestClient, admin_token: str) -> None:
    reauth(client, admin_token)
    secret = str(create_key(client, admin_token, rate_limit=3)["api_key"])
    statuses = [client.get("/api/v1/auth/me", headers=bearer(secret)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = client.get("/api/v1/auth/me", headers=bearer(secret))
    assert limited.headers["x-ratelimit-limit"] == "3"
    assert client.get("/api/v1/auth/me", headers=bearer(admin_token)).status_code == 200


def test_invalid_bodies(client: TestClient, admin_token: str) -> None:
    reauth(client, admin_token)
    cases = [
        {"name": "ci\r\nX-Injected: 1"},
        {"name": "x" * 101},
        {"name": ""},
        {"name": "ci", "permissions": ["root"]},
        {"name": "ci", "permissions": []},
        {"name": "ci", "ip_whitelist": ["not-an-ip"]},
        {"name": "ci", "ip_whitelist": ["10.0.0.0/33"]},
        {"name": "ci", "expires_in": -1},
        {"name": "ci", "expires_in": 100000},
        {"name": "ci", "unknown": True},
    ]
    for body in cases:
        response = client.post(
            "/api/v1/users/admin/api-keys", headers=bearer(admin_token), json=body
        )
        assert response.status_code == 400, body
        assert response.json()["code"] == "VALIDATION_ERROR"


def test_suspended_owner_key_fails(
    client: TestClient, settings: Settings, admin_token: str
) -> None:
    create_account(settings, "john", password="john-password")
    reauth(client, admin_token)
    secret = str(create_key(client, admin_token, username="john")["api_key"])
    assert client.get("/api/v1/auth/me", headers=bearer(secret)).status_code == 200
    change_account(settings, "john", status="suspended")
    client.app.state.panel.authenticator.keys.invalidate_all()  # type: ignore[attr-defined]
    response = client.get("/api/v1/auth/me", headers=bearer(secret))
    assert response.status_code == 401
    assert response.json()["message"] == "Account is suspended"
