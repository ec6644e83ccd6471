"""Attempting a delivery and recording the outcome: the one path every delivery takes.

A delivery row contains the body exactly as signed (serialised once) and a delivery id that
every attempt sends unchanged, so receivers can drop duplicates. Each attempt is its own
row. After a failed attempt the next one waits for the next delay of the retry schedule;
when the schedule is used up the delivery has failed.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson
import structlog
from cryptography.exceptions import InvalidTag
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from wispanel.core.config import WebhookSettings
from wispanel.core.database import utcnow
from wispanel.webhooks.models import DeliveryStatus, Webhook, WebhookAttempt, WebhookDelivery
from wispanel.webhooks.patterns import PING
from wispanel.webhooks.sender import AttemptResult, Sender
from wispanel.webhooks.signing import SecretBox, signed_headers

log = structlog.get_logger(__name__)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def envelope(event_id: str, event: str, occurred_at: datetime, data: dict[str, Any]) -> bytes:
    """Serialise the body every attempt of a delivery sends: id, event, timestamp, data."""
    return orjson.dumps(
        {"id": event_id, "event": event, "timestamp": rfc3339(occurred_at), "data": data}
    )


@dataclass(frozen=True, slots=True)
class PendingAttempt:
    """The values one attempt needs, copied out of the database so no session stays open."""

    webhook_id: str
    url: str
    secret_encrypted: str
    delivery_id: str
    event: str
    body: bytes
    number: int

    @classmethod
    def of(cls, webhook: Webhook, delivery: WebhookDelivery) -> PendingAttempt:
        return cls(
            webhook_id=webhook.id,
            url=webhook.url,
            secret_encrypted=webhook.secret_encrypted,
            delivery_id=delivery.id,
            event=delivery.event,
            body=delivery.body,
            number=delivery.attempt_count + 1,
        )


class Deliverer:
    """Sends one attempt of a delivery and records it with the subscription's counters."""

    def __init__(self, engine: Engine, settings: WebhookSettings, box: SecretBox) -> None:
        self.engine = engine
        self.settings = settings
        self.box = box
        self.sender = Sender(settings)

    @property
    def lease(self) -> timedelta:
        """How long an attempt may take before its delivery is taken as abandoned."""
        # Connect, then write the body and read the response, each bounded by its timeout.
        per_attempt = self.settings.connect_timeout + 2 * self.settings.read_timeout
        return timedelta(seconds=per_attempt + 5)

    def attempt(self, pending: PendingAttempt) -> AttemptResult:
        try:
            secret = self.box.decrypt(pending.secret_encrypted, pending.webhook_id)
        except (InvalidTag, ValueError):
            log.error(
                "webhook.secret_unreadable",
                webhook_id=pending.webhook_id,
                delivery_id=pending.delivery_id,
            )
            return AttemptResult(
                utcnow(),
                0,
                None,
                "The signing secret could not be decrypted (was the install's encryption key "
                "replaced?); delete the subscription and create it again",
            )
        headers = signed_headers(
            secret,
            pending.body,
            event=pending.event,
            delivery_id=pending.delivery_id,
            timestamp=int(time.time()),
        )
        result = self.sender.send(pending.url, pending.body, headers)
        fields = {
            "event_name": pending.event,
            "delivery_id": pending.delivery_id,
            "webhook_id": pending.webhook_id,
            "attempt": pending.number,
            "host": urlsplit(pending.url).hostname,
            "status": result.status_code,
            "duration_ms": result.duration_ms,
        }
        if result.success:
            log.info("webhook.delivered", **fields)
        else:
            log.warning("webhook.attempt_failed", error=result.error, **fields)
        return result

    def record(
        self, delivery_id: str, webhook_id: str, result: AttemptResult, *, retry: bool
    ) -> float | None:
        """Store an attempt and the delivery's new state; return the delay before a retry."""
        retry_delay: float | None = None
        now = utcnow()
        with Session(self.engine) as db:
            delivery = db.get(WebhookDelivery, delivery_id)
            if delivery is None:
                return None  # the subscription was deleted while the attempt ran
            number = delivery.attempt_count + 1
            db.add(
                WebhookAttempt(
                    delivery_id=delivery_id,
                    number=number,
                    started_at=result.started_at,
                    duration_ms=result.duration_ms,
                    status_code=result.status_code,
                    error=result.error,
                    success=result.success,
                )
            )
            schedule = self.settings.retry_schedule_seconds
            delivery.attempt_count = number
            delivery.lease_until = None
            if result.success:
                delivery.status, delivery.completed_at = DeliveryStatus.SUCCEEDED, now
                delivery.next_attempt_at = None
            elif retry and number <= len(schedule):
                retry_delay = schedule[number - 1]
                delivery.status = DeliveryStatus.PENDING
                delivery.next_attempt_at = now + timedelta(seconds=retry_delay)
            else:
                delivery.status, delivery.completed_at = DeliveryStatus.FAILED, now
                delivery.next_attempt_at = None
            failures = 0 if result.success else Webhook.failure_count + 1
            db.execute(
                update(Webhook)
                .where(Webhook.id == webhook_id)
                .values(last_fired_at=result.started_at, failure_count=failures)
            )
            db.commit()
        if retry_delay is None and not result.success and retry:
            log.warning("webhook.given_up", delivery_id=delivery_id, webhook_id=webhook_id)
        return retry_delay

    def ping(self, webhook_id: str) -> str | None:
        """Send `webhook.ping` once, now, and record it; return the delivery id.

        A ping is a real delivery (signed, checked, recorded) but it is not retried, so the
        caller sees the outcome of exactly one attempt.
        """
        now = utcnow()
        with Session(self.engine) as db:
            webhook = db.get(Webhook, webhook_id)
            if webhook is None:
                return None
            event_id = uuid.uuid4().hex
            data = {"webhook_id": webhook.id, "url": webhook.url, "events": list(webhook.events)}
            delivery = WebhookDelivery(
                id=uuid.uuid4().hex,
                webhook_id=webhook.id,
                event_id=event_id,
                event=PING,
                body=envelope(event_id, PING, now, data),
                status=DeliveryStatus.SENDING,
                attempt_count=0,
                lease_until=now + self.lease,
                created_at=now,
            )
            pending = PendingAttempt.of(webhook, delivery)
            db.add(delivery)
            db.commit()
        result = self.attempt(pending)
        self.record(pending.delivery_id, pending.webhook_id, result, retry=False)
        return pending.delivery_id
