"""Domains through the API: rules, scope, limits, events, and the files they leave on the host."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from tests.conftest import bearer, login
from tests.host.web_helpers import free_port, needs_nginx, needs_php_fpm, short_data_dir
from wispanel.app import create_app
from wispanel.core.config import Settings
from wispanel.core.database import create_sync_engine
from wispanel.core.models import EventRecord
from wispanel.domains import hosting
from wispanel.domains.models import Domain
from wispanel.host.runner import CommandRunner
from wispanel.host.web import WebHost

pytestmark = [needs_nginx, needs_php_fpm]
PASSWORD = "account-password"


@pytest.fixture
def web_settings(settings: Settings, make_settings: Callable[..., Settings]) -> Iterator[Settings]:
    """Settings with a short data directory and free web ports (the base fixture empties tables)."""
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


def create_user(client: TestClient, token: str, username: str, **extra: Any) -> str:
    body = {"username": username, "email": f"{username}@example.com", "password": PASSWORD}
    response = client.post("/api/v1/users", json={**body, **extra}, headers=bearer(token))
    assert response.status_code == 201, response.text
    return login(client, username, PASSWORD)


def add(client: TestClient, token: str, domain: str, **extra: Any) -> Any:
    return client.post("/api/v1/domains", json={"domain": domain, **extra}, headers=bearer(token))


def events(settings: Settings, name: str) -> list[dict[str, Any]]:
    engine = create_sync_engine(settings.database_url)
    with Session(engine) as db:
        rows = db.scalars(select(EventRecord).where(EventRecord.name == name)).all()
        found = [dict(row.data) for row in rows]
    engine.dispose()
    return found


def test_add_domain_creates_site(
    client: TestClient, admin_token: str, web_settings: Settings
) -> None:
    token = create_user(client, admin_token, "john")
    response = add(client, token, "Example.COM.")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["domain"] == "example.com"
    assert body["owner"] == "john"
    assert body["webserver"] == "nginx"
    root = Path(body["document_root"])
    assert (
        root == web_settings.data_dir / "home" / "john" / "domains" / "example.com" / "public_html"
    )
    assert "example.com" in (root / "index.html").read_text()
    assert body["php_version"]
    assert "www.example.com" in body["server_names"]
    site = web_settings.data_dir / "nginx" / "sites" / "example.com.conf"
    assert "server_name example.com www.example.com;" in site.read_text()
    assert events(web_settings, "domain.created") == [
        {
            "domain": "example.com",
            "owner": "john",
            "webserver": "nginx",
            "php_version": body["php_version"],
        }
    ]


def test_idna_name_normalised(client: TestClient, admin_token: str) -> None:
    token = create_user(client, admin_token, "john")
    body = add(client, token, "Bücher.example").json()
    assert body["domain"] == "xn--bcher-kva.example"
    assert body["unicode_domain"] == "bücher.example"
    assert client.get("/api/v1/domains/bücher.example", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize(
    "name",
    [
        "",
        "localhost",
        "exa mple.com",
        "a;b.com",
        "a}b.com",
        "a\nb.com",
        "$x.com",
        '"a".com',
        "*.x.com",
    ],
)
def test_invalid_names_rejected(client: TestClient, admin_token: str, name: str) -> None:
    token = create_user(client, admin_token, "john")
    response = add(client, token, name)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_domain_required_message(client: TestClient, admin_token: str) -> None:
    token = create_user(client, admin_token, "john")
    response = client.post("/api/v1/domains", json={}, headers=bearer(token))
    assert response.status_code == 400
    assert response.json()["message"] == "Domain is required"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("document_root", "../jane/public_html"),
        ("document_root", "/etc"),
        ("document_root", "logs/x"),
        ("document_root", "a;b"),
        ("document_root", "a b"),
        ("document_root", "a$b"),
        ("document_root", "a}b"),
        ("php_version", "5.6"),
        ("php_version", "8.2;"),
    ],
)
def test_injection_in_fields_rejected(
    client: TestClient, admin_token: str, web_settings: Settings, field: str, value: str
) -> None:
    token = create_user(client, admin_token, "john")
    response = add(client, token, "example.com", **{field: value})
    assert response.status_code == 400, response.text
    assert not (web_settings.data_dir / "nginx" / "sites" / "example.com.conf").exists()


@pytest.mark.parametrize(
    "url",
    [
        "https://example.org/;return 200",
        "https://example.org/$host",
        "https://example.org/}",
        'https://example.org/"x',
        "https://example.org/ x",
        "ftp://example.org/",
    ],
)
def test_redirect_injection_rejected(client: TestClient, admin_token: str, url: str) -> None:
    token = create_user(client, admin_token, "john")
    add(client, token, "example.com")
    response = client.put(
        "/api/v1/domains/example.com", json={"redirect_url": url}, headers=bearer(token)
    )
    assert response.status_code == 400, response.text


def test_names_unique_across_domains_and_aliases(client: TestClient, admin_token: str) -> None:
    john = create_user(client, admin_token, "john")
    jane = create_user(client, admin_token, "jane")
    assert add(client, john, "example.com").status_code == 201
    assert add(client, jane, "example.com").status_code == 409
    assert add(client, jane, "www.example.com").status_code == 409
    alias = client.post(
        "/api/v1/domains/example.com/aliases", json={"alias": "example.net"}, headers=bearer(john)
    )
    assert alias.status_code == 201, alias.text
    assert add(client, jane, "example.net").status_code == 409
    assert add(client, john, "example.net").status_code == 409


def test_subdomain_of_other_account_refused(client: TestClient, admin_token: str) -> None:
    john = create_user(client, admin_token, "john")
    jane = create_user(client, admin_token, "jane")
    add(client, john, "example.com")
    refused = add(client, jane, "shop.example.com")
    assert refused.status_code == 409
    assert "another account" in refused.json()["message"]
    own = add(client, john, "shop.example.com")
    assert own.status_code == 201
    assert own.json()["parent_domain"] == "example.com"
    assert add(client, jane, "example.org").status_code == 201
    add(client, john, "blog.example.io")
    assert add(client, jane, "example.io").status_code == 409


def test_package_limits_apply(client: TestClient, admin_token: str) -> None:
    package = client.post(
        "/api/v1/packages",
        json={"name": "small", "max_domains": 1, "max_subdomains": 1},
        headers=bearer(admin_token),
    )
    assert package.status_code == 201, package.text
    token = create_user(client, admin_token, "john", package="small")
    assert add(client, token, "example.com").status_code == 201
    over = add(client, token, "example.org")
    assert over.status_code == 403
    assert over.json()["code"] == "QUOTA_EXCEEDED"
    assert add(client, token, "a.example.com").status_code == 201
    assert add(client, token, "b.example.com").json()["code"] == "QUOTA_EXCEEDED"


def test_other_accounts_domain_is_404(client: TestClient, admin_token: str) -> None:
    john = create_user(client, admin_token, "john")
    jane = create_user(client, admin_token, "jane")
    add(client, john, "example.com")
    for method, path in [
        ("GET", "/api/v1/domains/example.com"),
        ("PUT", "/api/v1/domains/example.com"),
        ("DELETE", "/api/v1/domains/example.com"),
        ("GET", "/api/v1/domains/example.com/vhost"),
        ("GET", "/api/v1/domains/example.com/logs"),
        ("GET", "/api/v1/domains/example.com/aliases"),
    ]:
        response = client.request(method, path, json={}, headers=bearer(jane))
        assert response.status_code == 404, (method, path, response.text)
    assert client.get("/api/v1/domains", headers=bearer(jane)).json() == []
    listed = client.get("/api/v1/domains", headers=bearer(admin_token)).json()
    assert [item["domain"] for item in listed] == ["example.com"]
    page = client.get("/api/v1/domains?per_page=1", headers=bearer(john)).json()
    assert page["meta"]["total"] == 1


def test_owner_set_by_admin(client: TestClient, admin_token: str) -> None:
    create_user(client, admin_token, "john")
    response = add(client, admin_token, "example.com", owner="john")
    assert response.status_code == 201
    assert response.json()["owner"] == "john"
    assert add(client, admin_token, "example.org").status_code == 400
    assert add(client, admin_token, "example.net", owner="nobody").status_code == 404


def test_user_cannot_choose_other_owner(client: TestClient, admin_token: str) -> None:
    john = create_user(client, admin_token, "john")
    create_user(client, admin_token, "jane")
    assert add(client, john, "example.com", owner="jane").status_code == 404


def test_custom_directives(client: TestClient, admin_token: str, web_settings: Settings) -> None:
    token = create_user(client, admin_token, "john")
    add(client, token, "example.com")
    ok = client.put(
        "/api/v1/domains/example.com/vhost",
        json={"custom_directives": "expires 1h;"},
        headers=bearer(token),
    )
    assert ok.status_code == 200, ok.text
    assert "    expires 1h;" in ok.json()["config"]
    escapes = [
        "}",
        "include /etc/passwd;",
        "root /etc;",
        "location / {",
        "server_name x.com;",
        'add_header X-A a";\n}\nserver { location /fs/ { alias /; } }\nset $x a";',
        "location /p/ { proxy_pass http://127.0.0.1:8081/; }",
        "access_log /tmp/x.log;",
    ]
    for text in escapes:
        refused = client.put(
            "/api/v1/domains/example.com/vhost",
            json={"custom_directives": text},
            headers=bearer(token),
        )
        assert refused.status_code == 400, (text, refused.text)
    rejected = client.put(
        "/api/v1/domains/example.com/vhost",
        json={"custom_directives": "expires not-a-time;"},
        headers=bearer(token),
    )
    assert rejected.status_code == 502
    assert rejected.json()["code"] == "APPLY_FAILED"
    assert "expires" in rejected.json()["message"]
    vhost = client.get("/api/v1/domains/example.com/vhost", headers=bearer(token)).json()
    assert vhost["custom_directives"] == "expires 1h;"
    assert "not-a-time" not in vhost["config"]


def test_update_php_and_redirect(client: TestClient, admin_token: str) -> None:
    token = create_user(client, admin_token, "john")
    add(client, token, "example.com")
    response = client.put(
        "/api/v1/domains/example.com",
        json={"redirect_url": "https://example.org/", "redirect_code": 302, "php_version": "none"},
        headers=bearer(token),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["php_version"] is None
    assert body["redirect_code"] == 302
    vhost = client.get("/api/v1/domains/example.com/vhost", headers=bearer(token)).json()
    assert "return 302 https://example.org/;" in vhost["config"]
    assert "fastcgi_pass" not in vhost["config"]
    cleared = client.put(
        "/api/v1/domains/example.com", json={"redirect_url": ""}, headers=bearer(token)
    )
    assert cleared.json()["redirect_url"] is None


def test_aliases(client: TestClient, admin_token: str) -> None:
    token = create_user(client, admin_token, "john")
    add(client, token, "example.com")
    created = client.post(
        "/api/v1/domains/example.com/aliases", json={"alias": "Example.NET"}, headers=bearer(token)
    )
    assert created.status_code == 201
    assert created.json()["alias"] == "example.net"
    listed = client.get("/api/v1/domains/example.com/aliases", headers=bearer(token)).json()
    assert [item["alias"] for item in listed] == ["example.net"]
    vhost = client.get("/api/v1/domains/example.com/vhost", headers=bearer(token)).json()
    assert "example.net www.example.net" in vhost["config"]
    bad = client.post(
        "/api/v1/domains/example.com/aliases", json={"alias": "a;b.com"}, headers=bearer(token)
    )
    assert bad.status_code == 400
    removed = client.delete(
        "/api/v1/domains/example.com/aliases/example.net", headers=bearer(token)
    )
    assert removed.status_code == 200
    assert removed.json()["success"] is True
    missing = client.delete(
        "/api/v1/domains/example.com/aliases/example.net", headers=bearer(token)
    )
    assert missing.status_code == 404


def test_suspend_needs_manager(
    client: TestClient, admin_token: str, web_settings: Settings
) -> None:
    token = create_user(client, admin_token, "john")
    add(client, token, "example.com")
    assert (
        client.post("/api/v1/domains/example.com/suspend", headers=bearer(token)).status_code == 403
    )
    response = client.post("/api/v1/domains/example.com/suspend", headers=bearer(admin_token))
    assert response.status_code == 200
    assert response.json()["status"] == "suspended"
    site = (web_settings.data_dir / "nginx" / "sites" / "example.com.conf").read_text()
    assert "return 503;" in site
    assert "fastcgi_pass" not in site
    again = client.post("/api/v1/domains/example.com/suspend", headers=bearer(admin_token))
    assert again.status_code == 409
    client.post("/api/v1/domains/example.com/unsuspend", headers=bearer(admin_token))
    assert events(web_settings, "domain.suspended") == [{"domain": "example.com", "owner": "john"}]
    assert events(web_settings, "domain.unsuspended") == [
        {"domain": "example.com", "owner": "john"}
    ]


def test_account_suspension_suspends_sites(
    client: TestClient, admin_token: str, web_settings: Settings
) -> None:
    token = create_user(client, admin_token, "john")
    add(client, token, "example.com")
    site = web_settings.data_dir / "nginx" / "sites" / "example.com.conf"
    response = client.post("/api/v1/users/john/suspend", json={}, headers=bearer(admin_token))
    assert response.status_code == 200, response.text
    assert "return 503;" in site.read_text()
    shown = client.get("/api/v1/domains/example.com", headers=bearer(admin_token)).json()
    assert shown["suspended_by_account"] is True
    client.post("/api/v1/users/john/unsuspend", headers=bearer(admin_token))
    assert "return 503;" not in site.read_text()


def test_delete_removes_config_and_pool(
    client: TestClient, admin_token: str, web_settings: Settings
) -> None:
    token = create_user(client, admin_token, "john")
    body = add(client, token, "example.com").json()
    pool = web_settings.data_dir / "php-fpm" / body["php_version"] / "pool.d" / "john.conf"
    assert pool.exists()
    response = client.delete("/api/v1/domains/example.com", headers=bearer(token))
    assert response.status_code == 200
    assert response.json() == {"success": True, "message": "Domain example.com deleted"}
    assert not (web_settings.data_dir / "nginx" / "sites" / "example.com.conf").exists()
    assert not pool.exists()
    assert Path(body["document_root"]).exists()  # files are kept by default
    assert events(web_settings, "domain.deleted") == [{"domain": "example.com", "owner": "john"}]


def test_account_delete_removes_domains(
    client: TestClient, admin_token: str, web_settings: Settings
) -> None:
    token = create_user(client, admin_token, "john")
    add(client, token, "example.com")
    client.post(
        "/api/v1/auth/reauth", json={"password": "admin-test-password"}, headers=bearer(admin_token)
    )
    response = client.delete("/api/v1/users/john", headers=bearer(admin_token))
    assert response.status_code == 200, response.text
    assert not (web_settings.data_dir / "nginx" / "sites" / "example.com.conf").exists()
    assert client.get("/api/v1/domains", headers=bearer(admin_token)).json() == []


def test_logs_capped(client: TestClient, admin_token: str, web_settings: Settings) -> None:
    token = create_user(client, admin_token, "john")
    add(client, token, "example.com")
    log = web_settings.data_dir / "home" / "john" / "logs" / "example.com.access.log"
    log.write_text("".join(f"request {number}\n" for number in range(3000)))
    response = client.get("/api/v1/domains/example.com/logs?lines=5000", headers=bearer(token))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1000
    assert body["lines"][-1] == "request 2999"
    few = client.get("/api/v1/domains/example.com/logs?type=access&lines=2", headers=bearer(token))
    assert few.json()["lines"] == ["request 2998", "request 2999"]
    error = client.get("/api/v1/domains/example.com/logs?type=error", headers=bearer(token))
    assert error.status_code == 200
    assert (
        client.get("/api/v1/domains/example.com/logs?type=x", headers=bearer(token)).status_code
        == 400
    )


def test_php_versions_listed(client: TestClient, admin_token: str) -> None:
    response = client.get("/api/v1/system/php-versions", headers=bearer(admin_token))
    assert response.status_code == 200
    versions = response.json()
    assert versions
    assert sum(item["default"] for item in versions) == 1
    assert all(item["binary"].startswith("/") for item in versions)


def test_missing_nginx_is_503(client: TestClient, admin_token: str, web_settings: Settings) -> None:
    token = create_user(client, admin_token, "john")
    panel = client.app.state.panel  # type: ignore[attr-defined]
    panel.web = WebHost.for_settings(
        web_settings, CommandRunner(binaries={"nginx": "/nonexistent/nginx"})
    )
    response = add(client, token, "example.com")
    assert response.status_code == 503
    assert "apt-get install -y nginx" in response.json()["message"]
    assert client.get("/api/v1/domains", headers=bearer(token)).json() == []


def test_names_and_redirects_at_their_limits(client: TestClient, admin_token: str) -> None:
    token = create_user(client, admin_token, "john")
    label = "a" * 60
    too_long = ".".join([label, label, label, "b" * 61, "test"])  # 248 + 1 characters
    assert len(too_long) == 249
    response = client.post("/api/v1/domains", json={"domain": too_long}, headers=bearer(token))
    assert response.status_code == 400, response.text
    assert "at most 248" in response.json()["message"]
    add(client, token, "example.com")
    response = client.put(
        "/api/v1/domains/example.com",
        json={"redirect_url": "https://example.org:99999/"},
        headers=bearer(token),
    )
    assert response.status_code == 400, response.text


def test_certificate_older_than_domain_not_served(
    client: TestClient, admin_token: str, web_settings: Settings
) -> None:
    token = create_user(client, admin_token, "john")
    add(client, token, "example.com")
    panel = client.app.state.panel  # type: ignore[attr-defined]
    engine = create_sync_engine(web_settings.database_url)
    with Session(engine) as db:
        domain = db.scalars(select(Domain).where(Domain.name == "example.com")).one()
        domain.ssl_enabled = True
        directory = hosting.certificate_dir(panel, "example.com")
        directory.mkdir(parents=True)
        for name in ("fullchain.pem", "privkey.pem"):
            (directory / name).write_text("left by an earlier owner of the name\n")
        assert hosting.certificate_files(panel, domain) is not None
        earlier = domain.created_at.timestamp() - 60
        for name in ("fullchain.pem", "privkey.pem"):
            os.utime(directory / name, (earlier, earlier))
        assert hosting.certificate_files(panel, domain) is None
    engine.dispose()
