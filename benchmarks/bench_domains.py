"""Measure what adding a domain costs: the API call, the nginx check and reload, the first page.

Run as root or as the panel's user, with nginx and php-fpm installed:

    .venv/bin/python benchmarks/bench_domains.py [--present 10 100 1000] [--rounds 5]
        [--burst 20]

For each count of domains already present, a fresh panel (local profile, SQLite, its own
nginx and PHP-FPM on free loopback ports) gets that many domains, written in one batch. Then
`POST /api/v1/domains` runs `--rounds` times through the ASGI app in this process. Each round
reports the API call (row, document root, vhost, `nginx -t`, HUP) and the time until nginx
serves the new site's index page.

With `--burst N`, N more domains are then added by N simultaneous API calls, twice: with
changes applied in batches (one `nginx -t` and one reload for the changes waiting), and with
batches of one change, as if each change were applied on its own. Each run reports the
time until the last call returned.
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import shutil
import socket
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from wispanel.app import create_app
from wispanel.core.config import Settings, load_settings
from wispanel.core.database import create_sync_engine
from wispanel.domains import hosting
from wispanel.domains.models import Domain
from wispanel.host import web_batches
from wispanel.users.models import User

ADMIN_PASSWORD = "bench-admin-password"  # noqa: S105 - a benchmark input
USER_PASSWORD = "bench-user-password"  # noqa: S105 - a benchmark input


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def served(port: int, host: str) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/", headers={"Host": host})
        response = connection.getresponse()
        return response.status == 200 and host.encode() in response.read()
    except OSError:
        return False
    finally:
        connection.close()


def seed(client: TestClient, settings_data: Path, count: int) -> None:
    """Add `count` domains of the account `bench` in one batch: rows, files, one reload."""
    panel = client.app.state.panel  # type: ignore[attr-defined]
    engine = create_sync_engine(panel.settings.database_url)
    with Session(engine) as db:
        owner = db.scalars(select(User).where(User.username == "bench")).one()
        domains = [
            Domain(
                name=f"present{number}.bench.test",
                owner_id=owner.id,
                php_version=None,
                document_root=f"domains/present{number}.bench.test/public_html",
                custom_directives="",
                aliases=[],
            )
            for number in range(count)
        ]
        db.add_all(domains)
        db.commit()
        sites = {}
        for domain in domains:
            hosting.create_document_root(panel, "bench", domain.name, domain.document_root)
            sites[domain.name] = hosting.site_config(panel, domain, owner)
    engine.dispose()
    panel.web.stage(sites).commit()


def bench_settings(data_dir: Path, database_url: str | None) -> Settings:
    return load_settings(
        data_dir,
        database={"url": database_url},
        admin_password=ADMIN_PASSWORD,
        web={"http_port": free_port(), "https_port": free_port()},
        logging={"access_log": False, "level": "WARNING"},
        rate_limit={"enabled": False},
    )


def prepare(client: TestClient, data_dir: Path, present: int) -> dict[str, str]:
    """Log in as admin, create the account `bench` with `present` domains; return headers."""
    login = client.post(
        "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    headers = {"Authorization": f"Bearer {login.json()['token']}"}
    account = {"username": "bench", "email": "b@example.com", "password": USER_PASSWORD}
    client.post("/api/v1/users", json=account, headers=headers).raise_for_status()
    seed(client, data_dir, present)
    return headers


def burst(client: TestClient, headers: dict[str, str], prefix: str, count: int) -> float:
    """Add one domain to each of `count` accounts at once; return seconds until the last
    call returned. Calls for one account wait for each other's limit check, so each call
    goes to its own account."""

    def add(number: int) -> int:
        body = {"domain": f"{prefix}{number}.bench.test", "owner": f"{prefix}{number}"}
        return client.post("/api/v1/domains", json=body, headers=headers).status_code

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=count) as pool:
        statuses = list(pool.map(add, range(count)))
    elapsed = time.perf_counter() - started
    if statuses != [201] * count:
        raise SystemExit(f"a simultaneous add failed: {statuses}")
    return elapsed


def measure_bursts(present: int, count: int, database_url: str | None) -> tuple[float, float]:
    """Return seconds for `count` simultaneous adds, batched and one change at a time."""
    data_dir = Path(tempfile.mkdtemp(prefix="wspb-", dir="/tmp"))
    settings = bench_settings(data_dir, database_url)
    try:
        with TestClient(create_app(settings), client=("127.0.0.1", 40000)) as client:
            headers = prepare(client, data_dir, present)
            for prefix in ("batched", "single"):
                for number in range(count):
                    body = {
                        "username": f"{prefix}{number}",
                        "email": f"{prefix}{number}@example.com",
                        "password": USER_PASSWORD,
                    }
                    response = client.post("/api/v1/users", json=body, headers=headers)
                    response.raise_for_status()
            batched = burst(client, headers, "batched", count)
            limit = web_batches.MAX_BATCH
            web_batches.MAX_BATCH = 1
            try:
                single = burst(client, headers, "single", count)
            finally:
                web_batches.MAX_BATCH = limit
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return batched, single


def measure(present: int, rounds: int) -> tuple[list[float], list[float], list[float]]:
    data_dir = Path(tempfile.mkdtemp(prefix="wspb-", dir="/tmp"))
    settings = bench_settings(data_dir, None)
    port = settings.web.http_port
    api_ms: list[float] = []
    served_ms: list[float] = []
    check_ms: list[float] = []
    try:
        with TestClient(create_app(settings), client=("127.0.0.1", 40000)) as client:
            headers = prepare(client, data_dir, present)
            for number in range(rounds):
                name = f"new{number}.bench.test"
                started = time.perf_counter()
                response = client.post(
                    "/api/v1/domains", json={"domain": name, "owner": "bench"}, headers=headers
                )
                answered = time.perf_counter()
                if response.status_code != 201:
                    raise SystemExit(f"adding {name} failed: {response.text}")
                while not served(port, name):
                    if time.perf_counter() - answered > 30:
                        raise SystemExit(f"{name} was not served within 30 s")
                    time.sleep(0.002)
                api_ms.append((answered - started) * 1000)
                served_ms.append((time.perf_counter() - started) * 1000)
            nginx = client.app.state.panel.web.nginx  # type: ignore[attr-defined]
            for _ in range(rounds):
                started = time.perf_counter()
                nginx.check()
                check_ms.append((time.perf_counter() - started) * 1000)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return api_ms, served_ms, check_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--present", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--burst", type=int, default=0, help="simultaneous adds to time")
    parser.add_argument(
        "--burst-database-url",
        help="an empty panel database for the burst runs; SQLite lets one writer at a time",
    )
    arguments = parser.parse_args()
    print(f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print("present  nginx -t (ms)  API call (ms)  call to first page (ms)   medians")
    for present in arguments.present:
        api_ms, served_ms, check_ms = measure(present, arguments.rounds)
        print(
            f"{present:>7}  {statistics.median(check_ms):>13.1f}  "
            f"{statistics.median(api_ms):>13.1f}  {statistics.median(served_ms):>23.1f}"
        )
    if arguments.burst:
        print(f"present  {arguments.burst} simultaneous adds: batched (s)  one at a time (s)")
        for present in arguments.present:
            batched, single = measure_bursts(present, arguments.burst, arguments.burst_database_url)
            print(f"{present:>7}  {batched:>31.2f}  {single:>17.2f}")


if __name__ == "__main__":
    main()
