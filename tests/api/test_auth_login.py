"""Login, me and logout against the real app and database."""

from __future__ import annotations

import time

import jwt
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD, bearer, login
from tests.factories import change_account, create_account
from wispanel.auth.models import LoginSession
from wispanel.core.config import Settings
from wispanel.core.database import create_sync_engine
from wispanel.core.models import AuditEntry


def _count(settings: Settings, statement: object) -> int:
    engine = create_sync_engine(settings.database_url)
    with Session(engine) as db:
        value = db.scalar(statement)  # type: ignore[call-overload]
    engine.dispose()
    return int(value or 0)


def test_login_returns_token_and_user(client: TestClient) -> None:
    response = client.post(
        "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["expires_in"] == 86400
    assert body["user"]["username"] == "admin"
    assert body["user"]["role"] == "admin"
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert {"sub", "role", "sid", "tv", "iat", "exp", "jti"} <= set(claims)
    assert claims["exp"] - claims["iat"] == 86400


def test_login_by_email(client: TestClient, settings: Settings) -> None:
    create_account(settings, "john", password="john-password")
    response = client.post(
        "/api/v1/auth/login", json={"username": "JOHN@example.com", "password": "john-password"}
    )
    assert response.status_code == 200
    assert response.json()["user"]["username"] == "john"


def test_login_wrong_password_is_audited(client: TestClient, settings: Settings) -> None:
    response = client.post("/api/v1/auth/login", json={"username": "admin", "password": "nope"})
    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHORIZED"
    assert response.json()["message"] == "Invalid credentials"
    failed = select(func.count()).where(AuditEntry.action == "auth.login_failed")
    assert _count(settings, failed) == 1


def test_login_unknown_user_same_answer(client: TestClient) -> None:
    response = client.post("/api/v1/auth/login", json={"username": "ghost", "password": "x"})
    assert response.status_code == 401
    assert response.json()["error"] == "Invalid credentials"


def test_login_missing_fields(client: TestClient) -> None:
    response = client.post("/api/v1/auth/login", json={"username": "admin"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert body["error"] == "Username and password are required"
    assert body["message"] == body["error"]
    assert body["details"] == {"password": ["required"]}


def test_login_wrong_types_and_control_characters(client: TestClient) -> None:
    cases = [
        {"username": 123, "password": "x"},
        {"username": "admin\r\nX-Injected: 1", "password": ADMIN_PASSWORD},
        {"username": "a" * 300, "password": "x"},
        {"username": "admin", "password": "x", "unexpected": True},
    ]
    for body in cases:
        response = client.post("/api/v1/auth/login", json=body)
        assert response.status_code == 400, body
        assert response.json()["code"] == "VALIDATION_ERROR"
        assert response.json()["details"], body


def test_me_with_token(client: TestClient, admin_token: str) -> None:
    response = client.get("/api/v1/auth/me", headers=bearer(admin_token))
    assert response.status_code == 200
    assert response.json()["username"] == "admin"
    assert response.json()["email"] == "admin@localhost"


def test_me_without_token(client: TestClient) -> None:
    response = client.get("/api/v1/auth/me")
    assert response.status_code == 401
    assert response.json()["message"] == "Missing authorization"


def test_logout_ends_session(client: TestClient, settings: Settings) -> None:
    token = login(client)
    other = login(client)
    response = client.post("/api/v1/auth/logout", headers=bearer(token))
    assert response.status_code == 200
    assert response.json() == {"success": True, "message": "Logged out"}
    assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 401
    assert client.get("/api/v1/auth/me", headers=bearer(other)).status_code == 200
    revoked = select(func.count()).where(LoginSession.revoked_at.is_not(None))
    assert _count(settings, revoked) == 1


def test_tampered_and_foreign_tokens(client: TestClient, admin_token: str) -> None:
    header, payload, signature = admin_token.split(".")
    tampered = f"{header}.{payload}.{signature[:-2]}AA"
    claims = jwt.decode(admin_token, options={"verify_signature": False})
    foreign = jwt.encode(claims, "another-install-key-" + "x" * 40, algorithm="HS256")
    unsigned = jwt.encode(claims, None, algorithm="none")
    expired = jwt.encode(
        {**claims, "exp": int(time.time()) - 10}, "another-install-key-" + "x" * 40
    )
    for token in (tampered, foreign, unsigned, expired, "garbage", "wsp_" + "0" * 48):
        response = client.get("/api/v1/auth/me", headers=bearer(token))
        assert response.status_code == 401, token
        assert response.json()["code"] == "UNAUTHORIZED"


def test_token_version_bump_revokes(
    client: TestClient, settings: Settings, admin_token: str
) -> None:
    change_account(settings, "admin", token_version=2)
    client.app.state.panel.authenticator.cache.invalidate_all()  # type: ignore[attr-defined]
    response = client.get("/api/v1/auth/me", headers=bearer(admin_token))
    assert response.status_code == 401
    assert response.json()["message"] == "Token revoked"
    assert client.get("/api/v1/auth/me", headers=bearer(login(client))).status_code == 200


def test_suspended_account_cannot_log_in(client: TestClient, settings: Settings) -> None:
    create_account(settings, "jane", password="jane-password")
    change_account(settings, "jane", status="suspended")
    response = client.post(
        "/api/v1/auth/login", json={"username": "jane", "password": "jane-password"}
    )
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"


def test_deleted_account_token_fails(client: TestClient, settings: Settings) -> None:
    create_account(settings, "gone", password="gone-password")
    token = login(client, "gone", "gone-password")
    engine = create_sync_engine(settings.database_url)
    with Session(engine) as db:
        db.execute(LoginSession.__table__.delete())
        db.commit()
    engine.dispose()
    client.app.state.panel.authenticator.cache.invalidate_all()  # type: ignore[attr-defined]
    assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 401
