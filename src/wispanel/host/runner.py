"""The one way the panel runs external commands.

Commands run from an argv list (never a shell), with the binary resolved to an absolute
path, a controlled environment, a timeout that kills the whole process group, and one log
line per run. Secrets go on stdin, never in argv.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from wispanel.host.errors import CommandError, CommandNotFound, CommandTimeout, HostError, tail_text

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_TIMEOUT_SECONDS = 30.0
# How long to wait for the pipes to close after killing a timed-out process group.
_DRAIN_SECONDS = 2.0

log = structlog.get_logger(__name__)


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def which(name: str, overrides: Mapping[str, str] | None = None) -> str | None:
    """Return the absolute path of a binary, or None if it is missing.

    The override mapping wins over the search of ``SYSTEM_PATH``. A name containing a slash
    must be an absolute path to an executable file; the caller's PATH is never used.
    """
    if overrides and name in overrides:
        path = overrides[name]
        return path if os.path.isabs(path) and _is_executable(path) else None
    if "/" in name:
        return name if os.path.isabs(name) and _is_executable(name) else None
    return shutil.which(name, path=SYSTEM_PATH)


@dataclass(frozen=True)
class CommandResult:
    """Outcome of one finished command. ``argv[0]`` is the resolved absolute path."""

    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes
    duration_seconds: float


class CommandRunner:
    """Run external commands with resolved binaries, a timeout and a controlled environment."""

    def __init__(
        self,
        binaries: Mapping[str, str] | None = None,
        default_timeout: float = DEFAULT_TIMEOUT_SECONDS,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        for name, path in (binaries or {}).items():
            if not os.path.isabs(path):
                raise ValueError(f"binary override for {name!r} must be absolute, got {path!r}")
        if default_timeout <= 0:
            raise ValueError(f"default_timeout must be positive, got {default_timeout!r}")
        self._binaries = dict(binaries or {})
        self._default_timeout = default_timeout
        self._extra_env = dict(extra_env or {})

    def which(self, name: str) -> str | None:
        """Return the absolute path of a binary using this runner's overrides, or None."""
        return which(name, self._binaries)

    def resolve(self, name: str) -> str:
        """Return the absolute path of a binary, or raise CommandNotFound."""
        path = self.which(name)
        if path is None:
            raise CommandNotFound(name)
        return path

    def environment(self, env: Mapping[str, str] | None = None) -> dict[str, str]:
        """Build a child environment from PATH, LANG, HOME and explicit additions only."""
        result = {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8"}
        home = os.environ.get("HOME")
        if home:
            result["HOME"] = home
        result.update(self._extra_env)
        result.update(env or {})
        return result

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        input: bytes | None = None,
        cwd: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> CommandResult:
        """Run argv to completion and return its result.

        Raises CommandNotFound when the binary is missing, CommandTimeout after killing the
        process group when ``timeout`` (or the runner's default) passes, and CommandError on
        a non-zero exit when ``check`` is true. A string argv raises TypeError.
        """
        full_argv = self._prepare_argv(argv)
        command = os.path.basename(full_argv[0])
        limit = self._default_timeout if timeout is None else timeout
        started = time.monotonic()
        try:
            process = subprocess.Popen(  # noqa: S603 - argv list with a resolved binary, no shell
                full_argv,
                stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=self.environment(env),
                start_new_session=True,
            )
        except OSError as error:
            raise HostError(f"failed to execute {command}: {error.strerror}") from error

        with process:
            try:
                stdout, stderr = process.communicate(input, timeout=limit)
            except subprocess.TimeoutExpired:
                _kill_group(process)
                duration_ms = round((time.monotonic() - started) * 1000)
                log.warning(
                    "command.timeout",
                    command=command,
                    timeout_seconds=limit,
                    duration_ms=duration_ms,
                )
                raise CommandTimeout(command, limit) from None

        duration = time.monotonic() - started
        result = CommandResult(
            tuple(full_argv), process.returncode, stdout, stderr, round(duration, 6)
        )
        event = "command.finished" if result.returncode == 0 else "command.failed"
        # With check off the caller judges the exit status: `pdns_server --version` exits 99.
        log_method = log.warning if check and result.returncode != 0 else log.info
        log_method(
            event,
            command=command,
            exit_status=result.returncode,
            duration_ms=round(duration * 1000),
        )
        if check and result.returncode != 0:
            # Some checkers print their complaint on stdout, so fall back to it.
            raise CommandError(command, result.returncode, tail_text(stderr or stdout))
        return result

    def _prepare_argv(self, argv: Sequence[str]) -> list[str]:
        if isinstance(argv, str | bytes):
            raise TypeError(
                "argv must be a list of arguments, not a string, because no shell is used"
            )
        items = list(argv)
        if not items:
            raise ValueError("argv must not be empty")
        for item in items:
            if not isinstance(item, str):
                raise TypeError(f"every argv item must be str, got {type(item).__name__}")
            if "\0" in item:
                raise ValueError("argv items must not contain NUL characters")
        items[0] = self.resolve(items[0])
        return items


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group started for ``process`` and reap the child."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    try:
        process.communicate(timeout=_DRAIN_SECONDS)
    except subprocess.TimeoutExpired:
        # A grandchild that left the group keeps the pipes open, so stop reading them.
        process.kill()
        process.wait()


def _proc_stat_fields(pid: int) -> list[str] | None:
    """Return the fields of /proc/<pid>/stat from the state on, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name in brackets may contain spaces, so split after its closing bracket.
    return text.rpartition(")")[2].split()


def process_is_alive(pid: int) -> bool:
    """Return whether the process exists and is neither a zombie nor dead."""
    fields = _proc_stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def process_start_time(pid: int) -> float | None:
    """Return when the process started, in seconds since the epoch, or None if it is gone."""
    fields = _proc_stat_fields(pid)
    if fields is None:
        return None
    boot_line = next(
        line for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime ")
    )
    # starttime is field 22 of /proc/<pid>/stat in proc(5), counted in clock ticks after
    # boot. fields[0] is field 3.
    ticks = int(fields[19])
    return int(boot_line.split()[1]) + ticks / os.sysconf("SC_CLK_TCK")
