"""Subscriptions: create, read, change and delete them, in the caller's scope."""

from __future__ import annotations

import uuid
from typing import Any

import anyio
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from wispanel.auth.principal import Principal
from wispanel.core.context import PanelContext
from wispanel.core.database import utcnow
from wispanel.core.errors import NotFound, ValidationFailed
from wispanel.core.events import AuditContext
from wispanel.core.pagination import PageRequest, paginate
from wispanel.users.scope import owner_filter
from wispanel.webhooks.addresses import check_url, parse_url
from wispanel.webhooks.delivery import Deliverer
from wispanel.webhooks.models import Webhook, WebhookDelivery
from wispanel.webhooks.patterns import normalise_patterns
from wispanel.webhooks.schemas import (
    REDACTED,
    ZERO_TIME,
    AttemptOut,
    DeliveryOut,
    WebhookCreate,
    WebhookOut,
    WebhookUpdate,
)
from wispanel.webhooks.signing import SecretBox, new_secret


def webhook_out(webhook: Webhook, owner: str, *, secret: str = REDACTED) -> WebhookOut:
    return WebhookOut(
        id=webhook.id,
        owner=owner,
        url=webhook.url,
        events=list(webhook.events),
        secret=secret,
        enabled=webhook.enabled,
        created_at=webhook.created_at,
        last_fired_at=webhook.last_fired_at or ZERO_TIME,
        failure_count=webhook.failure_count,
    )


def delivery_out(delivery: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut(
        id=delivery.id,
        event=delivery.event,
        event_id=delivery.event_id,
        status=delivery.status,
        attempt_count=delivery.attempt_count,
        next_attempt_at=delivery.next_attempt_at,
        created_at=delivery.created_at,
        completed_at=delivery.completed_at,
        attempts=[
            AttemptOut(
                number=attempt.number,
                started_at=attempt.started_at,
                status_code=attempt.status_code,
                duration_ms=attempt.duration_ms,
                error=attempt.error,
                success=attempt.success,
            )
            for attempt in delivery.attempts
        ],
    )


def secret_box(panel: PanelContext) -> SecretBox:
    return SecretBox(panel.secrets.encryption_key)


async def _checked_url(panel: PanelContext, url: str) -> str:
    """Resolve and check the URL's host in a thread, since resolving blocks."""
    allow_private = panel.settings.webhooks.allow_private_targets
    return await anyio.to_thread.run_sync(lambda: check_url(url, allow_private=allow_private))


async def _get_in_scope(db: AsyncSession, principal: Principal, webhook_id: str) -> Webhook:
    webhook = (
        await db.scalars(
            select(Webhook)
            .options(joinedload(Webhook.owner))
            .where(Webhook.id == webhook_id, owner_filter(principal, Webhook.owner_id))
        )
    ).first()
    if webhook is None:
        raise NotFound(f"Webhook {webhook_id} not found")
    return webhook


async def create_webhook(
    db: AsyncSession,
    *,
    panel: PanelContext,
    principal: Principal,
    context: AuditContext,
    body: WebhookCreate,
) -> WebhookOut:
    parse_url(body.url)
    events = normalise_patterns(body.events)
    assert body.url is not None  # noqa: S101 - parse_url rejects None
    url = await _checked_url(panel, body.url.strip())
    secret = new_secret()
    webhook_id = uuid.uuid4().hex
    webhook = Webhook(
        id=webhook_id,
        owner_id=principal.user_id,
        url=url,
        events=events,
        secret_encrypted=secret_box(panel).encrypt(secret, webhook_id),
        enabled=body.enabled,
        created_at=utcnow(),
        last_fired_at=None,
        failure_count=0,
    )
    db.add(webhook)
    panel.events.audit(
        db,
        context,
        "webhook.created",
        object_type="webhook",
        object_id=webhook_id,
        owner_id=principal.user_id,
        details={"url": url, "events": events},
    )
    await db.commit()
    return webhook_out(webhook, principal.username, secret=secret)


async def list_webhooks(
    db: AsyncSession, principal: Principal, page: PageRequest
) -> list[Any] | dict[str, Any]:
    statement = (
        select(Webhook)
        .options(joinedload(Webhook.owner))
        .where(owner_filter(principal, Webhook.owner_id))
        .order_by(Webhook.created_at, Webhook.id)
    )
    return await paginate(db, statement, page, _redacted, always=True)


def _redacted(webhook: Webhook) -> WebhookOut:
    return webhook_out(webhook, webhook.owner.username)


async def get_webhook(db: AsyncSession, principal: Principal, webhook_id: str) -> WebhookOut:
    webhook = await _get_in_scope(db, principal, webhook_id)
    return _redacted(webhook)


async def update_webhook(
    db: AsyncSession,
    *,
    panel: PanelContext,
    principal: Principal,
    context: AuditContext,
    webhook_id: str,
    body: WebhookUpdate,
) -> WebhookOut:
    changed = body.model_fields_set
    if not changed:
        raise ValidationFailed(
            "Send at least one of url, events or enabled", details={"body": ["empty"]}
        )
    webhook = await _get_in_scope(db, principal, webhook_id)

    # Every field is checked before the slower lookup of the URL's host.
    if "url" in changed:
        parse_url(body.url)
    events = normalise_patterns(body.events) if "events" in changed else None
    if "enabled" in changed and body.enabled is None:
        raise ValidationFailed("enabled must be true or false", details={"enabled": ["null"]})
    if "url" in changed:
        assert body.url is not None  # noqa: S101 - parse_url rejects None
        webhook.url = await _checked_url(panel, body.url.strip())

    if events is not None:
        webhook.events = events
    if body.enabled is not None:
        webhook.enabled = body.enabled
    panel.events.audit(
        db,
        context,
        "webhook.updated",
        object_type="webhook",
        object_id=webhook_id,
        owner_id=webhook.owner_id,
        details=body.model_dump(exclude_unset=True),
    )
    owner = webhook.owner.username
    await db.commit()
    return webhook_out(webhook, owner)


async def delete_webhook(
    db: AsyncSession,
    *,
    panel: PanelContext,
    principal: Principal,
    context: AuditContext,
    webhook_id: str,
) -> None:
    webhook = await _get_in_scope(db, principal, webhook_id)
    owner_id = webhook.owner_id
    # Deliveries and their attempts go with it (ON DELETE CASCADE).
    await db.execute(delete(Webhook).where(Webhook.id == webhook_id))
    panel.events.audit(
        db,
        context,
        "webhook.deleted",
        object_type="webhook",
        object_id=webhook_id,
        owner_id=owner_id,
    )
    await db.commit()


async def list_deliveries(
    db: AsyncSession, principal: Principal, webhook_id: str, page: PageRequest
) -> list[Any] | dict[str, Any]:
    await _get_in_scope(db, principal, webhook_id)
    statement = (
        select(WebhookDelivery)
        .options(selectinload(WebhookDelivery.attempts))
        .where(WebhookDelivery.webhook_id == webhook_id)
        .order_by(WebhookDelivery.created_at, WebhookDelivery.id)
    )
    return await paginate(db, statement, page, delivery_out, always=True)


async def send_ping(
    db: AsyncSession, panel: PanelContext, principal: Principal, webhook_id: str
) -> DeliveryOut:
    """Send `webhook.ping` through the delivery path now and return its one attempt."""
    await _get_in_scope(db, principal, webhook_id)
    # End the read transaction, so the delivery written by the sending thread is visible.
    await db.commit()
    deliverer = Deliverer(panel.sync_engine, panel.settings.webhooks, secret_box(panel))
    delivery_id = await anyio.to_thread.run_sync(deliverer.ping, webhook_id)
    if delivery_id is None:
        raise NotFound(f"Webhook {webhook_id} not found")
    delivery = (
        await db.scalars(
            select(WebhookDelivery)
            .options(selectinload(WebhookDelivery.attempts))
            .where(WebhookDelivery.id == delivery_id)
        )
    ).one()
    return delivery_out(delivery)
