"""The resource sampler: a periodic task that stores one sample of the host and prunes old ones.

Samples are frequent and need no record of their own, so the sampler runs as a plain Huey
task, not as a job row. Each worker that starts takes a sample at once, so the health check
finds a working job worker within seconds of a start (see `wispanel.system.health`).
"""

from __future__ import annotations

import threading
from dataclasses import asdict
from datetime import datetime, timedelta

import structlog
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from wispanel.core.config import Settings
from wispanel.core.context import PanelContext
from wispanel.core.database import utcnow
from wispanel.system import resources
from wispanel.system.models import ResourceSample
from wispanel.users.usage import every

log = structlog.get_logger(__name__)
PERIODIC_TASK_NAME = "wispanel.system.sample_resources"
STARTUP_HOOK_NAME = "wispanel.system.startup_sample"


def record_sample(engine: Engine, settings: Settings, now: datetime | None = None) -> bool:
    """Store a sample of this host taken at `now` and prune expired ones; return whether stored.

    A sample of the same host less than half an interval before `now` makes this one
    redundant, which happens when several consumers schedule the same minute or a start
    falls next to a periodic run.
    """
    moment = now or utcnow()
    reading = resources.sample(settings)
    half_interval = timedelta(minutes=settings.system.sample_interval_minutes / 2)
    retention = timedelta(days=settings.system.sample_retention_days)
    with Session(engine) as db:
        recent = db.scalar(
            select(ResourceSample.id)
            .where(
                ResourceSample.host == reading.host,
                ResourceSample.taken_at > moment - half_interval,
                ResourceSample.taken_at <= moment,
            )
            .limit(1)
        )
        if recent is not None:
            return False
        db.add(ResourceSample(taken_at=moment, **asdict(reading)))
        pruned = db.execute(
            delete(ResourceSample).where(ResourceSample.taken_at < moment - retention)
        )
        db.commit()
    log.debug("system.resources_sampled", host=reading.host, pruned=getattr(pruned, "rowcount", 0))
    return True


def register_sampler(panel: PanelContext) -> None:
    """Register the sampler with the panel's queue: every interval, and once per start."""
    huey = panel.jobs.huey

    def sample_resources() -> None:
        try:
            record_sample(panel.sync_engine, panel.settings)
        except Exception:
            log.exception("system.resources_sample_failed")

    sample_task = huey.task(name=PERIODIC_TASK_NAME)(sample_resources)
    interval = panel.settings.system.sample_interval_minutes
    huey.periodic_task(every(interval), name=f"{PERIODIC_TASK_NAME}.periodic")(sample_resources)
    started = threading.Lock()
    queued = False

    def on_start() -> None:
        # Huey runs start-up hooks once in every worker thread; one sample a start is enough.
        nonlocal queued
        with started:
            if queued:
                return
            queued = True
        sample_task()

    huey.on_startup(name=STARTUP_HOOK_NAME)(on_start)
