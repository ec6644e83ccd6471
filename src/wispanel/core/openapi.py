"""The OpenAPI 3.0.3 document of the API, built from the routes FastAPI describes as 3.1.

`build_openapi_document` converts the schemas (see `openapi_schema`), replaces FastAPI's 422
validation responses with the error envelope of the API, and adds the shared headers,
parameters, responses and security scheme.

Conventions a route follows:

- `tags=[<folder name>]` with exactly one name from `core.folders.FOLDER_NAMES`. A missing or
  unknown tag raises ValueError, so a forgotten tag fails the build.
- A public route (no authentication) passes `openapi_extra={"security": []}` and declares no
  FastAPI security dependency. FastAPI merges `openapi_extra` into the operation, and an
  empty `security` list overrides the document's `bearerAuth` requirement. A security
  dependency would add its requirement to that list, so the route would be documented as
  protected.
- Error statuses beyond the standard set (for example 502 APPLY_FAILED or 503
  SERVICE_UNAVAILABLE) are declared with `responses={503: {"description": "..."}}`. A
  response declared without content is described by the `Error` envelope.
"""

from http import HTTPStatus
from typing import Any

import yaml
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from wispanel.core.folders import FOLDER_NAMES, openapi_tags
from wispanel.core.openapi_schema import convert_components, convert_path_item

OPENAPI_VERSION = "3.0.3"
MUTATING_METHODS: frozenset[str] = frozenset({"post", "put", "patch", "delete"})
RATE_LIMIT_HEADERS: tuple[str, ...] = (
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "RateLimit",
    "RateLimit-Policy",
)

BEARER_SCHEME = "bearerAuth"
IDEMPOTENCY_KEY_PARAMETER = "Idempotency-Key"
# The codes of the contract, plus the transport errors that wispanel.core.errors also sends.
ERROR_CODES: tuple[str, ...] = (
    "VALIDATION_ERROR",
    "UNAUTHORIZED",
    "FORBIDDEN",
    "NOT_FOUND",
    "CONFLICT",
    "IDEMPOTENCY_KEY_IN_USE",
    "IDEMPOTENCY_KEY_MISMATCH",
    "QUOTA_EXCEEDED",
    "RATE_LIMITED",
    "SERVICE_UNAVAILABLE",
    "APPLY_FAILED",
    "INTERNAL_ERROR",
    "METHOD_NOT_ALLOWED",
    "PAYLOAD_TOO_LARGE",
    "HEADERS_TOO_LARGE",
)

# Status: (name in components.responses, description, (code, example message) pairs).
_ERROR_RESPONSES: dict[int, tuple[str, str, tuple[tuple[str, str], ...]]] = {
    400: (
        "BadRequest",
        "The input is malformed or invalid.",
        (("VALIDATION_ERROR", "Username and password are required"),),
    ),
    401: (
        "Unauthorized",
        "The credentials are missing, invalid, expired or revoked.",
        (("UNAUTHORIZED", "Missing authorization"),),
    ),
    403: (
        "Forbidden",
        "The caller may not do this (role, API key scope, ownership, re-authentication or "
        "2FA gate), or a package or reseller limit would be exceeded.",
        (
            ("FORBIDDEN", "API key is not scoped for 'domains' on this request"),
            ("QUOTA_EXCEEDED", "Package limit reached: max_domains is 5"),
        ),
    ),
    404: (
        "NotFound",
        "No such object in the caller's scope.",
        (("NOT_FOUND", "User not found"),),
    ),
    409: (
        "Conflict",
        "The object already exists or its state conflicts with the request, or a request "
        "with the same Idempotency-Key is still running.",
        (
            ("CONFLICT", "User already exists"),
            ("IDEMPOTENCY_KEY_IN_USE", "A request with this Idempotency-Key is still running"),
        ),
    ),
    422: (
        "IdempotencyKeyMismatch",
        "The Idempotency-Key was used before with a different request.",
        (("IDEMPOTENCY_KEY_MISMATCH", "Idempotency-Key was used with a different request"),),
    ),
    429: (
        "RateLimited",
        "Over a rate limit. Retry-After gives the seconds to wait.",
        (("RATE_LIMITED", "Rate limit exceeded"),),
    ),
    500: (
        "InternalError",
        "An unexpected error. The body holds only the message and request_id.",
        (("INTERNAL_ERROR", "Internal server error"),),
    ),
    502: (
        "ApplyFailed",
        "The host rejected the change, so nothing was changed. The message says what failed.",
        (("APPLY_FAILED", "The web server rejected the configuration: nginx -t failed"),),
    ),
    503: (
        "ServiceUnavailable",
        "A host component needed here is not installed or not running. The message says "
        "which one and how to install it.",
        (("SERVICE_UNAVAILABLE", "The DNS server (PowerDNS) is not running"),),
    ),
}
ERROR_RESPONSE_NAMES: dict[int, str] = {
    status: entry[0] for status, entry in _ERROR_RESPONSES.items()
}

# Header name: (description, schema).
_HEADERS: dict[str, tuple[str, dict[str, Any]]] = {
    "X-Request-Id": (
        "Request id for logs and support: the request's own X-Request-Id when it was sent "
        "and well formed, otherwise a new one.",
        {"type": "string"},
    ),
    "X-RateLimit-Limit": ("Requests allowed per window for this principal.", {"type": "integer"}),
    "X-RateLimit-Remaining": ("Requests left in the current window.", {"type": "integer"}),
    "X-RateLimit-Reset": (
        "Unix time in seconds when the current window resets.",
        {"type": "integer"},
    ),
    "RateLimit": (
        "Remaining quota and seconds until the window resets, as the IETF RateLimit field.",
        {"type": "string"},
    ),
    "RateLimit-Policy": (
        "Quota and window length in seconds, as the IETF RateLimit-Policy field.",
        {"type": "string"},
    ),
    "Retry-After": ("Seconds to wait before retrying.", {"type": "integer", "minimum": 0}),
    "Idempotent-Replayed": (
        "`true` when this is the stored response of an earlier request with the same "
        "Idempotency-Key; nothing ran again.",
        {"type": "string", "enum": ["true"]},
    ),
    "X-New-Token": (
        "A fresh session token for the same session, sent when less than half of the "
        "token's lifetime remains.",
        {"type": "string"},
    ),
}

_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
_ERROR_SCHEMA_REF = {"$ref": "#/components/schemas/Error"}


def build_openapi_document(
    app: FastAPI, *, title: str, version: str, description: str
) -> dict[str, Any]:
    """Build the OpenAPI 3.0.3 document of the app's routes.

    Raises ValueError when an operation lacks a folder tag or a unique operationId.
    """
    generated = get_openapi(
        title=title,
        version=version,
        description=description,
        routes=app.routes,
        separate_input_output_schemas=app.separate_input_output_schemas,
    )
    components = convert_components(generated.get("components", {}))
    bearer_aliases = _pop_bearer_schemes(components)
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        components.get("schemas", {}).pop(name, None)

    paths: dict[str, Any] = {}
    for path, path_item in generated.get("paths", {}).items():
        converted = convert_path_item(path_item)
        for method in _HTTP_METHODS:
            if method in converted:
                converted[method] = _complete_operation(
                    path, method, converted[method], bearer_aliases
                )
        paths[path] = converted
    _check_operations(paths)

    shared = build_components()
    for section, items in shared.items():
        components.setdefault(section, {}).update(items)

    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version, "description": description},
        "servers": [{"url": "/"}],
        "security": [{BEARER_SCHEME: []}],
        "tags": openapi_tags(),
        "paths": paths,
        "components": components,
    }


class _NoAliasSafeDumper(yaml.SafeDumper):
    """A SafeDumper that writes an object used twice in full instead of as a YAML alias."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def to_yaml(document: dict[str, Any]) -> str:
    """Serialise the document as YAML with PyYAML's safe dumper, keeping key order."""
    return yaml.dump(document, Dumper=_NoAliasSafeDumper, sort_keys=False, allow_unicode=True)


def _pop_bearer_schemes(components: dict[str, Any]) -> set[str]:
    """Remove FastAPI's HTTP bearer schemes and return their names, which map to bearerAuth."""
    schemes = components.get("securitySchemes", {})
    names = {
        name
        for name, scheme in schemes.items()
        if scheme.get("type") == "http" and str(scheme.get("scheme", "")).lower() == "bearer"
    }
    for name in names:
        del schemes[name]
    if not schemes:
        components.pop("securitySchemes", None)
    return names


def _complete_operation(
    path: str, method: str, operation: dict[str, Any], bearer_aliases: set[str]
) -> dict[str, Any]:
    """Add the security, idempotency, headers and error responses of one operation."""
    operation["tags"] = list(dict.fromkeys(operation.get("tags", [])))
    if "security" in operation:
        operation["security"] = _rename_bearer_schemes(operation["security"], bearer_aliases)
    secured = operation.get("security") != []
    mutating = method in MUTATING_METHODS

    parameters: list[dict[str, Any]] = operation.get("parameters", [])
    if mutating and not _declares_idempotency_key(parameters):
        parameters.append(parameter_ref(IDEMPOTENCY_KEY_PARAMETER))
    if parameters:
        operation["parameters"] = parameters

    responses = _drop_validation_responses(operation.get("responses", {}))
    for status, response in responses.items():
        if status.startswith("2") and "$ref" not in response:
            _add_success_headers(path, response, secured=secured, mutating=mutating)
        elif status.isdigit() and int(status) >= 400:
            responses[status] = _describe_declared_error(int(status), response)

    statuses = [429, 500]
    if parameters or "requestBody" in operation:
        statuses.append(400)
    if secured:
        statuses += [401, 403]
    if any(parameter.get("in") == "path" for parameter in parameters):
        statuses.append(404)
    if mutating:
        statuses += [409, 422]
    for status_code in statuses:
        responses.setdefault(str(status_code), response_ref(ERROR_RESPONSE_NAMES[status_code]))
    operation["responses"] = dict(sorted(responses.items(), key=_status_sort_key))
    return operation


def _rename_bearer_schemes(
    security: list[dict[str, list[str]]], bearer_aliases: set[str]
) -> list[dict[str, list[str]]]:
    """Point requirements on FastAPI's bearer schemes at bearerAuth, dropping duplicates."""
    renamed: list[dict[str, list[str]]] = []
    for requirement in security:
        # The schemes inside one requirement apply together, so they stay in one object.
        mapped = {
            (BEARER_SCHEME if name in bearer_aliases else name): scopes
            for name, scopes in requirement.items()
        }
        if mapped not in renamed:
            renamed.append(mapped)
    return renamed


def _declares_idempotency_key(parameters: list[dict[str, Any]]) -> bool:
    """Return whether a route already declares the Idempotency-Key header itself."""
    for parameter in parameters:
        if parameter == parameter_ref(IDEMPOTENCY_KEY_PARAMETER):
            return True
        name = str(parameter.get("name", "")).lower()
        if parameter.get("in") == "header" and name == IDEMPOTENCY_KEY_PARAMETER.lower():
            return True
    return False


def _drop_validation_responses(responses: dict[str, Any]) -> dict[str, Any]:
    """Remove FastAPI's 422 response, because the API reports invalid input as 400."""
    kept = dict(responses)
    content = kept.get("422", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema", {})
    if schema.get("$ref", "").endswith("/HTTPValidationError"):
        del kept["422"]
    return kept


def _add_success_headers(
    path: str, response: dict[str, Any], *, secured: bool, mutating: bool
) -> None:
    names = ["X-Request-Id"]
    if path.startswith("/api/"):
        names += RATE_LIMIT_HEADERS
    if secured:
        names.append("X-New-Token")
    if mutating:
        names.append("Idempotent-Replayed")
    headers = response.setdefault("headers", {})
    for name in names:
        headers.setdefault(name, header_ref(name))


def _describe_declared_error(status_code: int, response: dict[str, Any]) -> dict[str, Any]:
    """Point an error response that a route declared at the Error envelope.

    A response declared with only FastAPI's default description becomes a reference to the
    shared response for its status. A response with its own schema is kept unchanged.
    """
    if "$ref" in response:
        return response
    content = response.get("content")
    if not content:
        shared = ERROR_RESPONSE_NAMES.get(status_code)
        default_description = _status_phrase(status_code)
        if shared and response.get("description") in (default_description, "Additional Response"):
            return response_ref(shared)
        content = {"application/json": {}}
    for media in content.values():
        media.setdefault("schema", dict(_ERROR_SCHEMA_REF))
    headers = response.get("headers", {})
    headers.setdefault("X-Request-Id", header_ref("X-Request-Id"))
    return {**response, "content": content, "headers": headers}


def _status_phrase(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return ""


def _status_sort_key(item: tuple[str, Any]) -> tuple[int, str]:
    status = item[0]
    return (int(status), status) if status.isdigit() else (1000, status)


def _check_operations(paths: dict[str, Any]) -> None:
    """Raise ValueError listing operations without one folder tag or a unique operationId."""
    problems: list[str] = []
    seen_ids: dict[str, str] = {}
    for path, path_item in paths.items():
        for method in _HTTP_METHODS:
            operation = path_item.get(method)
            if operation is None:
                continue
            where = f"{method.upper()} {path}"
            tags = operation.get("tags", [])
            if len(tags) != 1 or tags[0] not in FOLDER_NAMES:
                problems.append(f"{where}: tags {tags} must be exactly one folder name")
            operation_id = operation.get("operationId")
            if not operation_id:
                problems.append(f"{where}: missing operationId")
            elif operation_id in seen_ids:
                other = seen_ids[operation_id]
                problems.append(f"{where}: operationId {operation_id!r} is also used by {other}")
            else:
                seen_ids[operation_id] = where
    if problems:
        folders = ", ".join(FOLDER_NAMES)
        raise ValueError(
            "Invalid OpenAPI operations. Give each route tags=[<folder name>] and a unique "
            f"operationId. Folder names: {folders}.\n" + "\n".join(problems)
        )


def header_ref(name: str) -> dict[str, str]:
    """Return a reference to a header in components.headers."""
    return {"$ref": f"#/components/headers/{name}"}


def parameter_ref(name: str) -> dict[str, str]:
    """Return a reference to a parameter in components.parameters."""
    return {"$ref": f"#/components/parameters/{name}"}


def response_ref(name: str) -> dict[str, str]:
    """Return a reference to a response in components.responses."""
    return {"$ref": f"#/components/responses/{name}"}


def build_components() -> dict[str, dict[str, Any]]:
    """Build the components every document shares: the error envelope, headers and security."""
    responses = {
        name: _error_response(status, description, examples)
        for status, (name, description, examples) in _ERROR_RESPONSES.items()
    }
    headers = {
        name: {"description": description, "schema": schema}
        for name, (description, schema) in _HEADERS.items()
    }
    idempotency_key = {
        "name": IDEMPOTENCY_KEY_PARAMETER,
        "in": "header",
        "required": False,
        "description": (
            "1 to 255 printable ASCII characters, scoped to the caller and kept for 24 hours. "
            "Repeating a finished request with the same key returns the stored response."
        ),
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": 255,
            "pattern": "^[\\x20-\\x7E]+$",
        },
    }
    bearer = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT or API key",
        "description": (
            "A session JWT from POST /api/v1/auth/login, or an API key: `wsp_` followed by "
            "48 lowercase hex digits. Both are sent as `Authorization: Bearer <credential>`."
        ),
    }
    return {
        "schemas": {"Error": _error_schema()},
        "responses": responses,
        "parameters": {IDEMPOTENCY_KEY_PARAMETER: idempotency_key},
        "headers": headers,
        "securitySchemes": {BEARER_SCHEME: bearer},
    }


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "The envelope of every error response.",
        "required": ["success", "code", "error", "message", "status", "request_id"],
        "properties": {
            "success": {"type": "boolean", "enum": [False]},
            "code": {"type": "string", "enum": list(ERROR_CODES)},
            "error": {"type": "string", "description": "The same sentence as message."},
            "message": {"type": "string", "description": "What failed, in one sentence."},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "details": {
                "type": "object",
                "nullable": True,
                "additionalProperties": True,
                "description": (
                    'Per-field problems or extra facts, such as {"username": ["required"]}.'
                ),
            },
            "request_id": {
                "type": "string",
                "nullable": True,
                "description": "The X-Request-Id of the response.",
            },
        },
    }


def _error_response(
    status_code: int, description: str, examples: tuple[tuple[str, str], ...]
) -> dict[str, Any]:
    headers = {"X-Request-Id": header_ref("X-Request-Id")}
    if status_code == 429:
        headers["Retry-After"] = header_ref("Retry-After")
        headers.update({name: header_ref(name) for name in RATE_LIMIT_HEADERS})
    codes = ", ".join(code for code, _ in examples)
    return {
        "description": f"{description} Codes: {codes}.",
        "headers": headers,
        "content": {
            "application/json": {
                "schema": dict(_ERROR_SCHEMA_REF),
                "examples": {
                    code: {
                        "summary": code,
                        "value": {
                            "success": False,
                            "code": code,
                            "error": message,
                            "message": message,
                            "status": status_code,
                            "details": None,
                            "request_id": "9f2c1e7a4b6d4f0e8a3c5b7d9e1f2a4c",
                        },
                    }
                    for code, message in examples
                },
            }
        },
    }
