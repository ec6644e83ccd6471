"""Readiness: public and minimal for load balancers, every check for admins, 503 when not ready."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.api.test_api_keys import create_key, reauth
from tests.conftest import CLIENT_ADDRESS, bearer, login
from tests.factories import create_account
from wispanel.app import create_app
from wispanel.core.config import Settings

HEALTH = "/api/v1/system/health"


def wait_ready(client: TestClient, headers: dict[str, str] | None = None) -> Any:
    """Poll until the worker's first resource sample makes the panel ready."""
    deadline = time.monotonic() + 10
    while True:
        response = client.get(HEALTH, headers=headers or {})
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


def test_anonymous_answer_minimal(client: TestClient) -> None:
    response = wait_ready(client)
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "status": "ready"}
    assert "X-RateLimit-Limit" in response.headers


def test_admin_sees_every_check(client: TestClient, admin_token: str) -> None:
    response = wait_ready(client, bearer(admin_token))
    assert response.status_code == 200, response.text
    checks = {check["name"]: check for check in response.json()["checks"]}
    assert {"database", "job_queue", "job_worker", "nginx", "powerdns"} <= set(checks)
    assert any(name.startswith("php-fpm") for name in checks)
    for name in ("database", "job_queue", "job_worker"):
        assert checks[name]["ok"], checks[name]
        assert checks[name]["required"]
    # Without sites or zones, no daemon is needed yet, so the stopped ones don't count.
    assert not checks["nginx"]["required"]
    assert not checks["powerdns"]["ok"]
    assert "not needed yet" in checks["powerdns"]["detail"]


def test_user_gets_minimal_answer(client: TestClient, settings: Settings) -> None:
    create_account(settings, "john")
    john = login(client, "john", "account-password")
    response = wait_ready(client, bearer(john))
    assert response.status_code == 200
    assert "checks" not in response.json()


def test_invalid_credentials_rejected(client: TestClient) -> None:
    response = client.get(HEALTH, headers=bearer("not-a-token"))
    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHORIZED"


def test_api_key_scope_applies(client: TestClient, admin_token: str) -> None:
    reauth(client, admin_token)
    domains_key = str(create_key(client, admin_token, permissions=["domains"])["api_key"])
    response = client.get(HEALTH, headers=bearer(domains_key))
    assert response.status_code == 403
    assert response.json()["message"] == "API key is not scoped for 'system' on this request"
    read_key = str(create_key(client, admin_token, permissions=["read"])["api_key"])
    ready = wait_ready(client, bearer(read_key))
    assert ready.status_code == 200
    assert ready.json()["checks"]


@pytest.fixture
def no_worker_client(settings: Settings) -> Iterator[TestClient]:
    """A panel whose jobs run in no process: no worker ever takes a sample."""
    settings.jobs.run_in_process = False
    with TestClient(create_app(settings), client=CLIENT_ADDRESS) as test_client:
        yield test_client


def test_missing_worker_not_ready(no_worker_client: TestClient) -> None:
    anonymous = no_worker_client.get(HEALTH)
    assert anonymous.status_code == 503
    body = anonymous.json()
    assert body["code"] == "SERVICE_UNAVAILABLE"
    assert body["message"] == "The panel is not ready"
    assert "details" not in body

    admin = login(no_worker_client)
    detailed = no_worker_client.get(HEALTH, headers=bearer(admin)).json()
    assert detailed["message"] == "The panel is not ready: job_worker failed"
    checks = {check["name"]: check for check in detailed["details"]["checks"]}
    assert not checks["job_worker"]["ok"]
    assert "wispanel worker" in checks["job_worker"]["detail"]
    assert checks["database"]["ok"]
