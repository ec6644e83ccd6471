"""Web changes that arrive together go live together: one `nginx -t` and one reload.

Checking and reloading nginx costs time in proportion to every server block on the host, not
to the change. A change is therefore queued; one applier thread takes every change waiting,
writes their files in one file transaction and checks them once. Each caller then commits
its own database transaction and reports the outcome. When every caller of the batch has
committed, one reload makes the batch live.

A check that fails for a batch of several changes is retried change by change, so the
caller whose change nginx rejects gets the error and the others go on. When a caller rolls
back, the whole batch returns to its previous files. The changes whose callers committed
are then written and checked again without it.

A caller's decision (`decide`) only takes a short lock and never waits for the batch. So
callers that hold worker threads while they wait for the next batch can't keep the current
batch from finishing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from wispanel.host.files import FileTransaction
from wispanel.host.nginx import SiteConfig
from wispanel.host.phpfpm import PoolConfig

if TYPE_CHECKING:
    from wispanel.host.web import PoolKey, WebHost

log = structlog.get_logger(__name__)

# The maximum number of changes in one batch; the rest wait for the next one.
MAX_BATCH = 200
# How long the batch waits for a caller to commit or roll back its database transaction.
# A caller that says nothing in that time counts as rolled back.
DECISION_TIMEOUT_SECONDS = 60.0


@dataclass(eq=False)
class Ticket:
    """One caller's change as it moves through a batch."""

    sites: Mapping[str, SiteConfig | None]
    pools: Mapping[PoolKey, PoolConfig | None]
    nginx_changed: bool = False
    # Set when the files are written and checked, or when that failed (`error`).
    staged: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    # Set by the caller through `decide`, or by the applier when it stops waiting.
    decided: threading.Event = field(default_factory=threading.Event)
    commit: bool = False
    abandoned: bool = False
    # Set when the change is live or rolled back; `live_error` when going live failed.
    done: threading.Event = field(default_factory=threading.Event)
    live_error: BaseException | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def decide(self, *, commit: bool) -> bool:
        """Record the caller's outcome; return False when the batch stopped waiting for it."""
        with self.lock:
            if self.abandoned:
                return False
            self.commit = commit
            self.decided.set()
            return True

    def abandon_unless_decided(self) -> bool:
        """Count a silent caller as rolled back; return whether it had decided after all."""
        with self.lock:
            if self.decided.is_set():
                return True
            self.abandoned = True
            self.decided.set()
            return False

    def finish(self, error: BaseException | None = None) -> None:
        self.live_error = error
        self.done.set()


@dataclass
class _Staged:
    transaction: FileTransaction
    nginx_changed: bool
    php_versions: set[str]


class WebBatcher:
    """Queue web changes and apply them in batches under the host's apply lock."""

    def __init__(self, host: WebHost) -> None:
        self.host = host
        self._condition = threading.Condition()
        self._pending: list[Ticket] = []
        self._applier_running = False

    def submit(
        self,
        sites: Mapping[str, SiteConfig | None],
        pools: Mapping[PoolKey, PoolConfig | None],
    ) -> Ticket:
        """Queue a change and wait until its files are written and checked.

        Raises what writing or checking raised; the previous files are back by then.
        """
        ticket = Ticket(dict(sites), dict(pools))
        with self._condition:
            self._pending.append(ticket)
            if not self._applier_running:
                self._applier_running = True
                threading.Thread(target=self._run, name="wispanel-web-apply", daemon=True).start()
        ticket.staged.wait()
        if ticket.error is not None:
            raise ticket.error
        return ticket

    def _run(self) -> None:
        while True:
            with self._condition:
                if not self._pending:
                    self._applier_running = False
                    return
                batch = self._pending[:MAX_BATCH]
                del self._pending[:MAX_BATCH]
            self._apply(batch)

    def _apply(self, batch: list[Ticket]) -> None:
        try:
            self.host.lock.acquire()
        except BaseException as error:
            self._fail(batch, error)
            return
        try:
            self._apply_locked(batch)
        except BaseException as error:
            log.exception("web.batch_failed", changes=len(batch))
            self._fail(batch, error)
        finally:
            self.host.lock.release()

    @staticmethod
    def _fail(batch: Sequence[Ticket], error: BaseException) -> None:
        """Release every caller still waiting, with the error; none is left blocked."""
        for ticket in batch:
            if not ticket.staged.is_set():
                ticket.error = error
                ticket.staged.set()
            elif not ticket.done.is_set():
                ticket.finish(error)

    def _apply_locked(self, batch: list[Ticket]) -> None:
        staged = self._stage(batch)
        if staged is None:
            if len(batch) > 1:
                # Find out whose change nginx or PHP-FPM rejects: retry them one by one.
                log.info("web.batch_check_failed", changes=len(batch))
                for ticket in batch:
                    self._apply_locked([ticket])
            return
        for ticket in batch:
            ticket.staged.set()
        committed = self._wait_for_decisions(batch)
        if len(committed) == len(batch):
            self._go_live(staged, batch)
            return
        staged.transaction.rollback()
        for ticket in batch:
            if ticket not in committed:
                ticket.finish()
        if committed:
            self._apply_decided(committed)

    def _stage(self, batch: Sequence[Ticket]) -> _Staged | None:
        """Write and check the batch; on a failure restore the files and return None.

        A batch of one gets the error in its ticket; a larger one is retried change by
        change by the caller of this method.
        """
        host = self.host
        transaction = FileTransaction()
        try:
            host.nginx.prepare()
            versions: set[str] = set()
            nginx_changed = False
            for ticket in batch:
                versions |= host.php.stage(transaction, ticket.pools)
                ticket.nginx_changed = host.nginx.stage(transaction, ticket.sites)
                nginx_changed |= ticket.nginx_changed
            for version in sorted(versions):
                host.php.check(version)
            if nginx_changed or versions:
                host.nginx.check()
        except BaseException as error:
            transaction.rollback()
            if len(batch) == 1:
                batch[0].error = error
                batch[0].staged.set()
            return None
        return _Staged(transaction, nginx_changed, versions)

    @staticmethod
    def _wait_for_decisions(batch: Sequence[Ticket]) -> list[Ticket]:
        deadline = time.monotonic() + DECISION_TIMEOUT_SECONDS
        for ticket in batch:
            ticket.decided.wait(max(0.0, deadline - time.monotonic()))
            if not ticket.abandon_unless_decided():
                log.error("web.change_abandoned", waited_seconds=DECISION_TIMEOUT_SECONDS)
        return [ticket for ticket in batch if ticket.commit and not ticket.abandoned]

    def _go_live(self, staged: _Staged, members: Sequence[Ticket]) -> None:
        """Keep the files and reload what changed: PHP-FPM masters first, then nginx."""
        error: BaseException | None = None
        try:
            staged.transaction.commit()
            for version in sorted(staged.php_versions):
                self.host.php.apply(version)
            if staged.nginx_changed:
                self.host.nginx.reload()
        except BaseException as failure:
            error = failure
        if len(members) > 1:
            log.info("web.batch_applied", changes=len(members))
        for ticket in members:
            ticket.finish(error)

    def _apply_decided(self, members: list[Ticket]) -> None:
        """Apply changes whose callers have committed already, after another rolled back."""
        staged = self._stage(members)
        if staged is None and len(members) > 1:
            for ticket in members:
                self._apply_decided([ticket])
            return
        if staged is None:
            # The caller committed: the error reaches it from its commit step, not staging.
            members[0].finish(members[0].error)
            return
        self._go_live(staged, members)
