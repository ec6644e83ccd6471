"""nginx: one server block per domain, rendered from templates, tested, then reloaded.

The panel writes only its own files: in the `local` profile a complete nginx under
`<data-dir>/nginx` (its own nginx.conf, pid, logs and temp paths), in the `system` profile
`/etc/nginx/wispanel/` plus one include file in `/etc/nginx/conf.d/`. Every value that
reaches a config is checked here again, so nothing unchecked is rendered even if a caller
forgot to validate.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import structlog

from wispanel.core.config import Profile, Settings, WebSettings
from wispanel.host.components import COMPONENTS
from wispanel.host.errors import ApplyError, CommandNotFound, UnsafePathError, tail_text
from wispanel.host.files import FileTransaction
from wispanel.host.nginx_directives import check_custom_directives
from wispanel.host.paths import open_nofollow, validate_hostname
from wispanel.host.runner import CommandRunner, process_is_alive
from wispanel.host.supervisor import DaemonSpec, Supervisor
from wispanel.host.templating import render

log = structlog.get_logger(__name__)

NGINX_INSTALL_COMMAND = next(c for c in COMPONENTS if c.name == "nginx").install_command
# Characters a path may have in a config: no spaces, quotes, ';', braces, '$' or '#'.
CONFIG_PATH_PATTERN = re.compile(r"/[A-Za-z0-9._/+@-]*")
# A redirect target: http or https, a host, and a path and query without characters nginx
# would read as syntax or variables.
REDIRECT_URL_PATTERN = re.compile(
    r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~%!&*+,=:@/?()-]*)?"
)
MAX_REDIRECT_URL_LENGTH = 2048
REDIRECT_CODES = (301, 302)
MIME_TYPES_FILE = Path("/etc/nginx/mime.types")
# How long to wait for a reload before the API responds anyway: `nginx -t` alone took 1.2 s
# with 10,000 server blocks on a 2-core machine, and the master parses as much again.
RELOAD_WAIT_SECONDS = 10.0


def check_config_path(path: Path, field_name: str) -> Path:
    """Return ``path`` if it is absolute and safe to write unquoted into a config."""
    text = str(path)
    if not CONFIG_PATH_PATTERN.fullmatch(text) or "/../" in f"{text}/":
        raise UnsafePathError(
            text, f"{field_name} may only contain letters, digits and . _ / + @ -"
        )
    return path


def validate_redirect_url(url: str) -> str:
    """Return ``url`` if it is an http(s) URL safe to write into a config, else raise."""
    if len(url) > MAX_REDIRECT_URL_LENGTH or not REDIRECT_URL_PATTERN.fullmatch(url):
        raise UnsafePathError(
            url[:80],
            "redirect_url must be an http:// or https:// URL without spaces, quotes, ';',"
            " '$', '#' or braces; percent-encode such characters",
        )
    authority = url.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0]
    host, _colon, port = authority.partition(":")
    validate_hostname(host, "redirect_url host")
    if port and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise UnsafePathError(url[:80], "redirect_url port must be between 1 and 65535")
    return url


def server_names(domain: str, aliases: tuple[str, ...]) -> tuple[str, ...]:
    """Return the names a domain's block serves: each name and its `www.` form."""
    names: list[str] = []
    for name in (domain, *aliases):
        names.append(name)
        if not name.startswith("www."):
            names.append(f"www.{name}")
    return tuple(names)


@dataclass(frozen=True)
class TlsFiles:
    """A site's certificate chain and key files."""

    certificate: Path
    key: Path
    # A digest of the certificate file, written into the server block. nginx reads
    # certificates only when it loads its config, so a new certificate must change the
    # block for the change to be checked and reloaded like any other.
    version: str = ""


@dataclass(frozen=True)
class SiteConfig:
    """Everything one domain's server block is rendered from."""

    domain: str
    home: Path  # the owner's home: custom paths must stay inside it
    document_root: Path
    access_log: Path
    error_log: Path
    php_socket: Path | None = None  # None: static files only
    aliases: tuple[str, ...] = ()
    suspended: bool = False
    redirect_url: str | None = None
    redirect_code: int = 301
    custom_directives: str = ""
    tls: TlsFiles | None = None
    force_https: bool = False
    hsts: bool = False
    server_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        if validate_hostname(self.domain, "domain") != self.domain:
            raise UnsafePathError(self.domain, "domain must be given in normalised form")
        for alias in self.aliases:
            if validate_hostname(alias, "alias") != alias:
                raise UnsafePathError(alias, "alias must be given in normalised form")
        for name, path in (
            ("home", self.home),
            ("document_root", self.document_root),
            ("access_log", self.access_log),
            ("error_log", self.error_log),
            *((("php_socket", self.php_socket),) if self.php_socket else ()),
            *((("certificate", self.tls.certificate), ("key", self.tls.key)) if self.tls else ()),
        ):
            check_config_path(path, name)
        if self.redirect_url is not None:
            validate_redirect_url(self.redirect_url)
        if self.redirect_code not in REDIRECT_CODES:
            raise UnsafePathError(str(self.redirect_code), "redirect_code must be 301 or 302")
        if not self.suspended:
            # A suspended block leaves the custom directives out, so they can't hold it up.
            check_custom_directives(self.custom_directives, self.home)
        object.__setattr__(self, "server_names", server_names(self.domain, self.aliases))


@dataclass(frozen=True)
class NginxLayout:
    """Paths of the panel's nginx files in one profile."""

    conf_dir: Path
    main_conf: Path  # the file nginx is started and tested with
    sites_dir: Path
    pid_file: Path
    error_log: Path
    acme_root: Path
    owns_main_conf: bool  # local: the panel writes main_conf; system: the distribution does
    include_conf: Path | None = None  # system: the file that includes sites_dir

    @property
    def temp_dir(self) -> Path:
        return self.conf_dir / "temp"

    @property
    def static_dir(self) -> Path:
        return self.conf_dir / "static"

    @property
    def fastcgi_params(self) -> Path:
        return self.conf_dir / "fastcgi_params.conf"

    @property
    def lock_file(self) -> Path:
        return self.conf_dir / "apply.lock"

    @classmethod
    def local(cls, data_dir: Path) -> NginxLayout:
        conf_dir = data_dir / "nginx"
        return cls(
            conf_dir=conf_dir,
            main_conf=conf_dir / "nginx.conf",
            sites_dir=conf_dir / "sites",
            pid_file=conf_dir / "nginx.pid",
            error_log=conf_dir / "logs" / "error.log",
            acme_root=data_dir / "acme",
            owns_main_conf=True,
        )

    @classmethod
    def system(cls) -> NginxLayout:
        conf_dir = Path("/etc/nginx/wispanel")
        return cls(
            conf_dir=conf_dir,
            main_conf=Path("/etc/nginx/nginx.conf"),
            sites_dir=conf_dir / "sites",
            pid_file=Path("/run/nginx.pid"),
            error_log=Path("/var/log/nginx/error.log"),
            acme_root=Path("/var/lib/wispanel/acme"),
            owns_main_conf=False,
            include_conf=Path("/etc/nginx/conf.d/wispanel.conf"),
        )


def _write_if_changed(
    transaction: FileTransaction, path: Path, content: str, mode: int = 0o644
) -> bool:
    try:
        if path.read_text(encoding="utf-8") == content:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    transaction.write(path, content, mode)
    return True


class Nginx:
    """Render, check, reload and (in the local profile) run the panel's nginx."""

    def __init__(
        self,
        layout: NginxLayout,
        web: WebSettings,
        runner: CommandRunner,
        supervisor: Supervisor | None,
    ) -> None:
        self.layout = layout
        self.web = web
        self.runner = runner
        self.supervisor = supervisor  # None in the system profile

    @classmethod
    def for_settings(
        cls, settings: Settings, runner: CommandRunner, supervisor: Supervisor | None
    ) -> Nginx:
        if settings.server.profile is Profile.SYSTEM:
            return cls(NginxLayout.system(), settings.web, runner, None)
        return cls(NginxLayout.local(settings.data_dir), settings.web, runner, supervisor)

    # Rendering

    @property
    def _https_suffix(self) -> str:
        port = self.web.https_port
        return "" if port == 443 else f":{port}"

    def render_site(self, site: SiteConfig) -> str:
        custom = site.custom_directives.strip("\n")
        return render(
            "nginx/site.conf.j2",
            site=site,
            listen_address=self.web.listen_address,
            http_port=self.web.http_port,
            https_port=self.web.https_port,
            https_suffix=self._https_suffix,
            acme_root=check_config_path(self.layout.acme_root, "acme_root"),
            static_dir=check_config_path(self.layout.static_dir, "static_dir"),
            fastcgi_params=check_config_path(self.layout.fastcgi_params, "fastcgi_params"),
            custom_lines=[line.rstrip() for line in custom.split("\n")] if custom else [],
        )

    def render_main(self) -> str:
        layout = self.layout
        run_as = None
        if os.geteuid() == 0:
            # Workers of a root master would drop to `nobody`; the local profile runs every
            # site as the panel's own user.
            run_as = "root root"
        return render(
            "nginx/nginx.conf.j2",
            run_as=run_as,
            worker_processes=self.web.worker_processes,
            worker_rlimit_nofile=open_files_limit(self.web.worker_rlimit_nofile),
            pid_file=check_config_path(layout.pid_file, "pid_file"),
            error_log=check_config_path(layout.error_log, "error_log"),
            mime_types=MIME_TYPES_FILE if MIME_TYPES_FILE.is_file() else None,
            temp_dir=check_config_path(layout.temp_dir, "temp_dir"),
            listen_address=self.web.listen_address,
            http_port=self.web.http_port,
            https_port=self.web.https_port,
            sites_dir=check_config_path(layout.sites_dir, "sites_dir"),
        )

    def site_file(self, domain: str) -> Path:
        return self.layout.sites_dir / f"{validate_hostname(domain, 'domain')}.conf"

    # Files

    def binary(self) -> str:
        """Return the nginx binary, or raise CommandNotFound with the install command."""
        path = self.runner.which("nginx")
        if path is None:
            raise CommandNotFound("nginx", NGINX_INSTALL_COMMAND)
        return path

    def prepare(self) -> None:
        """Create the panel's directories and shared files; rewrite only what changed."""
        layout = self.layout
        for directory in (layout.conf_dir, layout.sites_dir, layout.static_dir, layout.acme_root):
            directory.mkdir(parents=True, exist_ok=True)
        (layout.acme_root / ".well-known" / "acme-challenge").mkdir(parents=True, exist_ok=True)
        with FileTransaction() as transaction:
            if layout.owns_main_conf:
                layout.error_log.parent.mkdir(parents=True, exist_ok=True)
                layout.temp_dir.mkdir(parents=True, exist_ok=True)
                _write_if_changed(transaction, layout.main_conf, self.render_main())
            if layout.include_conf is not None:
                include = render(
                    "nginx/wispanel.conf.j2",
                    sites_dir=check_config_path(layout.sites_dir, "sites_dir"),
                )
                _write_if_changed(transaction, layout.include_conf, include)
            _write_if_changed(transaction, layout.fastcgi_params, render("nginx/fastcgi_params.j2"))
            suspended_page = layout.static_dir / ".wispanel" / "suspended.html"
            suspended_page.parent.mkdir(parents=True, exist_ok=True)
            _write_if_changed(transaction, suspended_page, render("nginx/suspended.html.j2"))

    def stage(self, transaction: FileTransaction, sites: Mapping[str, SiteConfig | None]) -> bool:
        """Write or remove the given domains' files; return whether any file changed.

        A None value removes that domain's block. Other domains' files are not touched.
        """
        changed = False
        for domain, site in sites.items():
            path = self.site_file(domain)
            if site is None:
                if path.exists():
                    transaction.remove(path)
                    changed = True
                continue
            for log_file in (site.access_log, site.error_log):
                log_file.parent.mkdir(parents=True, exist_ok=True)
            changed |= _write_if_changed(transaction, path, self.render_site(site))
        return changed

    def read_site(self, domain: str) -> str | None:
        try:
            return self.site_file(domain).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    # The running server

    def check_argv(self) -> list[str]:
        return [
            self.binary(),
            "-t",
            "-q",
            "-c",
            str(self.layout.main_conf),
            "-e",
            str(self.layout.error_log),
        ]

    def check(self) -> None:
        """Run `nginx -t` on the files as they are now; raise ApplyError with its output."""
        result = self.runner.run(
            self.check_argv(), timeout=self.web.check_timeout_seconds, check=False
        )
        if result.returncode != 0:
            output = tail_text(result.stderr or result.stdout)
            log.warning("nginx.check_failed", exit_status=result.returncode)
            raise ApplyError("nginx", output)

    def daemon_spec(self) -> DaemonSpec:
        layout = self.layout
        return DaemonSpec(
            name="nginx",
            argv=[self.binary(), "-c", str(layout.main_conf), "-e", str(layout.error_log)],
            log_file=layout.conf_dir / "logs" / "console.log",
            pid_file=layout.pid_file,
            check_argv=self.check_argv(),
            daemonizes=True,
            ready_tcp=(self.web.listen_address, self.web.http_port),
        )

    def running_pid(self) -> int | None:
        if self.supervisor is not None:
            return self.supervisor.status(self.daemon_spec()).pid
        try:
            pid = int(self.layout.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if process_is_alive(pid) else None

    def start(self) -> None:
        """Start nginx unless it runs: the panel's own in the local profile, else the system's."""
        if self.running_pid() is not None:
            return
        self.prepare()
        self.check()
        if self.supervisor is not None:
            self.supervisor.start(self.daemon_spec())
            return
        self.runner.run([self.binary()], timeout=self.web.check_timeout_seconds)
        log.info("nginx.started")

    def reload(self) -> None:
        """Signal the master to re-read its config, which `check` has just accepted.

        A HUP after a successful `nginx -t` saves the second full parse `nginx -s reload`
        makes. nginx that is not running is started instead.
        """
        pid = self.running_pid()
        if pid is None:
            self.start()
            return
        before = _workers(pid)
        os.kill(pid, signal.SIGHUP)
        if not _wait_for_new_workers(pid, set(before), RELOAD_WAIT_SECONDS):
            log.warning("nginx.reload_slow", pid=pid, waited_seconds=RELOAD_WAIT_SECONDS)
        log.info("nginx.reloaded", pid=pid)

    def stop(self) -> None:
        if self.supervisor is not None:
            self.supervisor.stop(self.daemon_spec())

    def stop_master(self) -> None:
        """Stop nginx in either profile: SIGTERM to the master its pid file names, then SIGKILL.

        Unlike `stop`, which the panel calls when it shuts down, this stops the system's nginx
        too.
        """
        supervisor = self.supervisor or Supervisor(self.runner, self.layout.conf_dir)
        supervisor.stop(self.daemon_spec())


def open_files_limit(requested: int) -> int:
    """Return `requested`, lowered to the hard limit nginx inherits from the panel.

    A worker asking for more than that hard limit fails to set it and logs an alert at every
    start and reload.
    """
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return requested if hard == resource.RLIM_INFINITY else min(requested, hard)


def _workers(master: int) -> dict[int, str]:
    """Map each child of the nginx master to its process title."""
    titles: dict[int, str] = {}
    try:
        children = psutil.Process(master).children()
    except psutil.Error:
        return titles
    for child in children:
        try:
            titles[child.pid] = " ".join(child.cmdline())
        except psutil.Error:
            continue
    return titles


def _wait_for_new_workers(master: int, old: set[int], timeout: float) -> bool:
    """Wait until workers with the new config run and every old one is shutting down.

    After SIGHUP the master starts new workers and signals the old ones to close their
    listening sockets. Until an old worker does, it may still serve the previous config.
    """
    deadline = time.monotonic() + timeout
    while True:
        workers = _workers(master)
        started = any(pid not in old for pid in workers)
        lingering = [
            pid for pid, title in workers.items() if pid in old and "shutting down" not in title
        ]
        if started and not lingering:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)


def tail_lines(path: Path, count: int, block_size: int = 65_536) -> list[str]:
    """Return the last ``count`` lines of a file, reading it backwards block by block.

    A link in the file's place is refused (UnsafePathError), so an account can't turn its
    log into a view of another file.
    """
    try:
        handle = open_nofollow(path)
    except FileNotFoundError:
        return []
    with handle:
        handle.seek(0, os.SEEK_END)
        position = handle.tell()
        data = b""
        while position > 0 and data.count(b"\n") <= count:
            step = min(block_size, position)
            position -= step
            handle.seek(position)
            data = handle.read(step) + data
    lines = data.decode("utf-8", errors="replace").splitlines()
    return lines[-count:] if count else []
