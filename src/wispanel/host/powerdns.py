"""PowerDNS Authoritative: the daemon the local profile runs, driven through its HTTP API.

In the local profile the panel writes `<data-dir>/pdns/pdns.conf` (sqlite backend in the
same directory, DNS and API on loopback, no security polling), and starts `pdns_server` in
the foreground under the supervisor on first use. The system profile talks to the installed
server's API with the key in `dns.api_key_file`.

Zones are pushed whole: `sync_zone` makes PowerDNS hold exactly the rrsets it is given,
creating the zone when it is missing. The panel database is the source of truth.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from wispanel.core.config import Profile, Settings
from wispanel.host.errors import HostError
from wispanel.host.files import atomic_write
from wispanel.host.powerdns_api import (
    INSTALL_COMMAND,
    MANAGED_ACCOUNT,
    PowerDnsApi,
    PowerDnsUnavailable,
    RRset,
    ZoneNotManaged,
    changes,
)
from wispanel.host.runner import CommandRunner
from wispanel.host.supervisor import DaemonSpec, Supervisor

log = structlog.get_logger(__name__)

SCHEMA_FILES = (
    Path("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql"),
    Path("/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql"),
)
# Directory of the system profile's pdns_server control socket and pid file.
SYSTEM_SOCKET_DIR = Path("/run/pdns")


@dataclass(frozen=True)
class PowerDnsLayout:
    """The files of the local profile's PowerDNS under the data directory."""

    directory: Path

    @property
    def config_file(self) -> Path:
        return self.directory / "pdns.conf"

    @property
    def database(self) -> Path:
        return self.directory / "pdns.sqlite3"

    @property
    def api_key_file(self) -> Path:
        return self.directory / "api.key"

    @property
    def log_file(self) -> Path:
        return self.directory / "pdns.log"


def find_schema() -> Path | None:
    return next((path for path in SCHEMA_FILES if path.is_file()), None)


@dataclass(frozen=True)
class PowerDnsStatus:
    """The state of PowerDNS that `wispanel doctor` shows."""

    daemon_running: bool | None  # None when the panel does not manage the daemon
    api_answers: bool
    version: str | None
    zones: int | None
    problem: str | None


class PowerDns:
    """PowerDNS of one host profile: its daemon (local profile) and its API."""

    def __init__(self, settings: Settings, runner: CommandRunner) -> None:
        self.settings = settings
        self.runner = runner
        self.local = settings.server.profile is Profile.LOCAL
        self.layout = PowerDnsLayout(settings.data_dir / "pdns")
        self.supervisor = Supervisor(runner, settings.data_dir / "run" / "daemons")
        self._lock = threading.Lock()
        self._api: PowerDnsApi | None = None

    # The daemon

    def binary(self) -> str:
        path = self.runner.which("pdns_server")
        if path is None:
            raise PowerDnsUnavailable(
                f"PowerDNS is not installed. Install it with: {INSTALL_COMMAND}"
            )
        return path

    def render_config(self, api_key: str) -> str:
        dns = self.settings.dns
        lines = [
            "# Written by WisPanel; changes are overwritten.",
            "launch=gsqlite3",
            f"gsqlite3-database={self.layout.database}",
            f"local-address=127.0.0.1:{dns.port}",
            "api=yes",
            f"api-key={api_key}",
            "webserver=yes",
            "webserver-address=127.0.0.1",
            f"webserver-port={dns.api_port}",
            "webserver-allow-from=127.0.0.1/32",
            "security-poll-suffix=",
            "guardian=no",
            "daemon=no",
            "disable-syslog=yes",
            "write-pid=no",
            f"socket-dir={self.layout.directory}",
            "receiver-threads=1",
            "distributor-threads=1",
            "",
        ]
        return "\n".join(lines)

    def _api_key(self) -> str:
        path = self.layout.api_key_file if self.local else self.settings.dns.api_key_file
        if self.local and not path.exists():
            self.layout.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            atomic_write(path, secrets.token_hex(32) + "\n", mode=0o600)
        try:
            key = path.read_text().strip()
        except OSError as error:
            raise PowerDnsUnavailable(f"PowerDNS API key file {path} is not readable") from error
        if not key:
            raise PowerDnsUnavailable(f"PowerDNS API key file {path} is empty")
        return key

    def prepare(self) -> None:
        """Write the config and create the sqlite database from the shipped schema."""
        self.layout.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = self._api_key()
        atomic_write(self.layout.config_file, self.render_config(key), mode=0o600)
        if self.layout.database.exists():
            return
        schema = find_schema()
        if schema is None:
            raise PowerDnsUnavailable(
                f"The PowerDNS sqlite schema is missing. Install it with: {INSTALL_COMMAND}"
            )
        temporary = self.layout.database.with_suffix(".new")
        temporary.unlink(missing_ok=True)
        connection = sqlite3.connect(temporary)
        try:
            connection.executescript(schema.read_text())
            connection.commit()
        finally:
            connection.close()
        os.replace(temporary, self.layout.database)

    def daemon_spec(self) -> DaemonSpec:
        return DaemonSpec(
            name="pdns",
            argv=(
                "pdns_server",
                f"--config-dir={self.layout.directory}",
                "--guardian=no",
                "--daemon=no",
            ),
            log_file=self.layout.log_file,
            ready_tcp=("127.0.0.1", self.settings.dns.api_port),
            start_timeout=15.0,
        )

    def running(self) -> bool:
        return self.supervisor.status(self.daemon_spec()).running

    def ensure_running(self) -> None:
        """Start pdns_server in the local profile unless it runs; raise when it can't."""
        if not self.local:
            return
        with self._lock:
            if self.running():
                return
            self.binary()
            self.prepare()
            try:
                self.supervisor.start(self.daemon_spec())
            except HostError as error:
                raise PowerDnsUnavailable(f"PowerDNS did not start: {error}") from error

    def start_at_boot(self) -> None:
        """Start PowerDNS when the panel has zones to serve; log, don't raise, on failure."""
        try:
            self.ensure_running()
        except HostError:
            log.exception("pdns.start_failed")

    def stop_api_client(self) -> None:
        """Close the API client; the next call reads the key file again."""
        if self._api is not None:
            self._api.close()
            self._api = None

    def stop(self) -> None:
        self.stop_api_client()
        if not self.local:
            return
        try:
            self.supervisor.stop(self.daemon_spec())
        except HostError:
            log.exception("pdns.stop_failed")

    def status(self) -> PowerDnsStatus:
        """Report the daemon and its API without starting anything."""
        daemon_running = self.running() if self.local else None
        if self.local and not self.layout.api_key_file.exists():
            problem = "pdns_server has not been started in this data directory yet"
            return PowerDnsStatus(daemon_running, False, None, None, problem)
        try:
            version, zones = self.api().server_summary()
        except HostError as error:
            return PowerDnsStatus(daemon_running, False, None, None, str(error))
        finally:
            self.stop_api_client()
        return PowerDnsStatus(daemon_running, True, version, zones, None)

    # The daemon of either profile, for service control

    def server_spec(self) -> DaemonSpec:
        """Describe this profile's daemon: the panel's own, or the distribution's.

        The distribution's pdns_server reads /etc/powerdns/pdns.conf, detaches and writes its
        pid to /run/pdns/pdns.pid, which is how the panel finds it again to stop it. It is
        ready when its API accepts connections, because the panel needs nothing else of it.
        """
        if self.local:
            return self.daemon_spec()
        return DaemonSpec(
            name="pdns",
            argv=(
                "pdns_server",
                "--daemon=yes",
                "--guardian=no",
                "--write-pid=yes",
                f"--socket-dir={SYSTEM_SOCKET_DIR}",
            ),
            log_file=self.settings.data_dir / "run" / "daemons" / "pdns.log",
            pid_file=SYSTEM_SOCKET_DIR / "pdns.pid",
            daemonizes=True,
            ready_tcp=("127.0.0.1", self.settings.dns.api_port),
            start_timeout=15.0,
        )

    def server_pid(self) -> int | None:
        """Return the pid of this profile's pdns_server when its pid file names a live one."""
        return self.supervisor.status(self.server_spec()).pid

    def start_server(self) -> None:
        """Start this profile's pdns_server unless it runs; raise PowerDnsUnavailable if not."""
        if self.local:
            self.ensure_running()
            return
        with self._lock:
            if self.server_pid() is not None:
                return
            self.binary()
            SYSTEM_SOCKET_DIR.mkdir(parents=True, exist_ok=True)
            try:
                self.supervisor.start(self.server_spec())
            except HostError as error:
                raise PowerDnsUnavailable(f"PowerDNS did not start: {error}") from error

    def stop_server(self) -> None:
        """Stop this profile's pdns_server through its pid file; errors propagate."""
        self.stop_api_client()
        with self._lock:
            self.supervisor.stop(self.server_spec())

    def ping(self, timeout: float) -> str:
        """Return the version the API reports within `timeout` seconds, or raise.

        Raises PowerDnsUnavailable when the API does not respond. Nothing is started, and in
        the local profile no API key is created.
        """
        if self.local and not self.layout.api_key_file.exists():
            raise PowerDnsUnavailable("pdns_server has not been started in this data directory")
        base = f"http://127.0.0.1:{self.settings.dns.api_port}"
        client = PowerDnsApi(base, self._api_key(), timeout)
        try:
            return client.server_version()
        finally:
            client.close()

    # The API

    def api(self) -> PowerDnsApi:
        if self._api is None:
            base = f"http://127.0.0.1:{self.settings.dns.api_port}"
            self._api = PowerDnsApi(base, self._api_key(), self.settings.dns.api_timeout_seconds)
        return self._api

    def sync_zone(self, zone: str, rrsets: Sequence[RRset]) -> None:
        """Make PowerDNS hold exactly these rrsets for the zone, creating it if missing."""
        self.ensure_running()
        api = self.api()
        current = api.get_zone(zone)
        if current is None:
            api.create_zone(zone, rrsets)
            log.info("pdns.zone_created", zone=zone, rrsets=len(rrsets))
            return
        if not self._managed(current):
            raise ZoneNotManaged(
                f"zone {zone} exists on the DNS server but was not created by the panel"
            )
        replace, delete = changes(current, rrsets)
        api.patch_rrsets(zone, replace, delete)
        log.info("pdns.zone_synced", zone=zone, replaced=len(replace), deleted=len(delete))

    def zone_drift(self, zone: str, rrsets: Sequence[RRset]) -> str | None:
        """Return "create" or "update" when PowerDNS differs from these rrsets, else None."""
        self.ensure_running()
        current = self.api().get_zone(zone)
        if current is None:
            return "create"
        if not self._managed(current):
            return "not created by the panel, left alone"
        replace, delete = changes(current, rrsets)
        return "update" if replace or delete else None

    def zone_names(self) -> set[str]:
        """Names of the zones of the panel's that PowerDNS serves, fully qualified."""
        self.ensure_running()
        accounts = self.api().zone_accounts()
        return {name for name, account in accounts.items() if self._managed({"account": account})}

    def _managed(self, zone: Mapping[str, Any]) -> bool:
        """Return whether the panel created the zone. The local profile's server has only the
        panel's zones."""
        return self.local or zone.get("account") == MANAGED_ACCOUNT

    def delete_zone(self, zone: str) -> None:
        self.ensure_running()
        self.api().delete_zone(zone)
        log.info("pdns.zone_deleted", zone=zone)
