"""The access-line writers that `configure_logging` chooses for each format and level."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from wispanel.core import logging as panel_logging
from wispanel.core.logging import (
    JsonAccessLog,
    StructlogAccessLog,
    access_log,
    configure_logging,
)

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$")


@pytest.fixture
def stream(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """A logging set-up that writes to a fresh stream, undone after the test."""
    # Setting the current writer again makes monkeypatch put it back at the end.
    monkeypatch.setattr(panel_logging, "_access_log", panel_logging.access_log())
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    config = structlog.get_config()
    yield io.StringIO()
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**config)
    structlog.contextvars.clear_contextvars()


def fields(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "method": "GET",
        "path": "/api/v1/auth/me",
        "status": 200,
        "duration_ms": 1.25,
        "client_ip": "192.0.2.7",
        "user": "admin",
    }
    return values | overrides


def lines_of(stream: io.StringIO) -> list[str]:
    return [line for line in stream.getvalue().splitlines() if line.strip()]


def test_json_line_matches_structlog(stream: io.StringIO) -> None:
    configure_logging(format="json", stream=stream, cache_loggers=False)
    assert isinstance(access_log(), JsonAccessLog)
    structlog.contextvars.bind_contextvars(request_id="trace-7")
    access_log().write(fields())
    structlog.get_logger("wispanel.access").info("request", **fields())
    fast, reference = (json.loads(line) for line in lines_of(stream))
    assert set(fast) == set(reference)
    for key in ("method", "path", "status", "duration_ms", "client_ip", "user", "request_id"):
        assert fast[key] == reference[key]
    assert fast["event"] == "request"
    assert fast["level"] == "info"
    assert ISO_UTC.match(fast["timestamp"]), fast["timestamp"]


def test_json_line_keeps_explicit_fields(stream: io.StringIO) -> None:
    configure_logging(format="json", stream=stream, cache_loggers=False)
    structlog.contextvars.bind_contextvars(job_id="job-1", user="from-context")
    access_log().write(fields())
    entry = json.loads(lines_of(stream)[0])
    assert entry["job_id"] == "job-1"
    assert entry["user"] == "admin"


def test_json_line_with_lone_surrogate(stream: io.StringIO) -> None:
    configure_logging(format="json", stream=stream, cache_loggers=False)
    access_log().write(fields(path="/api/\udcff"))
    (line,) = lines_of(stream)
    entry = json.loads(line)
    assert entry["path"] == "/api/\udcff"
    assert entry["event"] == "request"


def test_console_format_uses_structlog(stream: io.StringIO) -> None:
    configure_logging(format="console", stream=stream, cache_loggers=False)
    assert isinstance(access_log(), StructlogAccessLog)
    access_log().write(fields())
    (line,) = lines_of(stream)
    assert "request" in line
    assert "path=/api/v1/auth/me" in line


def test_warning_level_drops_access_line(stream: io.StringIO) -> None:
    configure_logging(format="json", level="WARNING", stream=stream, cache_loggers=False)
    access_log().write(fields())
    assert lines_of(stream) == []
