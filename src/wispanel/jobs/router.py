"""Routes of background jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.deps import CurrentPrincipal
from wispanel.auth.scopes import area_scope
from wispanel.core.database import get_session
from wispanel.jobs import service
from wispanel.jobs.schemas import JobOut

router = APIRouter(
    prefix="/api/v1/jobs", tags=["14 System & Services"], dependencies=[area_scope("system")]
)


@router.get(
    "/{job_id}",
    operation_id="getJob",
    summary="A job: status, progress, timing, error",
    response_model=JobOut,
)
async def get_job(
    principal: CurrentPrincipal,
    db: Annotated[AsyncSession, Depends(get_session)],
    job_id: Annotated[str, Path(pattern="^[0-9a-f]{32}$", description="Job id (32 hex digits)")],
) -> JobOut:
    return await service.get_job(db, principal, job_id)
