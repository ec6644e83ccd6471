"""`wispanel reconcile` against the real nginx, PHP-FPM and PowerDNS, after the host drifted."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.rcode
import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from tests.api.test_dns import answers, needs_pdns, query
from tests.conftest import bearer, login
from tests.host.web_helpers import (
    fetch,
    needs_nginx,
    needs_php_fpm,
    scratch_panel_settings,
    wait_for,
)
from tests.unit.test_cli import uncached_logging  # noqa: F401 - an autouse fixture
from wispanel.app import create_app
from wispanel.cli import app as cli_app
from wispanel.core.config import Settings
from wispanel.core.drift import Drift
from wispanel.host.powerdns_api import RRset
from wispanel.reconcile import reconcile

pytestmark = [pytest.mark.integration, needs_nginx, needs_php_fpm, needs_pdns]
PASSWORD = "account-password"


@pytest.fixture
def panel_settings(make_settings: Callable[..., Settings]) -> Iterator[Settings]:
    yield from scratch_panel_settings(make_settings)


@pytest.fixture
def client(panel_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(panel_settings), client=("127.0.0.1", 40000)) as test_client:
        yield test_client


@pytest.fixture
def john(client: TestClient, admin_token: str) -> str:
    body = {"username": "john", "email": "john@example.com", "password": PASSWORD}
    assert client.post("/api/v1/users", json=body, headers=bearer(admin_token)).status_code == 201
    token = login(client, "john", PASSWORD)
    for domain in ("example.com", "example.org"):
        added = client.post("/api/v1/domains", json={"domain": domain}, headers=bearer(token))
        assert added.status_code == 201, added.text
    return token


def drift_of(settings: Settings, *, repair: bool) -> set[Drift]:
    return set(asyncio.run(reconcile(settings, repair=repair)))


def test_matching_host_has_no_drift(
    client: TestClient, john: str, panel_settings: Settings
) -> None:
    assert drift_of(panel_settings, repair=False) == set()


def test_drift_found_then_repaired(client: TestClient, john: str, panel_settings: Settings) -> None:
    web = client.app.state.panel.web  # type: ignore[attr-defined]
    pdns = client.app.state.panel.dns  # type: ignore[attr-defined]
    port = panel_settings.web.http_port
    home = Path(panel_settings.data_dir) / "home" / "john"
    # A lost server block, a hand-edited pool, a stray block and a lost document root.
    web.nginx.site_file("example.com").unlink()
    pool = web.php.layout.pool_file("john", web.php.default_version())
    pool.write_text(pool.read_text().replace("pm.max_children = 5", "pm.max_children = 50"))
    stray = web.nginx.site_file("stray.example.net")
    stray.write_text(web.nginx.site_file("example.org").read_text().replace("example.org", "x"))
    shutil.rmtree(home / "domains" / "example.org")
    # A lost zone, a changed record and a stray zone in PowerDNS.
    pdns.delete_zone("example.com.")
    soa = next(r for r in pdns.api().get_zone("example.org.")["rrsets"] if r["type"] == "SOA")
    a_record = RRset("www.example.org.", "A", 60, ("192.0.2.66",))
    pdns.api().patch_rrsets("example.org.", [a_record], [])
    pdns.sync_zone(
        "stray.example.",
        [RRset("stray.example.", "SOA", 3600, (soa["records"][0]["content"],))],
    )

    expected = {
        Drift("nginx", "example.com", "create"),
        Drift("nginx", "stray.example.net", "remove"),
        Drift("php-fpm", f"john php{web.php.default_version()}", "update"),
        Drift("document root", "example.org", "create"),
        Drift("powerdns", "example.com", "create"),
        Drift("powerdns", "example.org", "update"),
        Drift("powerdns", "stray.example", "remove"),
    }
    assert drift_of(panel_settings, repair=False) == expected
    assert not web.nginx.site_file("example.com").exists()

    assert drift_of(panel_settings, repair=True) == expected
    assert drift_of(panel_settings, repair=False) == set()
    assert wait_for(port, "example.com", status=200, contains="example.com")[0] == 200
    assert wait_for(port, "example.org", status=200, contains="example.org")[0] == 200
    assert not stray.exists()
    assert "pm.max_children = 5\n" in pool.read_text()
    assert answers(panel_settings, "www.example.com", "A") == ["127.0.0.1"]
    assert answers(panel_settings, "www.example.org", "A") == ["127.0.0.1"]
    assert query(panel_settings, "stray.example", "SOA").rcode() == dns.rcode.REFUSED


def test_unknown_files_left_alone(client: TestClient, john: str, panel_settings: Settings) -> None:
    web = client.app.state.panel.web  # type: ignore[attr-defined]
    odd = web.nginx.layout.sites_dir / "not a hostname.conf"
    odd.write_text("# a hand-made file\n")
    found = drift_of(panel_settings, repair=True)
    assert found == {Drift("nginx", "not a hostname.conf", "unknown file, left alone")}
    assert odd.exists()
    assert fetch(panel_settings.web.http_port, "example.com")[0] == 200


def test_command_reports_and_exits_nonzero_on_drift(
    client: TestClient, john: str, panel_settings: Settings
) -> None:
    web = client.app.state.panel.web  # type: ignore[attr-defined]
    web.nginx.site_file("example.org").unlink()
    env = {
        "WISPANEL_WEB__HTTP_PORT": str(panel_settings.web.http_port),
        "WISPANEL_WEB__HTTPS_PORT": str(panel_settings.web.https_port),
        "WISPANEL_DNS__PORT": str(panel_settings.dns.port),
        "WISPANEL_DNS__API_PORT": str(panel_settings.dns.api_port),
    }
    if panel_settings.database.url:
        env["WISPANEL_DATABASE__URL"] = panel_settings.database.url
    runner = CliRunner()
    data_dir = str(panel_settings.data_dir)
    checked = runner.invoke(
        cli_app, ["reconcile", "--data-dir", data_dir, "--dry-run", "--json"], env=env
    )
    assert checked.exit_code == 1, checked.output
    assert json.loads(checked.stdout) == [
        {"component": "nginx", "name": "example.org", "action": "create"}
    ]
    repaired = runner.invoke(cli_app, ["reconcile", "--data-dir", data_dir], env=env)
    assert repaired.exit_code == 0, repaired.output
    assert "example.org" in repaired.stdout
    clean = runner.invoke(cli_app, ["reconcile", "--data-dir", data_dir, "--dry-run"], env=env)
    assert clean.exit_code == 0, clean.output
    assert "The host matches the database." in clean.stdout
