"""Opt-in pagination: a list is a bare array unless the caller sends `page` or `per_page`."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Query
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PageRequest:
    page: int | None
    per_page: int | None

    @property
    def requested(self) -> bool:
        return self.page is not None or self.per_page is not None


async def page_request(
    page: Annotated[int | None, Query(ge=1, description="Page number; turns on pagination")] = None,
    per_page: Annotated[
        int | None,
        Query(ge=1, le=MAX_PER_PAGE, description="Items per page (default 50, at most 200)"),
    ] = None,
) -> PageRequest:
    """FastAPI dependency that reads the two pagination parameters."""
    return PageRequest(page=page, per_page=per_page)


def page_envelope(items: Sequence[Any], total: int, page: int, per_page: int) -> dict[str, Any]:
    return {
        "success": True,
        "data": list(items),
        "meta": {
            "total": total,
            "per_page": per_page,
            "current_page": page,
            "last_page": max(1, math.ceil(total / per_page)),
        },
    }


async def paginate(
    db: AsyncSession,
    statement: Select[T],
    request: PageRequest,
    serialize: Callable[[T], Any],
    *,
    always: bool = False,
) -> list[Any] | dict[str, Any]:
    """Run an ordered query as a bare list, or one page of it in the envelope.

    The statement must already be ordered stably (creation order, then id) so that pages
    never skip or repeat a row.
    """
    if not request.requested and not always:
        return [serialize(row) for row in (await db.scalars(statement)).all()]
    page = request.page or 1
    per_page = request.per_page or DEFAULT_PER_PAGE
    total = await db.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    rows = (await db.scalars(statement.limit(per_page).offset((page - 1) * per_page))).all()
    return page_envelope([serialize(row) for row in rows], total or 0, page, per_page)
