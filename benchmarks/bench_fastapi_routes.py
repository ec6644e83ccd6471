"""Measure what FastAPI's routing and dependencies cost per request, without HTTP.

Run from the repository root with the project's virtualenv:

    .venv/bin/python benchmarks/bench_fastapi_routes.py [--requests 5000] [--rounds 5]

Each variant is a small FastAPI app with one route shaped like GET /api/v1/auth/me. The
script calls the app's ASGI callable directly in a loop on one event loop and prints the
best of several rounds in µs a request: what the framework costs before any panel code runs.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI
from starlette.requests import Request
from starlette.types import Message

ACCOUNT: dict[str, Any] = {"id": 1, "username": "admin", "role": "admin"}
PATH = "/api/v1/auth/me"


async def me() -> dict[str, Any]:
    return ACCOUNT


async def caller(request: Request) -> str:
    # Reads the request state, as the panel's `require_principal` does.
    name: str = getattr(request.state, "caller", "admin")
    return name


async def me_with_dependency(name: Annotated[str, Depends(caller)]) -> dict[str, Any]:
    return ACCOUNT


def plain_app() -> FastAPI:
    return FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


def bare_route() -> FastAPI:
    app = plain_app()
    app.get(PATH)(me)
    return app


def dependency_route() -> FastAPI:
    app = plain_app()
    app.get(PATH)(me_with_dependency)
    return app


def routers_before(count: int) -> Callable[[], FastAPI]:
    """Build an app with `count` routers of three routes each included before /auth/me."""

    def build() -> FastAPI:
        app = plain_app()
        for index in range(count):
            router = APIRouter(prefix=f"/api/v1/area{index}")
            router.get("/items")(me)
            router.post("/items")(me)
            router.get("/items/{name}")(me)
            app.include_router(router)
        auth = APIRouter(prefix="/api/v1/auth")
        auth.get("/me")(me)
        app.include_router(auth)
        return app

    return build


VARIANTS: dict[str, Callable[[], FastAPI]] = {
    "route on the app": bare_route,
    "route on the app with one Depends()": dependency_route,
    "route in an included router": routers_before(0),
    "route in the 6th included router": routers_before(5),
    "route in the 21st included router": routers_before(20),
}


def scope() -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def measure(app: FastAPI, requests: int, rounds: int) -> float:
    """Return the best round's µs a request, after a warm-up round."""
    statuses: list[int] = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    best = float("inf")
    for round_number in range(rounds + 1):
        started = time.perf_counter()
        for _ in range(requests):
            await app(scope(), receive, send)
        elapsed = (time.perf_counter() - started) / requests * 1e6
        if round_number > 0:
            best = min(best, elapsed)
    if set(statuses) != {200}:
        raise SystemExit(f"unexpected statuses {sorted(set(statuses))}")
    return best


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=5000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the best one counts")
    arguments = parser.parse_args()
    for label, build in VARIANTS.items():
        microseconds = await measure(build(), arguments.requests, arguments.rounds)
        print(f"{label}: {microseconds:.1f} µs a request")


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
