"""Sites through the API, observed on the real nginx and PHP-FPM the panel starts itself."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import bearer, login
from tests.host.web_helpers import (
    fetch,
    free_port,
    needs_nginx,
    needs_php_fpm,
    short_data_dir,
    wait_for,
)
from wispanel.app import create_app
from wispanel.core.config import Settings

pytestmark = [pytest.mark.integration, needs_nginx, needs_php_fpm]
PASSWORD = "account-password"
PROBE = "<?php echo 'php=' . PHP_VERSION . ' user=' . get_current_user();"


@pytest.fixture
def web_settings(settings: Settings, make_settings: Callable[..., Settings]) -> Iterator[Settings]:
    for directory in short_data_dir():
        yield make_settings(
            directory,
            web={"http_port": free_port(), "https_port": free_port()},
            dns={"port": free_port(), "api_port": free_port()},
        )


@pytest.fixture
def client(web_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(web_settings), client=("127.0.0.1", 40000)) as test_client:
        yield test_client


@pytest.fixture
def port(web_settings: Settings) -> int:
    return web_settings.web.http_port


def account(client: TestClient, admin_token: str, username: str) -> str:
    body = {"username": username, "email": f"{username}@example.com", "password": PASSWORD}
    response = client.post("/api/v1/users", json=body, headers=bearer(admin_token))
    assert response.status_code == 201, response.text
    return login(client, username, PASSWORD)


def add_site(client: TestClient, token: str, domain: str, **extra: Any) -> dict[str, Any]:
    response = client.post(
        "/api/v1/domains", json={"domain": domain, **extra}, headers=bearer(token)
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_site_and_php_served(client: TestClient, admin_token: str, port: int) -> None:
    token = account(client, admin_token, "john")
    site = add_site(client, token, "example.com")
    (Path(site["document_root"]) / "probe.php").write_text(PROBE)

    for host in ("example.com", "www.example.com"):
        status, body = wait_for(port, host, status=200, contains="example.com")
        assert status == 200, (host, body)
        assert "This site is hosted with WisPanel" in body
    status, body = wait_for(port, "example.com", "/probe.php", status=200)
    assert status == 200
    assert body.startswith(f"php={site['php_version']}.")
    assert fetch(port, "unknown.example")[0] == 404


def test_suspension_and_deletion_stop_site(client: TestClient, admin_token: str, port: int) -> None:
    token = account(client, admin_token, "john")
    site = add_site(client, token, "example.com")
    (Path(site["document_root"]) / "probe.php").write_text(PROBE)
    assert wait_for(port, "example.com", "/probe.php", status=200)[0] == 200

    client.post("/api/v1/domains/example.com/suspend", headers=bearer(admin_token))
    status, body = wait_for(port, "example.com", "/probe.php", status=503)
    assert status == 503
    assert "php=" not in body
    assert "suspended" in body

    client.post("/api/v1/domains/example.com/unsuspend", headers=bearer(admin_token))
    assert wait_for(port, "example.com", "/probe.php", status=200)[0] == 200

    client.post("/api/v1/users/john/suspend", json={}, headers=bearer(admin_token))
    assert wait_for(port, "www.example.com", status=503)[0] == 503
    client.post("/api/v1/users/john/unsuspend", headers=bearer(admin_token))
    assert wait_for(port, "www.example.com", status=200)[0] == 200

    # Suspending the account revoked its tokens, so its admin deletes the domain.
    deleted = client.delete("/api/v1/domains/example.com", headers=bearer(admin_token))
    assert deleted.status_code == 200
    assert wait_for(port, "example.com", status=404)[0] == 404


def test_rejected_directive_keeps_site(client: TestClient, admin_token: str, port: int) -> None:
    token = account(client, admin_token, "john")
    add_site(client, token, "example.com")
    assert wait_for(port, "example.com", status=200)[0] == 200
    response = client.put(
        "/api/v1/domains/example.com/vhost",
        json={"custom_directives": "add_header X-One 1;\nexpires not-a-time;"},
        headers=bearer(token),
    )
    assert response.status_code == 502
    assert "invalid value" in response.json()["message"]
    assert fetch(port, "example.com")[0] == 200

    accepted = client.put(
        "/api/v1/domains/example.com/vhost",
        json={"custom_directives": "location = /teapot { return 418; }"},
        headers=bearer(token),
    )
    assert accepted.status_code == 200, accepted.text
    assert wait_for(port, "example.com", "/teapot", status=418)[0] == 418


def test_php_version_switch_and_redirect(client: TestClient, admin_token: str, port: int) -> None:
    token = account(client, admin_token, "john")
    site = add_site(client, token, "example.com", php_version="none")
    (Path(site["document_root"]) / "probe.php").write_text(PROBE)
    _, body = wait_for(port, "example.com", "/probe.php", status=200)
    assert "<?php" in body  # served as a plain file without PHP
    version = client.get("/api/v1/system/php-versions", headers=bearer(token)).json()[-1]
    changed = client.put(
        "/api/v1/domains/example.com",
        json={"php_version": version["version"]},
        headers=bearer(token),
    )
    assert changed.status_code == 200, changed.text
    expected = f"php={version['version']}."
    _, body = wait_for(port, "example.com", "/probe.php", status=200, contains=expected)
    assert body.startswith(expected)

    client.put(
        "/api/v1/domains/example.com",
        json={"redirect_url": "https://example.org/"},
        headers=bearer(token),
    )
    assert wait_for(port, "example.com", status=301)[0] == 301
    challenge = Path(site["document_root"]).parents[3].parent / "acme"
    (challenge / ".well-known" / "acme-challenge" / "token").write_text("proof")
    assert fetch(port, "example.com", "/.well-known/acme-challenge/token") == (200, "proof")


def test_other_accounts_domain_hidden(client: TestClient, admin_token: str, port: int) -> None:
    john = account(client, admin_token, "john")
    jane = account(client, admin_token, "jane")
    add_site(client, john, "example.com")
    assert client.get("/api/v1/domains/example.com", headers=bearer(jane)).status_code == 404
    assert client.delete("/api/v1/domains/example.com", headers=bearer(jane)).status_code == 404
    assert (
        client.post("/api/v1/domains/example.com/suspend", headers=bearer(jane)).status_code == 404
    )
    assert wait_for(port, "example.com", status=200)[0] == 200


def test_changes_live_when_the_api_answers(client: TestClient, admin_token: str, port: int) -> None:
    token = account(client, admin_token, "john")
    add_site(client, token, "example.com")
    aliases = "/api/v1/domains/example.com/aliases"
    for name in ("example.net", "example.org", "example.info", "example.biz"):
        added = client.post(aliases, json={"alias": name}, headers=bearer(token))
        assert added.status_code == 201, added.text
        assert fetch(port, name)[0] == 200, name
    suspend = client.post("/api/v1/domains/example.com/suspend", headers=bearer(admin_token))
    assert suspend.status_code == 200, suspend.text
    assert fetch(port, "example.com")[0] == 503
    unsuspend = client.post("/api/v1/domains/example.com/unsuspend", headers=bearer(admin_token))
    assert unsuspend.status_code == 200, unsuspend.text
    assert fetch(port, "example.com")[0] == 200
