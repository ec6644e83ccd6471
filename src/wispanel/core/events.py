"""The one place services publish what happened: an audit row and an event, committed together.

`publish` adds both rows to the caller's transaction, so an event exists exactly when its
change does. After the commit, subscribers (webhook delivery) are handed each event.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import event as orm_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from wispanel.core.database import utcnow
from wispanel.core.models import AuditEntry, EventRecord

if TYPE_CHECKING:
    from wispanel.auth.principal import Principal

log = structlog.get_logger(__name__)
PENDING_KEY = "wispanel.pending_events"


@dataclass(frozen=True, slots=True)
class AuditContext:
    """The actor of a change and where it came from, taken once from the request or job."""

    principal: Principal | None
    source_ip: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class PublishedEvent:
    id: str
    name: str
    occurred_at: datetime
    owner_id: int | None
    data: dict[str, Any] = field(default_factory=dict)


Subscriber = Callable[[PublishedEvent], None]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def audit(
        self,
        db: AsyncSession,
        context: AuditContext,
        action: str,
        *,
        object_type: str | None = None,
        object_id: str | None = None,
        owner_id: int | None = None,
        details: dict[str, Any] | None = None,
        actor: str | None = None,
    ) -> None:
        """Add an audit row to the caller's transaction (for actions that are not events)."""
        principal = context.principal
        db.add(
            AuditEntry(
                occurred_at=utcnow(),
                actor=actor or (principal.username if principal else None),
                actor_id=principal.user_id if principal else None,
                impersonator=principal.impersonator if principal else None,
                action=action,
                object_type=object_type,
                object_id=object_id,
                owner_id=owner_id,
                source_ip=context.source_ip,
                request_id=context.request_id,
                details=details,
            )
        )

    def publish(
        self,
        db: AsyncSession,
        context: AuditContext,
        name: str,
        data: dict[str, Any],
        *,
        object_type: str,
        object_id: str,
        owner_id: int | None,
    ) -> PublishedEvent:
        """Record an event and its audit row in the caller's transaction."""
        published = PublishedEvent(uuid.uuid4().hex, name, utcnow(), owner_id, dict(data))
        self.audit(
            db, context, name, object_type=object_type, object_id=object_id, owner_id=owner_id
        )
        db.add(
            EventRecord(
                id=published.id,
                name=name,
                occurred_at=published.occurred_at,
                owner_id=owner_id,
                data=published.data,
            )
        )
        self._queue_after_commit(db.sync_session, published)
        return published

    def _queue_after_commit(self, session: Session, published: PublishedEvent) -> None:
        pending: list[tuple[EventBus, PublishedEvent]] = session.info.setdefault(PENDING_KEY, [])
        pending.append((self, published))

    def deliver(self, published: PublishedEvent) -> None:
        """Hand a committed event to every subscriber; a failing one is logged, not raised."""
        for subscriber in self._subscribers:
            try:
                subscriber(published)
            except Exception:
                log.exception("event.subscriber_failed", event=published.name, id=published.id)


# One listener on the Session class covers every session. The pending list in a session's
# `info` contains the events its commit hands over, if any.
@orm_event.listens_for(Session, "after_commit")
def _dispatch(session: Session) -> None:
    pending: list[tuple[EventBus, PublishedEvent]] = session.info.pop(PENDING_KEY, [])
    for bus, published in pending:
        bus.deliver(published)


@orm_event.listens_for(Session, "after_rollback")
def _discard(session: Session) -> None:
    session.info.pop(PENDING_KEY, None)
