"""Readiness: the panel database, the job queue and worker, and each service the panel needs.

The job worker has no address to ask, so the resource sampler is its heartbeat: every
worker takes a sample when it starts and every `system.sample_interval_minutes` after.
A worker that has not stored one for two intervals and a minute (the resolution of Huey's
periodic tasks) is taken as gone. This holds for the worker inside the API process and
for `wispanel worker` alike.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import anyio
import structlog
from sqlalchemy import func, select, text

from wispanel.core.context import PanelContext
from wispanel.core.database import utcnow
from wispanel.system.models import ResourceSample
from wispanel.system.service_state import ManagedService, ServiceState

log = structlog.get_logger(__name__)
# A load balancer may probe every second, so each failing check is logged once a minute.
LOG_INTERVAL_SECONDS = 60.0
_last_logged: dict[str, float] = {}


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    required: bool
    detail: str


async def _timed(name: str, limit: float, probe: Callable[[], Awaitable[str]]) -> Check:
    """Run one probe within `limit` seconds; a failure or timeout makes the check fail."""
    try:
        with anyio.fail_after(limit):
            return Check(name, True, True, await probe())
    except TimeoutError:
        detail = f"no response within {limit:g} s"
    except Exception as error:
        detail = f"{type(error).__name__}: {error}"[:500]
    _log_failure(name, detail)
    return Check(name, False, True, detail)


def _log_failure(name: str, detail: str) -> None:
    now = time.monotonic()
    if now - _last_logged.get(name, -LOG_INTERVAL_SECONDS) < LOG_INTERVAL_SECONDS:
        return
    _last_logged[name] = now
    log.warning("system.health_check_failed", check=name, detail=detail)


async def _database(panel: PanelContext) -> str:
    async with panel.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
    return f"{panel.engine.dialect.name} responds"


async def _queue(panel: PanelContext) -> str:
    pending = await anyio.to_thread.run_sync(panel.jobs.huey.pending_count, abandon_on_cancel=True)
    return f"{pending} tasks waiting"


async def _worker(panel: PanelContext) -> str:
    """Return how old the newest resource sample is; raise when it is missing or too old."""
    async with panel.sessions() as db:
        newest = await db.scalar(select(func.max(ResourceSample.taken_at)))
    interval = panel.settings.system.sample_interval_minutes
    limit = timedelta(minutes=2 * interval + 1)
    if newest is None:
        raise LookupError(
            "no job worker has taken a resource sample yet; start `wispanel worker` unless "
            "jobs.run_in_process is on"
        )
    age = utcnow() - newest
    if age > limit:
        raise LookupError(
            f"the newest resource sample is {int(age.total_seconds())} s old, more than "
            f"{int(limit.total_seconds())} s; the job worker is not running"
        )
    return f"newest resource sample {max(0, int(age.total_seconds()))} s old"


def _service_check(state: ServiceState) -> Check:
    if state.healthy:
        return Check(state.name, True, state.required, state.detail)
    detail = state.problem or "not running"
    if not state.required:
        detail += "; not needed yet"
    return Check(state.name, False, state.required, detail)


async def _service(service: ManagedService, limit: float) -> Check:
    """Check one service. Its state may itself wait `limit` for an API, hence twice that.

    A service whose state can't be read in time counts as required, because whether it is
    needed is part of that state.
    """
    try:
        with anyio.fail_after(2 * limit):
            state = await anyio.to_thread.run_sync(service.state, abandon_on_cancel=True)
    except TimeoutError:
        detail = f"its state could not be read within {2 * limit:g} s"
    except Exception as error:
        detail = f"{type(error).__name__}: {error}"[:500]
    else:
        check = _service_check(state)
        if check.required and not check.ok:
            _log_failure(check.name, check.detail)
        return check
    _log_failure(service.name, detail)
    return Check(service.name, False, True, detail)


async def run_checks(panel: PanelContext, services: list[ManagedService]) -> list[Check]:
    """Run every readiness check; each is bounded by `system.health_timeout_seconds`."""
    timeout = panel.settings.system.health_timeout_seconds
    checks = [
        await _timed("database", timeout, lambda: _database(panel)),
        await _timed("job_queue", timeout, lambda: _queue(panel)),
        await _timed("job_worker", timeout, lambda: _worker(panel)),
    ]
    return checks + [await _service(service, timeout) for service in services]


def ready(checks: list[Check]) -> bool:
    return all(check.ok for check in checks if check.required)
