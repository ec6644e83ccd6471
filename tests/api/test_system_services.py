"""Managed services through the API without running them: listing, access, errors and audit.

Starting and stopping the real daemons is in tests/integration/test_services.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from tests.api.test_api_keys import create_key, reauth
from tests.conftest import CLIENT_ADDRESS, bearer, login
from tests.factories import create_account
from wispanel.app import create_app
from wispanel.core.config import Settings
from wispanel.core.database import create_sync_engine
from wispanel.core.models import AuditEntry, EventRecord
from wispanel.host.phpfpm import discover_versions
from wispanel.host.powerdns import PowerDns
from wispanel.host.runner import CommandRunner, which
from wispanel.host.web import WebHost

SERVICES = "/api/v1/services"
PHP_VERSIONS = [item.version for item in discover_versions()]
PHP_NAMES = [f"php-fpm{version}" for version in PHP_VERSIONS] or ["php-fpm"]


@pytest.fixture
def john(client: TestClient, settings: Settings) -> str:
    create_account(settings, "john")
    return login(client, "john", "account-password")


def rows(settings: Settings, model: Any, action: str) -> list[Any]:
    engine = create_sync_engine(settings.database_url)
    column = model.action if model is AuditEntry else model.name
    with Session(engine) as db:
        found = list(db.scalars(select(model).where(column == action)).all())
        db.expunge_all()
    engine.dispose()
    return found


def test_list_names_every_service(client: TestClient, admin_token: str) -> None:
    response = client.get(SERVICES, headers=bearer(admin_token))
    assert response.status_code == 200, response.text
    services = {item["name"]: item for item in response.json()}
    assert list(services) == ["nginx", *PHP_NAMES, "powerdns"]
    assert services["nginx"]["installed"] == (which("nginx") is not None)
    assert services["powerdns"]["installed"] == (which("pdns_server") is not None)
    for item in services.values():
        assert item["running"] is False, item
        assert item["required"] is False, item
        assert item["managed_by"] == "panel"
        assert item["pid"] is None
        assert "not running" in item["detail"] or "not installed" in item["detail"]
    single = client.get(f"{SERVICES}/nginx", headers=bearer(admin_token)).json()
    assert single == services["nginx"]


def test_users_see_state_only(client: TestClient, john: str) -> None:
    response = client.get(SERVICES, headers=bearer(john))
    assert response.status_code == 200
    for item in response.json():
        assert item["managed_by"] is None
        assert item["detail"] is None
        assert item["pid"] is None
        assert isinstance(item["running"], bool)


def test_list_pages_on_request(client: TestClient, admin_token: str) -> None:
    page = client.get(SERVICES, params={"per_page": 1, "page": 2}, headers=bearer(admin_token))
    body = page.json()
    assert body["meta"] == {
        "total": len(PHP_NAMES) + 2,
        "per_page": 1,
        "current_page": 2,
        "last_page": len(PHP_NAMES) + 2,
    }
    assert [item["name"] for item in body["data"]] == [PHP_NAMES[0]]


@pytest.mark.parametrize("name", ["apache2", "php-fpm5.1", "nginx.conf", "..", "NGINX"])
def test_unknown_service_404(client: TestClient, admin_token: str, name: str) -> None:
    for method, path in (("GET", f"{SERVICES}/{name}"), ("POST", f"{SERVICES}/{name}/start")):
        response = client.request(method, path, headers=bearer(admin_token))
        assert response.status_code == 404, (method, name, response.text)
        assert response.json()["code"] == "NOT_FOUND"
    message = client.get(f"{SERVICES}/apache2", headers=bearer(admin_token)).json()["message"]
    assert message.startswith("Service apache2 not found; the managed services are: nginx, ")


def test_overlong_name_400(client: TestClient, admin_token: str) -> None:
    response = client.get(f"{SERVICES}/{'n' * 65}", headers=bearer(admin_token))
    assert response.status_code == 400
    assert "path.name" in response.json()["details"]


@pytest.mark.parametrize("action", ["start", "stop", "restart"])
def test_control_admin_only(client: TestClient, john: str, action: str) -> None:
    response = client.post(f"{SERVICES}/nginx/{action}", headers=bearer(john))
    assert response.status_code == 403
    assert response.json()["message"] == f"Only admins can {action} services"


def test_read_key_cannot_control(client: TestClient, admin_token: str) -> None:
    reauth(client, admin_token)
    key = str(create_key(client, admin_token, permissions=["read"])["api_key"])
    assert client.get(SERVICES, headers=bearer(key)).status_code == 200
    response = client.post(f"{SERVICES}/nginx/stop", headers=bearer(key))
    assert response.status_code == 403
    assert response.json()["message"] == "API key is not scoped for 'system' on this request"


@pytest.mark.skipif(not PHP_VERSIONS, reason="php-fpm is not installed")
def test_php_without_pools_conflict(
    client: TestClient, admin_token: str, settings: Settings
) -> None:
    name = PHP_NAMES[-1]
    response = client.post(f"{SERVICES}/{name}/start", headers=bearer(admin_token))
    assert response.status_code == 409, response.text
    assert "has no account pools" in response.json()["message"]
    (failure,) = rows(settings, AuditEntry, "service.start_failed")
    assert failure.object_id == name
    assert failure.actor == "admin"
    assert failure.details["code"] == "CONFLICT"
    assert rows(settings, EventRecord, "service.started") == []


@pytest.fixture
def missing_client(settings: Settings) -> Iterator[TestClient]:
    """A panel on a host where nginx and pdns_server are not installed."""
    app = create_app(settings)
    runner = CommandRunner(
        binaries={"nginx": "/nonexistent/nginx", "pdns_server": "/nonexistent/pdns_server"}
    )
    app.state.panel.web = WebHost.for_settings(settings, runner)
    app.state.panel.dns = PowerDns(settings, runner)
    with TestClient(app, client=CLIENT_ADDRESS) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("name", "install"),
    [
        ("nginx", "apt-get install -y nginx"),
        ("powerdns", "apt-get install -y pdns-server pdns-backend-sqlite3"),
    ],
)
def test_missing_service_503(missing_client: TestClient, name: str, install: str) -> None:
    token = login(missing_client)
    state = missing_client.get(f"{SERVICES}/{name}", headers=bearer(token)).json()
    assert state["installed"] is False
    assert state["running"] is False
    assert state["install_command"] == install
    for action in ("start", "stop", "restart"):
        response = missing_client.post(f"{SERVICES}/{name}/{action}", headers=bearer(token))
        assert response.status_code == 503, response.text
        body = response.json()
        assert body["code"] == "SERVICE_UNAVAILABLE"
        assert body["message"] == f"{name} is not installed. Install it with: {install}"
        assert body["details"] == {"install_command": install}
