"""The `wispanel doctor` report: the panel database, Redis, every host component, and the
services the panel runs or drives: its nginx, PHP-FPM masters and PowerDNS."""

from __future__ import annotations

import os
from typing import Any

import psutil
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import text

from wispanel.core.config import Profile, Settings
from wispanel.core.database import create_sync_engine
from wispanel.host.components import COMPONENTS, inspect
from wispanel.host.errors import HostError
from wispanel.host.powerdns import PowerDns
from wispanel.host.runner import CommandRunner
from wispanel.host.web import WebHost


def collect(settings: Settings) -> list[dict[str, Any]]:
    runner = CommandRunner()
    running = _running_binaries()
    reports = [_database(settings)]
    if settings.redis.url:
        reports.append(_redis(settings.redis.url))
    for component in COMPONENTS:
        report = inspect(component, runner)
        binary = os.path.basename(report.binary) if report.binary else None
        reports.append(
            {
                "name": report.name,
                "installed": report.installed,
                "running": (binary in running) if binary else False,
                "version": report.version,
                "install_command": report.install_command,
                "purpose": report.purpose,
            }
        )
    reports += _web_services(settings, runner)
    reports.append(_powerdns_service(settings, runner))
    return reports


def _service(name: str, running: bool, detail: str | None, purpose: str) -> dict[str, Any]:
    return {
        "name": name,
        "installed": True,
        "running": running,
        "version": detail,
        "install_command": "",
        "purpose": purpose,
    }


def _owner(settings: Settings) -> str:
    return "panel's" if settings.server.profile is Profile.LOCAL else "system's"


def _web_services(settings: Settings, runner: CommandRunner) -> list[dict[str, Any]]:
    """Report the nginx that serves the sites and each PHP-FPM master that has pools."""
    web = WebHost.for_settings(settings, runner)
    owner = _owner(settings)
    rows = []
    try:
        pid = web.nginx.running_pid()
        address = f"HTTP {settings.web.listen_address}:{settings.web.http_port}"
        detail = f"pid {pid}, {address}" if pid is not None else f"stopped, {address}"
        rows.append(_service(f"nginx ({owner})", pid is not None, detail, "serves the sites"))
    except HostError as error:
        rows.append(_service(f"nginx ({owner})", False, str(error), "serves the sites"))
    for item in web.php.versions():
        if not web.php.has_pools(item.version):
            continue
        pools = len(web.php.layout.pool_files(item.version))
        pid = web.php.running_pid(item.version)
        rows.append(
            _service(
                f"php-fpm {item.version} ({owner})",
                pid is not None,
                f"pid {pid}, {pools} account pools" if pid is not None else "stopped",
                "runs PHP for the sites",
            )
        )
    return rows


def _powerdns_service(settings: Settings, runner: CommandRunner) -> dict[str, Any]:
    """Report whether PowerDNS answers its API and, in the local profile, whether it runs."""
    status = PowerDns(settings, runner).status()
    api = f"API 127.0.0.1:{settings.dns.api_port}"
    if status.api_answers:
        detail = f"{status.version}, {status.zones} zones, {api}, DNS port {settings.dns.port}"
    else:
        detail = f"{api} not answering: {status.problem}"
    running = status.api_answers and status.daemon_running is not False
    return _service(f"powerdns ({_owner(settings)})", running, detail, "answers the zones")


def _running_binaries() -> set[str]:
    """Names of the executables of every process on the host."""
    names: set[str] = set()
    for process in psutil.process_iter(["name", "exe"]):
        info = process.info
        if info.get("exe"):
            names.add(os.path.basename(info["exe"]))
        if info.get("name"):
            names.add(info["name"])
    return names


def _database(settings: Settings) -> dict[str, Any]:
    engine = create_sync_engine(settings.database_url)
    report: dict[str, Any] = {
        "name": f"panel database ({engine.dialect.name})",
        "installed": True,
        "running": False,
        "version": None,
        "install_command": "set WISPANEL_DATABASE__URL, or leave it unset for SQLite",
        "purpose": "panel state",
    }
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            info = engine.dialect.server_version_info
            report["running"] = True
            report["version"] = ".".join(str(part) for part in info) if info else None
    except Exception as error:
        report["version"] = f"unreachable: {type(error).__name__}"
    finally:
        engine.dispose()
    return report


def _redis(url: str) -> dict[str, Any]:
    report: dict[str, Any] = {
        "name": "redis",
        "installed": True,
        "running": False,
        "version": None,
        "install_command": "apt-get install -y redis-server",
        "purpose": "shared rate limits, idempotency keys and jobs",
    }
    try:
        client = Redis.from_url(url, socket_timeout=2)
        report["version"] = str(client.info("server").get("redis_version"))
        report["running"] = True
    except RedisError as error:
        report["version"] = f"unreachable: {type(error).__name__}"
    return report
