"""Start, watch, reload and stop the daemons the panel runs itself in the local profile."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from wispanel.host.errors import ApplyError, DaemonError, tail_text
from wispanel.host.files import atomic_write
from wispanel.host.runner import CommandRunner, process_is_alive, process_start_time

log = structlog.get_logger(__name__)

_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_POLL_SECONDS = 0.05
_KILL_WAIT_SECONDS = 5.0
# A process that started more than this long after its pid file was written is not the
# one the file names: its pid was reused. The slack covers the one-second resolution of
# the boot time in /proc/stat.
_START_TIME_SLACK_SECONDS = 2.0


@dataclass(frozen=True)
class DaemonSpec:
    """How to run one daemon: its command, files, config check and readiness check."""

    name: str
    argv: Sequence[str]
    log_file: Path  # receives stdout and stderr
    pid_file: Path | None = None  # default: <state dir>/<name>.pid
    check_argv: Sequence[str] | None = None  # config test run before every reload
    reload_signal: signal.Signals = signal.SIGHUP
    env: Mapping[str, str] = field(default_factory=dict)
    ready_tcp: tuple[str, int] | None = None  # (host, port) that must accept connections
    daemonizes: bool = False  # the program forks, exits and writes pid_file itself
    start_timeout: float = 10.0  # seconds
    min_uptime: float = 0.5  # seconds alive before start() trusts a spec without ready_tcp

    def __post_init__(self) -> None:
        if not _NAME_PATTERN.fullmatch(self.name):
            raise ValueError(f"daemon name {self.name!r} must match {_NAME_PATTERN.pattern}")
        if isinstance(self.argv, str) or not self.argv:
            raise TypeError("argv must be a non-empty sequence of arguments, not a string")
        if isinstance(self.check_argv, str):
            raise TypeError("check_argv must be a sequence of arguments, not a string")
        if not 0 <= self.min_uptime < self.start_timeout:
            raise ValueError("min_uptime must be at least 0 and less than start_timeout")
        if self.daemonizes and self.pid_file is None:
            raise ValueError("a daemon that daemonizes itself needs the pid_file it writes")
        object.__setattr__(self, "argv", tuple(self.argv))
        if self.check_argv is not None:
            object.__setattr__(self, "check_argv", tuple(self.check_argv))


@dataclass(frozen=True)
class DaemonStatus:
    """Whether a daemon runs, and its pid when it does."""

    name: str
    running: bool
    pid: int | None


def _read_pid(pid_file: Path) -> int | None:
    try:
        text = pid_file.read_text().strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    if not (text.isascii() and text.isdigit()) or int(text) == 0:
        return None
    return int(text)


def _port_accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _start_failed(spec: DaemonSpec, problem: str, log_offset: int) -> DaemonError:
    """Log a failed start and build its error with the log lines written since log_offset."""
    log.warning("daemon.start_failed", daemon=spec.name, problem=problem)
    try:
        with spec.log_file.open("rb") as stream:
            stream.seek(log_offset)
            log_tail = tail_text(stream.read())
    except FileNotFoundError:
        log_tail = ""
    return DaemonError(spec.name, problem, log_tail)


class Supervisor:
    """Manage daemons started by the panel, tracked through pid files.

    State lives in pid files, so another panel process finds the same daemons. Children
    started by this instance are also kept to reap them when they exit.
    """

    def __init__(self, runner: CommandRunner, state_dir: Path) -> None:
        self._runner = runner
        self._state_dir = state_dir
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def pid_file(self, spec: DaemonSpec) -> Path:
        """Return the pid file that tracks ``spec``."""
        return spec.pid_file or self._state_dir / f"{spec.name}.pid"

    def status(self, spec: DaemonSpec) -> DaemonStatus:
        """Report whether the pid in the pid file is alive and started no later than the file."""
        self._reap()
        pid_file = self.pid_file(spec)
        pid = _read_pid(pid_file)
        if pid is None:
            return DaemonStatus(spec.name, False, None)
        started = process_start_time(pid) if self._is_alive(pid) else None
        try:
            written = pid_file.stat().st_mtime
        except FileNotFoundError:
            return DaemonStatus(spec.name, False, None)
        if started is None or started > written + _START_TIME_SLACK_SECONDS:
            return DaemonStatus(spec.name, False, None)
        return DaemonStatus(spec.name, True, pid)

    def start(self, spec: DaemonSpec) -> DaemonStatus:
        """Start the daemon unless it runs, and wait until it is alive and ready.

        Raises CommandNotFound if the binary is missing and DaemonError, with the new log
        lines, if the program exits or is not ready within ``spec.start_timeout``.
        """
        current = self.status(spec)
        if current.running:
            return current
        binary = self._runner.resolve(spec.argv[0])
        pid_file = self.pid_file(spec)
        pid_file.unlink(missing_ok=True)
        self._state_dir.mkdir(parents=True, exist_ok=True)
        spec.log_file.parent.mkdir(parents=True, exist_ok=True)
        with spec.log_file.open("ab") as log_stream:
            log_offset = log_stream.tell()
            process = subprocess.Popen(  # noqa: S603 - argv list with a resolved binary, no shell
                [binary, *spec.argv[1:]],
                stdin=subprocess.DEVNULL,
                stdout=log_stream,
                stderr=subprocess.STDOUT,
                cwd=self._state_dir,
                env=self._runner.environment(spec.env),
                start_new_session=True,
            )
        self._children[process.pid] = process
        pid = self._wait_until_ready(spec, process, log_offset)
        log.info("daemon.started", daemon=spec.name, pid=pid)
        return DaemonStatus(spec.name, True, pid)

    def stop(self, spec: DaemonSpec, timeout: float = 10.0) -> None:
        """Send SIGTERM, then SIGKILL to the process group after ``timeout`` seconds."""
        current = self.status(spec)
        if current.pid is not None:
            pid = current.pid
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            if not self._wait_exit(pid, timeout):
                log.warning("daemon.kill", daemon=spec.name, pid=pid, timeout_seconds=timeout)
                if not self._kill(pid):
                    raise DaemonError(spec.name, f"did not exit after SIGKILL (pid {pid})")
            log.info("daemon.stopped", daemon=spec.name, pid=pid)
        self.pid_file(spec).unlink(missing_ok=True)

    def check_config(self, spec: DaemonSpec, timeout: float = 60.0) -> None:
        """Run ``spec.check_argv`` if set, and raise ApplyError with its output on failure."""
        if spec.check_argv is None:
            return
        result = self._runner.run(spec.check_argv, timeout=timeout, env=spec.env, check=False)
        if result.returncode != 0:
            output = tail_text(result.stdout + result.stderr)
            log.warning("daemon.check_failed", daemon=spec.name, exit_status=result.returncode)
            raise ApplyError(spec.name, output)

    def reload(self, spec: DaemonSpec) -> None:
        """Check the config, then send ``spec.reload_signal`` to the running daemon."""
        self.check_config(spec)
        current = self.status(spec)
        if current.pid is None:
            raise DaemonError(spec.name, "is not running, so it cannot be reloaded")
        os.kill(current.pid, spec.reload_signal)
        log.info("daemon.reloaded", daemon=spec.name, pid=current.pid)

    def restart(self, spec: DaemonSpec, timeout: float = 10.0) -> DaemonStatus:
        """Stop the daemon if it runs, then start it."""
        self.stop(spec, timeout)
        return self.start(spec)

    def _wait_until_ready(
        self, spec: DaemonSpec, process: subprocess.Popen[bytes], log_offset: int
    ) -> int:
        started = time.monotonic()
        deadline = started + spec.start_timeout
        pid_file = self.pid_file(spec)
        if spec.daemonizes:
            pid = self._wait_for_own_pid_file(spec, process, deadline, log_offset)
        else:
            pid = process.pid
            atomic_write(pid_file, f"{pid}\n")
        while True:
            if not self._is_alive(pid):
                pid_file.unlink(missing_ok=True)
                exit_status = process.returncode if pid == process.pid else None
                problem = "exited while starting"
                if exit_status is not None:
                    problem = f"exited with status {exit_status} while starting"
                raise _start_failed(spec, problem, log_offset)
            now = time.monotonic()
            if spec.ready_tcp is None and now - started >= spec.min_uptime:
                return pid
            if spec.ready_tcp is not None and _port_accepts(*spec.ready_tcp):
                return pid
            if now > deadline:
                self._kill(pid)
                pid_file.unlink(missing_ok=True)
                host, port = spec.ready_tcp or ("", 0)
                problem = (
                    f"did not accept connections on {host}:{port} within {spec.start_timeout:g} s"
                )
                raise _start_failed(spec, problem, log_offset)
            time.sleep(_POLL_SECONDS)

    def _wait_for_own_pid_file(
        self, spec: DaemonSpec, launcher: subprocess.Popen[bytes], deadline: float, log_offset: int
    ) -> int:
        try:
            exit_status = launcher.wait(timeout=max(deadline - time.monotonic(), 0))
        except subprocess.TimeoutExpired:
            self._kill(launcher.pid)
            problem = f"did not detach within {spec.start_timeout:g} s"
            raise _start_failed(spec, problem, log_offset) from None
        if exit_status != 0:
            problem = f"exited with status {exit_status} while starting"
            raise _start_failed(spec, problem, log_offset)
        while (pid := _read_pid(self.pid_file(spec))) is None or not self._is_alive(pid):
            if time.monotonic() > deadline:
                problem = f"did not write a live pid to {self.pid_file(spec)}"
                raise _start_failed(spec, problem, log_offset)
            time.sleep(_POLL_SECONDS)
        return pid

    def _wait_exit(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if not self._is_alive(pid):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(_POLL_SECONDS)

    def _kill(self, pid: int) -> bool:
        """SIGKILL the process, and its group when it leads one. Return whether it exited."""
        try:
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return self._wait_exit(pid, _KILL_WAIT_SECONDS)

    def _is_alive(self, pid: int) -> bool:
        child = self._children.get(pid)
        self._reap()
        if child is not None:
            # waitpid is exact for a child. /proc shows a zombie as soon as the main thread
            # exits, while other threads of the process may still run.
            return child.returncode is None
        return process_is_alive(pid)

    def _reap(self) -> None:
        """Collect the exit status of finished children, so they do not stay zombies."""
        for pid, child in list(self._children.items()):
            if child.poll() is not None:
                del self._children[pid]
