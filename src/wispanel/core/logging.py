"""structlog set-up: readable console lines in development, one JSON object per line in production.

Request and job ids are bound with `structlog.contextvars`, so every line logged while a
request or job runs carries them without being passed around.

The access line of each request takes a shorter path in the JSON format: `JsonAccessLog`
serialises it with orjson and writes it to the same stream, without structlog's processor
chain, which cost about 25 µs a request (docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO, cast

import orjson
import structlog

ACCESS_EVENT = "request"
# UTC timestamps end in "Z", as structlog's TimeStamper(fmt="iso", utc=True) writes them.
JSON_OPTIONS = orjson.OPT_UTC_Z


class _CurrentStderr:
    """Writes to whatever `sys.stderr` is at the time, so cached loggers follow a swapped stream."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


class AccessLog(Protocol):
    def write(self, fields: dict[str, Any]) -> None:
        """Log the access line of one request with `fields`, which the writer may change."""
        ...


class StructlogAccessLog:
    """Logs the access line through structlog's configured processors, in any format."""

    def __init__(self) -> None:
        self._logger = structlog.get_logger("wispanel.access")

    def write(self, fields: dict[str, Any]) -> None:
        self._logger.info(ACCESS_EVENT, **fields)


class JsonAccessLog:
    """Writes the access line as the JSON that structlog's JSON set-up would print.

    The line has the same keys: the fields, the bound context variables, `event`, `level`
    and `timestamp`. Only the key order and the spacing differ. It goes through a
    `structlog.WriteLogger` on the same stream, which holds structlog's lock for that stream.
    """

    def __init__(self, stream: TextIO) -> None:
        self._output = structlog.WriteLogger(stream)
        self._fallback = StructlogAccessLog()

    def write(self, fields: dict[str, Any]) -> None:
        structlog.contextvars.merge_contextvars(None, "info", fields)
        fields["event"] = ACCESS_EVENT
        fields["level"] = "info"
        fields["timestamp"] = datetime.now(UTC)
        try:
            line = orjson.dumps(fields, option=JSON_OPTIONS)
        except TypeError:
            # orjson rejects some values that the standard json module accepts, such as
            # strings with lone surrogates, so structlog's renderer writes those lines.
            for key in ("event", "level", "timestamp"):
                del fields[key]
            self._fallback.write(fields)
            return
        self._output.msg(line.decode())


_access_log: AccessLog = StructlogAccessLog()


def access_log() -> AccessLog:
    """Return the access-line writer of the current logging set-up."""
    return _access_log


def configure_logging(
    *,
    format: str = "console",
    level: str = "INFO",
    stream: TextIO | None = None,
    cache_loggers: bool = True,
) -> None:
    """Route structlog and the standard library's loggers to one stream (stderr) in one format.

    Cached loggers are bound to the stream for good; tests that swap streams turn caching off.
    """
    stream = stream or cast(TextIO, _CurrentStderr())
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if format == "json"
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        # WriteLogger writes each line with one call, as the standard library's StreamHandler
        # below does, so lines of different threads can't split each other. PrintLogger's
        # print() writes the newline in a second call.
        logger_factory=structlog.WriteLoggerFactory(file=stream),
        cache_logger_on_first_use=cache_loggers,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
            ],
        )
    )
    global _access_log  # noqa: PLW0603 - the set-up is process-wide, as structlog's is
    if format == "json" and logging.getLevelName(level) <= logging.INFO:
        _access_log = JsonAccessLog(stream)
    else:
        _access_log = StructlogAccessLog()
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The panel writes its own access line per request; uvicorn's would repeat it.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("huey").setLevel(logging.WARNING)
