"""Readings of the host through psutil: CPU, memory, disks, load, network and processes.

Every function here blocks (a CPU reading waits for its window), so the API calls them in
a worker thread.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from wispanel.core.config import Profile, Settings

# Seconds a CPU reading of the API waits between its two measurements.
CPU_WINDOW_SECONDS = 0.5
MAX_COMMAND_LENGTH = 512


@dataclass(frozen=True, slots=True)
class DiskReading:
    label: str
    path: str
    mountpoint: str
    filesystem: str | None
    total_bytes: int
    used_bytes: int
    free_bytes: int
    percent: float


@dataclass(frozen=True, slots=True)
class SampleReading:
    """The values one resource sample stores; CPU and network are counters since boot."""

    host: str
    cpu_busy_seconds: float
    cpu_total_seconds: float
    memory_percent: float
    memory_used_bytes: int
    swap_percent: float
    data_disk_percent: float
    home_disk_percent: float
    load_1: float
    load_5: float
    load_15: float
    net_bytes_sent: int
    net_bytes_recv: int


def host_name() -> str:
    return socket.gethostname()


def home_root(settings: Settings) -> Path:
    """Return the parent directory of the account homes in this profile."""
    if settings.server.profile is Profile.SYSTEM:
        return settings.accounts.home_root
    return settings.data_dir / "home"


def _existing(path: Path) -> Path:
    """Return the path, or its nearest parent that exists: a fresh data directory may not."""
    current = path.absolute()
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def _mountpoint(path: Path) -> Path:
    current = path.resolve()
    while not os.path.ismount(current):
        current = current.parent
    return current


def _filesystems() -> dict[str, str]:
    return {part.mountpoint: part.fstype for part in psutil.disk_partitions(all=True)}


def disk(label: str, path: Path) -> DiskReading:
    """Read the usage of the file system that contains `path`."""
    existing = _existing(path)
    usage = psutil.disk_usage(str(existing))
    mountpoint = _mountpoint(existing)
    return DiskReading(
        label=label,
        path=str(path),
        mountpoint=str(mountpoint),
        filesystem=_filesystems().get(str(mountpoint)),
        total_bytes=usage.total,
        used_bytes=usage.used,
        free_bytes=usage.free,
        percent=usage.percent,
    )


def disks(settings: Settings) -> list[DiskReading]:
    return [disk("data", settings.data_dir), disk("home", home_root(settings))]


def cpu_percents(window: float = CPU_WINDOW_SECONDS) -> tuple[float, list[float]]:
    """Measure the busy share of every core over `window` seconds; return the mean and each."""
    per_core: list[float] = psutil.cpu_percent(interval=window, percpu=True)
    return round(sum(per_core) / len(per_core), 1), per_core


def cpu_counters() -> tuple[float, float]:
    """Return the seconds all CPUs spent busy and in total since boot, as psutil counts them.

    Idle and I/O wait are not busy. Guest time is already part of user time on Linux.
    """
    times = psutil.cpu_times()
    total = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    busy = total - times.idle - getattr(times, "iowait", 0.0)
    return busy, total


def current(settings: Settings) -> dict[str, Any]:
    """Read everything GET /system/resources shows, waiting CPU_WINDOW_SECONDS for the CPU."""
    cpu_percent, per_core = cpu_percents()
    memory = psutil.virtual_memory()
    swap = psutil.swap_memory()
    load_1, load_5, load_15 = psutil.getloadavg()
    totals = psutil.net_io_counters()
    interfaces = psutil.net_io_counters(pernic=True)
    return {
        "sampled_at": datetime.now(UTC),
        "cpu": {
            "percent": cpu_percent,
            "per_core": per_core,
            "logical_count": psutil.cpu_count() or len(per_core),
            "physical_count": psutil.cpu_count(logical=False),
        },
        "memory": {
            "total_bytes": memory.total,
            "available_bytes": memory.available,
            "used_bytes": memory.used,
            "percent": memory.percent,
        },
        "swap": {
            "total_bytes": swap.total,
            "used_bytes": swap.used,
            "free_bytes": swap.free,
            "percent": swap.percent,
        },
        "disks": disks(settings),
        "load": {"load_1": load_1, "load_5": load_5, "load_15": load_15},
        "network": {
            "totals": _network(totals, None),
            "interfaces": [_network(counters, name) for name, counters in interfaces.items()],
        },
    }


def _network(counters: Any, name: str | None) -> dict[str, Any]:
    return {
        "interface": name,
        "bytes_sent": counters.bytes_sent,
        "bytes_recv": counters.bytes_recv,
        "packets_sent": counters.packets_sent,
        "packets_recv": counters.packets_recv,
        "errors_in": counters.errin,
        "errors_out": counters.errout,
        "drops_in": counters.dropin,
        "drops_out": counters.dropout,
    }


def sample(settings: Settings) -> SampleReading:
    """Read the values of one resource sample; nothing here waits."""
    busy, total = cpu_counters()
    memory = psutil.virtual_memory()
    load_1, load_5, load_15 = psutil.getloadavg()
    network = psutil.net_io_counters()
    return SampleReading(
        host=host_name(),
        cpu_busy_seconds=busy,
        cpu_total_seconds=total,
        memory_percent=memory.percent,
        memory_used_bytes=memory.used,
        swap_percent=psutil.swap_memory().percent,
        data_disk_percent=disk("data", settings.data_dir).percent,
        home_disk_percent=disk("home", home_root(settings)).percent,
        load_1=load_1,
        load_5=load_5,
        load_15=load_15,
        net_bytes_sent=network.bytes_sent,
        net_bytes_recv=network.bytes_recv,
    )


_PROCESS_FIELDS = [
    "pid",
    "ppid",
    "name",
    "username",
    "status",
    "create_time",
    "num_threads",
    "memory_info",
    "memory_percent",
    "cmdline",
]


def top_processes(
    sort: str, limit: int, window: float = CPU_WINDOW_SECONDS
) -> list[dict[str, Any]]:
    """Return the `limit` processes using the most CPU or memory (`sort`: cpu or memory).

    A process's CPU share is measured over `window` seconds, in percent of one CPU as top
    shows it, so a process busy on two cores shows 200.
    """
    processes = []
    for process in psutil.process_iter(_PROCESS_FIELDS):
        try:
            process.cpu_percent(None)  # the first call starts the window
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        processes.append(process)
    time.sleep(window)
    rows = []
    for process in processes:
        try:
            cpu_percent = process.cpu_percent(None)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        rows.append(_process_row(process.info, cpu_percent))
    key = "cpu_percent" if sort == "cpu" else "memory_rss_bytes"
    rows.sort(key=lambda row: (row[key], row["memory_rss_bytes"], -row["pid"]), reverse=True)
    return rows[:limit]


def _process_row(info: dict[str, Any], cpu_percent: float) -> dict[str, Any]:
    memory = info.get("memory_info")
    command = " ".join(info.get("cmdline") or []) or None
    return {
        "pid": info["pid"],
        "parent_pid": info.get("ppid"),
        "name": info.get("name") or "",
        "username": info.get("username"),
        "status": info.get("status"),
        "started_at": _timestamp(info.get("create_time")),
        "threads": info.get("num_threads"),
        "cpu_percent": round(cpu_percent, 1),
        "memory_percent": round(info.get("memory_percent") or 0.0, 2),
        "memory_rss_bytes": memory.rss if memory is not None else 0,
        "command": command[:MAX_COMMAND_LENGTH] if command else None,
    }


def _timestamp(seconds: float | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None
