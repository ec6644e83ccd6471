"""The host, its resources, the managed services and the panel's build as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class OsOut(BaseModel):
    """The operating system as /etc/os-release names it; fields it lacks are null."""

    id: str | None = Field(examples=["debian"])
    name: str | None = Field(examples=["Debian GNU/Linux"])
    version: str | None = Field(examples=["12 (bookworm)"])
    pretty_name: str | None = Field(examples=["Debian GNU/Linux 12 (bookworm)"])


class SystemInfoOut(BaseModel):
    hostname: str = Field(examples=["web1"])
    os: OsOut
    kernel_release: str = Field(examples=["6.1.0-18-amd64"])
    kernel_version: str | None = Field(
        examples=["#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1"], description="Admins only"
    )
    architecture: str = Field(examples=["x86_64"])
    boot_time: datetime | None = Field(description="Admins only")
    uptime_seconds: int = Field(ge=0, examples=[86400])
    cpu_count: int = Field(ge=1, description="Logical CPUs", examples=[2])
    cpu_physical_count: int | None = Field(description="Physical cores; null when unknown")
    panel_version: str = Field(examples=["0.1.0"])
    profile: Literal["local", "system"] = Field(
        description="local: the panel runs its own daemons; system: the server's"
    )


class CpuOut(BaseModel):
    percent: float = Field(description="Busy share of all CPUs over half a second")
    per_core: list[float]
    logical_count: int
    physical_count: int | None


class MemoryOut(BaseModel):
    total_bytes: int
    available_bytes: int
    used_bytes: int
    percent: float


class SwapOut(BaseModel):
    total_bytes: int
    used_bytes: int
    free_bytes: int
    percent: float


class DiskOut(BaseModel):
    label: Literal["data", "home"] = Field(
        description="data: the panel's data directory; home: the parent of the account homes"
    )
    path: str | None = Field(description="Admins only")
    mountpoint: str | None = Field(description="Admins only")
    filesystem: str | None = Field(examples=["ext4"])
    total_bytes: int
    used_bytes: int
    free_bytes: int
    percent: float


class LoadOut(BaseModel):
    load_1: float = Field(description="Load average over 1 minute")
    load_5: float
    load_15: float


class NetworkCountersOut(BaseModel):
    """Counters since boot; `interface` is null for the totals over every interface."""

    interface: str | None = Field(examples=["eth0"])
    bytes_sent: int
    bytes_recv: int
    packets_sent: int
    packets_recv: int
    errors_in: int
    errors_out: int
    drops_in: int
    drops_out: int


class NetworkOut(BaseModel):
    totals: NetworkCountersOut
    interfaces: list[NetworkCountersOut] = Field(description="Admins only; empty for others")


class ResourcesOut(BaseModel):
    sampled_at: datetime
    cpu: CpuOut
    memory: MemoryOut
    swap: SwapOut
    disks: list[DiskOut]
    load: LoadOut
    network: NetworkOut


class HistoryPointOut(BaseModel):
    """The mean of the samples in one bucket; a value no sample gave is null."""

    time: datetime = Field(description="Start of the bucket")
    samples: int = Field(ge=1)
    cpu_percent: float | None = Field(description="Busy share of all CPUs since the sample before")
    memory_percent: float | None
    swap_percent: float | None
    data_disk_percent: float | None
    home_disk_percent: float | None
    load_1: float | None
    load_5: float | None
    load_15: float | None
    network_sent_bytes_per_second: float | None
    network_recv_bytes_per_second: float | None


class HistoryOut(BaseModel):
    host: str = Field(examples=["web1"])
    since: datetime
    until: datetime
    interval_minutes: int = Field(description="Minutes between two samples (setting)")
    retention_days: int = Field(description="Days a sample is kept (setting)")
    bucket_seconds: int = Field(description="Width of each point")
    samples: int = Field(description="Samples in the range, over all points")
    points: list[HistoryPointOut]


class ProcessOut(BaseModel):
    pid: int
    parent_pid: int | None
    name: str = Field(examples=["nginx"])
    username: str | None = Field(examples=["www-data"])
    status: str | None = Field(examples=["sleeping"])
    started_at: datetime | None
    threads: int | None
    cpu_percent: float = Field(description="Percent of one CPU over half a second, as top shows")
    memory_percent: float
    memory_rss_bytes: int
    command: str | None = Field(description="The command line, cut at 512 characters")


class ServiceOut(BaseModel):
    """A daemon the panel manages. Fields other than the state are null for non-admins."""

    name: str = Field(examples=["nginx", "php-fpm8.2", "powerdns"])
    kind: Literal["nginx", "php-fpm", "powerdns"]
    installed: bool
    running: bool
    required: bool = Field(
        description="Whether the panel needs it now: nginx for sites, a PHP-FPM master for "
        "the pools of its version, PowerDNS for zones"
    )
    version: str | None = Field(examples=["1.22.1"])
    managed_by: Literal["panel", "system"] | None = Field(
        description="panel: started by the panel under its data directory (local profile); "
        "system: the distribution's daemon, started directly and stopped through its pid file"
    )
    pid: int | None = None
    started_at: datetime | None = None
    detail: str | None = Field(default=None, examples=["HTTP 127.0.0.1:8080"])
    install_command: str | None = Field(default=None, examples=["apt-get install -y nginx"])


class HealthCheckOut(BaseModel):
    name: str = Field(examples=["database", "job_worker", "nginx"])
    ok: bool
    required: bool = Field(description="Whether a failure makes the panel not ready")
    detail: str


class HealthOut(BaseModel):
    success: bool = True
    status: Literal["ready"] = "ready"
    checks: list[HealthCheckOut] | None = Field(
        default=None, description="Every check; only for admins"
    )


class VersionOut(BaseModel):
    version: str = Field(examples=["0.1.0"])
    build_date: datetime | None = Field(
        description="Admins only: date of the git commit the panel runs from; null outside a"
        " checkout"
    )
    git_commit: str | None = Field(
        examples=["54fffc35d9e27217ea570dbed5d73b2d4d752bf0"],
        description='Admins only: the commit hash, or "unknown" outside a git checkout',
    )
    python_version: str | None = Field(examples=["3.11.2"], description="Admins only")
