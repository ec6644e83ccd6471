"""One structured access line per request."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator

import pytest
import structlog
from starlette.testclient import TestClient

from tests.conftest import CLIENT_ADDRESS
from wispanel.app import create_app
from wispanel.core.config import Settings
from wispanel.core.logging import configure_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    config = structlog.get_config()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**config)


@pytest.mark.usefixtures("restore_logging")
def test_one_json_line_per_request(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(logging={"access_log": True, "format": "json"})
    stream = io.StringIO()
    configure_logging(format="json", level="INFO", stream=stream, cache_loggers=False)
    with TestClient(create_app(settings), client=CLIENT_ADDRESS) as client:
        stream.seek(0)
        stream.truncate(0)
        response = client.get("/api/v1/auth/me", headers={"X-Request-Id": "trace-1"})
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    access = [line for line in lines if line.get("event") == "request"]
    assert len(access) == 1
    entry = access[0]
    assert entry["request_id"] == "trace-1"
    assert entry["method"] == "GET"
    assert entry["path"] == "/api/v1/auth/me"
    assert entry["status"] == response.status_code == 401
    assert entry["duration_ms"] >= 0
    assert "authorization" not in json.dumps(entry).lower()
