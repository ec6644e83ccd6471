"""Measure GET /api/v1/auth/me on the panel against a bare FastAPI app, with wrk.

Run from anywhere with the project's virtualenv:

    .venv/bin/python benchmarks/bench_auth_me.py [--rounds 3] [--write]

Each round starts, one after the other, the bare app (benchmarks/bare_app.py) and the panel
in several configurations, each as one uvicorn process on a free loopback port, warms it up,
then runs `wrk -t1 -c16 -d10s --latency` against it. The panel runs on a fresh data directory
with SQLite. The benchmark logs in first and sends the session token on every request.
Besides wrk's numbers it records the server's CPU time per request and the CPU that other
programs used meanwhile. With more than one round, each row shows the run with the median
requests/s.

`--write` replaces the results section of docs/benchmarks.md and keeps the rest of the page.
Needs wrk (Debian: `apt-get install wrk`).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
ROUTE = "/api/v1/auth/me"
# Generated per run: the panel only listens on loopback, but a fixed password invites reuse.
ADMIN_PASSWORD = secrets.token_urlsafe(18)
# A per-minute limit no run can reach, so the limiter does its full work but never rejects.
UNREACHABLE_LIMIT = 1_000_000_000
TARGET_RATIO = 0.5
# Above this much CPU used by other programs during a run, requests/s are not comparable.
BUSY_MACHINE_CORES = 0.25
RESULTS_START = "<!-- results:start (written by benchmarks/bench_auth_me.py --write) -->"
RESULTS_END = "<!-- results:end -->"
PAGE_HEADER = "# Benchmarks\n\n"


@dataclass(frozen=True)
class Target:
    """One server configuration to measure."""

    label: str
    settings: str
    is_panel: bool
    environment: dict[str, str] = field(default_factory=dict)
    # "session" sends a session token, "api_key" an API key of the admin account.
    credential: str = "session"


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    # CPU time of the server process (all threads) per request, in microseconds. It moves
    # less than requests/s when other programs compete for the cores.
    server_cpu_us: float = 0.0
    # CPU used during the run by programs other than the server and wrk, in cores (0.5 is
    # half a core). Well above zero means the numbers were measured on a busy machine.
    other_cpu_cores: float = 0.0


TARGETS = (
    Target("bare FastAPI", "one async route, no middleware", is_panel=False),
    Target(
        "panel",
        "rate limiter off, access log off",
        is_panel=True,
        environment={
            "WISPANEL_RATE_LIMIT__ENABLED": "false",
            "WISPANEL_LOGGING__ACCESS_LOG": "false",
        },
    ),
    Target(
        "panel",
        "rate limiter off, access log on",
        is_panel=True,
        environment={
            "WISPANEL_RATE_LIMIT__ENABLED": "false",
            "WISPANEL_LOGGING__ACCESS_LOG": "true",
        },
    ),
    Target(
        "panel",
        "rate limiter on, access log off",
        is_panel=True,
        environment={
            "WISPANEL_RATE_LIMIT__ENABLED": "true",
            "WISPANEL_LOGGING__ACCESS_LOG": "false",
        },
    ),
    Target(
        "panel",
        "defaults: rate limiter on, access log on",
        is_panel=True,
        environment={
            "WISPANEL_RATE_LIMIT__ENABLED": "true",
            "WISPANEL_LOGGING__ACCESS_LOG": "true",
        },
    ),
    Target(
        "panel, API key",
        "defaults: rate limiter on, access log on",
        is_panel=True,
        environment={
            "WISPANEL_RATE_LIMIT__ENABLED": "true",
            "WISPANEL_LOGGING__ACCESS_LOG": "true",
        },
        credential="api_key",
    ),
)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of each wrk run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of load before each run")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (-c)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (-t)")
    parser.add_argument("--rounds", type=int, default=1, help="times to measure every row")
    parser.add_argument(
        "--write", action="store_true", help="write the results into docs/benchmarks.md"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=REPO_ROOT / "docs" / "benchmarks.md",
        help="page that --write updates (default docs/benchmarks.md)",
    )
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def clean_environment() -> dict[str, str]:
    """Copy the environment without WISPANEL_ settings, so the caller's own cannot leak in."""
    return {key: value for key, value in os.environ.items() if not key.startswith("WISPANEL_")}


def server_command(target: Target, port: int, data_dir: Path) -> list[str]:
    if not target.is_panel:
        # The same uvicorn options as `wispanel serve`: loop and http "auto" (uvloop and
        # httptools when installed), no access log, no Server header, no proxy headers.
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "benchmarks.bare_app:app",
            "--host=127.0.0.1",
            f"--port={port}",
            "--loop=auto",
            "--http=auto",
            "--no-access-log",
            "--no-server-header",
            "--no-proxy-headers",
        ]
    wispanel = Path(sys.executable).parent / "wispanel"
    if not wispanel.exists():
        sys.exit(f"{wispanel} not found: run this script with the project's .venv/bin/python")
    return [
        str(wispanel),
        "serve",
        f"--data-dir={data_dir}",
        f"--port={port}",
        "--insecure-http",
    ]


def server_environment(target: Target) -> dict[str, str]:
    environment = clean_environment()
    if target.is_panel:
        environment |= {
            "WISPANEL_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "WISPANEL_LOGGING__FORMAT": "json",
            "WISPANEL_RATE_LIMIT__DEFAULT_PER_MINUTE": str(UNREACHABLE_LIMIT),
        }
        environment |= target.environment
    return environment


def wait_until_ready(process: subprocess.Popen[bytes], base_url: str, log_file: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(
                f"server exited with status {process.returncode} before it answered; "
                f"its output:\n{log_file.read_text(errors='replace')}"
            )
        try:
            httpx.get(base_url + ROUTE, timeout=1)
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        return
    sys.exit(f"server did not respond on {base_url} within 60 s; its output is in {log_file}")


def log_in(base_url: str) -> str:
    response = httpx.post(
        base_url + "/api/v1/auth/login",
        json={"username": "admin", "password": ADMIN_PASSWORD},
        timeout=30,
    )
    if response.status_code != 200:
        sys.exit(f"login failed with status {response.status_code}: {response.text}")
    token: str = response.json()["token"]
    return token


def create_api_key(base_url: str, token: str) -> str:
    """Create an API key of the admin account; creating keys needs a fresh password check."""
    headers = {"Authorization": f"Bearer {token}"}
    reauth = httpx.post(
        base_url + "/api/v1/auth/reauth",
        json={"password": ADMIN_PASSWORD},
        headers=headers,
        timeout=30,
    )
    if reauth.status_code != 200:
        sys.exit(f"reauth failed with status {reauth.status_code}: {reauth.text}")
    response = httpx.post(
        base_url + "/api/v1/users/admin/api-keys",
        json={"name": "benchmark", "permissions": ["all"]},
        headers=headers,
        timeout=30,
    )
    if response.status_code != 201:
        sys.exit(f"creating an API key failed with status {response.status_code}: {response.text}")
    key: str = response.json()["api_key"]
    return key


def check_route(base_url: str, headers: dict[str, str]) -> None:
    response = httpx.get(base_url + ROUTE, headers=headers, timeout=10)
    if response.status_code != 200:
        sys.exit(f"GET {ROUTE} answered {response.status_code}: {response.text}")
    expected = {"id", "username", "email", "role", "status", "created_at"}
    if set(response.json()) != expected:
        sys.exit(f"GET {ROUTE} returned fields {sorted(response.json())}, not {sorted(expected)}")


def to_milliseconds(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if match is None:
        raise ValueError(f"unexpected wrk latency value: {value!r}")
    number, unit = float(match.group(1)), match.group(2)
    return number * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def parse_wrk(output: str) -> WrkResult:
    def search(pattern: str) -> re.Match[str]:
        match = re.search(pattern, output, re.MULTILINE)
        if match is None:
            sys.exit(f"could not find {pattern!r} in the wrk output:\n{output}")
        return match

    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(
        requests_per_second=float(search(r"^Requests/sec:\s+([\d.]+)").group(1)),
        p50_ms=to_milliseconds(search(r"^\s+50%\s+(\S+)").group(1)),
        p99_ms=to_milliseconds(search(r"^\s+99%\s+(\S+)").group(1)),
        requests=int(search(r"^\s+(\d+) requests in").group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(count) for count in socket_errors.groups()) if socket_errors else 0,
    )


def run_wrk(
    url: str, headers: dict[str, str], duration: int, arguments: argparse.Namespace
) -> WrkResult:
    command = [
        "wrk",
        f"-t{arguments.threads}",
        f"-c{arguments.connections}",
        f"-d{duration}s",
        "--latency",
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    completed = subprocess.run(
        [*command, url], capture_output=True, text=True, check=False, timeout=duration + 60
    )
    if completed.returncode != 0:
        sys.exit(f"wrk failed with status {completed.returncode}: {completed.stderr}")
    return parse_wrk(completed.stdout)


def cpu_seconds(pid: int) -> float:
    """Return the user plus system CPU time a process has used, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: utime and stime are fields 14 and 15 of the whole line.
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """Return the CPU time all cores have spent busy since boot, from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(value) for value in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """Return the CPU time of this script's finished child processes (wrk among them)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def measure(target: Target, arguments: argparse.Namespace) -> WrkResult:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="wispanel-bench-") as directory:
        data_dir = Path(directory) / "data"
        log_file = Path(directory) / "server.log"
        with log_file.open("wb") as log:
            process = subprocess.Popen(
                server_command(target, port, data_dir),
                cwd=REPO_ROOT,
                env=server_environment(target),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_until_ready(process, base_url, log_file)
            headers = {}
            if target.is_panel:
                credential = log_in(base_url)
                if target.credential == "api_key":
                    credential = create_api_key(base_url, credential)
                headers["Authorization"] = f"Bearer {credential}"
            check_route(base_url, headers)
            if arguments.warmup > 0:
                run_wrk(base_url + ROUTE, headers, arguments.warmup, arguments)
            server_before = cpu_seconds(process.pid)
            machine_before = machine_busy_seconds()
            children_before = children_cpu_seconds()
            result = run_wrk(base_url + ROUTE, headers, arguments.duration, arguments)
            server_used = cpu_seconds(process.pid) - server_before
            wrk_used = children_cpu_seconds() - children_before
            others_used = machine_busy_seconds() - machine_before - server_used - wrk_used
            result = replace(
                result,
                server_cpu_us=server_used * 1e6 / max(result.requests, 1),
                other_cpu_cores=max(others_used, 0.0) / arguments.duration,
            )
        finally:
            stop(process)
    if result.non_2xx or result.socket_errors:
        print(
            f"warning: {target.label} ({target.settings}): {result.non_2xx} non-2xx responses "
            f"and {result.socket_errors} socket errors; its numbers do not measure {ROUTE}",
            file=sys.stderr,
        )
    return result


def median_run(results: list[WrkResult]) -> WrkResult:
    ordered = sorted(results, key=lambda result: result.requests_per_second)
    return ordered[(len(ordered) - 1) // 2]


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def wrk_version() -> str:
    completed = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    first_line = (completed.stdout or completed.stderr).splitlines()[:1]
    match = re.search(r"wrk (\S+)", first_line[0]) if first_line else None
    return match.group(1) if match else "unknown"


def source_revision() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head} with uncommitted changes in src/" if changes else head


def machine_lines() -> list[str]:
    return [
        f"- CPU: {cpu_model()}, {os.cpu_count()} cores (wrk and the server share them)",
        f"- OS: {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()} ({platform.python_implementation()})",
        f"- uvicorn {package_version('uvicorn')}, uvloop {package_version('uvloop')}, "
        f"httptools {package_version('httptools')}, FastAPI {package_version('fastapi')}, "
        f"Starlette {package_version('starlette')}, Pydantic {package_version('pydantic')}",
        f"- wrk {wrk_version()}; panel source {source_revision()}",
    ]


def header_lines(
    arguments: argparse.Namespace, started: datetime, results: list[WrkResult]
) -> list[str]:
    command = (
        f"wrk -t{arguments.threads} -c{arguments.connections} -d{arguments.duration}s --latency"
    )
    rounds = "one round" if arguments.rounds == 1 else f"median of {arguments.rounds} rounds"
    return [
        f"Measured {started:%Y-%m-%d %H:%M} UTC with "
        f"`.venv/bin/python benchmarks/bench_auth_me.py --rounds {arguments.rounds}` "
        f"(`{command}`, {arguments.warmup} s warm-up, {rounds}).",
        "",
        *machine_lines(),
        "- CPU used by other programs during a run: at most "
        f"{max(result.other_cpu_cores for result in results):.2f} cores "
        "(near zero on a quiet machine)",
    ]


def table_lines(medians: list[tuple[Target, WrkResult]], bare: WrkResult) -> list[str]:
    lines = [
        "| server | settings | requests/s | p50 ms | p99 ms | non-2xx | vs bare "
        "| server CPU µs/request |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for target, result in medians:
        ratio = result.requests_per_second / bare.requests_per_second
        lines.append(
            f"| {target.label} | {target.settings} | {result.requests_per_second:,.0f} "
            f"| {result.p50_ms:.2f} | {result.p99_ms:.2f} | {result.non_2xx} | {ratio:.2f} "
            f"| {result.server_cpu_us:.0f} |"
        )
    return lines


def round_lines(rows: list[tuple[Target, list[WrkResult]]]) -> list[str]:
    lines = [
        "Every round, in order: requests/s (server CPU µs/request; CPU cores used by other "
        "programs):",
        "",
    ]
    for target, results in rows:
        every = ", ".join(
            f"{result.requests_per_second:,.0f} "
            f"({result.server_cpu_us:.0f}; {result.other_cpu_cores:.2f})"
            for result in results
        )
        lines.append(f"- {target.label}, {target.settings}: {every}")
    return lines


def verdict_lines(
    medians: list[tuple[Target, WrkResult]], bare: WrkResult, busy_cores: float
) -> list[str]:
    lines = [
        f"Target: the panel keeps at least {TARGET_RATIO:.0%} of the bare app's requests/s. "
        "The CPU ratio is bare's server CPU per request divided by the panel's: what the "
        "requests/s ratio would be if both were limited by the server's CPU alone.",
        "",
    ]
    for target, result in medians:
        if not target.is_panel:
            continue
        ratio = result.requests_per_second / bare.requests_per_second
        cpu_ratio = bare.server_cpu_us / result.server_cpu_us if result.server_cpu_us else 0.0
        verdict = "meets the target" if ratio >= TARGET_RATIO else "misses the target"
        lines.append(
            f"- {target.label} with {target.settings}: {ratio:.1%} of bare's requests/s "
            f"({verdict}), CPU ratio {cpu_ratio:.1%}"
        )
    if busy_cores > BUSY_MACHINE_CORES:
        lines += [
            "",
            f"Other programs used up to {busy_cores:.2f} cores during these runs, so the "
            "requests/s columns are not comparable between rows; CPU µs/request still is.",
        ]
    return lines


def render(
    rows: list[tuple[Target, list[WrkResult]]],
    arguments: argparse.Namespace,
    started: datetime,
) -> str:
    """Format the results as Markdown: how and where they were measured, the table, the verdict."""
    medians = [(target, median_run(results)) for target, results in rows]
    bare = next(result for target, result in medians if not target.is_panel)

    every_run = [result for _, results in rows for result in results]
    lines = header_lines(arguments, started, every_run)
    lines += ["", *table_lines(medians, bare), ""]
    if arguments.rounds > 1:
        lines += [*round_lines(rows), ""]
    busy_cores = max(result.other_cpu_cores for result in every_run)
    lines += verdict_lines(medians, bare, busy_cores)
    return "\n".join(lines) + "\n"


def write_page(path: Path, results: str) -> None:
    """Replace the results section of the page, or create the page with only that section."""
    section = f"{RESULTS_START}\n{results}{RESULTS_END}"
    text = path.read_text(encoding="utf-8") if path.exists() else PAGE_HEADER + section + "\n"
    if RESULTS_START not in text or RESULTS_END not in text:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    before = text.split(RESULTS_START, 1)[0]
    after = text.split(RESULTS_END, 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(before + section + after, encoding="utf-8")


def main() -> None:
    arguments = parse_arguments()
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: install it with `apt-get install wrk` (Debian and Ubuntu)")
    started = datetime.now(UTC)
    runs: list[list[WrkResult]] = [[] for _ in TARGETS]
    for round_number in range(1, arguments.rounds + 1):
        for target, results in zip(TARGETS, runs, strict=True):
            print(
                f"round {round_number}/{arguments.rounds}: {target.label}, {target.settings}",
                file=sys.stderr,
            )
            results.append(measure(target, arguments))
    page = render(list(zip(TARGETS, runs, strict=True)), arguments, started)
    print(page)
    if arguments.write:
        write_page(arguments.output, page)
        print(f"wrote {arguments.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
