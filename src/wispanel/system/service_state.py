"""The state of a managed service, and what every managed service can do."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal

import psutil

from wispanel.core.config import Profile, Settings
from wispanel.core.errors import ServiceUnavailable
from wispanel.host.components import COMPONENTS, read_version
from wispanel.host.runner import CommandRunner

ServiceKind = Literal["nginx", "php-fpm", "powerdns"]
ManagedBy = Literal["panel", "system"]


@dataclass(frozen=True, slots=True)
class ServiceState:
    """A managed service as it was when read."""

    name: str
    kind: ServiceKind
    installed: bool
    running: bool
    required: bool  # the panel has something for it to serve
    managed_by: ManagedBy
    version: str | None
    pid: int | None
    started_at: datetime | None
    detail: str
    install_command: str | None
    problem: str | None  # why it does not serve, or None when it does

    @property
    def healthy(self) -> bool:
        return self.installed and self.running and self.problem is None


@lru_cache(maxsize=32)
def _version(runner: CommandRunner, component: str, binary: str, modified: float) -> str | None:
    """Run a binary's version command once per binary file, as long as the file stays the same."""
    return read_version(next(c for c in COMPONENTS if c.name == component), binary, runner)


def binary_version(runner: CommandRunner, component: str, binary: str) -> str | None:
    try:
        modified = os.stat(binary).st_mtime
    except OSError:
        return None
    return _version(runner, component, binary, modified)


def _started_at(pid: int | None) -> datetime | None:
    if pid is None:
        return None
    try:
        return datetime.fromtimestamp(psutil.Process(pid).create_time(), UTC)
    except psutil.Error:
        return None


class ManagedService(ABC):
    """A daemon the panel can read, start, stop and restart; every method blocks."""

    name: str
    kind: ServiceKind
    install_command: str

    def __init__(self, settings: Settings) -> None:
        self.local = settings.server.profile is Profile.LOCAL
        self.managed_by: ManagedBy = "panel" if self.local else "system"

    @abstractmethod
    def installed(self) -> bool: ...

    @abstractmethod
    def state(self) -> ServiceState: ...

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self) -> None: ...

    @abstractmethod
    def restart(self) -> None: ...

    def not_installed(self) -> ServiceUnavailable:
        """Build the 503 error that names the command installing the service."""
        return ServiceUnavailable(
            f"{self.name} is not installed. Install it with: {self.install_command}",
            details={"install_command": self.install_command},
        )

    def require_installed(self) -> None:
        if not self.installed():
            raise self.not_installed()

    def _state(
        self,
        *,
        pid: int | None,
        required: bool,
        version: str | None,
        detail: str,
        running: bool | None = None,
        problem: str | None = None,
    ) -> ServiceState:
        installed = self.installed()
        is_running = (pid is not None) if running is None else running
        if problem is None and not is_running:
            problem = "not installed" if not installed else "not running"
        return ServiceState(
            name=self.name,
            kind=self.kind,
            installed=installed,
            running=is_running,
            required=required,
            managed_by=self.managed_by,
            version=version,
            pid=pid,
            started_at=_started_at(pid),
            detail=detail,
            install_command=None if installed else self.install_command,
            problem=problem,
        )
