"""Exceptions raised by the host layer.

Each class has a ``code`` that the API layer maps to its error envelope.
"""

from __future__ import annotations

STDERR_TAIL_BYTES = 2048


def tail_text(data: bytes, limit: int = STDERR_TAIL_BYTES) -> str:
    """Decode the last ``limit`` bytes of a command's output, replacing invalid UTF-8."""
    return data[-limit:].decode("utf-8", errors="replace").strip()


class HostError(Exception):
    """Base class for failures while acting on the host."""

    code = "INTERNAL_ERROR"


class CommandNotFound(HostError):
    """An external program is not installed or not executable."""

    code = "SERVICE_UNAVAILABLE"

    def __init__(self, name: str, install_command: str | None = None) -> None:
        self.name = name
        self.install_command = install_command
        message = f"command not found: {name}"
        if install_command:
            message += f". Install it with: {install_command}"
        super().__init__(message)


class CommandError(HostError):
    """An external program exited with a non-zero status."""

    code = "APPLY_FAILED"

    def __init__(self, command: str, returncode: int, stderr_tail: str) -> None:
        self.command = command
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        message = f"{command} failed with exit status {returncode}"
        if stderr_tail:
            message += f": {stderr_tail}"
        super().__init__(message)


class CommandTimeout(HostError):
    """An external program ran longer than its timeout and was killed."""

    # A timeout during apply leaves the change unapplied, like a failed command.
    code = "APPLY_FAILED"

    def __init__(self, command: str, timeout_seconds: float) -> None:
        self.command = command
        self.timeout_seconds = timeout_seconds
        super().__init__(f"{command} timed out after {timeout_seconds:g} s and was killed")


class UnsafePathError(HostError, ValueError):
    """A path is invalid or resolves outside the directory it must stay in."""

    code = "VALIDATION_ERROR"

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"unsafe path {path!r}: {reason}")


class InvalidNameError(HostError, ValueError):
    """A name (username, hostname ...) does not match its required pattern."""

    code = "VALIDATION_ERROR"

    def __init__(self, field: str, value: object, rule: str) -> None:
        self.field = field
        self.value = value
        self.rule = rule
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"invalid {field} {shown}: {rule}")


class ApplyError(HostError):
    """A component rejected its new configuration, so the change was not applied."""

    code = "APPLY_FAILED"

    def __init__(self, component: str, checker_output: str) -> None:
        self.component = component
        self.checker_output = checker_output
        message = f"{component} configuration check failed"
        if checker_output:
            message += f": {checker_output}"
        super().__init__(message)


class DaemonError(HostError):
    """A supervised daemon failed to start, stop or reload."""

    code = "SERVICE_UNAVAILABLE"

    def __init__(self, name: str, problem: str, log_tail: str = "") -> None:
        self.name = name
        self.problem = problem
        self.log_tail = log_tail
        message = f"{name} {problem}"
        if log_tail:
            message += f". Last log lines:\n{log_tail}"
        super().__init__(message)
