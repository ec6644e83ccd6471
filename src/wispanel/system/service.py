"""The host, its resources and processes, the resource history, readiness and the build."""

from __future__ import annotations

import platform
from datetime import UTC, datetime, timedelta

import anyio
import psutil
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel import __version__
from wispanel.auth.principal import Principal
from wispanel.core.context import PanelContext
from wispanel.core.database import utcnow
from wispanel.core.errors import ServiceUnavailable, ValidationFailed
from wispanel.system import health, history, resources
from wispanel.system.control import require_admin, services_for, zones_exist
from wispanel.system.schemas import (
    HealthCheckOut,
    HealthOut,
    HistoryOut,
    OsOut,
    ProcessOut,
    ResourcesOut,
    SystemInfoOut,
    VersionOut,
)
from wispanel.system.version import build_info
from wispanel.users.models import Role

DEFAULT_HISTORY_HOURS = 24


def _os_release() -> OsOut:
    try:
        release = platform.freedesktop_os_release()
    except OSError:
        release = {}
    return OsOut(
        id=release.get("ID"),
        name=release.get("NAME"),
        version=release.get("VERSION") or release.get("VERSION_ID"),
        pretty_name=release.get("PRETTY_NAME"),
    )


def _info(panel: PanelContext) -> SystemInfoOut:
    uname = platform.uname()
    boot = psutil.boot_time()
    return SystemInfoOut(
        hostname=resources.host_name(),
        os=_os_release(),
        kernel_release=uname.release,
        kernel_version=uname.version,
        architecture=uname.machine,
        boot_time=datetime.fromtimestamp(boot, UTC),
        uptime_seconds=max(0, int(datetime.now(UTC).timestamp() - boot)),
        cpu_count=psutil.cpu_count() or 1,
        cpu_physical_count=psutil.cpu_count(logical=False),
        panel_version=__version__,
        profile=panel.settings.server.profile.value,
    )


async def system_info(panel: PanelContext, principal: Principal) -> SystemInfoOut:
    """Return the host's facts. The kernel build and boot time help target an attack, so only
    admins see them."""
    info = await anyio.to_thread.run_sync(_info, panel)
    if principal.role == Role.ADMIN:
        return info
    return info.model_copy(update={"kernel_version": None, "boot_time": None})


async def current_resources(panel: PanelContext, principal: Principal) -> ResourcesOut:
    """Return the resources in use now, with the host's paths and interfaces for admins only."""
    reading = await anyio.to_thread.run_sync(resources.current, panel.settings)
    out = ResourcesOut.model_validate(reading, from_attributes=True)
    if principal.role == Role.ADMIN:
        return out
    disks = [disk.model_copy(update={"path": None, "mountpoint": None}) for disk in out.disks]
    network = out.network.model_copy(update={"interfaces": []})
    return out.model_copy(update={"disks": disks, "network": network})


async def top_processes(principal: Principal, *, sort: str, limit: int) -> list[ProcessOut]:
    require_admin(principal, "list the host's processes")
    rows = await anyio.to_thread.run_sync(resources.top_processes, sort, limit)
    return [ProcessOut.model_validate(row) for row in rows]


# The times a history query may name: samples exist only after 1970, and times near the
# ends of the datetime range overflow when the query reaches past them.
HISTORY_START = datetime(1970, 1, 1, tzinfo=UTC)
HISTORY_END = datetime(9000, 1, 1, tzinfo=UTC)


def _history_range(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    """Return the start and end of a history query, or raise 400 for a range out of bounds."""
    for field, value in (("since", since), ("until", until)):
        if value is not None and not HISTORY_START <= value <= HISTORY_END:
            raise ValidationFailed(
                f"{field} must lie between {HISTORY_START:%Y-%m-%d} and {HISTORY_END:%Y-%m-%d}",
                details={field: ["out of range"]},
            )
    end = until or utcnow()
    start = since or end - timedelta(hours=DEFAULT_HISTORY_HOURS)
    if start >= end:
        raise ValidationFailed(
            "since must be before until", details={"since": ["must be before until"]}
        )
    return start, end


async def resource_history(
    db: AsyncSession,
    panel: PanelContext,
    principal: Principal,
    *,
    since: datetime | None,
    until: datetime | None,
    max_points: int,
    host: str | None,
) -> HistoryOut:
    """Return the samples of a host between since and until, at most max_points of them."""
    require_admin(principal, "read the resource history")
    settings = panel.settings.system
    start, end = _history_range(since, until)
    if max_points > settings.history_max_points:
        raise ValidationFailed(
            f"max_points may be at most {settings.history_max_points}",
            details={"max_points": [f"at most {settings.history_max_points}"]},
        )

    name = host or resources.host_name()
    width = history.bucket_seconds(start, end, max_points, settings.sample_interval_minutes)
    points, count = await history.series(
        db,
        host=name,
        since=start,
        until=end,
        width=width,
        interval=settings.sample_interval_minutes,
    )
    return HistoryOut.model_validate(
        {
            "host": name,
            "since": start,
            "until": end,
            "interval_minutes": settings.sample_interval_minutes,
            "retention_days": settings.sample_retention_days,
            "bucket_seconds": width,
            "samples": count,
            "points": points,
        }
    )


async def readiness(
    db: AsyncSession, panel: PanelContext, principal: Principal | None
) -> HealthOut:
    """Return the minimal response, with every check for admins; raise 503 when not ready."""
    try:
        with anyio.fail_after(panel.settings.system.health_timeout_seconds):
            has_zones = await zones_exist(db)
    except (SQLAlchemyError, OSError, TimeoutError):
        # The database check reports this failure. Until the database responds, PowerDNS
        # counts as needed.
        has_zones = True
    checks = await health.run_checks(panel, services_for(panel, has_zones=has_zones))
    is_admin = principal is not None and principal.role == Role.ADMIN
    reported = [HealthCheckOut.model_validate(check, from_attributes=True) for check in checks]
    if health.ready(checks):
        return HealthOut(checks=reported if is_admin else None)
    if not is_admin:
        raise ServiceUnavailable("The panel is not ready")
    failed = ", ".join(check.name for check in checks if check.required and not check.ok)
    raise ServiceUnavailable(
        f"The panel is not ready: {failed} failed",
        details={"checks": [check.model_dump() for check in reported]},
    )


async def version_info(panel: PanelContext, principal: Principal) -> VersionOut:
    """Return the panel's version. The commit and Python version help target an attack, so
    only admins see them."""
    info = await anyio.to_thread.run_sync(build_info, panel.runner)
    out = VersionOut.model_validate(info, from_attributes=True)
    if principal.role == Role.ADMIN:
        return out
    return out.model_copy(update={"git_commit": None, "build_date": None, "python_version": None})
