"""Login limits: per-account lockout with growing delays and the per-address limit."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from tests.factories import create_account
from wispanel.app import create_app
from wispanel.auth.lockout import register_failure
from wispanel.auth.models import AccountSecurity, RateLimitEvent
from wispanel.core.config import Settings
from wispanel.core.database import create_sync_engine


def _events(settings: Settings) -> list[RateLimitEvent]:
    engine = create_sync_engine(settings.database_url)
    with Session(engine) as db:
        rows = list(db.scalars(select(RateLimitEvent).order_by(RateLimitEvent.id)).all())
        db.expunge_all()
    engine.dispose()
    return rows


def _lock_seconds(settings: Settings, user_id: int) -> float:
    engine = create_sync_engine(settings.database_url)
    with Session(engine) as db:
        row = db.get(AccountSecurity, user_id)
        assert row is not None
        assert row.locked_until is not None
        assert row.last_failed_at is not None
        seconds = (row.locked_until - row.last_failed_at).total_seconds()
    engine.dispose()
    return seconds


def test_lockout_grows(make_settings: Callable[..., Settings], settings: Settings) -> None:
    configured = make_settings(
        auth={"lockout_threshold": 3, "lockout_base_seconds": 30, "lockout_max_seconds": 100},
        rate_limit={"login_per_minute": 1000},
    )
    with TestClient(create_app(configured), client=("127.0.0.1", 40000)) as client:
        user_id = create_account(configured, "john", password="john-password")
        wrong = {"username": "john", "password": "wrong"}
        for _ in range(3):
            assert client.post("/api/v1/auth/login", json=wrong).status_code == 401
        assert _lock_seconds(configured, user_id) == 30
        locked = client.post(
            "/api/v1/auth/login", json={"username": "john", "password": "john-password"}
        )
        assert locked.status_code == 429
        assert locked.json()["code"] == "RATE_LIMITED"
        assert 0 < int(locked.headers["retry-after"]) <= 30
        events = _events(configured)
        assert [event.kind for event in events] == ["account_lockout"]
        assert events[0].username == "john"
        assert events[0].ip == "127.0.0.1"


def test_lockout_doubles_and_caps(
    make_settings: Callable[..., Settings], settings: Settings
) -> None:
    auth = make_settings(auth={"lockout_threshold": 2, "lockout_max_seconds": 100}).auth

    class FakeDb:
        def add(self, _row: object) -> None:
            pass

    security = AccountSecurity(user_id=1, failed_logins=0)
    lengths = [
        register_failure(FakeDb(), security, auth, ip="192.0.2.1", username="john")  # type: ignore[arg-type]
        for _ in range(5)
    ]
    assert lengths == [0, 30, 60, 100, 100]


def test_success_clears_failures(client: TestClient, settings: Settings) -> None:
    user_id = create_account(settings, "john", password="john-password")
    for _ in range(3):
        client.post("/api/v1/auth/login", json={"username": "john", "password": "bad"})
    ok = client.post("/api/v1/auth/login", json={"username": "john", "password": "john-password"})
    assert ok.status_code == 200
    engine = create_sync_engine(settings.database_url)
    with Session(engine) as db:
        row = db.get(AccountSecurity, user_id)
        assert row is not None
        assert row.failed_logins == 0
    engine.dispose()


def test_login_limit_per_address(client: TestClient, settings: Settings) -> None:
    body = {"username": "nobody", "password": "x"}
    statuses = [client.post("/api/v1/auth/login", json=body).status_code for _ in range(21)]
    assert statuses[:20] == [401] * 20
    assert statuses[20] == 429
    # Another rejected attempt within the minute adds no second event.
    client.post("/api/v1/auth/login", json=body)
    kinds = [event.kind for event in _events(settings)]
    assert kinds == ["login_ip"]
    assert _events(settings)[0].ip == "127.0.0.1"
