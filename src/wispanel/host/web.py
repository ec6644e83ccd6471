"""The web stack as one component: nginx server blocks and PHP-FPM pools changed together.

A change is staged (files written, `php-fpm -t` and `nginx -t` run) while the caller's
database transaction is still open. The caller then commits its transaction and calls
`WebChange.commit()`, which reloads what changed, or calls `rollback()`, which puts the
previous files back. One lock, held from stage to commit or rollback, keeps concurrent
changes (threads or processes) from testing each other's half-written files.
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import structlog

from wispanel.core.config import Settings
from wispanel.host.errors import HostError
from wispanel.host.files import FileTransaction
from wispanel.host.nginx import Nginx, SiteConfig
from wispanel.host.phpfpm import PhpFpm, PoolConfig
from wispanel.host.runner import CommandRunner
from wispanel.host.supervisor import Supervisor

log = structlog.get_logger(__name__)
PoolKey = tuple[str, str]  # (username, PHP version)


class _ApplyLock:
    """A lock across threads (a mutex) and processes (flock on a file)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread_lock = threading.Lock()
        self._handle: IO[bytes] | None = None

    def acquire(self) -> None:
        self._thread_lock.acquire()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = self.path.open("ab")
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            self._handle = handle
        except BaseException:
            self._thread_lock.release()
            raise

    def release(self) -> None:
        handle, self._handle = self._handle, None
        try:
            if handle is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
                handle.close()
        finally:
            self._thread_lock.release()


@dataclass
class WebChange:
    """Files written and checked but not yet live; finish with commit() or rollback()."""

    host: WebHost
    transaction: FileTransaction
    nginx_changed: bool
    php_versions_changed: set[str] = field(default_factory=set)
    finished: bool = False

    def commit(self) -> None:
        """Make the change live: reload the changed PHP-FPM masters first, then nginx."""
        if self.finished:
            return
        self.finished = True
        try:
            self.transaction.commit()
            for version in sorted(self.php_versions_changed):
                self.host.php.apply(version)
            if self.nginx_changed:
                self.host.nginx.reload()
        finally:
            self.host.lock.release()

    def rollback(self) -> None:
        """Put every file back as it was before the change; nothing was reloaded."""
        if self.finished:
            return
        self.finished = True
        try:
            self.transaction.rollback()
        finally:
            self.host.lock.release()


class WebHost:
    """nginx and PHP-FPM of one host profile, changed through staged changes."""

    def __init__(self, nginx: Nginx, php: PhpFpm) -> None:
        self.nginx = nginx
        self.php = php
        self.lock = _ApplyLock(nginx.layout.lock_file)

    @classmethod
    def for_settings(cls, settings: Settings, runner: CommandRunner) -> WebHost:
        supervisor = Supervisor(runner, settings.data_dir / "run" / "daemons")
        return cls(
            Nginx.for_settings(settings, runner, supervisor),
            PhpFpm.for_settings(settings, runner, supervisor),
        )

    def require_installed(self) -> None:
        """Raise CommandNotFound, with the install command, if nginx is missing."""
        self.nginx.binary()

    def stage(
        self,
        sites: Mapping[str, SiteConfig | None],
        pools: Mapping[PoolKey, PoolConfig | None] | None = None,
    ) -> WebChange:
        """Write the given sites and pools (None removes one) and check them.

        On a failed check the previous files are back before the error propagates. Any
        other domain's or account's files are left as they are.
        """
        self.require_installed()
        self.lock.acquire()
        transaction = FileTransaction()
        try:
            self.nginx.prepare()
            versions = self.php.stage(transaction, pools or {})
            nginx_changed = self.nginx.stage(transaction, sites)
            for version in sorted(versions):
                self.php.check(version)
            if nginx_changed or versions:
                self.nginx.check()
        except BaseException:
            try:
                transaction.rollback()
            finally:
                self.lock.release()
            raise
        return WebChange(self, transaction, nginx_changed, versions)

    def start(self) -> None:
        """Start nginx and every PHP-FPM master that has pools, unless they run."""
        self.lock.acquire()
        try:
            self.php.start_all()
            self.nginx.start()
        finally:
            self.lock.release()

    def start_at_boot(self) -> None:
        """Start the daemons when there are sites to serve; log, don't raise, on failure.

        The panel starts without sites and without the web server; the first domain added
        starts it. A failure here leaves the API up, and domain changes then report it.
        """
        if not self.has_sites():
            return
        try:
            self.start()
        except HostError:
            log.exception("web.start_failed")

    def stop(self) -> None:
        """Stop the daemons the panel runs itself (local profile); log what fails."""
        for stop in (self.nginx.stop, self.php.stop_all):
            try:
                stop()
            except HostError:
                log.exception("web.stop_failed")

    def has_sites(self) -> bool:
        return any(self.nginx.layout.sites_dir.glob("*.conf"))
