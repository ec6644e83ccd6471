"""The host through the API: information, resources now and over time, processes, the build."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psutil
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from tests.conftest import bearer, login
from tests.factories import create_account
from wispanel import __version__
from wispanel.core import migrate
from wispanel.core.config import Settings
from wispanel.core.database import create_sync_engine, utcnow
from wispanel.system.models import ResourceSample
from wispanel.system.sampler import record_sample
from wispanel.system.version import SOURCE_ROOT

HISTORY = "/api/v1/system/resources/history"
PROCESSES = "/api/v1/system/processes"


@pytest.fixture
def john(client: TestClient, settings: Settings) -> str:
    create_account(settings, "john")
    return login(client, "john", "account-password")


def get(client: TestClient, token: str, path: str, **params: Any) -> Any:
    response = client.get(path, params=params, headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()


def samples_in_database(settings: Settings) -> list[ResourceSample]:
    engine = create_sync_engine(settings.database_url)
    with Session(engine) as db:
        rows = list(db.scalars(select(ResourceSample).order_by(ResourceSample.taken_at)).all())
        db.expunge_all()
    engine.dispose()
    return rows


def test_info_describes_host(client: TestClient, admin_token: str) -> None:
    info = get(client, admin_token, "/api/v1/system/info")
    assert info["hostname"] == socket.gethostname()
    assert info["os"]["id"] == platform.freedesktop_os_release()["ID"]
    assert info["kernel_release"] == platform.release()
    assert info["architecture"] == platform.machine()
    assert info["cpu_count"] == os.cpu_count()
    assert info["panel_version"] == __version__
    assert info["profile"] == "local"
    assert 0 <= info["uptime_seconds"] <= time.time() - psutil.boot_time() + 5


def test_resources_read_host(client: TestClient, admin_token: str, settings: Settings) -> None:
    now = get(client, admin_token, "/api/v1/system/resources")
    assert len(now["cpu"]["per_core"]) == os.cpu_count()
    assert 0 <= now["cpu"]["percent"] <= 100
    assert now["memory"]["total_bytes"] == psutil.virtual_memory().total
    assert [disk["label"] for disk in now["disks"]] == ["data", "home"]
    data = now["disks"][0]
    assert data["path"] == str(settings.data_dir)
    assert os.path.ismount(data["mountpoint"])
    assert data["total_bytes"] == psutil.disk_usage(data["mountpoint"]).total
    assert now["disks"][1]["path"] == str(settings.data_dir / "home")
    assert now["load"]["load_1"] >= 0
    names = {item["interface"] for item in now["network"]["interfaces"]}
    assert "lo" in names
    assert now["network"]["totals"]["interface"] is None


def test_reads_open_to_users(client: TestClient, john: str) -> None:
    for path in ("/api/v1/system/info", "/api/v1/system/resources", "/api/v1/version/info"):
        assert client.get(path, headers=bearer(john)).status_code == 200, path
    for path in (PROCESSES, HISTORY):
        response = client.get(path, headers=bearer(john))
        assert response.status_code == 403, path
        assert response.json()["code"] == "FORBIDDEN"


def test_system_needs_authentication(client: TestClient) -> None:
    for path in ("/api/v1/system/info", PROCESSES, "/api/v1/services", "/api/v1/version/info"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.json()["message"] == "Missing authorization"


def test_processes_sorted_and_capped(client: TestClient, admin_token: str) -> None:
    by_memory = get(client, admin_token, PROCESSES, sort="memory", limit=5)
    assert 1 <= len(by_memory) <= 5
    sizes = [row["memory_rss_bytes"] for row in by_memory]
    assert sizes == sorted(sizes, reverse=True)
    biggest = max(
        process.info["memory_info"].rss
        for process in psutil.process_iter(["memory_info"])
        if process.info["memory_info"] is not None
    )
    assert sizes[0] >= biggest * 0.5
    by_cpu = get(client, admin_token, PROCESSES)
    assert len(by_cpu) <= 20
    shares = [row["cpu_percent"] for row in by_cpu]
    assert shares == sorted(shares, reverse=True)
    assert all(row["pid"] > 0 and row["name"] for row in by_cpu)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"sort": "disk"}, "sort"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "many"}, "limit"),
    ],
)
def test_processes_bad_params(
    client: TestClient, admin_token: str, params: dict[str, Any], field: str
) -> None:
    response = client.get(PROCESSES, params=params, headers=bearer(admin_token))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert f"query.{field}" in body["details"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "since"),
        ({"since": "2026-01-01T00:00:00"}, "query.since"),
        ({"until": "yesterday"}, "query.until"),
        ({"max_points": 0}, "query.max_points"),
        ({"max_points": 20_000}, "query.max_points"),
        ({"max_points": 1001}, "max_points"),
        ({"host": "../etc"}, "query.host"),
        ({"since": "0001-01-01T00:00:00Z"}, "since"),
        ({"until": "9999-12-31T23:59:59-23:59"}, "until"),
    ],
)
def test_history_bad_params(
    client: TestClient, admin_token: str, params: dict[str, Any], field: str
) -> None:
    response = client.get(HISTORY, params=params, headers=bearer(admin_token))
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert field in body["details"]


def test_history_returns_sampled_points(
    client: TestClient, admin_token: str, settings: Settings
) -> None:
    engine = create_sync_engine(settings.database_url)
    start = utcnow() - timedelta(hours=2)
    for step in range(3):
        assert record_sample(engine, settings, now=start + timedelta(minutes=5 * step))
        time.sleep(0.3)  # lets the CPU counters move between samples
    engine.dispose()
    window = {
        "since": (start - timedelta(minutes=1)).isoformat(),
        "until": (start + timedelta(minutes=11)).isoformat(),
    }

    history = get(client, admin_token, HISTORY, **window)
    assert history["host"] == socket.gethostname()
    assert history["samples"] == 3
    assert history["bucket_seconds"] == 300
    points = history["points"]
    assert sum(point["samples"] for point in points) == 3
    assert points[0]["cpu_percent"] is None  # no sample before it to compare with
    later = [point for point in points if point["cpu_percent"] is not None]
    assert later
    assert all(0 <= point["cpu_percent"] <= 100 for point in later)
    assert all(point["network_recv_bytes_per_second"] >= 0 for point in later)
    assert all(0 < point["memory_percent"] < 100 for point in points)

    single = get(client, admin_token, HISTORY, max_points=1, **window)
    assert len(single["points"]) == 1
    assert single["points"][0]["samples"] == 3
    other = get(client, admin_token, HISTORY, host="other-node", **window)
    assert other["points"] == []


def test_history_default_range_is_a_day(
    client: TestClient, admin_token: str, settings: Settings
) -> None:
    engine = create_sync_engine(settings.database_url)
    record_sample(engine, settings, now=utcnow() - timedelta(hours=30))
    record_sample(engine, settings, now=utcnow() - timedelta(hours=1))
    engine.dispose()
    history = get(client, admin_token, HISTORY)
    times = [point["time"] for point in history["points"]]
    assert history["samples"] >= 1
    assert all(time_ >= history["since"] for time_ in times)


def test_sampler_prunes_and_skips(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(system={"sample_retention_days": 7})
    engine = create_sync_engine(settings.database_url)
    migrate.upgrade(engine, settings.data_dir)
    now = utcnow()
    assert record_sample(engine, settings, now=now - timedelta(days=8))
    assert record_sample(engine, settings, now=now - timedelta(days=1))
    assert record_sample(engine, settings, now=now)
    # A second sample within half an interval is redundant.
    assert not record_sample(engine, settings, now=now + timedelta(seconds=30))
    with Session(engine) as db:
        count = db.scalar(select(func.count()).select_from(ResourceSample))
        oldest = db.scalar(select(func.min(ResourceSample.taken_at)))
    engine.dispose()
    assert count == 2
    assert oldest is not None
    assert oldest > now - timedelta(days=7)


def test_customers_see_less_of_the_host(client: TestClient, john: str) -> None:
    version = get(client, john, "/api/v1/version/info")
    assert version["version"] == __version__
    assert (version["git_commit"], version["python_version"], version["build_date"]) == (
        None,
        None,
        None,
    )
    info = get(client, john, "/api/v1/system/info")
    assert info["hostname"] == socket.gethostname()
    assert (info["kernel_version"], info["boot_time"]) == (None, None)
    now = get(client, john, "/api/v1/system/resources")
    assert [(disk["path"], disk["mountpoint"]) for disk in now["disks"]] == [(None, None)] * 2
    assert now["network"]["interfaces"] == []
    assert now["network"]["totals"]["bytes_sent"] >= 0


def test_version_reports_build(client: TestClient, admin_token: str) -> None:
    version = get(client, admin_token, "/api/v1/version/info")
    assert version["version"] == __version__
    assert version["python_version"] == platform.python_version()
    if not (SOURCE_ROOT / ".git").exists():
        assert version["git_commit"] == "unknown"
        return
    head = subprocess.run(
        ["git", "-C", str(SOURCE_ROOT), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert version["git_commit"] == head
    assert version["build_date"] is not None


def test_sample_taken_at_start(client: TestClient, settings: Settings) -> None:
    deadline = time.monotonic() + 10
    while not samples_in_database(settings) and time.monotonic() < deadline:
        time.sleep(0.1)
    (sample,) = samples_in_database(settings)
    assert sample.host == socket.gethostname()
    assert sample.cpu_total_seconds > sample.cpu_busy_seconds > 0
    used = psutil.disk_usage(str(settings.data_dir)).percent
    assert sample.data_disk_percent == pytest.approx(used, abs=1.0)
