"""Requests that miss the session or API-key cache together share one database load."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event
from starlette.testclient import TestClient

from tests.api.test_api_keys import create_key, reauth
from tests.conftest import CLIENT_ADDRESS, bearer
from wispanel.auth.principal import Principal
from wispanel.core.context import PanelContext

CONCURRENT_REQUESTS = 8
SESSION_READ = "FROM sessions"
KEY_READ = "FROM api_keys"


def _panel(client: TestClient) -> PanelContext:
    panel: PanelContext = client.app.state.panel  # type: ignore[attr-defined]
    return panel


@pytest.fixture
def selects(client: TestClient) -> Iterator[list[str]]:
    """The SELECT statements the API's engine runs while the test lasts."""
    statements: list[str] = []
    engine = _panel(client).engine.sync_engine

    def record(*arguments: Any) -> None:
        statement = str(arguments[2])
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield statements
    event.remove(engine, "before_cursor_execute", record)


def _authenticate_together(client: TestClient, credential: str) -> list[Principal]:
    authenticator = _panel(client).authenticator

    async def authenticate() -> list[Principal]:
        return await asyncio.gather(
            *(
                authenticator.authenticate(f"Bearer {credential}", CLIENT_ADDRESS[0])
                for _ in range(CONCURRENT_REQUESTS)
            )
        )

    principals: list[Principal] = client.portal.call(authenticate)  # type: ignore[union-attr]
    return principals


def test_session_misses_share_load(
    client: TestClient, admin_token: str, selects: list[str]
) -> None:
    _panel(client).authenticator.cache.invalidate_all()
    selects.clear()
    principals = _authenticate_together(client, admin_token)
    assert [principal.username for principal in principals] == ["admin"] * CONCURRENT_REQUESTS
    assert len({principal.session_id for principal in principals}) == 1
    session_reads = [statement for statement in selects if SESSION_READ in statement]
    assert len(session_reads) == 1


def test_api_key_misses_share_load(
    client: TestClient, admin_token: str, selects: list[str]
) -> None:
    reauth(client, admin_token)
    secret = str(create_key(client, admin_token)["api_key"])
    keys = _panel(client).authenticator.keys
    assert keys is not None
    keys.invalidate_all()
    selects.clear()
    principals = _authenticate_together(client, secret)
    assert [principal.kind for principal in principals] == ["api_key"] * CONCURRENT_REQUESTS
    key_reads = [statement for statement in selects if KEY_READ in statement]
    assert len(key_reads) == 1


def test_invalidate_during_load_not_cached(
    client: TestClient, admin_token: str, selects: list[str]
) -> None:
    panel = _panel(client)
    cache = panel.authenticator.cache
    session_id = panel.authenticator.codec.decode(admin_token).session_id

    async def load_then_invalidate() -> None:
        cache.invalidate_all()
        # A logout invalidates the session while a load that read it is still running.
        loading = asyncio.ensure_future(cache.get(session_id))
        await asyncio.sleep(0)
        cache.invalidate(session_id)
        await loading

    async def get() -> None:
        await cache.get(session_id)

    client.portal.call(load_then_invalidate)  # type: ignore[union-attr]
    selects.clear()
    client.portal.call(get)  # type: ignore[union-attr]
    # The load that ran across the invalidation left nothing behind, so this one reads again.
    assert len([statement for statement in selects if SESSION_READ in statement]) == 1
    assert client.get("/api/v1/auth/me", headers=bearer(admin_token)).status_code == 200
