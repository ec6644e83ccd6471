"""Webhook delivery through the job queue to a real receiver on 127.0.0.1.

Events are published through the real event bus from a test-only route, with data shaped
like the panel's own `user.created` and `domain.created` events.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from tests.conftest import bearer, login
from tests.factories import create_account
from wispanel.app import create_app
from wispanel.auth.deps import Audit
from wispanel.core.config import Settings
from wispanel.core.context import PanelContext, get_panel
from wispanel.core.database import create_sync_engine, get_session, utcnow
from wispanel.core.models import EventRecord
from wispanel.users.models import Role, User
from wispanel.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery

Db = Annotated[AsyncSession, Depends(get_session)]
Panel = Annotated[PanelContext, Depends(get_panel)]
FAST_WEBHOOKS = {
    "allow_private_targets": True,
    "retry_schedule_seconds": [0.2, 0.2],
    "connect_timeout": 1,
    "read_timeout": 1,
}
USER_CREATED = {
    "username": "john",
    "email": "john@example.com",
    "role": "user",
    "package": "starter",
    "creator": "admin",
}
DOMAIN_CREATED = {
    "domain": "example.com",
    "owner": "john",
    "webserver": "nginx",
    "php_version": "8.2",
}
# The Huey worker polls an idle queue with a growing pause (up to 10 s), so a delivery may
# wait that long before it starts.
WAIT_SECONDS = 30


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class Receiver:
    """An HTTP server on 127.0.0.1 that records each POST and returns scripted statuses."""

    def __init__(self, statuses: list[int] | None = None, *, hang: bool = False) -> None:
        self.requests: list[Received] = []
        self.statuses: deque[int] = deque(statuses or [])
        self.hang = hang
        self.release = threading.Event()
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.arrived:
                    receiver.requests.append(
                        Received(self.path, dict(self.headers.items()), body, time.monotonic())
                    )
                    receiver.arrived.notify_all()
                if receiver.hang:
                    receiver.release.wait(30)
                    return
                status = receiver.statuses.popleft() if receiver.statuses else 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", f"{receiver.url}elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = WAIT_SECONDS) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"receiver got {len(self.requests)} of {count} requests")
                self.arrived.wait(remaining)
            return list(self.requests)


def hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def make_app(settings: Settings) -> FastAPI:
    """The panel app with a test route that publishes an event through the event bus."""
    app = create_app(settings)
    router = APIRouter(prefix="/api/v1/test", tags=["00 Meta"])

    @router.post("/events")
    async def publish(body: dict[str, Any], db: Db, panel: Panel, context: Audit) -> Any:
        published = panel.events.publish(
            db,
            context,
            body["name"],
            body["data"],
            object_type=body["name"].split(".", 1)[0],
            object_id=str(body.get("object_id", "object")),
            owner_id=body.get("owner_id"),
        )
        await db.commit()
        return {"id": published.id}

    app.include_router(router)
    return app


@pytest.fixture
def fast_settings(make_settings: Callable[..., Settings], settings: Settings) -> Settings:
    # Depending on `settings` empties the tables of a PostgreSQL or MariaDB test database.
    return make_settings(webhooks=FAST_WEBHOOKS)


@pytest.fixture
def detach_accounts(settings: Settings) -> Iterator[None]:
    """Clear reseller links after a test, because MariaDB can't empty `users` in one
    DELETE while rows still point at their parent row."""
    yield
    engine = create_sync_engine(settings.database_url)
    with engine.begin() as connection:
        connection.execute(update(User).values(parent_id=None))
    engine.dispose()


@pytest.fixture
def panel_client(fast_settings: Settings) -> Iterator[TestClient]:
    with TestClient(make_app(fast_settings)) as client:
        yield client


def subscribe(
    client: TestClient, token: str, url: str, events: list[str] | None = None
) -> dict[str, Any]:
    response = client.post(
        "/api/v1/webhooks",
        json={"url": url, "events": events or ["*"]},
        headers=bearer(token),
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def publish(
    client: TestClient, token: str, name: str, data: dict[str, Any], owner_id: int | None = 1
) -> str:
    response = client.post(
        "/api/v1/test/events",
        json={"name": name, "data": data, "owner_id": owner_id},
        headers=bearer(token),
    )
    assert response.status_code == 200, response.text
    event_id: str = response.json()["id"]
    return event_id


def deliveries(client: TestClient, token: str, webhook_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/webhooks/{webhook_id}/deliveries", headers=bearer(token))
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["data"]
    return items


def wait_for_delivery(
    client: TestClient, token: str, webhook_id: str, status: str, count: int = 1
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + WAIT_SECONDS
    items: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        items = deliveries(client, token, webhook_id)
        if len(items) >= count and all(item["status"] == status for item in items):
            return items
        time.sleep(0.1)
    raise AssertionError(f"deliveries did not reach {status}: {items}")


def assert_signed(request: Received, secret: str) -> None:
    timestamp = request.headers["X-WisPanel-Timestamp"]
    expected_v1 = hmac_hex(secret, request.body)
    expected_v2 = hmac_hex(secret, timestamp.encode() + b"." + request.body)
    assert request.headers["X-WisPanel-Signature"] == f"sha256={expected_v1}"
    assert request.headers["X-WisPanel-Signature-V2"] == f"t={timestamp},v1={expected_v2}"
    assert abs(int(timestamp) - time.time()) < 60


@pytest.mark.parametrize(
    ("event", "data"), [("user.created", USER_CREATED), ("domain.created", DOMAIN_CREATED)]
)
def test_event_delivered_signed(panel_client: TestClient, event: str, data: dict[str, Any]) -> None:
    token = login(panel_client)
    with Receiver() as receiver:
        webhook = subscribe(panel_client, token, f"{receiver.url}hooks", [event])
        event_id = publish(panel_client, token, event, data)
        (request,) = receiver.wait_for(1)
    assert request.path == "/hooks"
    assert_signed(request, webhook["secret"])
    assert request.headers["User-Agent"] == "WisPanel-Webhook/1"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-WisPanel-Event"] == event
    assert request.headers["Host"] == f"127.0.0.1:{receiver.port}"
    payload = json.loads(request.body)
    assert set(payload) == {"id", "event", "timestamp", "data"}
    assert payload["id"] == event_id
    assert payload["event"] == event
    assert payload["data"] == data
    assert payload["timestamp"].endswith("Z")
    (delivery,) = wait_for_delivery(panel_client, token, webhook["id"], "succeeded")
    assert request.headers["X-WisPanel-Delivery"] == delivery["id"]
    assert delivery["event"] == event
    assert delivery["event_id"] == event_id
    assert delivery["attempts"][0]["status_code"] == 200
    assert delivery["attempts"][0]["error"] is None
    shown = panel_client.get(f"/api/v1/webhooks/{webhook['id']}", headers=bearer(token)).json()
    assert shown["data"]["last_fired_at"] != "0001-01-01T00:00:00Z"
    assert shown["data"]["failure_count"] == 0


def test_patterns_select_events(panel_client: TestClient) -> None:
    token = login(panel_client)
    with Receiver() as receiver:
        domains = subscribe(panel_client, token, f"{receiver.url}domains", ["domain.*"])
        users = subscribe(panel_client, token, f"{receiver.url}users", ["user.created"])
        everything = subscribe(panel_client, token, f"{receiver.url}all", ["*"])
        publish(panel_client, token, "user.created", USER_CREATED)
        publish(panel_client, token, "domain.created", DOMAIN_CREATED)
        publish(panel_client, token, "dns.record.created", {"domain": "example.com"})
        received = receiver.wait_for(5)
        time.sleep(1)
    seen = sorted((item.path, item.headers["X-WisPanel-Event"]) for item in receiver.requests)
    assert len(received) == 5
    assert seen == [
        ("/all", "dns.record.created"),
        ("/all", "domain.created"),
        ("/all", "user.created"),
        ("/domains", "domain.created"),
        ("/users", "user.created"),
    ]
    assert [item["event"] for item in deliveries(panel_client, token, domains["id"])] == [
        "domain.created"
    ]
    assert len(deliveries(panel_client, token, users["id"])) == 1
    assert len(deliveries(panel_client, token, everything["id"])) == 3


@pytest.mark.usefixtures("detach_accounts")
def test_events_reach_owner_reseller_and_admin(
    panel_client: TestClient, fast_settings: Settings
) -> None:
    reseller_id = create_account(fast_settings, "reseller1", role=Role.RESELLER)
    customer_id = create_account(fast_settings, "customer1", parent_id=reseller_id)
    stranger_id = create_account(fast_settings, "stranger1")
    admin = login(panel_client)
    with Receiver() as receiver:
        subscribe(panel_client, admin, f"{receiver.url}admin")
        for name in ("reseller1", "customer1", "stranger1"):
            subscribe(
                panel_client, login(panel_client, name, "account-password"), receiver.url + name
            )
        publish(panel_client, admin, "domain.created", DOMAIN_CREATED, owner_id=customer_id)
        publish(panel_client, admin, "domain.created", DOMAIN_CREATED, owner_id=stranger_id)
        publish(panel_client, admin, "domain.created", DOMAIN_CREATED, owner_id=None)
        receiver.wait_for(6)
        time.sleep(1)
    paths = sorted(item.path for item in receiver.requests)
    assert paths == [
        "/admin",
        "/admin",
        "/admin",
        "/customer1",
        "/reseller1",
        "/stranger1",
    ]


def test_failing_receiver_retried_with_one_id(panel_client: TestClient) -> None:
    token = login(panel_client)
    with Receiver([500, 503]) as receiver:
        webhook = subscribe(panel_client, token, receiver.url, ["user.*"])
        publish(panel_client, token, "user.created", USER_CREATED)
        requests = receiver.wait_for(3)
        (delivery,) = wait_for_delivery(panel_client, token, webhook["id"], "succeeded")
    assert len(requests) == 3
    assert {request.headers["X-WisPanel-Delivery"] for request in requests} == {delivery["id"]}
    assert len({request.body for request in requests}) == 1
    for request in requests:
        assert_signed(request, webhook["secret"])
    attempts = delivery["attempts"]
    assert [attempt["number"] for attempt in attempts] == [1, 2, 3]
    assert [attempt["status_code"] for attempt in attempts] == [500, 503, 200]
    assert [attempt["success"] for attempt in attempts] == [False, False, True]
    assert "500" in attempts[0]["error"]
    assert attempts[2]["error"] is None
    assert all(attempt["duration_ms"] >= 0 for attempt in attempts)
    assert delivery["attempt_count"] == 3
    assert delivery["next_attempt_at"] is None
    shown = panel_client.get(f"/api/v1/webhooks/{webhook['id']}", headers=bearer(token)).json()
    assert shown["data"]["failure_count"] == 0


def test_retries_used_up_then_failed(panel_client: TestClient) -> None:
    token = login(panel_client)
    with Receiver([500, 500, 500, 500]) as receiver:
        webhook = subscribe(panel_client, token, receiver.url)
        publish(panel_client, token, "user.created", USER_CREATED)
        (delivery,) = wait_for_delivery(panel_client, token, webhook["id"], "failed")
        time.sleep(1.5)
    # The schedule of two retries allows three attempts in all.
    assert len(receiver.requests) == 3
    assert delivery["attempt_count"] == 3
    assert delivery["completed_at"] is not None
    shown = panel_client.get(f"/api/v1/webhooks/{webhook['id']}", headers=bearer(token)).json()
    assert shown["data"]["failure_count"] == 3


def test_silent_receiver_given_up(
    make_settings: Callable[..., Settings], settings: Settings
) -> None:
    quiet = make_settings(
        webhooks={**FAST_WEBHOOKS, "retry_schedule_seconds": [], "read_timeout": 0.5}
    )
    with TestClient(make_app(quiet)) as client, Receiver(hang=True) as receiver:
        token = login(client)
        webhook = subscribe(client, token, receiver.url)
        publish(client, token, "user.created", USER_CREATED)
        (delivery,) = wait_for_delivery(client, token, webhook["id"], "failed")
    (attempt,) = delivery["attempts"]
    assert attempt["status_code"] is None
    assert attempt["error"] == "Timed out waiting for 127.0.0.1 to respond after 0.5 s"
    assert 400 <= attempt["duration_ms"] < 3000
    assert len(receiver.requests) == 1


def test_redirect_not_followed(panel_client: TestClient) -> None:
    token = login(panel_client)
    with Receiver([302]) as receiver:
        webhook = subscribe(panel_client, token, receiver.url)
        response = panel_client.post(
            f"/api/v1/webhooks/{webhook['id']}/test", headers=bearer(token)
        )
    (attempt,) = response.json()["data"]["attempts"]
    assert attempt["status_code"] == 302
    assert "redirect" in attempt["error"]
    assert [request.path for request in receiver.requests] == ["/"]


def test_pending_retry_sent_after_restart(
    make_settings: Callable[..., Settings], settings: Settings
) -> None:
    slow_retry = make_settings(webhooks={**FAST_WEBHOOKS, "retry_schedule_seconds": [3]})
    with Receiver([500]) as receiver:
        with TestClient(make_app(slow_retry)) as first:
            token = login(first)
            webhook = subscribe(first, token, receiver.url)
            publish(first, token, "user.created", USER_CREATED)
            receiver.wait_for(1)
            (pending,) = wait_for_delivery(first, token, webhook["id"], "pending")
        # The panel has stopped with the retry scheduled three seconds after the failure.
        assert len(receiver.requests) == 1
        with TestClient(make_app(slow_retry)) as second:
            token = login(second)
            (delivered,) = wait_for_delivery(second, token, webhook["id"], "succeeded")
            requests = receiver.wait_for(2)
    assert delivered["id"] == pending["id"]
    assert [attempt["status_code"] for attempt in delivered["attempts"]] == [500, 200]
    assert {request.headers["X-WisPanel-Delivery"] for request in requests} == {pending["id"]}


def test_unsent_event_delivered_after_restart(
    make_settings: Callable[..., Settings], settings: Settings
) -> None:
    stopped = make_settings(webhooks=FAST_WEBHOOKS, jobs={"run_in_process": False})
    running = make_settings(webhooks=FAST_WEBHOOKS)
    with Receiver() as receiver:
        with TestClient(make_app(stopped)) as first:
            token = login(first)
            webhook = subscribe(first, token, receiver.url)
            publish(first, token, "domain.created", DOMAIN_CREATED)
        # An event committed by a process that died before its subscribers ran.
        engine = create_sync_engine(running.database_url)
        with Session(engine) as db:
            db.add(
                EventRecord(
                    id="0" * 31 + "1",
                    name="user.created",
                    occurred_at=utcnow(),
                    owner_id=1,
                    data=USER_CREATED,
                )
            )
            db.commit()
        engine.dispose()
        assert receiver.requests == []
        with TestClient(make_app(running)) as second:
            token = login(second)
            items = wait_for_delivery(second, token, webhook["id"], "succeeded", count=2)
            receiver.wait_for(2)
    assert sorted(item["event"] for item in items) == ["domain.created", "user.created"]
    assert sorted(request.headers["X-WisPanel-Event"] for request in receiver.requests) == [
        "domain.created",
        "user.created",
    ]


def test_attempt_cut_off_resent_after_restart(fast_settings: Settings) -> None:
    with Receiver() as receiver:
        with TestClient(make_app(fast_settings)) as first:
            token = login(first)
            webhook = subscribe(first, token, receiver.url)
            publish(first, token, "user.created", USER_CREATED)
            (done,) = wait_for_delivery(first, token, webhook["id"], "succeeded")
        # As if the process had died during the attempt: still leased, nothing recorded.
        engine = create_sync_engine(fast_settings.database_url)
        with Session(engine) as db:
            db.execute(delete(WebhookAttempt))
            db.execute(
                update(WebhookDelivery).values(
                    status="sending",
                    attempt_count=0,
                    completed_at=None,
                    lease_until=utcnow() + timedelta(seconds=2),
                )
            )
            db.commit()
        engine.dispose()
        with TestClient(make_app(fast_settings)) as second:
            (again,) = wait_for_delivery(second, login(second), webhook["id"], "succeeded")
            requests = receiver.wait_for(2)
    assert again["id"] == done["id"]
    assert len(again["attempts"]) == 1
    assert {request.headers["X-WisPanel-Delivery"] for request in requests} == {done["id"]}


def test_ping_sent_now(panel_client: TestClient) -> None:
    token = login(panel_client)
    with Receiver() as receiver:
        webhook = subscribe(panel_client, token, receiver.url, ["domain.created"])
        response = panel_client.post(
            f"/api/v1/webhooks/{webhook['id']}/test", headers=bearer(token)
        )
    assert response.status_code == 200, response.text
    delivery = response.json()["data"]
    assert delivery["event"] == "webhook.ping"
    assert delivery["status"] == "succeeded"
    (attempt,) = delivery["attempts"]
    assert attempt["status_code"] == 200
    (request,) = receiver.requests
    assert_signed(request, webhook["secret"])
    assert request.headers["X-WisPanel-Delivery"] == delivery["id"]
    payload = json.loads(request.body)
    assert payload["event"] == "webhook.ping"
    assert payload["data"]["webhook_id"] == webhook["id"]
    assert deliveries(panel_client, token, webhook["id"])[0]["id"] == delivery["id"]


def test_failed_ping_not_retried(panel_client: TestClient) -> None:
    token = login(panel_client)
    with Receiver([500, 500]) as receiver:
        webhook = subscribe(panel_client, token, receiver.url)
        response = panel_client.post(
            f"/api/v1/webhooks/{webhook['id']}/test", headers=bearer(token)
        )
        time.sleep(1.5)
    delivery = response.json()["data"]
    assert delivery["status"] == "failed"
    assert delivery["attempts"][0]["status_code"] == 500
    assert len(receiver.requests) == 1
    shown = panel_client.get(f"/api/v1/webhooks/{webhook['id']}", headers=bearer(token)).json()
    assert shown["data"]["failure_count"] == 1


def test_disabled_subscription_gets_nothing(panel_client: TestClient) -> None:
    token = login(panel_client)
    with Receiver() as receiver:
        webhook = subscribe(panel_client, token, receiver.url)
        panel_client.patch(
            f"/api/v1/webhooks/{webhook['id']}", json={"enabled": False}, headers=bearer(token)
        )
        publish(panel_client, token, "user.created", USER_CREATED)
        live = subscribe(panel_client, token, f"{receiver.url}live")
        publish(panel_client, token, "user.created", USER_CREATED)
        receiver.wait_for(1)
        time.sleep(1)
    assert [request.path for request in receiver.requests] == ["/live"]
    assert deliveries(panel_client, token, webhook["id"]) == []
    assert len(deliveries(panel_client, token, live["id"])) == 1


def test_delivery_time_check_refuses_private(
    make_settings: Callable[..., Settings], settings: Settings
) -> None:
    with Receiver() as receiver:
        with TestClient(make_app(make_settings(webhooks=FAST_WEBHOOKS))) as first:
            token = login(first)
            webhook = subscribe(first, token, receiver.url)
        strict = make_settings(webhooks={**FAST_WEBHOOKS, "allow_private_targets": False})
        with TestClient(make_app(strict)) as second:
            token = login(second)
            response = second.post(f"/api/v1/webhooks/{webhook['id']}/test", headers=bearer(token))
    (attempt,) = response.json()["data"]["attempts"]
    assert attempt["status_code"] is None
    assert attempt["error"] == (
        "Refused: 127.0.0.1 resolves to 127.0.0.1, a loopback address; nothing was sent"
    )
    assert receiver.requests == []


def test_secret_encrypted_at_rest(panel_client: TestClient, fast_settings: Settings) -> None:
    token = login(panel_client)
    webhook = subscribe(panel_client, token, "http://127.0.0.1:9/")
    engine = create_sync_engine(fast_settings.database_url)
    with Session(engine) as db:
        stored = db.scalars(select(Webhook.secret_encrypted)).one()
    engine.dispose()
    assert webhook["secret"] not in stored
    assert len(webhook["secret"]) == 64
