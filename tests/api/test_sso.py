"""Single sign-on: mint with an API key, consume once, exchange once."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import update
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from tests.api.test_api_keys import create_key, reauth
from tests.conftest import bearer, login
from tests.factories import change_account, create_account
from wispanel.auth.models import SsoNonce
from wispanel.core.config import Settings
from wispanel.core.database import create_sync_engine, utcnow
from wispanel.users.models import Role

NONCE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def _admin_key(client: TestClient, token: str, scopes: list[str] | None = None) -> str:
    reauth(client, token)
    return str(create_key(client, token, permissions=scopes or ["users"])["api_key"])


def _mint(client: TestClient, key: str, **body: object) -> dict[str, object]:
    response = client.post(
        "/api/v1/auth/sso/mint", headers=bearer(key), json={"username": "john", **body}
    )
    assert response.status_code == 200, response.text
    minted: dict[str, object] = response.json()
    return minted


def test_full_flow(client: TestClient, settings: Settings, admin_token: str) -> None:
    create_account(settings, "john", password="john-password")
    key = _admin_key(client, admin_token)
    minted = _mint(client, key, target_path="/domains?tab=dns", reason="WHMCS")
    nonce = str(minted["nonce"])
    assert NONCE.match(nonce)
    assert minted["expires_in"] == 300
    assert minted["target_path"] == "/domains?tab=dns"
    assert str(minted["consume_url"]).endswith(f"/sso/consume/{nonce}")
    consumed = client.get(urlsplit(str(minted["consume_url"])).path, follow_redirects=False)
    assert consumed.status_code == 302
    location = consumed.headers["location"]
    assert location.startswith("/domains?tab=dns#sso=")
    assert consumed.headers["cache-control"] == "no-store"
    handoff = location.split("#sso=", 1)[1]
    again = client.get(f"/sso/consume/{nonce}", follow_redirects=False)
    assert again.status_code == 404
    exchanged = client.post("/api/v1/auth/sso/exchange", json={"handoff": handoff})
    assert exchanged.status_code == 200, exchanged.text
    token = exchanged.json()["token"]
    assert client.get("/api/v1/auth/me", headers=bearer(token)).json()["username"] == "john"
    replay = client.post("/api/v1/auth/sso/exchange", json={"handoff": handoff})
    assert replay.status_code == 401


def test_clamping(client: TestClient, settings: Settings, admin_token: str) -> None:
    create_account(settings, "john", password="john-password")
    key = _admin_key(client, admin_token)
    assert _mint(client, key, expires_in=1)["expires_in"] == 30
    assert _mint(client, key, expires_in=-5)["expires_in"] == 30
    assert _mint(client, key, expires_in=5000)["expires_in"] == 900
    assert _mint(client, key, expires_in=120)["expires_in"] == 120
    assert _mint(client, key)["target_path"] == "/"


def test_mint_refusals(client: TestClient, settings: Settings, admin_token: str) -> None:
    rex = create_account(settings, "rex", password="rex-password", role=Role.RESELLER)
    create_account(settings, "john", password="john-password", parent_id=rex)
    create_account(settings, "jane", password="jane-password")
    create_account(settings, "root2", password="root2-password", role=Role.ADMIN)
    key = _admin_key(client, admin_token)

    def mint(credential: str, username: str) -> tuple[int, str]:
        response = client.post(
            "/api/v1/auth/sso/mint", headers=bearer(credential), json={"username": username}
        )
        return response.status_code, response.json().get("message", "")

    assert mint(key, "root2") == (403, "Cannot mint SSO for admin accounts")
    assert mint(key, "admin") == (403, "Cannot mint SSO for admin accounts")
    assert mint(key, "ghost")[0] == 404
    assert mint(admin_token, "john")[0] == 403
    read_key = _admin_key(client, admin_token, ["read"])
    assert mint(read_key, "john") == (403, "API key is not scoped for 'users' on this request")
    change_account(settings, "jane", status="suspended")
    assert mint(key, "jane")[0] == 403
    rex_token = login(client, "rex", "rex-password")
    reauth(client, rex_token, "rex-password")
    rex_key = str(create_key(client, rex_token, username="rex", permissions=["all"])["api_key"])
    assert mint(rex_key, "john")[0] == 200
    assert mint(rex_key, "jane")[0] == 404
    john_token = login(client, "john", "john-password")
    reauth(client, john_token, "john-password")
    john_key = str(create_key(client, john_token, username="john", permissions=["all"])["api_key"])
    assert mint(john_key, "john")[0] == 403


def test_expired_and_malformed_nonce(
    client: TestClient, settings: Settings, admin_token: str
) -> None:
    create_account(settings, "john", password="john-password")
    key = _admin_key(client, admin_token)
    nonce = str(_mint(client, key)["nonce"])
    engine = create_sync_engine(settings.database_url)
    with Session(engine) as db:
        db.execute(update(SsoNonce).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.commit()
    engine.dispose()
    assert client.get(f"/sso/consume/{nonce}", follow_redirects=False).status_code == 404
    for bad in ("short", "a" * 44, "%2e%2e%2f" * 5):
        assert client.get(f"/sso/consume/{bad}", follow_redirects=False).status_code in (400, 404)


def test_bad_mint_input(client: TestClient, settings: Settings, admin_token: str) -> None:
    create_account(settings, "john", password="john-password")
    key = _admin_key(client, admin_token)
    cases = [
        {"username": "john", "target_path": "https://evil.example/"},
        {"username": "john", "target_path": "//evil.example/"},
        {"username": "john", "target_path": "/a\r\nLocation: x"},
        {"username": "john", "target_path": "/x#y"},
        {"username": "john", "target_path": "/" + "a" * 3000},
        {"username": "john\r\n"},
        {"username": "john", "expires_in": "soon"},
        {"username": "john", "reason": "r" * 300},
    ]
    for body in cases:
        response = client.post("/api/v1/auth/sso/mint", headers=bearer(key), json=body)
        assert response.status_code == 400, body


def test_exchange_bad_input(client: TestClient) -> None:
    assert client.post("/api/v1/auth/sso/exchange", json={"handoff": "x"}).status_code == 401
    assert client.post("/api/v1/auth/sso/exchange", json={"handoff": "a\r\nb"}).status_code == 400
    assert client.post("/api/v1/auth/sso/exchange", json={}).status_code == 400
