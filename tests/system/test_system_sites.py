"""The `system` profile end to end, on Debian's own nginx and PHP-FPM.

A domain added through the API is served, its pool runs as the account's Linux user, and
nginx's workers (www-data) reach the site through the account's home without reading
anything else in it.

The panel writes only its own files: /etc/nginx/conf.d/wispanel.conf, /etc/nginx/wispanel,
/etc/php/<version>/fpm/pool.d/wispanel-*.conf, /var/lib/wispanel and /var/log/wispanel.
These tests run only where none of them exists and neither daemon runs yet, start both
daemons, and stop them and remove those files afterwards. PowerDNS plays the installed
server: the test starts it on free ports, as an operator would have, and the panel only
talks to its API.
"""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD, bearer, login
from tests.host.web_helpers import fetch, free_port, needs_nginx, needs_php_fpm, wait_for
from wispanel.app import create_app
from wispanel.core.config import Settings
from wispanel.host.accounts import SystemAccounts
from wispanel.host.phpfpm import discover_versions
from wispanel.host.powerdns import PowerDns
from wispanel.host.runner import CommandRunner, which

pytestmark = [
    pytest.mark.system,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create Linux users"),
    needs_nginx,
    needs_php_fpm,
    pytest.mark.skipif(which("pdns_server") is None, reason="pdns_server is missing"),
]
PASSWORD = "account-password"
PANEL_PATHS = (
    Path("/etc/nginx/conf.d/wispanel.conf"),
    Path("/etc/nginx/wispanel"),
    Path("/var/lib/wispanel"),
    Path("/var/log/wispanel"),
)
PROBE = "<?php echo 'user=' . posix_getpwuid(posix_geteuid())['name'] . ' php=' . PHP_VERSION;"


def _alive(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def _port_taken(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))  # noqa: S104 - nginx will bind every address
        except OSError:
            return True
    return False


def _stop(pid_file: Path) -> None:
    pid = _alive(pid_file)
    if pid is None:
        return
    os.kill(pid, signal.SIGQUIT)
    deadline = time.monotonic() + 10
    while _alive(pid_file) == pid and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.fixture
def php_version() -> str:
    return discover_versions()[-1].version


@pytest.fixture
def clean_host(php_version: str) -> Iterator[None]:
    """Skip on a host that already serves anything of this kind; undo everything after."""
    nginx_pid, fpm_pid = Path("/run/nginx.pid"), Path(f"/run/php/php{php_version}-fpm.pid")
    pools = Path(f"/etc/php/{php_version}/fpm/pool.d")
    if any(path.exists() for path in PANEL_PATHS) or list(pools.glob("wispanel-*.conf")):
        pytest.skip("files of a WisPanel system install exist on this host")
    if _alive(nginx_pid) or _alive(fpm_pid) or _port_taken(80):
        pytest.skip("nginx or PHP-FPM already runs here, or port 80 is taken")
    try:
        yield
    finally:
        _stop(nginx_pid)
        _stop(fpm_pid)
        for pool in pools.glob("wispanel-*.conf"):
            pool.unlink()
        for path in PANEL_PATHS:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)


@pytest.fixture
def powerdns(make_settings: Callable[..., Settings]) -> Iterator[Settings]:
    """A pdns_server the panel did not start, and settings of the system profile using it."""
    directory = Path(tempfile.mkdtemp(prefix="wsp-", dir="/tmp"))
    server = make_settings(
        directory / "pdns-host", dns={"port": free_port(), "api_port": free_port()}
    )
    dns = PowerDns(server, CommandRunner())
    dns.ensure_running()
    try:
        yield make_settings(
            directory / "panel",
            server={"profile": "system"},
            dns={
                "port": server.dns.port,
                "api_port": server.dns.api_port,
                "api_key_file": str(dns.layout.api_key_file),
            },
        )
    finally:
        dns.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def username() -> Iterator[str]:
    name = f"wsptest{secrets.token_hex(3)}"
    yield name
    SystemAccounts(CommandRunner(), Path("/home"), "/usr/sbin/nologin").remove(name)


@pytest.fixture
def client(clean_host: None, powerdns: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(powerdns), client=("127.0.0.1", 40000)) as test_client:
        yield test_client


def test_system_profile_defaults(powerdns: Settings) -> None:
    assert powerdns.web.listen_address == "*"
    assert (powerdns.web.http_port, powerdns.web.https_port) == (80, 443)


def test_site_served_by_the_system_nginx(
    username: str, client: TestClient, php_version: str
) -> None:
    admin = login(client, "admin", ADMIN_PASSWORD)
    body = {"username": username, "email": f"{username}@example.com", "password": PASSWORD}
    created = client.post("/api/v1/users", json=body, headers=bearer(admin))
    assert created.status_code == 201, created.text
    token = login(client, username, PASSWORD)
    domain = f"{username}.example"
    added = client.post("/api/v1/domains", json={"domain": domain}, headers=bearer(token))
    assert added.status_code == 201, added.text

    user = pwd.getpwnam(username)
    web_gid = grp.getgrnam("www-data").gr_gid
    home = Path(user.pw_dir)
    root = home / "domains" / domain / "public_html"
    info = root.stat()
    assert (info.st_uid, info.st_gid) == (user.pw_uid, web_gid)
    assert stat.S_IMODE(info.st_mode) == 0o2750
    pool = Path(f"/etc/php/{php_version}/fpm/pool.d/wispanel-{username}.conf")
    assert f"user = {username}\n" in pool.read_text()
    assert Path(f"/etc/nginx/wispanel/sites/{domain}.conf").is_file()

    status, page = wait_for(80, domain, status=200, contains=domain)
    assert status == 200
    assert domain in page
    assert wait_for(80, f"www.{domain}", status=200, contains=domain)[0] == 200

    probe = root / "probe.php"
    probe.write_text(PROBE)
    os.chown(probe, user.pw_uid, user.pw_gid)
    status, output = fetch(80, domain, "/probe.php")
    assert status == 200
    assert output.startswith(f"user={username} php={php_version}.")

    lines = _access_log(client, token, domain, "/probe.php")
    assert any("/probe.php" in line for line in lines)
    assert Path(f"/var/log/wispanel/{username}/{domain}.access.log").is_file()

    deleted = client.delete(f"/api/v1/domains/{domain}", headers=bearer(token))
    assert deleted.status_code == 200, deleted.text
    assert not pool.exists()
    assert not Path(f"/etc/nginx/wispanel/sites/{domain}.conf").exists()
    assert domain not in _page_after_reload(domain)


def _access_log(client: TestClient, token: str, domain: str, expected: str) -> list[str]:
    """Poll the logs endpoint: nginx writes a request's line after sending the response."""
    deadline = time.monotonic() + 5
    while True:
        response = client.get(f"/api/v1/domains/{domain}/logs?type=access", headers=bearer(token))
        assert response.status_code == 200, response.text
        lines: list[str] = response.json()["lines"]
        if any(expected in line for line in lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def _page_after_reload(host: str, timeout: float = 5) -> str:
    """Poll until the page stops naming the host: nginx reloads after the API responds."""
    deadline = time.monotonic() + timeout
    page = fetch(80, host)[1]
    while host in page and time.monotonic() < deadline:
        time.sleep(0.05)
        page = fetch(80, host)[1]
    return page


def test_links_planted_by_the_account_are_refused(username: str, client: TestClient) -> None:
    admin = login(client, "admin", ADMIN_PASSWORD)
    body = {"username": username, "email": f"{username}@example.com", "password": PASSWORD}
    assert client.post("/api/v1/users", json=body, headers=bearer(admin)).status_code == 201
    token = login(client, username, PASSWORD)
    home = Path(pwd.getpwnam(username).pw_dir)
    outside = Path(tempfile.mkdtemp(prefix="wsp-outside-", dir="/tmp"))
    # Readable by nginx's workers, so only the link rule keeps it from being served.
    outside.chmod(0o755)
    secret = outside / "secret.txt"
    secret.write_text("root only")
    secret.chmod(0o644)
    try:
        # A link where the panel will create the domain's directory, pointing outside.
        trap = f"trap.{username}.example"
        (home / "domains" / trap).symlink_to(outside)
        response = client.post("/api/v1/domains", json={"domain": trap}, headers=bearer(token))
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "VALIDATION_ERROR"
        assert sorted(path.name for path in outside.iterdir()) == ["secret.txt"]
        assert outside.stat().st_uid == 0

        # A link inside a document root to a file of root's is not served.
        domain = f"{username}.example"
        added = client.post("/api/v1/domains", json={"domain": domain}, headers=bearer(token))
        assert added.status_code == 201, added.text
        leak = home / "domains" / domain / "public_html" / "leak.txt"
        leak.symlink_to(secret)
        os.chown(leak, pwd.getpwnam(username).pw_uid, -1, follow_symlinks=False)
        wait_for(80, domain, status=200, contains=domain)
        status, page = fetch(80, domain, "/leak.txt")
        assert status in (403, 404)
        assert "root only" not in page

        # The document root itself swapped for a link to root's directory.
        root = home / "domains" / domain / "public_html"
        shutil.rmtree(root)
        root.symlink_to(outside)
        os.chown(root, pwd.getpwnam(username).pw_uid, -1, follow_symlinks=False)
        status, page = fetch(80, domain, "/secret.txt")
        assert status in (403, 404)
        assert "root only" not in page
    finally:
        shutil.rmtree(outside)
