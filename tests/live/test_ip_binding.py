"""IP binding against a real panel process, with clients on several loopback addresses."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session

from tests.factories import create_account
from tests.live.panel_process import RunningPanel, run_panel
from wispanel.auth.models import AccountSecurity
from wispanel.core.config import load_settings
from wispanel.core.database import create_sync_engine

pytestmark = pytest.mark.live
PASSWORD = "live-admin-password"
SESSION_CACHE_SECONDS = 0.5


def _client(panel: RunningPanel, source: str) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=source)
    return httpx.Client(base_url=panel.url, transport=transport, timeout=10)


def _login(client: httpx.Client, username: str, password: str) -> str:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def _me(client: httpx.Client, token: str, **headers: str) -> httpx.Response:
    return client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}", **headers})


def test_binding_per_role_and_override(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    env = {
        "WISPANEL_ADMIN_PASSWORD": PASSWORD,
        "WISPANEL_SERVER__TRUSTED_PROXIES": json.dumps(["127.0.0.3/32"]),
        "WISPANEL_AUTH__SESSION_CACHE_SECONDS": str(SESSION_CACHE_SECONDS),
    }
    with run_panel(data_dir, env=env) as panel:
        settings = load_settings(data_dir)
        john_id = create_account(settings, "john", password="john-password")
        with (
            _client(panel, "127.0.0.1") as home,
            _client(panel, "127.0.0.2") as away,
            _client(panel, "127.0.0.3") as proxy,
        ):
            admin = _login(home, "admin", PASSWORD)
            john = _login(home, "john", "john-password")
            assert _me(home, admin).status_code == 200

            moved = _me(away, admin)
            assert moved.status_code == 401
            assert moved.json()["code"] == "UNAUTHORIZED"
            assert moved.json()["message"] == "Session IP mismatch"
            # A client can't pick its own address: the header counts only from a trusted proxy.
            spoofed = _me(away, admin, **{"X-Forwarded-For": "127.0.0.1"})
            assert spoofed.status_code == 401
            forwarded = _me(proxy, admin, **{"X-Forwarded-For": "127.0.0.1"})
            assert forwarded.status_code == 200
            assert _me(proxy, admin, **{"X-Forwarded-For": "127.0.0.2"}).status_code == 401

            # Users are not bound by default, until their account's own setting binds them.
            assert _me(away, john).status_code == 200
            engine = create_sync_engine(settings.database_url)
            with Session(engine) as db:
                db.add(AccountSecurity(user_id=john_id, ip_binding=True, failed_logins=0))
                db.commit()
            engine.dispose()
            time.sleep(SESSION_CACHE_SECONDS + 0.2)
            assert _me(away, john).json()["message"] == "Session IP mismatch"
            assert _me(home, john).status_code == 200
