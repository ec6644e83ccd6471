"""Changes that arrive together share one check and one reload of the real nginx."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from structlog.testing import capture_logs
from tests.host.test_nginx_apply import make_site
from tests.host.web_helpers import fetch, free_port, needs_nginx, short_data_dir, wait_for

from wispanel.core.config import Settings, load_settings
from wispanel.host.errors import ApplyError
from wispanel.host.runner import CommandRunner
from wispanel.host.web import WebHost

pytestmark = needs_nginx
DOMAINS = [f"site{index}.test" for index in range(12)]


@pytest.fixture
def data_dir() -> Iterator[Path]:
    yield from short_data_dir()


@pytest.fixture
def web(data_dir: Path) -> Iterator[WebHost]:
    settings: Settings = load_settings(
        data_dir, web={"http_port": free_port(), "https_port": free_port()}
    )
    host = WebHost.for_settings(settings, CommandRunner())
    host.stage({"first.test": make_site(data_dir, "first.test")}).commit()
    yield host
    host.stop()


def queued_together(web: WebHost, count: int, work: Callable[[int], object]) -> list[object]:
    """Run `work` in threads while the apply lock is held, so their changes queue up."""
    started = threading.Semaphore(0)

    def run(index: int) -> object:
        started.release()
        return work(index)

    web.lock.acquire()
    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(run, index) for index in range(count)]
        for _ in range(count):
            started.acquire(timeout=10)
        # Each thread is now at most a few steps from queueing its change.
        time.sleep(0.2)
        web.lock.release()
        results = []
        for future in futures:
            try:
                results.append(future.result())
            except Exception as error:
                results.append(error)
    return results


def test_queued_changes_share_check_and_reload(web: WebHost, data_dir: Path) -> None:
    sites = {domain: make_site(data_dir, domain) for domain in DOMAINS}

    def add(index: int) -> None:
        web.stage({DOMAINS[index]: sites[DOMAINS[index]]}).commit()

    with capture_logs() as logs:
        results = queued_together(web, len(DOMAINS), add)
    assert results == [None] * len(DOMAINS)
    checks = [entry for entry in logs if entry.get("command") == "nginx"]
    reloads = [entry for entry in logs if entry["event"] == "nginx.reloaded"]
    assert 1 <= len(reloads) <= 2, reloads
    assert len(checks) <= 2, checks
    port = web.nginx.web.http_port
    for domain in DOMAINS:
        assert fetch(port, domain)[0] == 200, domain


def test_rejected_change_in_batch_fails_alone(web: WebHost, data_dir: Path) -> None:
    broken = DOMAINS[3]

    def add(index: int) -> None:
        domain = DOMAINS[index]
        extra = {"custom_directives": "expires not-a-time;"} if domain == broken else {}
        web.stage({domain: make_site(data_dir, domain, **extra)}).commit()

    results = queued_together(web, 6, add)
    assert isinstance(results[3], ApplyError)
    assert "expires" in str(results[3])
    assert [result for index, result in enumerate(results) if index != 3] == [None] * 5
    port = web.nginx.web.http_port
    for domain in DOMAINS[:6]:
        expected = 404 if domain == broken else 200
        assert fetch(port, domain)[0] == expected, domain
    assert not web.nginx.site_file(broken).exists()


def test_rollback_in_batch_keeps_the_others(web: WebHost, data_dir: Path) -> None:
    undone = DOMAINS[2]

    def add(index: int) -> None:
        domain = DOMAINS[index]
        change = web.stage({domain: make_site(data_dir, domain)})
        if domain == undone:
            change.rollback()
        else:
            change.commit()

    results = queued_together(web, 5, add)
    assert results == [None] * 5
    port = web.nginx.web.http_port
    for domain in DOMAINS[:5]:
        expected = 404 if domain == undone else 200
        assert wait_for(port, domain, status=expected)[0] == expected, domain
    assert not web.nginx.site_file(undone).exists()


def test_undecided_change_waits_for_its_caller(web: WebHost, data_dir: Path) -> None:
    change = web.stage({"late.test": make_site(data_dir, "late.test")})
    decided = threading.Event()

    def other() -> None:
        web.stage({"other.test": make_site(data_dir, "other.test")}).commit()
        decided.set()

    thread = threading.Thread(target=other)
    thread.start()
    # The other change can't start until this one is committed: it would test our files.
    assert not decided.wait(0.3)
    change.commit()
    thread.join(10)
    assert decided.is_set()
    port = web.nginx.web.http_port
    assert fetch(port, "late.test")[0] == 200
    assert fetch(port, "other.test")[0] == 200
