"""The event point (audit row and event committed with the change) and opt-in pagination."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from tests.conftest import CLIENT_ADDRESS, bearer, login
from tests.factories import create_account
from wispanel.app import create_app
from wispanel.auth.deps import Audit, CurrentPrincipal
from wispanel.core.config import Settings
from wispanel.core.context import PanelContext, get_panel
from wispanel.core.database import get_session
from wispanel.core.events import PublishedEvent
from wispanel.core.models import AuditEntry, EventRecord
from wispanel.core.pagination import PageRequest, page_request, paginate
from wispanel.users.models import User
from wispanel.users.scope import account_filter

Db = Annotated[AsyncSession, Depends(get_session)]
Panel = Annotated[PanelContext, Depends(get_panel)]


@pytest.fixture
def app_client(settings: Settings) -> Iterator[tuple[TestClient, list[PublishedEvent]]]:
    app = create_app(settings)
    received: list[PublishedEvent] = []
    app.state.panel.events.subscribe(received.append)
    router = APIRouter(prefix="/api/v1/test", tags=["00 Meta"])

    @router.post("/publish")
    async def publish(db: Db, panel: Panel, context: Audit, commit: bool = True) -> dict[str, Any]:
        panel.events.publish(
            db,
            context,
            "user.created",
            {"username": "john", "email": "john@example.com"},
            object_type="user",
            object_id="john",
            owner_id=context.principal.user_id if context.principal else None,
        )
        counts = {
            "events": await db.scalar(select(func.count()).select_from(EventRecord)),
        }
        if commit:
            await db.commit()
        else:
            await db.rollback()
        return counts

    @router.get("/accounts")
    async def accounts(
        db: Db, principal: CurrentPrincipal, page: Annotated[PageRequest, Depends(page_request)]
    ) -> Any:
        statement = select(User).where(account_filter(principal)).order_by(User.created_at, User.id)
        return await paginate(db, statement, page, lambda user: user.username)

    app.include_router(router)
    with TestClient(app, client=CLIENT_ADDRESS) as client:
        yield client, received


def _count(client: TestClient, model: type) -> int:
    panel: PanelContext = client.app.state.panel  # type: ignore[attr-defined]
    with Session(panel.sync_engine) as db:
        return int(db.scalar(select(func.count()).select_from(model)) or 0)


def test_event_committed_with_change(app_client: tuple[TestClient, list[PublishedEvent]]) -> None:
    client, received = app_client
    response = client.post("/api/v1/test/publish", headers=bearer(login(client)))
    assert response.status_code == 200
    assert [event.name for event in received] == ["user.created"]
    assert received[0].data == {"username": "john", "email": "john@example.com"}
    assert len(received[0].id) == 32
    assert _count(client, EventRecord) == 1
    panel: PanelContext = client.app.state.panel  # type: ignore[attr-defined]
    with Session(panel.sync_engine) as db:
        entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "user.created")).one()
    assert entry.actor == "admin"
    assert entry.object_id == "john"
    assert entry.source_ip == "127.0.0.1"
    assert entry.request_id == response.headers["x-request-id"]


def test_rolled_back_event_vanishes(app_client: tuple[TestClient, list[PublishedEvent]]) -> None:
    client, received = app_client
    response = client.post("/api/v1/test/publish?commit=false", headers=bearer(login(client)))
    assert response.status_code == 200
    assert response.json()["events"] == 1  # visible inside the transaction
    assert received == []
    assert _count(client, EventRecord) == 0


def test_list_is_bare_without_page_parameters(
    app_client: tuple[TestClient, list[PublishedEvent]], settings: Settings
) -> None:
    client, _ = app_client
    for index in range(5):
        create_account(settings, f"user{index}")
    response = client.get("/api/v1/test/accounts", headers=bearer(login(client)))
    assert response.json() == ["admin", "user0", "user1", "user2", "user3", "user4"]


def test_pages_cover_every_item_once(
    app_client: tuple[TestClient, list[PublishedEvent]], settings: Settings
) -> None:
    client, _ = app_client
    for index in range(6):
        create_account(settings, f"user{index}")
    token = login(client)
    seen: list[str] = []
    for page in (1, 2, 3):
        body = client.get(
            f"/api/v1/test/accounts?page={page}&per_page=3", headers=bearer(token)
        ).json()
        assert body["success"] is True
        assert body["meta"] == {"total": 7, "per_page": 3, "current_page": page, "last_page": 3}
        seen += body["data"]
    assert seen == ["admin"] + [f"user{index}" for index in range(6)]
    default = client.get("/api/v1/test/accounts?page=1", headers=bearer(token)).json()
    assert default["meta"]["per_page"] == 50


def test_page_parameters_validated(app_client: tuple[TestClient, list[PublishedEvent]]) -> None:
    client, _ = app_client
    token = login(client)
    for query in ("per_page=201", "per_page=0", "page=0", "page=abc"):
        response = client.get(f"/api/v1/test/accounts?{query}", headers=bearer(token))
        assert response.status_code == 400, query
        assert response.json()["code"] == "VALIDATION_ERROR"
