"""Rate limits: headers on every /api response, 429 with Retry-After past the limit.

Every test runs twice: with the in-memory store, and with the Redis store that several API
processes share.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from redis import Redis
from starlette.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD, CLIENT_ADDRESS, bearer, login
from wispanel.app import create_app
from wispanel.core.config import Settings
from wispanel.core.ratelimit_store import REDIS_KEY_PREFIX

HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")
REDIS_URL = "redis://127.0.0.1:6379/15"


def _delete_counters() -> None:
    # Counters of earlier tests would still be in their window: every test's admin is user 1.
    redis = Redis.from_url(REDIS_URL)
    keys = list(redis.scan_iter(match=f"{REDIS_KEY_PREFIX}:*"))
    if keys:
        redis.delete(*keys)
    redis.close()


@pytest.fixture(params=["memory", "redis"])
def store_sections(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """Settings sections that select the store: none for memory, a Redis URL for Redis."""
    if request.param == "memory":
        yield {}
        return
    _delete_counters()
    yield {"redis": {"url": REDIS_URL}}
    _delete_counters()


@pytest.fixture
def limited_settings(
    make_settings: Callable[..., Settings], store_sections: dict[str, Any]
) -> Callable[..., Settings]:
    def build(**rate_limit: Any) -> Settings:
        return make_settings(rate_limit=rate_limit, **store_sections)

    return build


def test_headers_on_every_api_response(limited_settings: Callable[..., Settings]) -> None:
    with TestClient(create_app(limited_settings()), client=CLIENT_ADDRESS) as client:
        token = login(client)
        for response in (
            client.get("/api/v1/auth/me", headers=bearer(token)),
            client.get("/api/v1/auth/me"),
            client.get("/api/v1/no-such-route"),
        ):
            for name in HEADERS:
                assert name in response.headers, (name, response.status_code)
            assert response.headers["ratelimit-policy"].endswith(";w=60")
            assert response.headers["ratelimit"].startswith('"')
            assert int(response.headers["x-ratelimit-reset"]) > time.time()


def test_principal_limit_then_429(limited_settings: Callable[..., Settings]) -> None:
    settings = limited_settings(default_per_minute=5)
    with TestClient(create_app(settings), client=CLIENT_ADDRESS) as client:
        token = login(client)
        responses = [client.get("/api/v1/auth/me", headers=bearer(token)) for _ in range(5)]
        remaining = [int(response.headers["x-ratelimit-remaining"]) for response in responses]
        assert remaining == [4, 3, 2, 1, 0]
        assert responses[-1].headers["ratelimit"].startswith('"admin";r=0;t=')
        response = client.get("/api/v1/auth/me", headers=bearer(token))
        assert response.status_code == 429
        body = response.json()
        assert body["code"] == "RATE_LIMITED"
        assert body["request_id"] == response.headers["x-request-id"]
        retry_after = int(response.headers["retry-after"])
        assert 1 <= retry_after <= 60
        assert response.headers["x-ratelimit-remaining"] == "0"
        assert response.headers["x-ratelimit-limit"] == "5"
        reset_in = int(response.headers["x-ratelimit-reset"]) - int(time.time())
        assert abs(reset_in - retry_after) <= 1
        # Anonymous callers count per address, apart from the account's budget.
        assert client.get("/api/v1/auth/me").status_code == 401


def test_anonymous_limit_per_address(
    make_settings: Callable[..., Settings], store_sections: dict[str, Any]
) -> None:
    # Behind a trusted proxy, X-Forwarded-For names the client address.
    settings = make_settings(
        rate_limit={"anonymous_per_minute": 2},
        server={"trusted_proxies": ["127.0.0.1/32"]},
        **store_sections,
    )
    first = {"X-Forwarded-For": "192.0.2.1"}
    second = {"X-Forwarded-For": "192.0.2.2"}
    with TestClient(create_app(settings), client=CLIENT_ADDRESS) as client:
        statuses = [client.get("/api/v1/auth/me", headers=first).status_code for _ in range(3)]
        assert statuses == [401, 401, 429]
        response = client.get("/api/v1/auth/me", headers=second)
        assert response.status_code == 401
        assert response.headers["ratelimit-policy"] == '"anonymous";q=2;w=60'
        assert response.headers["x-ratelimit-remaining"] == "1"


def test_role_limit_setting(limited_settings: Callable[..., Settings]) -> None:
    settings = limited_settings(default_per_minute=5, admin_per_minute=7)
    with TestClient(create_app(settings), client=CLIENT_ADDRESS) as client:
        response = client.get("/api/v1/auth/me", headers=bearer(login(client)))
        assert response.headers["x-ratelimit-limit"] == "7"
        assert response.headers["ratelimit-policy"] == '"admin";q=7;w=60'


def test_login_limit_per_address(limited_settings: Callable[..., Settings]) -> None:
    with TestClient(create_app(limited_settings()), client=CLIENT_ADDRESS) as client:
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


def test_disabled_limiter_sends_no_headers(limited_settings: Callable[..., Settings]) -> None:
    settings = limited_settings(enabled=False, anonymous_per_minute=1)
    with TestClient(create_app(settings), client=CLIENT_ADDRESS) as client:
        responses = [client.get("/api/v1/auth/me") for _ in range(3)]
    assert [response.status_code for response in responses] == [401, 401, 401]
    assert "x-ratelimit-limit" not in responses[-1].headers


def test_redis_store_shared_between_processes(make_settings: Callable[..., Settings]) -> None:
    _delete_counters()
    settings = make_settings(rate_limit={"default_per_minute": 4}, redis={"url": REDIS_URL})
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
    _delete_counters()
