"""The panel's error hierarchy and the one envelope every error response uses."""

from __future__ import annotations

from typing import Any, ClassVar

import orjson


class ConfigurationError(RuntimeError):
    """The panel can't start with the configuration it was given."""


class PanelError(Exception):
    """An error with an API code and HTTP status; turned into the envelope in one place."""

    code: str = "INTERNAL_ERROR"
    status: int = 500
    default_message: ClassVar[str] = "Internal server error"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        code: str | None = None,
        status: int | None = None,
    ) -> None:
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.message = message or self.default_message
        self.details = details
        self.headers = headers or {}
        super().__init__(self.message)


class ValidationFailed(PanelError):
    code = "VALIDATION_ERROR"
    status = 400
    default_message = "Invalid request"


class Unauthorized(PanelError):
    code = "UNAUTHORIZED"
    status = 401
    default_message = "Missing authorization"


class Forbidden(PanelError):
    code = "FORBIDDEN"
    status = 403
    default_message = "Forbidden"


class NotFound(PanelError):
    code = "NOT_FOUND"
    status = 404
    default_message = "Not found"


class MethodNotAllowed(PanelError):
    code = "METHOD_NOT_ALLOWED"
    status = 405
    default_message = "Method not allowed"


class Conflict(PanelError):
    code = "CONFLICT"
    status = 409
    default_message = "Conflict"


class PayloadTooLarge(PanelError):
    code = "PAYLOAD_TOO_LARGE"
    status = 413
    default_message = "Request body is too large"


class HeadersTooLarge(PanelError):
    code = "HEADERS_TOO_LARGE"
    status = 431
    default_message = "Request headers are too large"


class IdempotencyKeyInUse(PanelError):
    code = "IDEMPOTENCY_KEY_IN_USE"
    status = 409
    default_message = "A request with this Idempotency-Key is still running; retry later"


class IdempotencyKeyMismatch(PanelError):
    code = "IDEMPOTENCY_KEY_MISMATCH"
    status = 422
    default_message = "This Idempotency-Key was used with a different request"


class QuotaExceeded(PanelError):
    code = "QUOTA_EXCEEDED"
    status = 403
    default_message = "Quota exceeded"


class RateLimited(PanelError):
    code = "RATE_LIMITED"
    status = 429
    default_message = "Rate limit exceeded"


class ApplyFailed(PanelError):
    code = "APPLY_FAILED"
    status = 502
    default_message = "The host rejected the change"


class ServiceUnavailable(PanelError):
    code = "SERVICE_UNAVAILABLE"
    status = 503
    default_message = "A required service is unavailable"


class InternalError(PanelError):
    pass


def envelope(
    code: str,
    status: int,
    message: str,
    request_id: str | None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the error body: `error` and `message` carry the same sentence."""
    body: dict[str, Any] = {
        "success": False,
        "code": code,
        "error": message,
        "message": message,
        "status": status,
    }
    if details:
        body["details"] = details
    body["request_id"] = request_id
    return body


def envelope_bytes(error: PanelError, request_id: str | None) -> bytes:
    return orjson.dumps(
        envelope(error.code, error.status, error.message, request_id, error.details)
    )
