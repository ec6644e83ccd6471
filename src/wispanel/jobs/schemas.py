"""The job record as the API shows it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class JobOut(BaseModel):
    id: str = Field(examples=["3f2c9a4e5b6d4c1e8f7a6b5c4d3e2f1a"])
    kind: str = Field(examples=["ssl.issue"])
    status: str = Field(examples=["running"], description="queued, running, succeeded or failed")
    progress: int = Field(ge=0, le=100, examples=[40])
    message: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_seconds: float | None = None
