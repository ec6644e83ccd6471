"""Event names a subscription can ask for, and how its patterns match them."""

from __future__ import annotations

from collections.abc import Iterable

from wispanel.core.errors import ValidationFailed

EVENT_NAMES: tuple[str, ...] = (
    "user.created",
    "user.updated",
    "user.suspended",
    "user.unsuspended",
    "user.deleted",
    "domain.created",
    "domain.updated",
    "domain.suspended",
    "domain.unsuspended",
    "domain.deleted",
    "dns.record.created",
    "dns.record.updated",
    "dns.record.deleted",
    "ssl.issued",
    "ssl.renewed",
    "ssl.failed",
    "database.created",
    "database.deleted",
    "email.account.created",
    "email.account.deleted",
    "ftp.account.created",
    "ftp.account.deleted",
    "backup.completed",
    "backup.failed",
    "restore.completed",
    "wordpress.installed",
    "security.ip.blocked",
    "service.started",
    "service.stopped",
    "service.restarted",
    "webhook.ping",
)
PING = "webhook.ping"
MAX_PATTERNS = 100
WILDCARD = "*"


def matches(pattern: str, event: str) -> bool:
    """Return whether a pattern (an exact name, `prefix.*` or `*`) selects an event name."""
    if pattern == WILDCARD:
        return True
    if pattern.endswith(".*"):
        return event.startswith(pattern[:-1])
    return pattern == event


def matches_any(patterns: Iterable[str], event: str) -> bool:
    return any(matches(pattern, event) for pattern in patterns)


def _is_known(pattern: str) -> bool:
    if pattern == WILDCARD:
        return True
    if pattern.endswith(".*"):
        prefix = pattern[:-1]
        return len(prefix) > 1 and any(name.startswith(prefix) for name in EVENT_NAMES)
    return pattern in EVENT_NAMES


def normalise_patterns(patterns: list[str] | None) -> list[str]:
    """Return the patterns without duplicates, in the order given; raise 400 on a bad one."""
    cleaned = [pattern.strip() for pattern in patterns or []]
    if not cleaned or all(not pattern for pattern in cleaned):
        raise ValidationFailed(
            "At least one event pattern is required", details={"events": ["required"]}
        )
    if len(cleaned) > MAX_PATTERNS:
        raise ValidationFailed(
            f"At most {MAX_PATTERNS} event patterns are allowed; use `prefix.*` or `*`",
            details={"events": ["too many"]},
        )
    unknown = [pattern for pattern in cleaned if not _is_known(pattern)]
    if unknown:
        raise ValidationFailed(
            f"Unknown event pattern {unknown[0]!r}; use an event name such as "
            "'user.created', a prefix such as 'domain.*', or '*'",
            details={"events": [f"unknown: {pattern}" for pattern in unknown]},
        )
    return list(dict.fromkeys(cleaned))
