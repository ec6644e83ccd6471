"""Routes of webhook subscriptions, their deliveries and the ping."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.auth.deps import Audit, CurrentPrincipal
from wispanel.auth.scopes import area_scope
from wispanel.core.context import PanelContext, get_panel
from wispanel.core.database import get_session
from wispanel.core.pagination import PageRequest, page_request
from wispanel.core.schemas import MessageResponse
from wispanel.webhooks import service
from wispanel.webhooks.schemas import (
    DeliveryPage,
    DeliveryResponse,
    WebhookCreate,
    WebhookPage,
    WebhookResponse,
    WebhookUpdate,
)

router = APIRouter(
    prefix="/api/v1/webhooks", tags=["15 Webhooks"], dependencies=[area_scope("webhooks")]
)
Db = Annotated[AsyncSession, Depends(get_session)]
Panel = Annotated[PanelContext, Depends(get_panel)]
Page = Annotated[PageRequest, Depends(page_request)]
WebhookId = Annotated[str, Path(pattern="^[0-9a-f]{32}$", description="Webhook id (32 hex digits)")]


@router.get(
    "",
    operation_id="listWebhooks",
    summary="Subscriptions in scope (paginated envelope)",
    description="Always the paginated envelope (`per_page` 50 by default), in creation order. "
    "Admins see every subscription, resellers their own and their accounts', users their own. "
    "Secrets are redacted.",
    response_model=WebhookPage,
)
async def list_webhooks(db: Db, principal: CurrentPrincipal, page: Page) -> Any:
    return await service.list_webhooks(db, principal, page)


@router.post(
    "",
    operation_id="createWebhook",
    summary="Subscribe a URL to event patterns; secret shown once",
    description="Deliveries POST `{id, event, timestamp, data}` (`id` is the event's id) with "
    "`X-WisPanel-Event`, `X-WisPanel-Delivery` (the same for every retry), "
    "`X-WisPanel-Timestamp` (Unix seconds of the attempt), "
    "`X-WisPanel-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>` and "
    "`X-WisPanel-Signature-V2: t=<timestamp>,v1=<hex HMAC-SHA256(secret, "
    '"<timestamp>.<raw body>")>`; the HMAC key is the 64-character secret. Any 2xx counts as '
    "delivered; redirects are not followed. Failed attempts are retried after 1 s, 5 s, "
    "25 s, 2 min, 10 min, 1 h and 6 h (the admin's retry schedule). Admins receive every "
    "event, resellers those about their own and their accounts' objects, users those about "
    "their own, and a subscription receives only events that occur after it was created.",
    status_code=201,
    response_model=WebhookResponse,
)
async def create_webhook(
    db: Db,
    panel: Panel,
    principal: CurrentPrincipal,
    context: Audit,
    body: Annotated[WebhookCreate, Body()],
) -> WebhookResponse:
    return WebhookResponse(
        data=await service.create_webhook(
            db, panel=panel, principal=principal, context=context, body=body
        )
    )


@router.get(
    "/{webhook_id}",
    operation_id="getWebhook",
    summary="One subscription (secret redacted)",
    response_model=WebhookResponse,
)
async def get_webhook(
    db: Db, principal: CurrentPrincipal, webhook_id: WebhookId
) -> WebhookResponse:
    return WebhookResponse(data=await service.get_webhook(db, principal, webhook_id))


@router.patch(
    "/{webhook_id}",
    operation_id="updateWebhook",
    summary="Change url, events or enabled",
    description="Only the fields sent change. A disabled subscription receives no new "
    "events, and its pending retries are cancelled.",
    response_model=WebhookResponse,
)
async def update_webhook(
    *,
    db: Db,
    panel: Panel,
    principal: CurrentPrincipal,
    context: Audit,
    webhook_id: WebhookId,
    body: Annotated[WebhookUpdate, Body()],
) -> WebhookResponse:
    return WebhookResponse(
        data=await service.update_webhook(
            db, panel=panel, principal=principal, context=context, webhook_id=webhook_id, body=body
        )
    )


@router.delete(
    "/{webhook_id}",
    operation_id="deleteWebhook",
    summary="Remove a subscription",
    description="Its deliveries and their attempts are deleted with it.",
    response_model=MessageResponse,
)
async def delete_webhook(
    db: Db, panel: Panel, principal: CurrentPrincipal, context: Audit, webhook_id: WebhookId
) -> MessageResponse:
    await service.delete_webhook(
        db, panel=panel, principal=principal, context=context, webhook_id=webhook_id
    )
    return MessageResponse(message="Webhook deleted")


@router.get(
    "/{webhook_id}/deliveries",
    operation_id="listWebhookDeliveries",
    summary="Delivery attempts with status and timing",
    description="Always the paginated envelope (`per_page` 50 by default), oldest first: one "
    "item per delivery (an event sent to this subscription), each with every attempt's "
    "status code, duration and error. Finished deliveries are kept for the admin's "
    "retention period (30 days by default).",
    response_model=DeliveryPage,
)
async def list_deliveries(
    db: Db, principal: CurrentPrincipal, webhook_id: WebhookId, page: Page
) -> Any:
    return await service.list_deliveries(db, principal, webhook_id, page)


@router.post(
    "/{webhook_id}/test",
    operation_id="testWebhook",
    summary="Send a ping event now",
    description="Sends `webhook.ping` (data: `webhook_id`, `url`, `events`) at once, signed "
    "like every delivery, whatever the subscription's patterns and even when it is "
    "disabled. The answer is the recorded delivery with its one attempt; a ping is not "
    "retried.",
    response_model=DeliveryResponse,
)
async def test_webhook(
    db: Db, panel: Panel, principal: CurrentPrincipal, webhook_id: WebhookId
) -> DeliveryResponse:
    return DeliveryResponse(data=await service.send_ping(db, panel, principal, webhook_id))
