"""Disk usage of every hosting account, measured periodically as a job."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from wispanel.core.context import PanelContext
from wispanel.core.database import utcnow
from wispanel.host.accounts import AccountHost, account_host
from wispanel.jobs.models import Job, JobStatus
from wispanel.jobs.queue import JobQueue, JobRun
from wispanel.users.models import Role, User

log = structlog.get_logger(__name__)
JOB_KIND = "users.disk_usage"
PERIODIC_TASK_NAME = "wispanel.users.disk_usage"


def measure_disk_usage(engine: Engine, host: AccountHost, username: str | None = None) -> int:
    """Store the disk usage of every hosted account (or the one named); return how many."""
    with Session(engine) as db:
        statement = select(User.id, User.username).where(User.role.in_((Role.USER, Role.RESELLER)))
        if username is not None:
            statement = statement.where(User.username == username)
        accounts = db.execute(statement).all()
    for account_id, name in accounts:
        used = host.disk_usage_bytes(name)
        with Session(engine) as db:
            db.execute(
                update(User)
                .where(User.id == account_id)
                .values(disk_used_bytes=used, disk_measured_at=utcnow())
            )
            db.commit()
    log.info("users.disk_usage_measured", accounts=len(accounts))
    return len(accounts)


def queue_measurement(engine: Engine, jobs: JobQueue) -> str | None:
    """Queue a measurement job unless one is already queued or running; return its id."""
    with Session(engine) as db:
        pending = db.scalar(
            select(Job.id).where(
                Job.kind == JOB_KIND, Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING))
            )
        )
        if pending is not None:
            return None
        job = Job(id=uuid.uuid4().hex, kind=JOB_KIND, params={}, owner_id=None)
        db.add(job)
        db.commit()
        job_id = job.id
    jobs.enqueue(job_id)
    return job_id


def every(minutes: int) -> Callable[[datetime], bool]:
    """A Huey schedule that matches once every `minutes` minutes, counted from midnight."""

    def matches(moment: datetime) -> bool:
        return (moment.hour * 60 + moment.minute) % minutes == 0

    return matches


def register_disk_usage(panel: PanelContext) -> None:
    """Register the measurement job and its periodic schedule with the panel's queue."""
    host = account_host(panel.settings, panel.runner)

    def handle(run: JobRun) -> dict[str, Any]:
        return {"accounts": measure_disk_usage(run.engine, host, run.params.get("username"))}

    panel.jobs.register(JOB_KIND, handle)
    interval = panel.settings.accounts.disk_usage_interval_minutes

    def periodic() -> None:
        queue_measurement(panel.sync_engine, panel.jobs)

    panel.jobs.huey.periodic_task(every(interval), name=PERIODIC_TASK_NAME)(periodic)
