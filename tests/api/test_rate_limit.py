"""Rate limits: headers on every /api response, 429 with Retry-After past the limit."""

from __future__ import annotations

import time
from collections.abc import Callable

from redis import Redis
from starlette.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD, CLIENT_ADDRESS, bearer, login
from wispanel.app import create_app
from wispanel.core.config import Settings

HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


def test_headers_on_every_api_response(client: TestClient, admin_token: str) -> None:
    for response in (
        client.get("/api/v1/auth/me", headers=bearer(admin_token)),
        client.get("/api/v1/auth/me"),
        client.get("/api/v1/no-such-route"),
    ):
        for name in HEADERS:
            assert name in response.headers, (name, response.status_code)
        assert response.headers["ratelimit-policy"].endswith(";w=60")
        assert response.headers["ratelimit"].startswith('"')
        assert int(response.headers["x-ratelimit-reset"]) > time.time()


def test_principal_limit_then_429(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(rate_limit={"default_per_minute": 5})
    with TestClient(create_app(settings), client=CLIENT_ADDRESS) as client:
        token = login(client)
        remaining = [
            int(
                client.get("/api/v1/auth/me", headers=bearer(token)).headers[
                    "x-ratelimit-remaining"
                ]
            )
            for _ in range(5)
        ]
        assert remaining == [4, 3, 2, 1, 0]
        response = client.get("/api/v1/auth/me", headers=bearer(token))
        assert response.status_code == 429
        body = response.json()
        assert body["code"] == "RATE_LIMITED"
        assert body["request_id"] == response.headers["x-request-id"]
        assert 1 <= int(response.headers["retry-after"]) <= 60
        assert response.headers["x-ratelimit-remaining"] == "0"
        # Anonymous callers count per address, apart from the account's budget.
        assert client.get("/api/v1/auth/me").status_code == 401


def test_role_limit_setting(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(rate_limit={"default_per_minute": 5, "admin_per_minute": 7})
    with TestClient(create_app(settings), client=CLIENT_ADDRESS) as client:
        response = client.get("/api/v1/auth/me", headers=bearer(login(client)))
        assert response.headers["x-ratelimit-limit"] == "7"
        assert response.headers["ratelimit-policy"] == '"admin";q=7;w=60'


def test_login_limit_per_address(client: TestClient) -> None:
    # Other names each time, so the per-account lockout stays out of the way.
    statuses = [
        client.post(
            "/api/v1/auth/login", json={"username": f"ghost{index}", "password": "wrong"}
        ).status_code
        for index in range(20)
    ]
    assert statuses == [401] * 20
    response = client.post(
        "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 429
    assert response.headers["x-ratelimit-limit"] == "20"
    assert "retry-after" in response.headers


def test_redis_store_shared_between_processes(make_settings: Callable[..., Settings]) -> None:
    url = "redis://127.0.0.1:6379/15"
    Redis.from_url(url).flushdb()  # counters of earlier runs would still be in their window
    settings = make_settings(rate_limit={"default_per_minute": 4}, redis={"url": url})
    # Two apps stand for two API processes; the counter lives in Redis, not in either.
    with (
        TestClient(create_app(settings), client=CLIENT_ADDRESS) as first,
        TestClient(create_app(settings), client=CLIENT_ADDRESS) as second,
    ):
        token = login(first)
        statuses = [
            client.get("/api/v1/auth/me", headers=bearer(token)).status_code
            for client in (first, second, first, second, first)
        ]
    assert statuses == [200, 200, 200, 200, 429]
