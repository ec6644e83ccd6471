"""Login-as: the 2FA gate, who may act as whom, the token's limits and the audit trail."""

from __future__ import annotations

import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from tests.api.test_two_factor import Clock, clock, enable_two_factor
from tests.conftest import bearer, login
from tests.factories import create_account
from wispanel.core.config import Settings
from wispanel.core.database import create_sync_engine
from wispanel.core.models import AuditEntry
from wispanel.users.models import Role

__all__ = ["clock"]


def _audit(settings: Settings, action: str) -> list[AuditEntry]:
    engine = create_sync_engine(settings.database_url)
    with Session(engine) as db:
        rows = list(db.scalars(select(AuditEntry).where(AuditEntry.action == action)).all())
        db.expunge_all()
    engine.dispose()
    return rows


def _accounts(settings: Settings) -> dict[str, int]:
    rex = create_account(settings, "rex", password="rex-password", role=Role.RESELLER)
    rita = create_account(settings, "rita", password="rita-password", role=Role.RESELLER)
    return {
        "rex": rex,
        "rita": rita,
        "john": create_account(settings, "john", password="john-password", parent_id=rex),
        "jane": create_account(settings, "jane", password="jane-password", parent_id=rita),
        "root2": create_account(settings, "root2", password="root2-password", role=Role.ADMIN),
    }


def test_needs_two_factor(client: TestClient, settings: Settings, admin_token: str) -> None:
    _accounts(settings)
    response = client.post("/api/v1/auth/login-as/john", headers=bearer(admin_token), json={})
    assert response.status_code == 403
    assert "two-factor" in response.json()["message"]
    refused = _audit(settings, "auth.login_as_refused")
    assert len(refused) == 1
    assert refused[0].object_id == "john"
    assert refused[0].actor == "admin"


def test_admin_acts_as_user(
    client: TestClient, settings: Settings, admin_token: str, clock: Clock
) -> None:
    _accounts(settings)
    secret, token, _ = enable_two_factor(client, admin_token, clock)
    no_code = client.post("/api/v1/auth/login-as/john", headers=bearer(token), json={})
    assert no_code.status_code == 403
    wrong = client.post(
        "/api/v1/auth/login-as/john", headers=bearer(token), json={"totp_code": "000000"}
    )
    assert wrong.status_code == 403
    response = client.post(
        "/api/v1/auth/login-as/john", headers=bearer(token), json={"totp_code": clock.code(secret)}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"]["username"] == "john"
    assert body["impersonator"] == "admin"
    assert body["expires_in"] == 3600
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["act"] == {"sub": "admin"}
    assert claims["exp"] - claims["iat"] <= 3600
    acting = body["token"]
    assert client.get("/api/v1/auth/me", headers=bearer(acting)).json()["username"] == "john"
    # The impersonation token can't touch the account's 2FA or keys.
    setup = client.post("/api/v1/auth/2fa/setup", headers=bearer(acting))
    assert setup.status_code == 403
    keys = client.post("/api/v1/users/john/api-keys", headers=bearer(acting), json={"name": "x"})
    assert keys.status_code == 403
    reauth = client.post(
        "/api/v1/auth/reauth", headers=bearer(acting), json={"password": "john-password"}
    )
    assert reauth.status_code == 403
    # Every action through it names both accounts.
    client.delete("/api/v1/auth/sessions", headers=bearer(acting))
    revoked = _audit(settings, "auth.sessions_revoked")
    assert revoked[0].actor == "john"
    assert revoked[0].impersonator == "admin"
    started = _audit(settings, "auth.login_as")
    assert started[0].actor == "admin"
    assert started[0].object_id == "john"


def test_admin_cannot_act_as_admin(
    client: TestClient, settings: Settings, admin_token: str, clock: Clock
) -> None:
    _accounts(settings)
    secret, token, _ = enable_two_factor(client, admin_token, clock)
    response = client.post(
        "/api/v1/auth/login-as/root2", headers=bearer(token), json={"totp_code": clock.code(secret)}
    )
    assert response.status_code == 403
    assert response.json()["message"] == "Cannot log in as an admin account"


def test_reseller_limits(client: TestClient, settings: Settings, clock: Clock) -> None:
    _accounts(settings)
    rex_token = login(client, "rex", "rex-password")
    secret, token, _ = enable_two_factor(client, rex_token, clock)
    for target in ("jane", "rita", "admin", "root2", "ghost"):
        response = client.post(
            f"/api/v1/auth/login-as/{target}",
            headers=bearer(token),
            json={"totp_code": clock.code(secret)},
        )
        assert response.status_code == 404, target
        clock.advance()
    own = client.post(
        "/api/v1/auth/login-as/john", headers=bearer(token), json={"totp_code": clock.code(secret)}
    )
    assert own.status_code == 200
    refused = _audit(settings, "auth.login_as_refused")
    assert [row.object_id for row in refused] == ["jane", "rita", "admin", "root2", "ghost"]


def test_user_cannot_login_as(client: TestClient, settings: Settings) -> None:
    _accounts(settings)
    john = login(client, "john", "john-password")
    response = client.post("/api/v1/auth/login-as/jane", headers=bearer(john), json={})
    assert response.status_code == 403


def test_no_chained_login_as(
    client: TestClient, settings: Settings, admin_token: str, clock: Clock
) -> None:
    _accounts(settings)
    secret, token, _ = enable_two_factor(client, admin_token, clock)
    acting = client.post(
        "/api/v1/auth/login-as/rex", headers=bearer(token), json={"totp_code": clock.code(secret)}
    ).json()["token"]
    clock.advance()
    chained = client.post(
        "/api/v1/auth/login-as/john", headers=bearer(acting), json={"totp_code": clock.code(secret)}
    )
    assert chained.status_code == 403


def test_login_as_bad_input(client: TestClient, admin_token: str) -> None:
    long_name = client.post(
        "/api/v1/auth/login-as/" + "a" * 40, headers=bearer(admin_token), json={}
    )
    assert long_name.status_code == 400
    crlf = client.post(
        "/api/v1/auth/login-as/john", headers=bearer(admin_token), json={"totp_code": "1\r\n2"}
    )
    assert crlf.status_code == 400
