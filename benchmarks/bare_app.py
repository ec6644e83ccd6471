"""A bare FastAPI app with one route shaped like GET /api/v1/auth/me, the benchmark's baseline.

No middleware, no authentication and no database. The route returns a constant dict, which
FastAPI checks against the `dict[str, Any]` return type and encodes as JSON, so what is left
is the cost of uvicorn, Starlette routing and FastAPI's request and response handling.
Start it with `uvicorn benchmarks.bare_app:app` from the repository root.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

ACCOUNT: dict[str, Any] = {
    "id": 1,
    "username": "admin",
    "email": "admin@localhost",
    "role": "admin",
    "status": "active",
    "created_at": "2026-01-01T00:00:00Z",
}


@app.get("/api/v1/auth/me")
async def me() -> dict[str, Any]:
    return ACCOUNT
