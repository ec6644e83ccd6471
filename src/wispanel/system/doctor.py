"""The `wispanel doctor` report: the panel database, Redis and every host component."""

from __future__ import annotations

import os
from typing import Any

import psutil
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import text

from wispanel.core.config import Settings
from wispanel.core.database import create_sync_engine
from wispanel.host.components import COMPONENTS, inspect
from wispanel.host.runner import CommandRunner


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
    return reports


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
