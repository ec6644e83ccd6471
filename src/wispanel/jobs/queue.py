"""Background jobs: a Huey queue (SQLite in the data directory, or Redis) over job records.

Each job is a row in the panel database, which the API shows; Huey only carries the job's
id. One Huey task runs every job and dispatches on the row's `kind` to a handler that a
feature area registered, so queue and handlers are wired at start-up, not at import.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from huey import RedisHuey, SqliteHuey
from huey.api import Huey
from huey.consumer import Consumer
from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from wispanel.core.database import utcnow
from wispanel.jobs.models import Job, JobStatus

log = structlog.get_logger(__name__)


@dataclass
class JobRun:
    """The job's parameters and a progress reporter, as a handler receives them."""

    job_id: str
    kind: str
    params: dict[str, Any]
    engine: Engine = field(repr=False)

    def progress(self, percent: int, message: str | None = None) -> None:
        with Session(self.engine) as db:
            db.execute(
                update(Job)
                .where(Job.id == self.job_id)
                .values(progress=max(0, min(100, percent)), message=message)
            )
            db.commit()


JobHandler = Callable[[JobRun], dict[str, Any] | None]


class EmbeddedConsumer(Consumer):  # type: ignore[misc]
    """A Huey consumer that runs inside the API process and leaves its signals to uvicorn."""

    def _set_signal_handlers(self) -> None:
        return None


class JobQueue:
    def __init__(self, engine: Engine, *, data_dir: Path, redis_url: str | None = None) -> None:
        self.engine = engine
        self.huey: Huey = (
            RedisHuey("wispanel", url=redis_url)
            if redis_url
            else SqliteHuey("wispanel", filename=str(data_dir / "jobs.db"))
        )
        self._handlers: dict[str, JobHandler] = {}
        self._task = self.huey.task(name="wispanel.run_job")(self.run)
        self._consumer: EmbeddedConsumer | None = None

    def register(self, kind: str, handler: JobHandler) -> None:
        self._handlers[kind] = handler

    def enqueue(self, job_id: str) -> None:
        self._task(job_id)

    def run(self, job_id: str) -> None:
        """Run one job if it is still queued; a job taken by another worker is left alone."""
        with Session(self.engine) as db:
            taken = db.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == JobStatus.QUEUED)
                .values(status=JobStatus.RUNNING, started_at=utcnow(), attempts=Job.attempts + 1)
            )
            db.commit()
            if getattr(taken, "rowcount", 0) != 1:
                log.info("job.skipped", job_id=job_id)
                return
            job = db.get(Job, job_id)
            assert job is not None  # noqa: S101 - the update above just matched it
            kind, params = job.kind, dict(job.params or {})
        structlog.contextvars.bind_contextvars(job_id=job_id, job_kind=kind)
        log.info("job.started")
        try:
            handler = self._handlers.get(kind)
            if handler is None:
                raise LookupError(f"no handler registered for job kind {kind!r}")
            result = handler(JobRun(job_id, kind, params, self.engine))
        except Exception as error:
            log.error("job.failed", error=str(error), trace=traceback.format_exc(limit=5))
            self._finish(job_id, JobStatus.FAILED, error=str(error) or type(error).__name__)
        else:
            log.info("job.succeeded")
            self._finish(job_id, JobStatus.SUCCEEDED, result=result)
        finally:
            structlog.contextvars.unbind_contextvars("job_id", "job_kind")

    def _finish(
        self,
        job_id: str,
        status: JobStatus,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "error": error}
        if status is JobStatus.SUCCEEDED:
            values.update(progress=100, result=result)
        with Session(self.engine) as db:
            db.execute(update(Job).where(Job.id == job_id).values(**values))
            db.commit()

    def recover(self) -> None:
        """After a restart: fail jobs cut off mid-run and queue again those never started."""
        with Session(self.engine) as db:
            db.execute(
                update(Job)
                .where(Job.status == JobStatus.RUNNING)
                .values(
                    status=JobStatus.FAILED,
                    finished_at=utcnow(),
                    error="Interrupted by a restart of the panel; start it again",
                )
            )
            queued = db.scalars(select(Job.id).where(Job.status == JobStatus.QUEUED)).all()
            db.commit()
        for job_id in queued:
            self.enqueue(job_id)
        if queued:
            log.info("job.requeued", count=len(queued))

    def start_consumer(self, workers: int) -> None:
        self._consumer = EmbeddedConsumer(self.huey, workers=workers, worker_type="thread")
        self._consumer.start()
        log.info("jobs.consumer_started", workers=workers)

    def stop_consumer(self) -> None:
        if self._consumer is not None:
            self._consumer.stop(graceful=True)
            self._consumer = None
            log.info("jobs.consumer_stopped")

    def consumer(self, workers: int) -> Consumer:
        """Build a consumer for `wispanel worker`, which owns its process and its signals."""
        return Consumer(self.huey, workers=workers, worker_type="thread")
