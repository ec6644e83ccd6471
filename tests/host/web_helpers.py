"""Helpers for tests that run the real nginx and PHP-FPM in a scratch data directory."""

from __future__ import annotations

import http.client
import os
import random
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from wispanel.core.config import Settings
from wispanel.host.phpfpm import discover_versions
from wispanel.host.runner import which

GOLDEN = Path(__file__).parent.parent / "golden"
needs_nginx = pytest.mark.skipif(which("nginx") is None, reason="nginx is not installed")
needs_php_fpm = pytest.mark.skipif(not discover_versions(), reason="php-fpm is not installed")


# Ports for the daemons tests start: below Linux's default ephemeral range (32768-60999),
# so that no outgoing connection of the test run holds one when a daemon binds it.
TEST_PORTS = range(20_000, 32_000)
_handed_out: set[int] = set()


def free_port() -> int:
    """Return a loopback port that is free now and not handed out before in this process."""
    while True:
        port = random.choice(TEST_PORTS)  # noqa: S311 - picking a port, not a secret
        if port in _handed_out:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port


def short_data_dir() -> Iterator[Path]:
    """Yield a data directory with a short path: unix socket paths hold at most 107 bytes."""
    directory = Path(tempfile.mkdtemp(prefix="wsp-", dir="/tmp"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def scratch_panel_settings(make_settings: Callable[..., Settings]) -> Iterator[Settings]:
    """Yield settings with a short data directory and free web, DNS and PowerDNS API ports.

    The rate limits are raised so a test's many calls from one address are not refused.
    """
    for directory in short_data_dir():
        yield make_settings(
            directory,
            web={"http_port": free_port(), "https_port": free_port()},
            dns={"port": free_port(), "api_port": free_port()},
            rate_limit={"default_per_minute": 1000, "anonymous_per_minute": 1000},
        )


def fetch(port: int, host: str, path: str = "/") -> tuple[int, str]:
    """GET a page from the local nginx with a Host header; return status and body."""
    # http.client never follows redirects, so a redirect test can't leave loopback.
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", errors="replace")
    finally:
        connection.close()


def wait_for(
    port: int, host: str, path: str = "/", *, status: int, contains: str = "", timeout: float = 5
) -> tuple[int, str]:
    """Poll until the page has the status (and text), because reloads finish asynchronously."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = fetch(port, host, path)
        except OSError:
            result = (0, "")
        if result[0] == status and contains in result[1]:
            return result
        if time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def assert_golden(name: str, text: str) -> None:
    """Compare rendered text with tests/golden/<name>; WISPANEL_UPDATE_GOLDEN=1 rewrites it."""
    path = GOLDEN / name
    if os.environ.get("WISPANEL_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text, f"{name} differs from the golden file"
