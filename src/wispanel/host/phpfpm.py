"""PHP-FPM: every installed version, one pool per account and version.

In the `local` profile the panel runs one master per version under
`<data-dir>/php-fpm/<version>/`, started when its first pool appears and stopped when its
last pool goes, and every pool runs as the panel's own user. In the `system` profile pools
go to `/etc/php/<version>/fpm/pool.d/wispanel-<user>.conf`, run as the account's Linux user,
and the distribution's master is reloaded.
"""

from __future__ import annotations

import glob
import grp
import os
import pwd
import re
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from wispanel.core.config import Profile, Settings, WebSettings
from wispanel.host.components import COMPONENTS
from wispanel.host.errors import ApplyError, CommandNotFound, HostError, tail_text
from wispanel.host.files import FileTransaction
from wispanel.host.nginx import check_config_path
from wispanel.host.paths import validate_username
from wispanel.host.runner import CommandRunner, process_is_alive
from wispanel.host.supervisor import DaemonSpec, Supervisor
from wispanel.host.templating import render

log = structlog.get_logger(__name__)

PHP_FPM_INSTALL_COMMAND = next(c for c in COMPONENTS if c.name == "php-fpm").install_command
BINARY_DIRECTORIES = ("/usr/local/sbin", "/usr/sbin")
# Debian names the binary php-fpm<major>.<minor>; some builds use php<major>.<minor>-fpm.
_BINARY_PATTERNS = (re.compile(r"php-fpm(\d+\.\d+)"), re.compile(r"php(\d+\.\d+)-fpm"))
VERSION_PATTERN = re.compile(r"\d{1,2}\.\d{1,2}")
# sun_path of a unix socket has room for 108 bytes including the final NUL.
MAX_SOCKET_PATH_BYTES = 107
SOCKET_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class PhpVersion:
    version: str
    binary: Path


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def discover_versions(directories: Sequence[str] = BINARY_DIRECTORIES) -> list[PhpVersion]:
    """Return every installed PHP-FPM version, oldest first, found by its binary's name."""
    found: dict[str, PhpVersion] = {}
    for directory in directories:
        for path in sorted(glob.glob(os.path.join(directory, "php*"))):
            name = os.path.basename(path)
            for pattern in _BINARY_PATTERNS:
                match = pattern.fullmatch(name)
                if match and os.access(path, os.X_OK) and match.group(1) not in found:
                    found[match.group(1)] = PhpVersion(match.group(1), Path(path))
    return sorted(found.values(), key=lambda item: _version_key(item.version))


def check_version(version: str) -> str:
    if not VERSION_PATTERN.fullmatch(version):
        raise HostError(f"invalid PHP version {version!r}: expected major.minor, like 8.2")
    return version


@dataclass(frozen=True)
class PoolConfig:
    """One account's pool for one PHP version."""

    username: str
    version: str
    home: Path
    socket: Path
    run_as: tuple[str, str] | None  # (user, group); None leaves the master's own user
    listen_owner: tuple[str, str] | None  # who may connect to the socket
    max_children: int
    idle_timeout_seconds: int
    max_requests: int

    def __post_init__(self) -> None:
        validate_username(self.username)
        check_version(self.version)
        check_config_path(self.home, "home")
        check_config_path(self.socket, "socket")
        if len(str(self.socket).encode()) > MAX_SOCKET_PATH_BYTES:
            raise HostError(
                f"PHP-FPM socket path {self.socket} is longer than {MAX_SOCKET_PATH_BYTES}"
                " bytes; use a shorter data directory"
            )
        for name in (*(self.run_as or ()), *(self.listen_owner or ())):
            if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", name):
                raise HostError(f"invalid user or group name {name!r} for a PHP-FPM pool")

    @property
    def name(self) -> str:
        return self.username


@dataclass(frozen=True)
class FpmLayout:
    """Paths of one profile's PHP-FPM masters, pools and sockets."""

    profile: Profile
    data_dir: Path

    def root(self, version: str) -> Path:
        return self.data_dir / "php-fpm" / check_version(version)

    def master_conf(self, version: str) -> Path:
        if self.profile is Profile.SYSTEM:
            return Path(f"/etc/php/{check_version(version)}/fpm/php-fpm.conf")
        return self.root(version) / "php-fpm.conf"

    def pool_dir(self, version: str) -> Path:
        if self.profile is Profile.SYSTEM:
            return Path(f"/etc/php/{check_version(version)}/fpm/pool.d")
        return self.root(version) / "pool.d"

    def pool_file(self, username: str, version: str) -> Path:
        name = validate_username(username)
        if self.profile is Profile.SYSTEM:
            return self.pool_dir(version) / f"wispanel-{name}.conf"
        return self.pool_dir(version) / f"{name}.conf"

    def socket(self, username: str, version: str) -> Path:
        name = validate_username(username)
        if self.profile is Profile.SYSTEM:
            return Path(f"/run/php/wispanel-{name}-php{check_version(version)}.sock")
        # Sockets sit near the top of the data directory: sun_path is short.
        return self.data_dir / "run" / f"php{check_version(version)}-{name}.sock"

    def pid_file(self, version: str) -> Path:
        if self.profile is Profile.SYSTEM:
            return Path(f"/run/php/php{check_version(version)}-fpm.pid")
        return self.root(version) / "php-fpm.pid"

    def error_log(self, version: str) -> Path:
        return self.root(version) / "error.log"

    def pool_files(self, version: str) -> list[Path]:
        pattern = "wispanel-*.conf" if self.profile is Profile.SYSTEM else "*.conf"
        return sorted(self.pool_dir(version).glob(pattern))


class PhpFpm:
    """Discover versions, render pools, and check, reload, start and stop the masters."""

    def __init__(
        self,
        layout: FpmLayout,
        web: WebSettings,
        runner: CommandRunner,
        supervisor: Supervisor | None,
        binary_directories: Sequence[str] = BINARY_DIRECTORIES,
    ) -> None:
        self.layout = layout
        self.web = web
        self.runner = runner
        self.supervisor = supervisor
        self.binary_directories = tuple(binary_directories)

    @classmethod
    def for_settings(
        cls, settings: Settings, runner: CommandRunner, supervisor: Supervisor | None
    ) -> PhpFpm:
        layout = FpmLayout(settings.server.profile, settings.data_dir)
        local_supervisor = None if settings.server.profile is Profile.SYSTEM else supervisor
        return cls(layout, settings.web, runner, local_supervisor)

    @property
    def is_local(self) -> bool:
        return self.layout.profile is Profile.LOCAL

    # Versions

    def versions(self) -> list[PhpVersion]:
        return discover_versions(self.binary_directories)

    def default_version(self) -> str:
        """Return the configured default version if installed, else the newest installed."""
        installed = self.versions()
        if not installed:
            raise CommandNotFound("php-fpm", PHP_FPM_INSTALL_COMMAND)
        preferred = self.web.default_php_version
        if preferred and any(item.version == preferred for item in installed):
            return preferred
        return installed[-1].version

    def binary(self, version: str) -> Path:
        for item in self.versions():
            if item.version == version:
                return item.binary
        raise CommandNotFound(f"php-fpm{version}", PHP_FPM_INSTALL_COMMAND)

    # Pools

    def pool_config(self, username: str, version: str, home: Path) -> PoolConfig:
        """Build the pool an account gets for a version under this profile's rules."""
        if self.is_local:
            run_as = None
            if os.geteuid() == 0:
                run_as = (pwd.getpwuid(0).pw_name, grp.getgrgid(0).gr_name)
            listen_owner = None
        else:
            run_as = (username, username)
            listen_owner = (username, self.web.server_group)
        return PoolConfig(
            username=username,
            version=version,
            home=home,
            socket=self.layout.socket(username, version),
            run_as=run_as,
            listen_owner=listen_owner,
            max_children=self.web.pm_max_children,
            idle_timeout_seconds=self.web.pm_process_idle_timeout_seconds,
            max_requests=self.web.pm_max_requests,
        )

    def render_pool(self, pool: PoolConfig) -> str:
        return render("php-fpm/pool.conf.j2", pool=pool)

    def render_master(self, version: str) -> str:
        return render(
            "php-fpm/php-fpm.conf.j2",
            version=check_version(version),
            pid_file=check_config_path(self.layout.pid_file(version), "pid_file"),
            error_log=check_config_path(self.layout.error_log(version), "error_log"),
            pool_dir=check_config_path(self.layout.pool_dir(version), "pool_dir"),
        )

    def stage(
        self,
        transaction: FileTransaction,
        pools: Mapping[tuple[str, str], PoolConfig | None],
    ) -> set[str]:
        """Write or remove pools keyed by (username, version); return the versions changed."""
        changed: set[str] = set()
        for (username, version), pool in pools.items():
            path = self.layout.pool_file(username, version)
            if pool is None:
                if path.exists():
                    transaction.remove(path)
                    changed.add(version)
                continue
            self.binary(version)  # a pool for a version that isn't installed can't run
            path.parent.mkdir(parents=True, exist_ok=True)
            pool.socket.parent.mkdir(parents=True, exist_ok=True)
            content = self.render_pool(pool)
            if _read(path) != content:
                transaction.write(path, content)
                changed.add(version)
        if self.is_local:
            for version in changed:
                content = self.render_master(version)
                master = self.layout.master_conf(version)
                if _read(master) != content:
                    transaction.write(master, content)
        return changed

    def has_pools(self, version: str) -> bool:
        return bool(self.layout.pool_files(version))

    # Masters

    def check_argv(self, version: str) -> list[str]:
        argv = [str(self.binary(version)), "-t", "-y", str(self.layout.master_conf(version))]
        if self.is_local and os.geteuid() == 0:
            argv.insert(1, "-R")
        return argv

    def check(self, version: str) -> None:
        """Run `php-fpm -t` for a version that has pools; raise ApplyError with its output."""
        if not self.has_pools(version):
            return
        result = self.runner.run(
            self.check_argv(version), timeout=self.web.check_timeout_seconds, check=False
        )
        if result.returncode != 0:
            log.warning("php_fpm.check_failed", version=version, exit_status=result.returncode)
            raise ApplyError(f"php-fpm{version}", tail_text(result.stderr or result.stdout))

    def daemon_spec(self, version: str) -> DaemonSpec:
        argv = [str(self.binary(version)), "-F", "-y", str(self.layout.master_conf(version))]
        if os.geteuid() == 0:
            argv.insert(1, "-R")
        return DaemonSpec(
            name=f"php-fpm{version}",
            argv=argv,
            log_file=self.layout.error_log(version),
            pid_file=self.layout.pid_file(version),
            check_argv=self.check_argv(version),
            reload_signal=signal.SIGUSR2,
            min_uptime=0.1,
        )

    def running_pid(self, version: str) -> int | None:
        if self.supervisor is not None:
            return self.supervisor.status(self.daemon_spec(version)).pid
        try:
            pid = int(self.layout.pid_file(version).read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if process_is_alive(pid) else None

    def sockets(self, version: str) -> list[Path]:
        return [
            Path(line.split("=", 1)[1].strip())
            for path in self.layout.pool_files(version)
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.startswith("listen =")
        ]

    def wait_for_sockets(self, version: str, timeout: float = SOCKET_WAIT_SECONDS) -> None:
        """Wait until every pool socket of a version exists, so nginx finds it at once."""
        deadline = time.monotonic() + timeout
        missing = [socket for socket in self.sockets(version) if not socket.exists()]
        while missing:
            if time.monotonic() > deadline:
                raise HostError(
                    f"php-fpm{version} did not create {', '.join(map(str, missing))}"
                    f" within {timeout:g} s"
                )
            time.sleep(0.02)
            missing = [socket for socket in missing if not socket.exists()]

    def apply(self, version: str) -> None:
        """Bring a version's master in line with its pool files: reload, start or stop it."""
        pid = self.running_pid(version)
        if not self.has_pools(version):
            if pid is not None and self.supervisor is not None:
                self.supervisor.stop(self.daemon_spec(version))
            return
        if pid is not None:
            # USR2 makes the master re-read its config and restart its workers in place.
            os.kill(pid, signal.SIGUSR2)
            log.info("php_fpm.reloaded", version=version, pid=pid)
        elif self.supervisor is not None:
            self.supervisor.start(self.daemon_spec(version))
        else:
            self.runner.run([str(self.binary(version))], timeout=self.web.check_timeout_seconds)
            log.info("php_fpm.started", version=version)
        self.wait_for_sockets(version)

    def start_master(self, version: str) -> None:
        """Start a version's master unless it runs, after `php-fpm -t` accepts its pools.

        The local profile's master needs at least one account pool. The system's master
        also runs the distribution's own pools, so it starts without the panel's.
        """
        if self.running_pid(version) is not None:
            return
        self.check(version)
        if self.supervisor is not None:
            self.supervisor.start(self.daemon_spec(version))
        else:
            # Debian's master detaches and writes its pid file under /run/php, which systemd
            # would create.
            self.layout.pid_file(version).parent.mkdir(parents=True, exist_ok=True)
            self.runner.run([str(self.binary(version))], timeout=self.web.check_timeout_seconds)
            log.info("php_fpm.started", version=version)
        self.wait_for_sockets(version)

    def stop_master(self, version: str) -> None:
        """Stop a version's master in either profile, through its pid file."""
        supervisor = self.supervisor or Supervisor(self.runner, self.layout.root(version))
        supervisor.stop(self.daemon_spec(version))

    def start_all(self) -> None:
        for item in self.versions():
            if self.has_pools(item.version):
                self.apply(item.version)

    def stop_all(self) -> None:
        if self.supervisor is None:
            return
        for item in self.versions():
            self.supervisor.stop(self.daemon_spec(item.version))


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return None
