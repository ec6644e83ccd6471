"""TOTP two-factor authentication: setup, enable, login, replay, recovery codes, disable."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator

import pyotp
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD, bearer, login
from tests.factories import create_account
from wispanel.auth import totp as totp_module
from wispanel.auth.models import AccountSecurity, RecoveryCode
from wispanel.core.config import Settings
from wispanel.core.database import create_sync_engine


class Clock:
    """A TOTP clock the test moves forward, so each step's code can be used once."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now

    def advance(self, steps: int = 1) -> None:
        self.now += 30 * steps

    def code(self, secret: str) -> str:
        return pyotp.TOTP(secret).at(self.now)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    fake = Clock()
    monkeypatch.setattr(totp_module, "time", fake)
    return fake


def enable_two_factor(client: TestClient, token: str, clock: Clock) -> tuple[str, str, list[str]]:
    """Turn 2FA on for the token's account; returns the secret, the new token and the codes."""
    setup = client.post("/api/v1/auth/2fa/setup", headers=bearer(token))
    assert setup.status_code == 200, setup.text
    secret: str = setup.json()["secret"]
    enabled = client.post(
        "/api/v1/auth/2fa/enable", headers=bearer(token), json={"code": clock.code(secret)}
    )
    assert enabled.status_code == 200, enabled.text
    clock.advance()
    return secret, enabled.json()["token"], enabled.json()["recovery_codes"]


def _security_row(settings: Settings, user_id: int) -> AccountSecurity | None:
    engine = create_sync_engine(settings.database_url)
    with Session(engine) as db:
        row = db.get(AccountSecurity, user_id)
        if row is not None:
            db.expunge(row)
    engine.dispose()
    return row


def test_setup_returns_secret_uri_and_qr(client: TestClient, admin_token: str) -> None:
    response = client.post("/api/v1/auth/2fa/setup", headers=bearer(admin_token))
    assert response.status_code == 200
    body = response.json()
    assert len(base64.b32decode(body["secret"])) == 20
    assert body["otpauth_uri"].startswith("otpauth://totp/WisPanel:admin?secret=")
    assert body["qr_code"].startswith("data:image/svg+xml;base64,")
    assert b"<svg" in base64.b64decode(body["qr_code"].split(",", 1)[1])


def test_enable_stores_secret_encrypted(
    client: TestClient, settings: Settings, admin_token: str, clock: Clock
) -> None:
    secret, token, codes = enable_two_factor(client, admin_token, clock)
    assert len(codes) == 10
    assert len(set(codes)) == 10
    admin_id = client.get("/api/v1/auth/me", headers=bearer(token)).json()["id"]
    row = _security_row(settings, admin_id)
    assert row is not None
    assert row.totp_enabled
    assert row.totp_secret is not None
    assert secret not in row.totp_secret
    engine = create_sync_engine(settings.database_url)
    with Session(engine) as db:
        hashes = db.scalars(select(RecoveryCode.code_hash)).all()
    engine.dispose()
    assert len(hashes) == 10
    assert not set(codes) & set(hashes)


def test_enable_wrong_code_and_no_setup(client: TestClient, admin_token: str) -> None:
    without_setup = client.post(
        "/api/v1/auth/2fa/enable", headers=bearer(admin_token), json={"code": "123456"}
    )
    assert without_setup.status_code == 409
    client.post("/api/v1/auth/2fa/setup", headers=bearer(admin_token))
    wrong = client.post(
        "/api/v1/auth/2fa/enable", headers=bearer(admin_token), json={"code": "000000x"}
    )
    assert wrong.status_code == 401
    missing = client.post("/api/v1/auth/2fa/enable", headers=bearer(admin_token), json={})
    assert missing.status_code == 400
    assert missing.json()["details"] == {"code": ["required"]}


def test_enable_revokes_other_tokens(client: TestClient, admin_token: str, clock: Clock) -> None:
    other = login(client)
    _, new_token, _ = enable_two_factor(client, admin_token, clock)
    assert client.get("/api/v1/auth/me", headers=bearer(new_token)).status_code == 200
    for old in (admin_token, other):
        response = client.get("/api/v1/auth/me", headers=bearer(old))
        assert response.status_code == 401
        assert response.json()["message"] == "Token revoked"


def test_login_requires_code(client: TestClient, admin_token: str, clock: Clock) -> None:
    secret, _, _ = enable_two_factor(client, admin_token, clock)
    body = {"username": "admin", "password": ADMIN_PASSWORD}
    asked = client.post("/api/v1/auth/login", json=body)
    assert asked.status_code == 200
    assert asked.json() == {
        "success": True,
        "requires_2fa": True,
        "message": "Two-factor authentication required",
    }
    wrong = client.post("/api/v1/auth/login", json={**body, "totp_code": "000000"})
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "UNAUTHORIZED"
    code = clock.code(secret)
    accepted = client.post("/api/v1/auth/login", json={**body, "totp_code": code})
    assert accepted.status_code == 200
    assert "token" in accepted.json()
    replayed = client.post("/api/v1/auth/login", json={**body, "totp_code": code})
    assert replayed.status_code == 401


def test_code_of_used_step_rejected(client: TestClient, admin_token: str, clock: Clock) -> None:
    secret, _, _ = enable_two_factor(client, admin_token, clock)
    body = {"username": "admin", "password": ADMIN_PASSWORD}
    clock.advance()
    current = clock.code(secret)
    clock.advance(-1)
    earlier = clock.code(secret)
    clock.advance()
    assert client.post("/api/v1/auth/login", json={**body, "totp_code": current}).status_code == 200
    # A code of an earlier step, though inside the drift window, is older than the used one.
    assert client.post("/api/v1/auth/login", json={**body, "totp_code": earlier}).status_code == 401


def test_recovery_code_single_use(client: TestClient, admin_token: str, clock: Clock) -> None:
    _, _, codes = enable_two_factor(client, admin_token, clock)
    body = {"username": "admin", "password": ADMIN_PASSWORD, "recovery_code": codes[0]}
    assert client.post("/api/v1/auth/login", json=body).status_code == 200
    again = client.post("/api/v1/auth/login", json=body)
    assert again.status_code == 401
    upper = {**body, "recovery_code": codes[1].upper().replace("-", "")}
    assert client.post("/api/v1/auth/login", json=upper).status_code == 200


def test_new_recovery_codes_replace_old(client: TestClient, admin_token: str, clock: Clock) -> None:
    secret, token, old_codes = enable_two_factor(client, admin_token, clock)
    response = client.post(
        "/api/v1/auth/2fa/recovery-codes", headers=bearer(token), json={"code": clock.code(secret)}
    )
    assert response.status_code == 200
    new_codes = response.json()["recovery_codes"]
    assert len(new_codes) == 10
    body = {"username": "admin", "password": ADMIN_PASSWORD}
    assert (
        client.post("/api/v1/auth/login", json={**body, "recovery_code": old_codes[0]}).status_code
        == 401
    )
    assert (
        client.post("/api/v1/auth/login", json={**body, "recovery_code": new_codes[0]}).status_code
        == 200
    )


def test_disable_needs_reauth(client: TestClient, admin_token: str, clock: Clock) -> None:
    secret, token, _ = enable_two_factor(client, admin_token, clock)
    body = {"password": ADMIN_PASSWORD, "code": clock.code(secret)}
    refused = client.post("/api/v1/auth/2fa/disable", headers=bearer(token), json=body)
    assert refused.status_code == 403
    assert refused.json()["details"]["reason"] == "REAUTH_REQUIRED"
    wrong_reauth = client.post(
        "/api/v1/auth/reauth", headers=bearer(token), json={"password": "wrong"}
    )
    assert wrong_reauth.status_code == 401
    reauth = client.post(
        "/api/v1/auth/reauth", headers=bearer(token), json={"password": ADMIN_PASSWORD}
    )
    assert reauth.status_code == 200
    assert reauth.json()["expires_in"] == 300
    wrong_password = client.post(
        "/api/v1/auth/2fa/disable", headers=bearer(token), json={**body, "password": "nope"}
    )
    assert wrong_password.status_code == 401
    disabled = client.post("/api/v1/auth/2fa/disable", headers=bearer(token), json=body)
    assert disabled.status_code == 200, disabled.text
    assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 401
    assert (
        client.get("/api/v1/auth/me", headers=bearer(disabled.json()["token"])).status_code == 200
    )
    plain = client.post(
        "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert "token" in plain.json()


def test_disable_with_recovery_code(client: TestClient, admin_token: str, clock: Clock) -> None:
    _, token, codes = enable_two_factor(client, admin_token, clock)
    client.post("/api/v1/auth/reauth", headers=bearer(token), json={"password": ADMIN_PASSWORD})
    response = client.post(
        "/api/v1/auth/2fa/disable",
        headers=bearer(token),
        json={"password": ADMIN_PASSWORD, "recovery_code": codes[3]},
    )
    assert response.status_code == 200


def test_setup_twice_when_enabled(client: TestClient, admin_token: str, clock: Clock) -> None:
    _, token, _ = enable_two_factor(client, admin_token, clock)
    response = client.post("/api/v1/auth/2fa/setup", headers=bearer(token))
    assert response.status_code == 409


def test_bad_input_rejected(client: TestClient, settings: Settings) -> None:
    create_account(settings, "john", password="john-password")
    token = login(client, "john", "john-password")
    for body in (
        {"code": "12345\r\n6"},
        {"code": "1" * 300},
        {"code": 123456},
        {"code": "123456", "extra": 1},
    ):
        response = client.post("/api/v1/auth/2fa/enable", headers=bearer(token), json=body)
        assert response.status_code == 400, body
        assert response.json()["code"] == "VALIDATION_ERROR"
