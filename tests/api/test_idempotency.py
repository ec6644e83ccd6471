"""Idempotency-Key: replay, mismatch, in flight, what is not stored, restarts, two processes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from fastapi import APIRouter
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD, CLIENT_ADDRESS, bearer, login
from wispanel.app import create_app
from wispanel.auth.deps import CurrentPrincipal
from wispanel.auth.models import LoginSession
from wispanel.core.config import Settings
from wispanel.core.database import create_sync_engine, utcnow
from wispanel.core.models import IdempotencyRecord

LOGIN = {"username": "admin", "password": ADMIN_PASSWORD}


def _count(settings: Settings, model: type) -> int:
    engine = create_sync_engine(settings.database_url)
    with Session(engine) as db:
        value = db.scalar(select(func.count()).select_from(model))
    engine.dispose()
    return int(value or 0)


@pytest.fixture
def counting_client(settings: Settings) -> Iterator[tuple[TestClient, list[str]]]:
    """An app with test routes that record each run, sleep, or fail."""
    app = create_app(settings)
    runs: list[str] = []
    release = threading.Event()
    router = APIRouter(prefix="/api/v1/test", tags=["00 Meta"])

    @router.post("/count", status_code=201)
    async def count(body: dict[str, int], _caller: CurrentPrincipal) -> dict[str, int]:
        runs.append("count")
        return {"run": len(runs), **body}

    @router.post("/slow")
    def slow() -> dict[str, bool]:
        runs.append("slow")
        release.wait(10)
        return {"done": True}

    @router.post("/fail")
    async def fail() -> None:
        runs.append("fail")
        raise RuntimeError("boom")

    app.include_router(router)
    app.state.release = release
    with TestClient(app, client=CLIENT_ADDRESS, raise_server_exceptions=False) as test_client:
        yield test_client, runs


def test_replay_returns_stored_response(
    counting_client: tuple[TestClient, list[str]], admin_token: str
) -> None:
    client, runs = counting_client
    headers = {**bearer(admin_token), "Idempotency-Key": "order-1"}
    first = client.post("/api/v1/test/count", json={"a": 1}, headers=headers)
    second = client.post("/api/v1/test/count", json={"a": 1}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json() == {"run": 1, "a": 1}
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert runs == ["count"]


def test_replayed_login_creates_one_session(client: TestClient, settings: Settings) -> None:
    headers = {"Idempotency-Key": "login-once"}
    first = client.post("/api/v1/auth/login", json=LOGIN, headers=headers)
    second = client.post("/api/v1/auth/login", json=LOGIN, headers=headers)
    assert second.headers["idempotent-replayed"] == "true"
    assert first.json()["token"] == second.json()["token"]
    assert _count(settings, LoginSession) == 1


def test_key_reused_with_other_body(
    counting_client: tuple[TestClient, list[str]], admin_token: str
) -> None:
    client, runs = counting_client
    headers = {**bearer(admin_token), "Idempotency-Key": "order-2"}
    client.post("/api/v1/test/count", json={"a": 1}, headers=headers)
    response = client.post("/api/v1/test/count", json={"a": 2}, headers=headers)
    assert response.status_code == 422
    assert response.json()["code"] == "IDEMPOTENCY_KEY_MISMATCH"
    assert runs == ["count"]


def test_keys_are_scoped_to_principal(
    counting_client: tuple[TestClient, list[str]], admin_token: str
) -> None:
    client, runs = counting_client
    other_session = login(client)
    for token in (admin_token, other_session):
        response = client.post(
            "/api/v1/test/count",
            json={"a": 1},
            headers={**bearer(token), "Idempotency-Key": "shared"},
        )
        assert response.status_code == 201
    # Same account, so the second session gets the first one's stored response.
    assert runs == ["count"]


def test_in_flight_key_conflicts(
    counting_client: tuple[TestClient, list[str]], admin_token: str
) -> None:
    client, runs = counting_client
    headers = {**bearer(admin_token), "Idempotency-Key": "slow-1"}
    results: list[int] = []
    worker = threading.Thread(
        target=lambda: results.append(client.post("/api/v1/test/slow", headers=headers).status_code)
    )
    worker.start()
    deadline = time.monotonic() + 5
    while "slow" not in runs and time.monotonic() < deadline:
        time.sleep(0.01)
    response = client.post("/api/v1/test/slow", headers=headers)
    assert response.status_code == 409
    assert response.json()["code"] == "IDEMPOTENCY_KEY_IN_USE"
    client.app.state.release.set()  # type: ignore[attr-defined]
    worker.join(10)
    assert results == [200]
    replay = client.post("/api/v1/test/slow", headers=headers)
    assert replay.headers["idempotent-replayed"] == "true"
    assert runs == ["slow"]


def test_invalid_keys_rejected(client: TestClient, admin_token: str) -> None:
    for key in (b"k" * 300, "café".encode(), b"", b"tab\there"):
        response = client.post(
            "/api/v1/auth/logout",
            headers={**bearer(admin_token), "Idempotency-Key": key},  # type: ignore[dict-item]
        )
        assert response.status_code == 400, key
        assert response.json()["code"] == "VALIDATION_ERROR"
    assert client.get("/api/v1/auth/me", headers=bearer(admin_token)).status_code == 200


def test_rejected_and_failed_requests_not_stored(
    counting_client: tuple[TestClient, list[str]], admin_token: str, settings: Settings
) -> None:
    client, runs = counting_client
    key = {"Idempotency-Key": "retry-me"}
    assert client.post("/api/v1/test/count", json={"a": 1}, headers=key).status_code == 401
    bad = client.post("/api/v1/test/count", json={"a": "x"}, headers={**bearer(admin_token), **key})
    assert bad.status_code == 400
    failed = client.post("/api/v1/test/fail", headers={**bearer(admin_token), **key})
    assert failed.status_code == 500
    assert _count(settings, IdempotencyRecord) == 0
    retried = client.post("/api/v1/test/fail", headers={**bearer(admin_token), **key})
    assert retried.status_code == 500
    assert runs == ["fail", "fail"]


def test_survives_restart(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    headers = {"Idempotency-Key": "restart-1"}
    with TestClient(create_app(settings), client=CLIENT_ADDRESS) as first:
        token = first.post("/api/v1/auth/login", json=LOGIN, headers=headers).json()["token"]
    with TestClient(create_app(settings), client=CLIENT_ADDRESS) as second:
        replay = second.post("/api/v1/auth/login", json=LOGIN, headers=headers)
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["token"] == token
    assert _count(settings, LoginSession) == 1


def test_shared_between_two_processes(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    headers = {"Idempotency-Key": "two-processes"}
    with (
        TestClient(create_app(settings), client=CLIENT_ADDRESS) as first,
        TestClient(create_app(settings), client=CLIENT_ADDRESS) as second,
    ):
        created = first.post("/api/v1/auth/login", json=LOGIN, headers=headers)
        replay = second.post("/api/v1/auth/login", json=LOGIN, headers=headers)
        mismatch = second.post(
            "/api/v1/auth/login", json={**LOGIN, "password": "x"}, headers=headers
        )
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == created.json()
    assert mismatch.status_code == 422


def test_abandoned_key_is_taken_over(client: TestClient, settings: Settings) -> None:
    engine = create_sync_engine(settings.database_url)
    with Session(engine) as db:
        db.add(
            IdempotencyRecord(
                principal="ip:127.0.0.1",
                key="crashed",
                fingerprint="0" * 64,
                lease_until=utcnow() - timedelta(seconds=1),
                expires_at=utcnow() + timedelta(hours=1),
            )
        )
        db.commit()
    engine.dispose()
    response = client.post("/api/v1/auth/login", json=LOGIN, headers={"Idempotency-Key": "crashed"})
    assert response.status_code == 422  # another request's fingerprint: still refused


def test_redis_store(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(redis={"url": "redis://127.0.0.1:6379/15"})
    key = {"Idempotency-Key": f"redis-{time.time_ns()}"}
    with (
        TestClient(create_app(settings), client=CLIENT_ADDRESS) as first,
        TestClient(create_app(settings), client=CLIENT_ADDRESS) as second,
    ):
        created = first.post("/api/v1/auth/login", json=LOGIN, headers=key)
        replay = second.post("/api/v1/auth/login", json=LOGIN, headers=key)
        mismatch = second.post("/api/v1/auth/login", json={**LOGIN, "password": "x"}, headers=key)
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["token"] == created.json()["token"]
    assert mismatch.status_code == 422
    assert _count(settings, LoginSession) == 1
