"""Request and response bodies of the webhook endpoints."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from wispanel.core.schemas import Line, RequestModel, documented_as_required

# The WisPanel API shows "never" as the zero time for `last_fired_at`.
ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)
REDACTED = "<redacted>"
EventPattern = Annotated[Line, StringConstraints(max_length=64)]
Url = Annotated[Line, StringConstraints(max_length=2048)]
URL_DESCRIPTION = (
    "http or https URL the events are POSTed to. Its host must resolve to public addresses "
    "unless the admin setting webhooks.allow_private_targets is on"
)
EVENTS_DESCRIPTION = (
    "Event patterns: exact names (`user.created`), prefixes (`domain.*`) or `*` for all"
)


class WebhookCreate(RequestModel):
    model_config = ConfigDict(json_schema_extra=documented_as_required("url", "events"))

    url: Url | None = Field(
        default=None, description=URL_DESCRIPTION, examples=["https://billing.example.com/hooks"]
    )
    events: list[EventPattern] | None = Field(
        default=None, description=EVENTS_DESCRIPTION, examples=[["user.created", "domain.*"]]
    )
    enabled: bool = True


class WebhookUpdate(RequestModel):
    url: Url | None = Field(default=None, description=URL_DESCRIPTION)
    events: list[EventPattern] | None = Field(default=None, description=EVENTS_DESCRIPTION)
    enabled: bool | None = None


class WebhookOut(BaseModel):
    id: str = Field(examples=["9b1deb4d3b7d4bad9bdd2b0d7b3dcb6d"])
    owner: str = Field(description="Username of the subscription's owner", examples=["john"])
    url: str = Field(examples=["https://billing.example.com/hooks"])
    events: list[str] = Field(examples=[["user.created", "domain.*"]])
    secret: str = Field(
        description="HMAC-SHA256 signing secret (64 hex digits), returned only in the response "
        "to the create request; `<redacted>` afterwards",
        examples=[REDACTED],
    )
    enabled: bool
    created_at: datetime
    last_fired_at: datetime = Field(
        description="Time of the last delivery attempt; 0001-01-01T00:00:00Z when never",
        examples=["0001-01-01T00:00:00Z"],
    )
    failure_count: int = Field(
        description="Failed delivery attempts since the last successful one", examples=[0]
    )


class WebhookResponse(BaseModel):
    success: bool = True
    data: WebhookOut


class PageMeta(BaseModel):
    total: int = Field(examples=[1])
    per_page: int = Field(examples=[50])
    current_page: int = Field(examples=[1])
    last_page: int = Field(examples=[1])


class WebhookPage(BaseModel):
    success: bool = True
    data: list[WebhookOut]
    meta: PageMeta


class AttemptOut(BaseModel):
    number: int = Field(description="1 for the first attempt", examples=[1])
    started_at: datetime
    status_code: int | None = Field(
        description="HTTP status the receiver returned; null when no response arrived",
        examples=[200],
    )
    duration_ms: int = Field(examples=[84])
    error: str | None = Field(
        description="Why the attempt failed; null when it succeeded",
        examples=[None],
    )
    success: bool


class DeliveryOut(BaseModel):
    id: str = Field(
        description="Delivery id, sent as X-WisPanel-Delivery with every attempt",
        examples=["4c0f6a4e0c1b4f58a1d8f3c2b7e9d6a1"],
    )
    event: str = Field(examples=["user.created"])
    event_id: str = Field(description="The `id` field of the delivered body")
    status: str = Field(
        description="pending (waiting for its next attempt), sending, succeeded, failed "
        "(retries used up) or cancelled (the subscription was disabled)",
        examples=["succeeded"],
    )
    attempt_count: int = Field(examples=[1])
    next_attempt_at: datetime | None = Field(description="When the next retry is due, if any")
    created_at: datetime
    completed_at: datetime | None
    attempts: list[AttemptOut]


class DeliveryPage(BaseModel):
    success: bool = True
    data: list[DeliveryOut]
    meta: PageMeta


class DeliveryResponse(BaseModel):
    success: bool = True
    data: DeliveryOut
