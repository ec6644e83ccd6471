"""Every error from every layer arrives in the one envelope, with a request id."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import APIRouter
from starlette.testclient import TestClient

from tests.conftest import CLIENT_ADDRESS
from wispanel.app import create_app
from wispanel.core.config import Settings

ENVELOPE_KEYS = {"success", "code", "error", "message", "status", "request_id"}


def _assert_envelope(response: object, status: int, code: str) -> dict[str, object]:
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert response.status_code == status, body  # type: ignore[attr-defined]
    assert set(body) >= ENVELOPE_KEYS
    assert body["success"] is False
    assert body["code"] == code
    assert body["status"] == status
    assert body["error"] == body["message"]
    assert body["request_id"] == response.headers["x-request-id"]  # type: ignore[attr-defined]
    return body


@pytest.fixture
def failing_client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    router = APIRouter(prefix="/api/v1/test", tags=["00 Meta"])

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret path /etc/shadow in a traceback")

    app.include_router(router)
    with TestClient(app, client=CLIENT_ADDRESS, raise_server_exceptions=False) as test_client:
        yield test_client


def test_unknown_route(client: TestClient) -> None:
    _assert_envelope(client.get("/api/v1/nothing-here"), 404, "NOT_FOUND")


def test_wrong_method(client: TestClient) -> None:
    response = client.delete("/api/v1/auth/login")
    _assert_envelope(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "POST"


def test_trailing_slash_accepted(client: TestClient) -> None:
    response = client.post("/api/v1/auth/login/", json={"username": "admin", "password": "x"})
    _assert_envelope(response, 401, "UNAUTHORIZED")


def test_internal_error_hides_details(failing_client: TestClient) -> None:
    response = failing_client.get("/api/v1/test/boom")
    body = _assert_envelope(response, 500, "INTERNAL_ERROR")
    assert "details" not in body
    assert "shadow" not in response.text
    assert "RuntimeError" not in response.text


def test_malformed_json(client: TestClient) -> None:
    response = client.post(
        "/api/v1/auth/login", content=b'{"username": ', headers={"content-type": "application/json"}
    )
    body = _assert_envelope(response, 400, "VALIDATION_ERROR")
    assert body["message"] == "Request body is not valid JSON"


def test_wrong_content_type(client: TestClient) -> None:
    response = client.post(
        "/api/v1/auth/login",
        content=b"username=admin&password=x",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    body = _assert_envelope(response, 400, "VALIDATION_ERROR")
    assert body["message"] == "Content-Type must be application/json"


def test_oversized_body(client: TestClient) -> None:
    response = client.post(
        "/api/v1/auth/login",
        content=b'{"username": "' + b"a" * 2_000_000 + b'"}',
        headers={"content-type": "application/json"},
    )
    _assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")


def test_oversized_chunked_body(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"username": "'
        for _ in range(40):
            yield b"a" * 65_536
        yield b'"}'

    response = client.post(
        "/api/v1/auth/login", content=chunks(), headers={"content-type": "application/json"}
    )
    _assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")


def test_overlong_headers(client: TestClient) -> None:
    response = client.get("/api/v1/auth/me", headers={"X-Filler": "a" * 20_000})
    _assert_envelope(response, 431, "HEADERS_TOO_LARGE")


def test_request_id_taken_or_made(client: TestClient) -> None:
    echoed = client.get("/api/v1/auth/me", headers={"X-Request-Id": "billing-42.a"})
    assert echoed.headers["x-request-id"] == "billing-42.a"
    assert echoed.json()["request_id"] == "billing-42.a"
    for bad in ("has space", "x" * 100, "new\\line"):
        response = client.get("/api/v1/auth/me", headers={"X-Request-Id": bad})
        assert response.headers["x-request-id"] != bad
        assert len(response.headers["x-request-id"]) == 32


def test_successful_response_has_request_id(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert len(response.headers["x-request-id"]) == 32
