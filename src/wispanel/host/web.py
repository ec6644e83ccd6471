"""The web stack as one component: nginx server blocks and PHP-FPM pools changed together.

A change is staged (files written, `php-fpm -t` and `nginx -t` run) while the caller's
database transaction is still open. The caller then commits its transaction and calls
`WebChange.commit()`, which reloads what changed, or calls `rollback()`, which puts the
previous files back. One lock, held from stage to commit or rollback, keeps concurrent
changes (threads or processes) from testing each other's half-written files. Changes that
arrive while another is applied are staged, checked and reloaded together (web_batches).
"""

from __future__ import annotations

import contextlib
import fcntl
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import structlog

from wispanel.core.config import Settings
from wispanel.host.errors import HostError
from wispanel.host.nginx import Nginx, SiteConfig
from wispanel.host.phpfpm import PhpFpm, PoolConfig
from wispanel.host.runner import CommandRunner
from wispanel.host.supervisor import Supervisor
from wispanel.host.web_batches import Ticket, WebBatcher

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


@dataclass(eq=False)
class WebChange:
    """Files written and checked but not yet live; finish with commit() or rollback().

    In async code, call `decide` on the event loop, then `wait` in a worker thread: the
    decision must not wait for a free thread, since the batch it belongs to waits for it.
    """

    batcher: WebBatcher
    ticket: Ticket
    finished: bool = False
    _resubmit: bool = False

    @property
    def nginx_changed(self) -> bool:
        return self.ticket.nginx_changed

    def decide(self, *, commit: bool) -> None:
        """Record whether the caller's transaction committed; returns at once."""
        if self.finished:
            return
        self.finished = True
        if not self.ticket.decide(commit=commit) and commit:
            # The batch stopped waiting and put the previous files back. The caller's
            # transaction committed the change, so `wait` applies it again.
            self._resubmit = True

    def wait(self) -> None:
        """Block until the decision is carried out; raise what going live raised."""
        if self._resubmit:
            self._resubmit = False
            self.ticket = self.batcher.submit(self.ticket.sites, self.ticket.pools)
            self.ticket.decide(commit=True)
        self.ticket.done.wait()
        if self.ticket.live_error is not None:
            raise self.ticket.live_error

    def commit(self) -> None:
        """Make the change live: reload the changed PHP-FPM masters first, then nginx."""
        self.decide(commit=True)
        self.wait()

    def rollback(self) -> None:
        """Put every file back as it was before the change; nothing was reloaded."""
        self.decide(commit=False)
        self.wait()


class WebHost:
    """nginx and PHP-FPM of one host profile, changed through staged changes."""

    def __init__(self, nginx: Nginx, php: PhpFpm) -> None:
        self.nginx = nginx
        self.php = php
        self.lock = _ApplyLock(nginx.layout.lock_file)
        self.batcher = WebBatcher(self)

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
        return WebChange(self.batcher, self.batcher.submit(sites, pools or {}))

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the apply lock, so a daemon never starts on another change's unchecked files."""
        self.lock.acquire()
        try:
            yield
        finally:
            self.lock.release()

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
