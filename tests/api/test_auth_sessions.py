"""Session tokens: refresh, sliding refresh, the session list, revocation, single-session mode."""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD, bearer, login
from tests.factories import create_account
from wispanel.app import create_app
from wispanel.auth.models import LoginSession
from wispanel.auth.revocation import revoke_all_tokens
from wispanel.core.config import Settings
from wispanel.core.context import PanelContext
from wispanel.core.database import create_sync_engine


def _panel(client: TestClient) -> PanelContext:
    panel: PanelContext = client.app.state.panel  # type: ignore[attr-defined]
    return panel


def _claims(token: str) -> dict[str, object]:
    claims: dict[str, object] = jwt.decode(token, options={"verify_signature": False})
    return claims


def test_login_ttl_from_settings(
    make_settings: Callable[..., Settings], settings: Settings
) -> None:
    configured = make_settings(auth={"token_ttl": 3600})
    with TestClient(create_app(configured), client=("127.0.0.1", 40000)) as client:
        response = client.post(
            "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert response.json()["expires_in"] == 3600
        claims = _claims(response.json()["token"])
        assert int(claims["exp"]) - int(claims["iat"]) == 3600  # type: ignore[call-overload]


def test_refresh_issues_new_token(client: TestClient, admin_token: str) -> None:
    response = client.post("/api/v1/auth/refresh", headers=bearer(admin_token))
    assert response.status_code == 200
    token = response.json()["token"]
    assert token != admin_token
    assert response.json()["expires_in"] == 86400
    assert _claims(token)["sid"] == _claims(admin_token)["sid"]
    assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 200


def test_sliding_refresh_header(client: TestClient, admin_token: str) -> None:
    fresh = client.get("/api/v1/auth/me", headers=bearer(admin_token))
    assert "x-new-token" not in fresh.headers
    claims = _claims(admin_token)
    now = int(time.time())
    # Issued long ago, a quarter of its lifetime left: past the half-way mark.
    aged = jwt.encode(
        {**claims, "iat": now - 64800, "exp": now + 21600, "jti": "aged"},
        _panel(client).secrets.jwt_key,
        algorithm="HS256",
    )
    response = client.get("/api/v1/auth/me", headers=bearer(aged))
    assert response.status_code == 200
    new_token = response.headers["x-new-token"]
    new_claims = _claims(new_token)
    assert new_claims["sid"] == claims["sid"]
    assert int(new_claims["exp"]) > now + 86000  # type: ignore[call-overload]
    assert client.get("/api/v1/auth/me", headers=bearer(new_token)).status_code == 200


def test_sessions_list_and_revoke(client: TestClient, admin_token: str) -> None:
    other = login(client)
    response = client.get(
        "/api/v1/auth/sessions", headers={**bearer(admin_token), "User-Agent": "probe"}
    )
    assert response.status_code == 200
    sessions = response.json()
    assert len(sessions) == 2
    current = [item for item in sessions if item["current"]]
    assert len(current) == 1
    assert current[0]["id"] == _claims(admin_token)["sid"]
    assert current[0]["ip"] == "127.0.0.1"
    assert {"created_at", "last_seen_at", "user_agent", "expires_at"} <= set(current[0])
    other_id = _claims(other)["sid"]
    revoked = client.delete(f"/api/v1/auth/sessions/{other_id}", headers=bearer(admin_token))
    assert revoked.status_code == 200
    assert client.get("/api/v1/auth/me", headers=bearer(other)).status_code == 401
    again = client.delete(f"/api/v1/auth/sessions/{other_id}", headers=bearer(admin_token))
    assert again.status_code == 404


def test_revoke_other_sessions_keeps_current(client: TestClient, admin_token: str) -> None:
    others = [login(client), login(client)]
    response = client.delete("/api/v1/auth/sessions", headers=bearer(admin_token))
    assert response.status_code == 200
    assert response.json()["revoked"] == 2
    for token in others:
        assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 401
    assert client.get("/api/v1/auth/me", headers=bearer(admin_token)).status_code == 200


def test_other_accounts_session_not_revocable(
    client: TestClient, settings: Settings, admin_token: str
) -> None:
    create_account(settings, "john", password="john-password")
    john = login(client, "john", "john-password")
    response = client.delete(
        f"/api/v1/auth/sessions/{_claims(admin_token)['sid']}", headers=bearer(john)
    )
    assert response.status_code == 404
    assert client.get("/api/v1/auth/me", headers=bearer(admin_token)).status_code == 200


def test_revoke_all_tokens_helper(client: TestClient, admin_token: str) -> None:
    panel = _panel(client)
    admin_id = client.get("/api/v1/auth/me", headers=bearer(admin_token)).json()["id"]

    async def bump() -> None:
        async with panel.sessions() as db:
            await revoke_all_tokens(db, admin_id)
            await db.commit()

    assert client.get("/api/v1/auth/me", headers=bearer(admin_token)).status_code == 200
    client.portal.call(bump)  # type: ignore[union-attr]
    response = client.get("/api/v1/auth/me", headers=bearer(admin_token))
    assert response.status_code == 401
    assert response.json()["message"] == "Token revoked"
    assert client.get("/api/v1/auth/me", headers=bearer(login(client))).status_code == 200


def test_single_session_mode(make_settings: Callable[..., Settings], settings: Settings) -> None:
    configured = make_settings(auth={"single_session": True})
    body = {"username": "admin", "password": ADMIN_PASSWORD}
    with TestClient(create_app(configured), client=("127.0.0.1", 40000)) as client:
        first = client.post("/api/v1/auth/login", json=body, headers={"User-Agent": "laptop"})
        assert first.status_code == 200
        second = client.post("/api/v1/auth/login", json=body)
        assert second.status_code == 409
        payload = second.json()
        assert payload["code"] == "CONFLICT"
        assert payload["existing_session"] is True
        info = payload["session_info"]
        assert info["ip"] == "127.0.0.1"
        assert info["device"] == "laptop"
        assert {"login_at", "last_seen"} <= set(info)
        forced = client.post("/api/v1/auth/login", json={**body, "force": True})
        assert forced.status_code == 200
        old = client.get("/api/v1/auth/me", headers=bearer(first.json()["token"]))
        assert old.status_code == 401
        new = client.get("/api/v1/auth/me", headers=bearer(forced.json()["token"]))
        assert new.status_code == 200


def test_api_key_cannot_refresh_or_logout(client: TestClient, admin_token: str) -> None:
    client.post(
        "/api/v1/auth/reauth", headers=bearer(admin_token), json={"password": ADMIN_PASSWORD}
    )
    created = client.post(
        "/api/v1/users/admin/api-keys",
        headers=bearer(admin_token),
        json={"name": "ci", "permissions": ["all"]},
    )
    key = created.json()["api_key"]
    for path in ("/api/v1/auth/refresh", "/api/v1/auth/logout"):
        response = client.post(path, headers=bearer(key))
        assert response.status_code == 400, path
    reauth = client.post("/api/v1/auth/reauth", headers=bearer(key), json={"password": "x"})
    assert reauth.status_code == 403


def test_expired_session_row(client: TestClient, settings: Settings, admin_token: str) -> None:
    engine = create_sync_engine(settings.database_url)
    with Session(engine) as db:
        row = db.scalars(select(LoginSession)).one()
        row.expires_at = row.created_at
        db.commit()
    engine.dispose()
    _panel(client).authenticator.cache.invalidate_all()
    response = client.get("/api/v1/auth/me", headers=bearer(admin_token))
    assert response.status_code == 401
    assert response.json()["message"] == "Session ended"
