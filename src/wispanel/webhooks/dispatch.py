"""Turning committed events into deliveries, and running those in the job queue.

An event travels this way. The service commits it to the `events` table, and the event bus
hands it to `on_event`, which queues a fan-out task. The fan-out writes one delivery per
matching subscription and marks the event in `webhook_fanout`, in one transaction. Each
delivery is then queued, and a failed attempt schedules the next one in Huey, whose
schedule is stored in the jobs database and so survives a restart.

The database records what is owed, and the queue only carries ids. A sweep, run when a job
consumer starts and every minute after, repairs what a crash can lose: events committed
but never fanned out, deliveries whose queue entry was lost, and attempts cut off
mid-flight. Running a task twice is harmless, because the fan-out marker and the claim of
a delivery (due, then turned into `sending` in one UPDATE) let only one run do the work.
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta

import structlog
from huey import crontab
from huey.api import Huey
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wispanel.core.config import WebhookSettings
from wispanel.core.context import PanelContext
from wispanel.core.database import utcnow
from wispanel.core.events import PublishedEvent
from wispanel.core.models import EventRecord
from wispanel.users.models import AccountStatus, Role, User
from wispanel.webhooks.delivery import Deliverer, PendingAttempt, envelope
from wispanel.webhooks.models import DeliveryStatus, Webhook, WebhookDelivery, WebhookFanout
from wispanel.webhooks.patterns import PING, matches_any
from wispanel.webhooks.signing import SecretBox

log = structlog.get_logger(__name__)
SWEEP_BATCH = 500
# A due delivery is re-queued by the periodic sweep once it is this late, which leaves its
# own queue entry time to run first.
OVERDUE = timedelta(seconds=30)
# Huey's scheduler wakes about once a second, so a scheduled attempt may start a little
# before the time the database holds for it.
EARLY_START = timedelta(seconds=1)


class WebhookDispatcher:
    def __init__(
        self, engine: Engine, huey: Huey, settings: WebhookSettings, box: SecretBox
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.deliverer = Deliverer(engine, settings, box)
        self._fan_out_task = huey.task(name="wispanel.webhooks.fan_out")(self.fan_out)
        self._deliver_task = huey.task(name="wispanel.webhooks.deliver")(self.deliver)
        self._sweep_task = huey.task(name="wispanel.webhooks.sweep")(self.sweep)
        huey.periodic_task(crontab(), name="wispanel.webhooks.periodic_sweep")(self._periodic)
        huey.on_startup(name="wispanel.webhooks.startup_sweep")(self._on_consumer_start)
        self._started = threading.Lock()
        self._start_sweep_queued = False

    def on_event(self, published: PublishedEvent) -> None:
        """Subscriber of the event bus: queue the fan-out of a committed event."""
        self._fan_out_task(published.id)

    def _on_consumer_start(self) -> None:
        # Huey calls start-up hooks once per worker thread; one sweep per start is enough.
        with self._started:
            if self._start_sweep_queued:
                return
            self._start_sweep_queued = True
        self._sweep_task(True)

    def _periodic(self) -> None:
        self.sweep(False)

    def fan_out(self, event_id: str) -> None:
        """Create the deliveries of one event, once, and queue them."""
        with Session(self.engine) as db:
            if db.get(WebhookFanout, event_id) is not None:
                return
            event = db.get(EventRecord, event_id)
            if event is None:
                log.warning("webhook.event_missing", event_id=event_id)
                return
            event_name = event.name
            body = envelope(event.id, event.name, event.occurred_at, dict(event.data or {}))
            now = utcnow()
            delivery_ids = []
            for webhook in self._subscribers(db, event):
                delivery = WebhookDelivery(
                    id=uuid.uuid4().hex,
                    webhook_id=webhook.id,
                    event_id=event.id,
                    event=event.name,
                    body=body,
                    status=DeliveryStatus.PENDING,
                    attempt_count=0,
                    next_attempt_at=now,
                    created_at=now,
                )
                db.add(delivery)
                delivery_ids.append(delivery.id)
            db.add(WebhookFanout(event_id=event.id, fanned_out_at=now))
            try:
                db.commit()
            except IntegrityError:
                db.rollback()  # another worker fanned this event out first
                return
        if delivery_ids:
            log.info(
                "webhook.fanned_out",
                event_name=event_name,
                event_id=event_id,
                deliveries=len(delivery_ids),
            )
        for delivery_id in delivery_ids:
            self._deliver_task(delivery_id)

    def _subscribers(self, db: Session, event: EventRecord) -> list[Webhook]:
        """Enabled subscriptions that may see the event and whose patterns match it.

        Admins receive every event, others the events of objects they own, and resellers
        also those of their accounts. A subscription receives only events that occurred
        after it was created.
        NOTE: the reseller of an account is read when the event is fanned out, so a
        reseller does not receive `user.deleted` for an account whose row is already gone.
        """
        parent_id = None
        if event.owner_id is not None:
            parent_id = db.scalar(select(User.parent_id).where(User.id == event.owner_id))
        rows = db.execute(
            select(Webhook, User.role)
            .join(User, User.id == Webhook.owner_id)
            .where(
                Webhook.enabled.is_(True),
                User.status == AccountStatus.ACTIVE,
                Webhook.created_at <= event.occurred_at,
            )
            .order_by(Webhook.created_at, Webhook.id)
        ).all()
        chosen = []
        for webhook, role in rows:
            visible = (
                role == Role.ADMIN
                or (event.owner_id is not None and webhook.owner_id == event.owner_id)
                or (
                    role == Role.RESELLER
                    and parent_id is not None
                    and webhook.owner_id == parent_id
                )
            )
            if visible and matches_any(webhook.events, event.name):
                chosen.append(webhook)
        return chosen

    def deliver(self, delivery_id: str) -> None:
        """Claim a due delivery, make one attempt, record it and schedule the retry."""
        now = utcnow()
        with Session(self.engine) as db:
            claimed = db.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == delivery_id,
                    or_(
                        and_(
                            WebhookDelivery.status == DeliveryStatus.PENDING,
                            WebhookDelivery.next_attempt_at <= now + EARLY_START,
                        ),
                        # An attempt whose process died mid-flight; it was never recorded.
                        and_(
                            WebhookDelivery.status == DeliveryStatus.SENDING,
                            WebhookDelivery.lease_until < now,
                        ),
                    ),
                )
                .values(status=DeliveryStatus.SENDING, lease_until=now + self.deliverer.lease)
            )
            db.commit()
            if getattr(claimed, "rowcount", 0) != 1:
                return  # not due, already sent, or taken by another worker
            row = db.execute(
                select(Webhook, WebhookDelivery)
                .join(WebhookDelivery, WebhookDelivery.webhook_id == Webhook.id)
                .where(WebhookDelivery.id == delivery_id)
            ).one_or_none()
            if row is None:
                return
            webhook, delivery = row
            if not webhook.enabled:
                delivery.status, delivery.completed_at = DeliveryStatus.CANCELLED, now
                delivery.next_attempt_at = delivery.lease_until = None
                db.commit()
                log.info("webhook.delivery_cancelled", delivery_id=delivery_id, reason="disabled")
                return
            pending = PendingAttempt.of(webhook, delivery)
        result = self.deliverer.attempt(pending)
        # A ping is attempted once; it only gets here again after its process died.
        retry = pending.event != PING
        delay = self.deliverer.record(delivery_id, pending.webhook_id, result, retry=retry)
        if delay is not None:
            self.schedule(delivery_id, delay)

    def schedule(self, delivery_id: str, delay: float) -> None:
        if delay <= 0:
            self._deliver_task(delivery_id)
        else:
            self._deliver_task.schedule(args=(delivery_id,), delay=delay)

    def sweep(self, at_start: bool) -> None:
        """Fan out missed events, release lost attempts, re-queue late deliveries, prune."""
        try:
            fanned = self._fan_out_missed()
            due_before = utcnow() - (timedelta(0) if at_start else OVERDUE)
            requeued = self._requeue(due_before, at_start=at_start)
            pruned = 0 if at_start else self._prune()
        except Exception:
            log.exception("webhook.sweep_failed")
            return
        if fanned or requeued or pruned:
            log.info("webhook.swept", events=fanned, requeued=requeued, pruned=pruned)

    def _fan_out_missed(self) -> int:
        total = 0
        while True:
            with Session(self.engine) as db:
                missed = db.scalars(
                    select(EventRecord.id)
                    .outerjoin(WebhookFanout, WebhookFanout.event_id == EventRecord.id)
                    .where(WebhookFanout.event_id.is_(None))
                    .order_by(EventRecord.occurred_at, EventRecord.id)
                    .limit(SWEEP_BATCH)
                ).all()
            for event_id in missed:
                self.fan_out(event_id)
            total += len(missed)
            if len(missed) < SWEEP_BATCH:
                return total

    def _requeue(self, due_before: datetime, *, at_start: bool) -> int:
        """Queue deliveries due before `due_before` and attempts whose lease ran out.

        At start, attempts still leased may belong to this machine's previous run, so
        each is also scheduled for the moment its lease ends.
        """
        now = utcnow()
        with Session(self.engine) as db:
            due = db.scalars(
                select(WebhookDelivery.id)
                .where(
                    or_(
                        and_(
                            WebhookDelivery.status == DeliveryStatus.PENDING,
                            WebhookDelivery.next_attempt_at <= due_before,
                        ),
                        and_(
                            WebhookDelivery.status == DeliveryStatus.SENDING,
                            WebhookDelivery.lease_until < now,
                        ),
                    )
                )
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(SWEEP_BATCH * 10)
            ).all()
            leased: list[tuple[str, datetime]] = []
            if at_start:
                rows = db.execute(
                    select(WebhookDelivery.id, WebhookDelivery.lease_until).where(
                        WebhookDelivery.status == DeliveryStatus.SENDING,
                        WebhookDelivery.lease_until >= now,
                    )
                ).all()
                leased = [(row.id, row.lease_until) for row in rows if row.lease_until]
        for delivery_id in due:
            self._deliver_task(delivery_id)
        for delivery_id, lease_until in leased:
            # A moment after the lease ends, so the claim finds it expired.
            wait = (lease_until - now).total_seconds() + EARLY_START.total_seconds()
            self.schedule(delivery_id, wait)
        return len(due) + len(leased)

    def _prune(self) -> int:
        cutoff = utcnow() - timedelta(days=self.settings.delivery_retention_days)
        with Session(self.engine) as db:
            pruned = db.execute(
                delete(WebhookDelivery).where(WebhookDelivery.completed_at < cutoff)
            )
            db.commit()
        return int(getattr(pruned, "rowcount", 0) or 0)


def install_webhooks(panel: PanelContext) -> WebhookDispatcher:
    """Register the webhook tasks on the panel's job queue and subscribe to its events."""
    dispatcher = WebhookDispatcher(
        panel.sync_engine,
        panel.jobs.huey,
        panel.settings.webhooks,
        SecretBox(panel.secrets.encryption_key),
    )
    panel.events.subscribe(dispatcher.on_event)
    return dispatcher
