"""Start `wispanel serve` as a real process on a free loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.host.web_helpers import free_port

WISPANEL = Path(sys.executable).with_name("wispanel")


@dataclass
class RunningPanel:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def client(self, **options: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=False, timeout=10, **options)  # type: ignore[arg-type]  # noqa: S501 - the panel's own self-signed certificate


@contextmanager
def run_panel(
    data_dir: Path,
    *,
    https: bool = False,
    env: dict[str, str] | None = None,
    port: int | None = None,
) -> Iterator[RunningPanel]:
    port = port or free_port()
    argv = [str(WISPANEL), "serve", "--data-dir", str(data_dir), "--port", str(port)]
    if not https:
        argv.append("--insecure-http")
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("WISPANEL_")
    }
    environment.update({"WISPANEL_LOGGING__FORMAT": "json", **(env or {})})
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / f"serve-{port}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, env=environment)
    url = f"{'https' if https else 'http'}://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log)
        yield RunningPanel(url, process, log)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"panel exited with {process.returncode}:\n{log.read_text()}")
        try:
            response = httpx.get(f"{url}/openapi.json", verify=False, timeout=2)  # noqa: S501 - self-signed
            if response.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"panel did not answer within 30 s:\n{log.read_text()}")
