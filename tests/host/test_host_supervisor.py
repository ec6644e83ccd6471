"""Supervisor running real daemons on loopback ports."""

from __future__ import annotations

import os
import socket
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from tests.host.web_helpers import free_port

from wispanel.host.errors import ApplyError, CommandNotFound, DaemonError
from wispanel.host.runner import CommandRunner, process_is_alive
from wispanel.host.supervisor import DaemonSpec, Supervisor


def port_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def http_server_spec(tmp_path: Path, port: int, **changes: object) -> DaemonSpec:
    fields: dict[str, object] = {
        "name": "http",
        "argv": [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        "log_file": tmp_path / "log" / "http.log",
        "ready_tcp": ("127.0.0.1", port),
    }
    fields.update(changes)
    return DaemonSpec(**fields)  # type: ignore[arg-type]


def python_spec(tmp_path: Path, name: str, code: str, **changes: object) -> DaemonSpec:
    fields: dict[str, object] = {
        "name": name,
        "argv": [sys.executable, "-c", code],
        "log_file": tmp_path / f"{name}.log",
    }
    fields.update(changes)
    return DaemonSpec(**fields)  # type: ignore[arg-type]


@contextmanager
def supervised(tmp_path: Path, spec: DaemonSpec) -> Iterator[Supervisor]:
    supervisor = Supervisor(CommandRunner(), tmp_path / "state")
    try:
        yield supervisor
    finally:
        supervisor.stop(spec, timeout=2.0)


def test_http_server_start_status_stop(tmp_path: Path) -> None:
    port = free_port()
    spec = http_server_spec(tmp_path, port)

    with supervised(tmp_path, spec) as supervisor:
        started = supervisor.start(spec)
        status = supervisor.status(spec)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            http_status = response.status
        supervisor.stop(spec)
        stopped = supervisor.status(spec)

    assert started.running
    assert status.running
    assert status.pid == started.pid
    assert status.pid is not None
    assert http_status == 200
    assert not stopped.running
    assert stopped.pid is None
    assert not process_is_alive(status.pid)
    assert not port_accepts(port)
    assert not supervisor.pid_file(spec).exists()


def test_start_twice_keeps_same_process(tmp_path: Path) -> None:
    port = free_port()
    spec = http_server_spec(tmp_path, port)

    with supervised(tmp_path, spec) as supervisor:
        first = supervisor.start(spec)
        second = supervisor.start(spec)

    assert first.pid == second.pid


def test_status_is_shared_through_pid_file(tmp_path: Path) -> None:
    port = free_port()
    spec = http_server_spec(tmp_path, port)

    with supervised(tmp_path, spec) as supervisor:
        started = supervisor.start(spec)
        other = Supervisor(CommandRunner(), tmp_path / "state")
        seen = other.status(spec)
        other.stop(spec)

    assert seen.pid == started.pid
    assert not port_accepts(port)


def test_failed_check_keeps_daemon_running(tmp_path: Path) -> None:
    port = free_port()
    check = "import sys; sys.stderr.write('unknown directive \"lisen\"\\n'); sys.exit(1)"
    spec = http_server_spec(tmp_path, port, check_argv=[sys.executable, "-c", check])

    with supervised(tmp_path, spec) as supervisor:
        started = supervisor.start(spec)
        with pytest.raises(ApplyError) as caught:
            supervisor.reload(spec)
        after = supervisor.status(spec)
        still_serving = port_accepts(port)

    assert "unknown directive" in caught.value.checker_output
    assert caught.value.component == "http"
    assert caught.value.code == "APPLY_FAILED"
    assert after.running
    assert after.pid == started.pid
    assert still_serving


def test_reload_sends_signal_after_check(tmp_path: Path) -> None:
    marker = tmp_path / "reloaded"
    code = (
        "import pathlib, signal, time\n"
        f"marker = pathlib.Path({str(marker)!r})\n"
        "signal.signal(signal.SIGHUP, lambda *_: marker.write_text('yes'))\n"
        "while True:\n"
        "    time.sleep(0.05)\n"
    )
    spec = python_spec(
        tmp_path, "reloadable", code, check_argv=[sys.executable, "-c", "print('syntax ok')"]
    )

    with supervised(tmp_path, spec) as supervisor:
        supervisor.start(spec)
        supervisor.reload(spec)
        deadline = time.monotonic() + 5
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        running = supervisor.status(spec).running

    assert marker.read_text() == "yes"
    assert running


def test_reload_of_stopped_daemon_raises(tmp_path: Path) -> None:
    spec = http_server_spec(tmp_path, free_port())
    supervisor = Supervisor(CommandRunner(), tmp_path / "state")

    with pytest.raises(DaemonError, match="not running"):
        supervisor.reload(spec)


def test_program_exiting_at_once_raises_with_log(tmp_path: Path) -> None:
    code = "import sys; print('bind() to 127.0.0.1:8080 failed', flush=True); sys.exit(2)"
    spec = python_spec(tmp_path, "broken", code)
    supervisor = Supervisor(CommandRunner(), tmp_path / "state")

    with pytest.raises(DaemonError) as caught:
        supervisor.start(spec)

    assert "exited with status 2" in str(caught.value)
    assert "bind() to 127.0.0.1:8080 failed" in caught.value.log_tail
    assert not supervisor.status(spec).running
    assert not supervisor.pid_file(spec).exists()


def test_log_tail_shows_only_this_start(tmp_path: Path) -> None:
    code = "import sys; print('second attempt', flush=True); sys.exit(1)"
    spec = python_spec(tmp_path, "broken", code)
    spec.log_file.write_text("old run output\n")
    supervisor = Supervisor(CommandRunner(), tmp_path / "state")

    with pytest.raises(DaemonError) as caught:
        supervisor.start(spec)

    assert caught.value.log_tail == "second attempt"
    assert spec.log_file.read_text() == "old run output\nsecond attempt\n"


def test_port_never_opening_times_out(tmp_path: Path) -> None:
    port = free_port()
    spec = python_spec(
        tmp_path,
        "silent",
        "import time; time.sleep(30)",
        ready_tcp=("127.0.0.1", port),
        start_timeout=1.0,
    )
    supervisor = Supervisor(CommandRunner(), tmp_path / "state")

    with pytest.raises(DaemonError, match=f"did not accept connections on 127.0.0.1:{port}"):
        supervisor.start(spec)

    assert not supervisor.status(spec).running
    assert not supervisor.pid_file(spec).exists()


def test_stop_kills_program_ignoring_sigterm(tmp_path: Path) -> None:
    code = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    spec = python_spec(tmp_path, "stubborn", code, min_uptime=1.0)

    with supervised(tmp_path, spec) as supervisor:
        started = supervisor.start(spec)
        begun = time.monotonic()
        supervisor.stop(spec, timeout=0.5)
        elapsed = time.monotonic() - begun

    assert started.pid is not None
    assert not process_is_alive(started.pid)
    assert elapsed < 3


def test_daemonizing_program_uses_its_pid_file(tmp_path: Path) -> None:
    pid_file = tmp_path / "run" / "forker.pid"
    pid_file.parent.mkdir()
    code = (
        "import os, sys, time\n"
        "if os.fork():\n"
        "    sys.exit(0)\n"
        "os.setsid()\n"
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "time.sleep(60)\n"
    )
    spec = python_spec(tmp_path, "forker", code, daemonizes=True, pid_file=pid_file)

    with supervised(tmp_path, spec) as supervisor:
        started = supervisor.start(spec)
        written = int(pid_file.read_text())
        supervisor.stop(spec)

    assert started.pid == written
    assert not process_is_alive(written)
    assert not pid_file.exists()


def test_stale_pid_file_is_not_running(tmp_path: Path) -> None:
    spec = http_server_spec(tmp_path, free_port())
    supervisor = Supervisor(CommandRunner(), tmp_path / "state")
    pid_file = supervisor.pid_file(spec)
    pid_file.parent.mkdir(parents=True)

    # A pid file older than the process it names was left before that pid was reused.
    pid_file.write_text(f"{os.getpid()}\n")
    os.utime(pid_file, (0, 0))
    reused = supervisor.status(spec)
    pid_file.write_text("not a pid\n")
    garbage = supervisor.status(spec)
    pid_file.write_text(f"{2**22 + 1}\n")
    missing_process = supervisor.status(spec)

    assert not reused.running
    assert not garbage.running
    assert not missing_process.running


def test_missing_binary_raises_not_found(tmp_path: Path) -> None:
    spec = DaemonSpec(name="ghost", argv=["wispanel-no-such-daemon"], log_file=tmp_path / "g.log")

    with pytest.raises(CommandNotFound):
        Supervisor(CommandRunner(), tmp_path / "state").start(spec)


def test_spec_rejects_bad_input(tmp_path: Path) -> None:
    log_file = tmp_path / "x.log"

    with pytest.raises(ValueError, match="daemon name"):
        DaemonSpec(name="../etc", argv=["true"], log_file=log_file)
    with pytest.raises(TypeError):
        DaemonSpec(name="web", argv="nginx -g 'daemon off;'", log_file=log_file)
    with pytest.raises(ValueError, match="pid_file"):
        DaemonSpec(name="web", argv=["nginx"], log_file=log_file, daemonizes=True)
