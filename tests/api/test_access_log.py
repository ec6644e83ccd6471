"""One structured access line per request."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator

import pytest
import structlog
from starlette.testclient import TestClient

from tests.conftest import CLIENT_ADDRESS, bearer, login
from wispanel.app import create_app
from wispanel.core import logging as panel_logging
from wispanel.core.config import Settings
from wispanel.core.logging import configure_logging


@pytest.fixture
def restore_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Setting the current access-line writer again makes monkeypatch put it back at the end.
    monkeypatch.setattr(panel_logging, "_access_log", panel_logging.access_log())
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


@pytest.mark.usefixtures("restore_logging")
def test_access_line_names_caller(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(
        logging={"access_log": True, "format": "json"}, rate_limit={"default_per_minute": 1}
    )
    stream = io.StringIO()
    configure_logging(format="json", level="INFO", stream=stream, cache_loggers=False)
    with TestClient(create_app(settings), client=CLIENT_ADDRESS) as client:
        token = login(client)
        stream.seek(0)
        stream.truncate(0)
        statuses = [
            client.get("/api/v1/auth/me", headers=bearer(token)).status_code for _ in range(2)
        ]
    assert statuses == [200, 429]
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    access = [line for line in lines if line.get("event") == "request"]
    assert [entry["status"] for entry in access] == statuses
    for entry in access:
        assert entry["user"] == "admin"
        assert entry["client_ip"] == CLIENT_ADDRESS[0]
        assert entry["level"] == "info"
        assert entry["timestamp"].endswith("Z")
        assert token not in json.dumps(entry)


@pytest.mark.usefixtures("restore_logging")
def test_access_log_setting_off(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(logging={"access_log": False, "format": "json"})
    stream = io.StringIO()
    configure_logging(format="json", level="INFO", stream=stream, cache_loggers=False)
    with TestClient(create_app(settings), client=CLIENT_ADDRESS) as client:
        stream.seek(0)
        stream.truncate(0)
        client.get("/api/v1/auth/me")
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    assert [line for line in lines if line.get("event") == "request"] == []
