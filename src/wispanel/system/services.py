"""The daemons the panel manages: its nginx, one PHP-FPM master per installed PHP version, and
PowerDNS, each with its state and its start, stop and restart.

In the local profile these are the panel's own daemons under the data directory, run by its
supervisor. In the system profile they are the distribution's binaries, started directly
(there is no init system to ask) and stopped through their pid files. Every method blocks,
so callers in the API run them in a worker thread.
"""

from __future__ import annotations

from wispanel.core.config import Settings
from wispanel.core.errors import Conflict, NotFound
from wispanel.host.components import COMPONENTS
from wispanel.host.errors import HostError
from wispanel.host.phpfpm import PHP_FPM_INSTALL_COMMAND
from wispanel.host.powerdns import PowerDns
from wispanel.host.web import WebHost
from wispanel.system.service_state import ManagedService, ServiceState, binary_version

NGINX_INSTALL_COMMAND = next(c for c in COMPONENTS if c.name == "nginx").install_command
PDNS_INSTALL_COMMAND = next(c for c in COMPONENTS if c.name == "powerdns").install_command


class NginxService(ManagedService):
    name = "nginx"
    kind = "nginx"
    install_command = NGINX_INSTALL_COMMAND

    def __init__(self, settings: Settings, web: WebHost) -> None:
        super().__init__(settings)
        self.web = web
        listen, http, https = (
            settings.web.listen_address,
            settings.web.http_port,
            settings.web.https_port,
        )
        self.detail = f"HTTP {listen}:{http}, HTTPS {listen}:{https}"

    def installed(self) -> bool:
        return self.web.nginx.runner.which("nginx") is not None

    def state(self) -> ServiceState:
        binary = self.web.nginx.runner.which("nginx")
        pid = self.web.nginx.running_pid() if binary else None
        version = binary_version(self.web.nginx.runner, "nginx", binary) if binary else None
        return self._state(
            pid=pid, required=self.web.has_sites(), version=version, detail=self.detail
        )

    def start(self) -> None:
        with self.web.locked():
            self.web.nginx.start()

    def stop(self) -> None:
        with self.web.locked():
            self.web.nginx.stop_master()

    def restart(self) -> None:
        """Check the config first, so a broken one never leaves nginx stopped."""
        nginx = self.web.nginx
        with self.web.locked():
            nginx.prepare()
            nginx.check()
            nginx.stop_master()
            nginx.start()


class PhpFpmService(ManagedService):
    kind = "php-fpm"
    install_command = PHP_FPM_INSTALL_COMMAND

    def __init__(self, settings: Settings, web: WebHost, version: str | None) -> None:
        """`version` None stands for PHP-FPM when no version of it is installed."""
        super().__init__(settings)
        self.web = web
        self.php_version = version
        self.name = f"php-fpm{version}" if version else "php-fpm"

    def installed(self) -> bool:
        return self.php_version is not None

    def _pools(self) -> int:
        if self.php_version is None:
            return 0
        return len(self.web.php.layout.pool_files(self.php_version))

    def state(self) -> ServiceState:
        version = self.php_version
        if version is None:
            return self._state(pid=None, required=False, version=None, detail="not installed")
        pools = self._pools()
        binary = str(self.web.php.binary(version))
        return self._state(
            pid=self.web.php.running_pid(version),
            required=pools > 0,
            version=binary_version(self.web.php.runner, "php-fpm", binary) or version,
            detail=f"{pools} account pools",
        )

    def _require_pools(self, version: str) -> None:
        if self.local and self._pools() == 0:
            raise Conflict(
                f"{self.name} has no account pools, so it has nothing to run; it starts with "
                f"the first domain that uses PHP {version}"
            )

    def _version(self) -> str:
        if self.php_version is None:
            raise self.not_installed()
        return self.php_version

    def start(self) -> None:
        version = self._version()
        self._require_pools(version)
        with self.web.locked():
            self.web.php.start_master(version)

    def stop(self) -> None:
        with self.web.locked():
            self.web.php.stop_master(self._version())

    def restart(self) -> None:
        """Check the pools first, so a broken one never leaves the master stopped."""
        version = self._version()
        self._require_pools(version)
        with self.web.locked():
            self.web.php.check(version)
            self.web.php.stop_master(version)
            self.web.php.start_master(version)


class PowerDnsService(ManagedService):
    name = "powerdns"
    kind = "powerdns"
    install_command = PDNS_INSTALL_COMMAND

    def __init__(self, settings: Settings, dns: PowerDns, *, has_zones: bool, timeout: float):
        super().__init__(settings)
        self.dns = dns
        self.has_zones = has_zones
        self.timeout = timeout
        self.api = f"API 127.0.0.1:{settings.dns.api_port}"
        self.dns_port = settings.dns.port

    def installed(self) -> bool:
        return self.dns.runner.which("pdns_server") is not None

    def _api_version(self) -> tuple[str | None, str | None]:
        """Return the version the API reports, or None and the reason the API call failed."""
        try:
            return self.dns.ping(self.timeout), None
        except HostError as error:
            return None, str(error)

    def state(self) -> ServiceState:
        binary = self.dns.runner.which("pdns_server")
        pid = self.dns.server_pid() if binary else None
        version, problem = None, None
        if pid is not None or not self.local:
            # The system's server may run without a pid file, so its API is asked anyway.
            version, problem = self._api_version()
        running = pid is not None or (not self.local and problem is None)
        if version is not None:
            detail = f"PowerDNS {version}, {self.api}, DNS port {self.dns_port}"
        else:
            detail = f"{self.api}, DNS port {self.dns_port}"
            if binary:
                version = binary_version(self.dns.runner, "powerdns", binary)
        if problem is not None:
            problem = f"{self.api} does not respond: {problem}"
        return self._state(
            pid=pid,
            required=self.has_zones,
            version=version,
            detail=detail,
            running=running,
            problem=problem if running else None,
        )

    def start(self) -> None:
        if not self.local and self._api_version()[1] is None:
            return  # the system's server already responds, so it runs
        self.dns.start_server()

    def stop(self) -> None:
        if self.dns.server_pid() is None and not self.local and self._api_version()[1] is None:
            raise Conflict(
                "PowerDNS responds on its API, but no pid file names its process, so the panel"
                " can't stop it; stop it the way it was started"
            )
        self.dns.stop_server()

    def restart(self) -> None:
        self.stop()
        self.dns.start_server()


def managed_services(
    settings: Settings, web: WebHost, dns: PowerDns, *, has_zones: bool
) -> list[ManagedService]:
    """Return every managed service, ordered by name."""
    services: list[ManagedService] = [NginxService(settings, web)]
    versions = [item.version for item in web.php.versions()]
    services += [PhpFpmService(settings, web, version) for version in versions] or [
        PhpFpmService(settings, web, None)
    ]
    timeout = settings.system.health_timeout_seconds
    services.append(PowerDnsService(settings, dns, has_zones=has_zones, timeout=timeout))
    return services


def find_service(services: list[ManagedService], name: str) -> ManagedService:
    """Return the service with this name; raise 404 naming the services that exist."""
    for service in services:
        if service.name == name:
            return service
    known = ", ".join(service.name for service in services)
    raise NotFound(f"Service {name[:64]} not found; the managed services are: {known}")
