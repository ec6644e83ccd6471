"""CommandRunner against real programs."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from wispanel.host.errors import CommandError, CommandNotFound, CommandTimeout
from wispanel.host.runner import (
    SYSTEM_PATH,
    CommandRunner,
    process_is_alive,
    process_start_time,
    which,
)


def python_argv(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_run_echo_returns_output() -> None:
    result = CommandRunner().run(["echo", "hello"])

    assert result.returncode == 0
    assert result.stdout == b"hello\n"
    assert result.stderr == b""
    assert os.path.isabs(result.argv[0])
    assert result.argv[1:] == ("hello",)
    assert result.duration_seconds >= 0


def test_run_nonzero_exit_raises_command_error() -> None:
    code = "import sys; sys.stderr.write('broken config line 3'); sys.exit(3)"

    with pytest.raises(CommandError) as caught:
        CommandRunner().run(python_argv(code))

    assert caught.value.returncode == 3
    assert caught.value.command == os.path.basename(sys.executable)
    assert caught.value.stderr_tail == "broken config line 3"
    assert "exit status 3" in str(caught.value)
    assert caught.value.code == "APPLY_FAILED"


def test_run_without_check_returns_failure() -> None:
    result = CommandRunner().run(["false"], check=False)

    assert result.returncode == 1


def test_command_error_keeps_only_stderr_tail() -> None:
    code = "import sys; sys.stderr.write('x' * 10000 + 'END'); sys.exit(1)"

    with pytest.raises(CommandError) as caught:
        CommandRunner().run(python_argv(code))

    assert len(caught.value.stderr_tail) <= 2048
    assert caught.value.stderr_tail.endswith("END")


def test_timeout_kills_sleep_quickly() -> None:
    started = time.monotonic()

    with pytest.raises(CommandTimeout) as caught:
        CommandRunner().run(["sleep", "30"], timeout=0.5)

    assert time.monotonic() - started < 1.5
    assert caught.value.command == "sleep"
    assert caught.value.timeout_seconds == 0.5


def test_timeout_kills_grandchildren(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen(['sleep', '30'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(30)\n"
    )

    with pytest.raises(CommandTimeout):
        CommandRunner().run(python_argv(code), timeout=1.0)

    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 2.0
    while process_is_alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_is_alive(grandchild)


def test_environment_is_controlled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WISPANEL_TEST_LEAK", "must-not-reach-child")
    monkeypatch.setenv("HOME", "/home/tester")
    runner = CommandRunner(extra_env={"FROM_RUNNER": "1"})
    code = "import json, os; print(json.dumps(dict(os.environ)))"

    result = runner.run(python_argv(code), env={"FROM_CALL": "2"})
    child_env = json.loads(result.stdout)

    assert "WISPANEL_TEST_LEAK" not in child_env
    assert child_env["PATH"] == SYSTEM_PATH
    assert child_env["LANG"] == "C.UTF-8"
    assert child_env["HOME"] == "/home/tester"
    assert child_env["FROM_RUNNER"] == "1"
    assert child_env["FROM_CALL"] == "2"


def test_input_goes_to_stdin() -> None:
    code = "import sys; data = sys.stdin.read(); print(len(data))"

    result = CommandRunner().run(python_argv(code), input=b"s3cret-password")

    assert result.stdout == b"15\n"
    assert b"s3cret-password" not in b" ".join(arg.encode() for arg in result.argv)


def test_run_uses_cwd(tmp_path: Path) -> None:
    result = CommandRunner().run(["pwd"], cwd=tmp_path)

    assert result.stdout.decode().strip() == str(tmp_path.resolve())


def test_missing_binary_raises_not_found() -> None:
    with pytest.raises(CommandNotFound) as caught:
        CommandRunner().run(["wispanel-no-such-binary", "--version"])

    assert caught.value.name == "wispanel-no-such-binary"
    assert "wispanel-no-such-binary" in str(caught.value)
    assert caught.value.code == "SERVICE_UNAVAILABLE"


@pytest.mark.parametrize("argv", ["echo hello", b"echo hello"])
def test_string_argv_is_rejected(argv: str | bytes) -> None:
    with pytest.raises(TypeError):
        CommandRunner().run(argv)  # type: ignore[arg-type]


def test_empty_and_nul_argv_are_rejected() -> None:
    runner = CommandRunner()

    with pytest.raises(ValueError, match="empty"):
        runner.run([])
    with pytest.raises(ValueError, match="NUL"):
        runner.run(["echo", "a\0b"])


def test_override_maps_name_to_path() -> None:
    echo = which("echo")
    assert echo is not None
    runner = CommandRunner(binaries={"greet": echo})

    result = runner.run(["greet", "hi"])

    assert result.stdout == b"hi\n"
    assert runner.which("greet") == echo


def test_override_to_missing_path_is_not_found() -> None:
    runner = CommandRunner(binaries={"nginx": "/nonexistent/sbin/nginx"})

    assert runner.which("nginx") is None
    with pytest.raises(CommandNotFound):
        runner.run(["nginx", "-v"])


def test_relative_override_is_rejected() -> None:
    with pytest.raises(ValueError, match="absolute"):
        CommandRunner(binaries={"nginx": "sbin/nginx"})


def test_which_uses_fixed_path() -> None:
    sleep = which("sleep")

    assert sleep is not None
    assert os.path.dirname(sleep) in SYSTEM_PATH.split(":")
    assert which("./sleep") is None
    assert which("bin/sleep") is None
    assert which(sys.executable) == sys.executable
    assert which("wispanel-no-such-binary") is None


def test_log_line_names_command_not_arguments() -> None:
    runner = CommandRunner()

    with capture_logs() as logs:
        runner.run(["echo", "customer-secret-name"])
        runner.run(["false"], check=False)
        with pytest.raises(CommandTimeout):
            runner.run(["sleep", "5"], timeout=0.2)

    assert [entry["event"] for entry in logs] == [
        "command.finished",
        "command.failed",
        "command.timeout",
    ]
    assert logs[0]["command"] == "echo"
    assert logs[0]["exit_status"] == 0
    assert isinstance(logs[0]["duration_ms"], int)
    assert logs[1]["exit_status"] == 1
    assert logs[2]["command"] == "sleep"
    assert "customer-secret-name" not in repr(logs)


def test_process_helpers_see_own_process() -> None:
    assert process_is_alive(os.getpid())
    started = process_start_time(os.getpid())
    assert started is not None
    assert started <= time.time()
    assert not process_is_alive(2**22 + 1)
    assert process_start_time(2**22 + 1) is None
