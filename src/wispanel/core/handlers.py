"""Turn every error raised inside the application into the envelope, in one place."""

from __future__ import annotations

from typing import Any

import orjson
import structlog
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from wispanel.core.errors import (
    InternalError,
    MethodNotAllowed,
    NotFound,
    PanelError,
    ValidationFailed,
    envelope,
)
from wispanel.host.errors import HostError

log = structlog.get_logger(__name__)
HOST_STATUSES = {"SERVICE_UNAVAILABLE": 503, "APPLY_FAILED": 502, "VALIDATION_ERROR": 400}


def error_response(request: Request, error: PanelError) -> Response:
    body = envelope(
        error.code,
        error.status,
        error.message,
        getattr(request.state, "request_id", None),
        error.details,
    )
    return Response(
        orjson.dumps(body),
        status_code=error.status,
        headers=error.headers,
        media_type="application/json",
    )


def validation_details(errors: Any) -> dict[str, list[str]]:
    """Map pydantic's error list to {field: [messages]}, naming fields by their dotted path."""
    details: dict[str, list[str]] = {}
    for item in errors:
        location = [str(part) for part in item.get("loc", ()) if part not in ("body",)]
        field = ".".join(location) or "body"
        message = "required" if item.get("type") == "missing" else str(item.get("msg", "invalid"))
        details.setdefault(field, []).append(message)
    return details


def _summary(details: dict[str, list[str]]) -> str:
    fields = ", ".join(sorted(details)[:5])
    return f"Invalid request: check {fields}" if fields else "Invalid request"


async def _on_panel_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, PanelError)  # noqa: S101 - registered for PanelError only
    return error_response(request, error)


async def _on_validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)  # noqa: S101 - registered for it only
    errors = list(error.errors())
    content_type = request.headers.get("content-type", "")
    if any(item.get("type") == "json_invalid" for item in errors):
        failure = ValidationFailed("Request body is not valid JSON", details={"body": ["invalid"]})
    elif any(tuple(item.get("loc", ())) == ("body",) for item in errors) and (
        "json" not in content_type
    ):
        failure = ValidationFailed(
            "Content-Type must be application/json", details={"body": ["wrong content type"]}
        )
    else:
        details = validation_details(errors)
        failure = ValidationFailed(_summary(details), details=details)
    return error_response(request, failure)


async def _on_http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)  # noqa: S101 - registered for it only
    if isinstance(error.__cause__, PanelError):
        return error_response(request, error.__cause__)
    if error.status_code == 404:
        return error_response(request, NotFound(f"No route for {request.url.path}"))
    if error.status_code == 405:
        allowed = (error.headers or {}).get("Allow", "")
        return error_response(
            request,
            MethodNotAllowed(
                f"Method {request.method} is not allowed here; allowed: {allowed}",
                headers={"Allow": allowed} if allowed else None,
            ),
        )
    if error.status_code == 400:
        return error_response(request, ValidationFailed(str(error.detail)))
    return error_response(request, PanelError(str(error.detail), status=error.status_code))


async def _on_host_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HostError)  # noqa: S101 - registered for HostError only
    code = getattr(error, "code", "INTERNAL_ERROR")
    if code not in HOST_STATUSES:
        log.error("host.error", error=str(error), error_type=type(error).__name__)
        return error_response(request, InternalError())
    return error_response(request, PanelError(str(error), code=code, status=HOST_STATUSES[code]))


async def _on_unexpected(request: Request, error: Exception) -> Response:
    log.exception("request.unhandled_error", error_type=type(error).__name__)
    return error_response(request, InternalError())


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PanelError, _on_panel_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(HostError, _on_host_error)
    app.add_exception_handler(Exception, _on_unexpected)
