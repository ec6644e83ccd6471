"""Creating and reading job records, scoped to the caller."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.principal import Principal
from wispanel.core.errors import NotFound
from wispanel.jobs.models import Job
from wispanel.jobs.queue import JobQueue
from wispanel.jobs.schemas import JobOut
from wispanel.users.scope import owner_filter


async def submit(
    db: AsyncSession, queue: JobQueue, kind: str, params: dict[str, Any], owner_id: int | None
) -> Job:
    """Commit a job record and queue it; the caller's pending changes commit with it."""
    job = Job(id=uuid.uuid4().hex, kind=kind, params=params, owner_id=owner_id)
    db.add(job)
    await db.commit()
    queue.enqueue(job.id)
    return job


async def get_job(db: AsyncSession, principal: Principal, job_id: str) -> JobOut:
    """Return a job the caller may see: admins all, resellers their accounts', users their own."""
    job = (
        await db.scalars(select(Job).where(Job.id == job_id, owner_filter(principal, Job.owner_id)))
    ).first()
    if job is None:
        raise NotFound(f"Job {job_id} not found")
    duration = None
    if job.started_at and job.finished_at:
        duration = round((job.finished_at - job.started_at).total_seconds(), 3)
    return JobOut(
        id=job.id,
        kind=job.kind,
        status=job.status,
        progress=job.progress,
        message=job.message,
        result=job.result,
        error=job.error,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        duration_seconds=duration,
    )
