"""Service control through the API, observed on the real nginx, PHP-FPM and PowerDNS.

Each test runs the panel's own daemons (local profile) on free loopback ports in a short
data directory, acts through /api/v1/services and then checks the effect over the wire.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from tests.api.test_dns import answers, needs_pdns
from tests.conftest import bearer, login
from tests.host.web_helpers import (
    fetch,
    needs_nginx,
    needs_php_fpm,
    scratch_panel_settings,
    wait_for,
)
from wispanel.app import create_app
from wispanel.core.config import Settings
from wispanel.core.database import create_sync_engine
from wispanel.core.models import AuditEntry, EventRecord
from wispanel.host.runner import process_is_alive

pytestmark = [pytest.mark.integration, needs_nginx, needs_php_fpm, needs_pdns]
SERVICES = "/api/v1/services"
HEALTH = "/api/v1/system/health"
PROBE = "<?php echo 'php=' . PHP_VERSION;"


@pytest.fixture
def service_settings(
    settings: Settings, make_settings: Callable[..., Settings]
) -> Iterator[Settings]:
    yield from scratch_panel_settings(make_settings)


@pytest.fixture
def client(service_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(service_settings), client=("127.0.0.1", 40000)) as test_client:
        yield test_client


@pytest.fixture
def site(client: TestClient, admin_token: str, service_settings: Settings) -> Path:
    """Add john with example.com, a PHP site with its zone; return its document root."""
    body = {"username": "john", "email": "john@example.com", "password": "account-password"}
    created = client.post("/api/v1/users", json=body, headers=bearer(admin_token))
    assert created.status_code == 201, created.text
    john = login(client, "john", "account-password")
    domain = client.post("/api/v1/domains", json={"domain": "example.com"}, headers=bearer(john))
    assert domain.status_code == 201, domain.text
    root = Path(domain.json()["document_root"])
    (root / "probe.php").write_text(PROBE)
    port = service_settings.web.http_port
    assert wait_for(port, "example.com", "/probe.php", status=200)[0] == 200
    return root


def act(client: TestClient, token: str, name: str, action: str) -> dict[str, Any]:
    response = client.post(f"{SERVICES}/{name}/{action}", headers=bearer(token))
    assert response.status_code == 200, response.text
    state: dict[str, Any] = response.json()
    return state


def state_of(client: TestClient, token: str, name: str) -> dict[str, Any]:
    response = client.get(f"{SERVICES}/{name}", headers=bearer(token))
    assert response.status_code == 200, response.text
    state: dict[str, Any] = response.json()
    return state


def php_service(client: TestClient, token: str) -> str:
    names = [item["name"] for item in client.get(SERVICES, headers=bearer(token)).json()]
    required = [
        name
        for name in names
        if name.startswith("php-fpm") and state_of(client, token, name)["required"]
    ]
    assert len(required) == 1, names
    return required[0]


def recorded(settings: Settings, model: Any, name: str) -> list[Any]:
    engine = create_sync_engine(settings.database_url)
    column = model.action if model is AuditEntry else model.name
    with Session(engine) as db:
        found = list(db.scalars(select(model).where(column == name)).all())
        db.expunge_all()
    engine.dispose()
    return found


def wait_status(client: TestClient, status: int, headers: dict[str, str]) -> Any:
    deadline = time.monotonic() + 10
    while True:
        response = client.get(HEALTH, headers=headers)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


def test_list_shows_running_daemons(client: TestClient, admin_token: str, site: Path) -> None:
    services = {
        item["name"]: item for item in client.get(SERVICES, headers=bearer(admin_token)).json()
    }
    php = php_service(client, admin_token)
    for name in ("nginx", php, "powerdns"):
        assert services[name]["running"], services[name]
        assert services[name]["required"], services[name]
        assert process_is_alive(services[name]["pid"])
        assert services[name]["started_at"] is not None
    assert "1 account pools" in services[php]["detail"]
    assert services["powerdns"]["detail"].startswith("PowerDNS 4.")


def test_stop_start_nginx(
    client: TestClient, admin_token: str, site: Path, service_settings: Settings
) -> None:
    port = service_settings.web.http_port
    before = state_of(client, admin_token, "nginx")

    stopped = act(client, admin_token, "nginx", "stop")
    assert stopped["running"] is False
    assert stopped["pid"] is None
    assert not process_is_alive(before["pid"])
    with pytest.raises(ConnectionRefusedError):
        fetch(port, "example.com")

    started = act(client, admin_token, "nginx", "start")
    assert started["running"] is True
    assert started["pid"] != before["pid"]
    status, body = wait_for(port, "example.com", "/probe.php", status=200)
    assert status == 200
    assert body.startswith("php=")

    (stop_event,) = recorded(service_settings, EventRecord, "service.stopped")
    assert stop_event.data == {
        "service": "nginx",
        "action": "stop",
        "running": False,
        "pid": None,
        "previous_pid": before["pid"],
    }
    assert stop_event.owner_id is None
    (start_audit,) = recorded(service_settings, AuditEntry, "service.started")
    assert start_audit.actor == "admin"
    assert start_audit.object_type == "service"
    assert start_audit.object_id == "nginx"


def test_restart_powerdns_new_pid(
    client: TestClient, admin_token: str, site: Path, service_settings: Settings
) -> None:
    assert answers(service_settings, "www.example.com", "A") == ["127.0.0.1"]
    before = state_of(client, admin_token, "powerdns")

    restarted = act(client, admin_token, "powerdns", "restart")
    assert restarted["running"] is True
    assert restarted["pid"] not in (None, before["pid"])
    assert not process_is_alive(before["pid"])
    assert answers(service_settings, "www.example.com", "A") == ["127.0.0.1"]
    (event,) = recorded(service_settings, EventRecord, "service.restarted")
    assert event.data["previous_pid"] == before["pid"]
    assert event.data["pid"] == restarted["pid"]


def test_restart_php_fpm_serves_again(
    client: TestClient, admin_token: str, site: Path, service_settings: Settings
) -> None:
    name = php_service(client, admin_token)
    before = state_of(client, admin_token, name)
    restarted = act(client, admin_token, name, "restart")
    assert restarted["pid"] not in (None, before["pid"])
    port = service_settings.web.http_port
    status, body = wait_for(port, "example.com", "/probe.php", status=200)
    assert status == 200
    assert body.startswith("php=")

    act(client, admin_token, name, "stop")
    assert wait_for(port, "example.com", "/probe.php", status=502)[0] == 502
    act(client, admin_token, name, "start")
    assert wait_for(port, "example.com", "/probe.php", status=200)[0] == 200


def test_broken_config_keeps_nginx(
    client: TestClient, admin_token: str, site: Path, service_settings: Settings
) -> None:
    before = state_of(client, admin_token, "nginx")
    broken = service_settings.data_dir / "nginx" / "sites" / "zz-broken.conf"
    broken.write_text("server { no_such_directive on; }\n")
    try:
        response = client.post(f"{SERVICES}/nginx/restart", headers=bearer(admin_token))
    finally:
        broken.unlink()
    assert response.status_code == 502, response.text
    assert "no_such_directive" in response.json()["message"]
    after = state_of(client, admin_token, "nginx")
    assert after["pid"] == before["pid"]
    assert fetch(service_settings.web.http_port, "example.com")[0] == 200
    (failure,) = recorded(service_settings, AuditEntry, "service.restart_failed")
    assert failure.details["code"] == "APPLY_FAILED"


def test_health_follows_powerdns(
    client: TestClient, admin_token: str, site: Path, service_settings: Settings
) -> None:
    admin = bearer(admin_token)
    assert wait_status(client, 200, admin).status_code == 200

    act(client, admin_token, "powerdns", "stop")
    anonymous = client.get(HEALTH)
    assert anonymous.status_code == 503
    assert anonymous.json()["message"] == "The panel is not ready"
    detailed = client.get(HEALTH, headers=admin).json()
    assert detailed["message"] == "The panel is not ready: powerdns failed"
    checks = {check["name"]: check for check in detailed["details"]["checks"]}
    assert checks["powerdns"]["required"]
    assert not checks["powerdns"]["ok"]
    assert checks["nginx"]["ok"]

    act(client, admin_token, "powerdns", "start")
    assert client.get(HEALTH).status_code == 200
    assert answers(service_settings, "example.com", "A") == ["127.0.0.1"]
