"""Hosting accounts: create, read, change, delete, suspend, sessions, hooks and disk usage."""

from __future__ import annotations

import stat
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD, bearer, login
from wispanel.core.config import Settings
from wispanel.core.database import create_sync_engine
from wispanel.core.errors import ApplyFailed
from wispanel.core.models import EventRecord
from wispanel.users import lifecycle
from wispanel.users.models import User
from wispanel.users.usage import every, queue_measurement

PASSWORD = "account-password"


def confirm_password(client: TestClient, token: str, password: str) -> None:
    """Confirm the session's password, which deletions and own password changes need."""
    response = client.post(
        "/api/v1/auth/reauth", json={"password": password}, headers=bearer(token)
    )
    assert response.status_code == 200, response.text


@pytest.fixture(autouse=True)
def detach_accounts(settings: Settings) -> Iterator[None]:
    """Clear reseller links after each test.

    MariaDB checks the self-referencing `parent_id` key row by row, so the suite's
    `DELETE FROM users` between tests fails while accounts still point at a reseller.
    """
    yield
    engine = create_sync_engine(settings.database_url)
    with engine.begin() as connection:
        connection.execute(update(User).values(parent_id=None))
    engine.dispose()


@pytest.fixture
def admin_token(client: TestClient) -> str:
    """An admin session token that has just confirmed its password."""
    token = login(client)
    confirm_password(client, token, ADMIN_PASSWORD)
    return token


def create_user(client: TestClient, token: str, username: str, **extra: Any) -> dict[str, Any]:
    body = {"username": username, "email": f"{username}@example.com", "password": PASSWORD}
    response = client.post("/api/v1/users", json={**body, **extra}, headers=bearer(token))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def events(settings: Settings, name: str) -> list[dict[str, Any]]:
    engine = create_sync_engine(settings.database_url)
    with Session(engine) as db:
        rows = db.scalars(
            select(EventRecord).where(EventRecord.name == name).order_by(EventRecord.occurred_at)
        ).all()
        found = [dict(row.data) for row in rows]
    engine.dispose()
    return found


def home(settings: Settings, username: str) -> Path:
    return settings.data_dir / "home" / username


def test_create_builds_home_tree(client: TestClient, admin_token: str, settings: Settings) -> None:
    body = create_user(client, admin_token, "john")
    assert body["username"] == "john"
    assert body["role"] == "user"
    assert body["package"] == "default"
    assert body["status"] == "active"
    assert body["limits"]["max_domains"] == -1
    assert body["features"]["ssh"] is False
    root = home(settings, "john")
    assert stat.S_IMODE(root.stat().st_mode) == 0o750
    assert sorted(path.name for path in root.iterdir()) == [
        "backups",
        "domains",
        "logs",
        "mail",
        "tmp",
    ]
    assert events(settings, "user.created") == [
        {
            "username": "john",
            "email": "john@example.com",
            "role": "user",
            "package": "default",
            "creator": "admin",
        }
    ]


def test_new_account_can_log_in(client: TestClient, admin_token: str) -> None:
    create_user(client, admin_token, "john")
    token = login(client, "john", PASSWORD)
    me = client.get("/api/v1/users/john", headers=bearer(token))
    assert me.status_code == 200
    assert me.json()["email"] == "john@example.com"


@pytest.mark.parametrize("missing", ["username", "email", "password"])
def test_create_requires_fields(client: TestClient, admin_token: str, missing: str) -> None:
    body = {"username": "john", "email": "john@example.com", "password": PASSWORD}
    body[missing] = ""
    response = client.post("/api/v1/users", json=body, headers=bearer(admin_token))
    assert response.status_code == 400
    assert response.json()["message"] == "Username, email, and password are required"
    assert response.json()["details"] == {missing: ["required"]}


@pytest.mark.parametrize(
    ("username", "message"),
    [
        ("Bad;Name", "must start with a lowercase letter"),
        ("../etc", "must start with a lowercase letter"),
        ("root", "is reserved"),
        ("mysql", "is reserved"),
        ("systemdx", "is reserved"),
        ("a", "Username must be at least 2 characters"),
        ("a" * 40, "at most 16 characters"),
        ("john\nroot", "must start with a lowercase letter"),
        ("John", "must start with a lowercase letter"),
        ("1john", "must start with a lowercase letter"),
    ],
)
def test_bad_usernames_rejected(
    client: TestClient, admin_token: str, settings: Settings, username: str, message: str
) -> None:
    body = {"username": username, "email": "x@example.com", "password": PASSWORD}
    response = client.post("/api/v1/users", json=body, headers=bearer(admin_token))
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert message in response.json()["message"]
    assert not (settings.data_dir / "home").exists() or not any(
        (settings.data_dir / "home").iterdir()
    )


def test_duplicates_rejected(client: TestClient, admin_token: str) -> None:
    create_user(client, admin_token, "john")
    same_name = {"username": "john", "email": "other@example.com", "password": PASSWORD}
    response = client.post("/api/v1/users", json=same_name, headers=bearer(admin_token))
    assert response.status_code == 409
    assert response.json()["details"] == {"username": ["taken"]}
    same_email = {"username": "jane", "email": "JOHN@example.com", "password": PASSWORD}
    response = client.post("/api/v1/users", json=same_email, headers=bearer(admin_token))
    assert response.status_code == 409
    assert response.json()["details"] == {"email": ["taken"]}


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "john@exa mple.com", "x" * 300])
def test_invalid_email_rejected(client: TestClient, admin_token: str, email: str) -> None:
    body = {"username": "john", "email": email, "password": PASSWORD}
    response = client.post("/api/v1/users", json=body, headers=bearer(admin_token))
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_short_password_rejected(client: TestClient, admin_token: str) -> None:
    body = {"username": "john", "email": "john@example.com", "password": "short"}
    response = client.post("/api/v1/users", json=body, headers=bearer(admin_token))
    assert response.status_code == 400
    assert "at least 8 characters" in response.json()["message"]


def test_unknown_package_rejected(client: TestClient, admin_token: str) -> None:
    body = {"username": "john", "email": "j@example.com", "password": PASSWORD, "package": "gold"}
    response = client.post("/api/v1/users", json=body, headers=bearer(admin_token))
    assert response.status_code == 400
    assert response.json()["details"] == {"package": ["not found"]}


def test_user_role_cannot_create(client: TestClient, admin_token: str) -> None:
    create_user(client, admin_token, "john")
    token = login(client, "john", PASSWORD)
    body = {"username": "jane", "email": "jane@example.com", "password": PASSWORD}
    response = client.post("/api/v1/users", json=body, headers=bearer(token))
    assert response.status_code == 403


def test_list_paginates(client: TestClient, admin_token: str) -> None:
    for name in ("usera", "userb", "userc"):
        create_user(client, admin_token, name)
    bare = client.get("/api/v1/users", headers=bearer(admin_token)).json()
    assert [item["username"] for item in bare] == ["admin", "usera", "userb", "userc"]
    paged = client.get("/api/v1/users?per_page=2&page=2", headers=bearer(admin_token)).json()
    assert [item["username"] for item in paged["data"]] == ["userb", "userc"]
    assert paged["meta"] == {"total": 4, "per_page": 2, "current_page": 2, "last_page": 2}
    only = client.get("/api/v1/users?role=admin", headers=bearer(admin_token)).json()
    assert [item["username"] for item in only] == ["admin"]


def test_update_email_and_password(
    client: TestClient, admin_token: str, settings: Settings
) -> None:
    create_user(client, admin_token, "john")
    old_token = login(client, "john", PASSWORD)
    changed = client.put(
        "/api/v1/users/john",
        json={"email": "john@example.net", "password": "a-new-password"},
        headers=bearer(admin_token),
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["email"] == "john@example.net"
    revoked = client.get("/api/v1/users/john", headers=bearer(old_token))
    assert revoked.status_code == 401
    assert revoked.json()["message"] == "Token revoked"
    login(client, "john", "a-new-password")
    assert events(settings, "user.updated")[-1] == {
        "username": "john",
        "changed": ["email", "password"],
    }


@pytest.mark.parametrize("password", ["", None])
def test_update_never_empties_password(
    client: TestClient, admin_token: str, password: str | None
) -> None:
    create_user(client, admin_token, "john")
    response = client.put(
        "/api/v1/users/john", json={"password": password}, headers=bearer(admin_token)
    )
    assert response.status_code == 400
    assert response.json()["details"] == {"password": ["empty"]}
    login(client, "john", PASSWORD)


def test_update_without_password_keeps_it(client: TestClient, admin_token: str) -> None:
    create_user(client, admin_token, "john")
    token = login(client, "john", PASSWORD)
    response = client.put(
        "/api/v1/users/john", json={"email": "j@example.org"}, headers=bearer(admin_token)
    )
    assert response.status_code == 200
    assert client.get("/api/v1/users/john", headers=bearer(token)).status_code == 200
    login(client, "john", PASSWORD)


def test_user_changes_own_email_not_limits(client: TestClient, admin_token: str) -> None:
    create_user(client, admin_token, "john")
    token = login(client, "john", PASSWORD)
    own = client.put("/api/v1/users/john", json={"email": "me@example.org"}, headers=bearer(token))
    assert own.status_code == 200
    limits = client.put(
        "/api/v1/users/john", json={"limits": {"max_domains": 99}}, headers=bearer(token)
    )
    assert limits.status_code == 403


def test_limit_overrides_set_and_cleared(client: TestClient, admin_token: str) -> None:
    create_user(client, admin_token, "john")
    set_override = client.put(
        "/api/v1/users/john",
        json={"limits": {"max_domains": 3}, "features": {"ssh": True}},
        headers=bearer(admin_token),
    )
    assert set_override.json()["limits"]["max_domains"] == 3
    assert set_override.json()["features"]["ssh"] is True
    cleared = client.put(
        "/api/v1/users/john", json={"limits": {"max_domains": None}}, headers=bearer(admin_token)
    )
    assert cleared.json()["limits"]["max_domains"] == -1
    assert cleared.json()["features"]["ssh"] is True


def test_delete_removes_account_and_home(
    client: TestClient, admin_token: str, settings: Settings
) -> None:
    create_user(client, admin_token, "john")
    token = login(client, "john", PASSWORD)
    response = client.delete("/api/v1/users/john", headers=bearer(admin_token))
    assert response.status_code == 200
    assert response.json() == {"success": True, "message": "User john deleted"}
    assert not home(settings, "john").exists()
    assert client.get("/api/v1/users/john", headers=bearer(admin_token)).status_code == 404
    assert client.get("/api/v1/users", headers=bearer(token)).status_code == 401
    assert events(settings, "user.deleted") == [{"username": "john", "role": "user"}]


def test_delete_needs_recent_reauth(client: TestClient, admin_token: str) -> None:
    create_user(client, admin_token, "john")
    unconfirmed = login(client)
    response = client.delete("/api/v1/users/john", headers=bearer(unconfirmed))
    assert response.status_code == 403
    assert response.json()["details"]["reason"] == "REAUTH_REQUIRED"


def test_own_password_change_needs_reauth(client: TestClient, admin_token: str) -> None:
    create_user(client, admin_token, "john")
    token = login(client, "john", PASSWORD)
    body = {"password": "a-new-password"}
    refused = client.put("/api/v1/users/john", json=body, headers=bearer(token))
    assert refused.status_code == 403
    assert refused.json()["details"]["reason"] == "REAUTH_REQUIRED"
    confirm_password(client, token, PASSWORD)
    changed = client.put("/api/v1/users/john", json=body, headers=bearer(token))
    assert changed.status_code == 200
    login(client, "john", "a-new-password")


def test_cannot_delete_self(client: TestClient, admin_token: str) -> None:
    response = client.delete("/api/v1/users/admin", headers=bearer(admin_token))
    assert response.status_code == 403


@pytest.fixture
def hook_calls() -> Iterator[list[str]]:
    calls: list[str] = []

    async def on_delete(db: AsyncSession, user: User) -> None:
        calls.append(f"delete:{user.username}")
        if user.username == "keepme":
            raise ApplyFailed("the domains area refused")

    async def on_suspend(db: AsyncSession, user: User, panel: object) -> None:
        calls.append(f"suspend:{user.username}:{panel is not None}")

    async def on_unsuspend(db: AsyncSession, user: User) -> None:
        calls.append(f"unsuspend:{user.username}")

    lifecycle.on_account_delete(on_delete)
    lifecycle.on_account_suspend(on_suspend)
    lifecycle.on_account_unsuspend(on_unsuspend)
    yield calls
    lifecycle.unregister("delete", on_delete)
    lifecycle.unregister("suspend", on_suspend)
    lifecycle.unregister("unsuspend", on_unsuspend)


def test_delete_runs_hooks_first(
    client: TestClient, admin_token: str, settings: Settings, hook_calls: list[str]
) -> None:
    create_user(client, admin_token, "john")
    assert client.delete("/api/v1/users/john", headers=bearer(admin_token)).status_code == 200
    assert hook_calls == ["delete:john"]


def test_failing_hook_keeps_account(
    client: TestClient, admin_token: str, settings: Settings, hook_calls: list[str]
) -> None:
    create_user(client, admin_token, "keepme")
    response = client.delete("/api/v1/users/keepme", headers=bearer(admin_token))
    assert response.status_code == 502
    assert client.get("/api/v1/users/keepme", headers=bearer(admin_token)).status_code == 200
    assert home(settings, "keepme").is_dir()
    assert events(settings, "user.deleted") == []


def test_suspend_and_unsuspend(
    client: TestClient, admin_token: str, settings: Settings, hook_calls: list[str]
) -> None:
    create_user(client, admin_token, "john")
    token = login(client, "john", PASSWORD)
    suspended = client.post(
        "/api/v1/users/john/suspend", json={"reason": "Unpaid invoice"}, headers=bearer(admin_token)
    )
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["status"] == "suspended"
    assert suspended.json()["suspension_reason"] == "Unpaid invoice"
    assert client.get("/api/v1/users/john", headers=bearer(token)).status_code == 401
    refused = client.post("/api/v1/auth/login", json={"username": "john", "password": PASSWORD})
    assert refused.status_code in (401, 403)
    again = client.post("/api/v1/users/john/suspend", headers=bearer(admin_token))
    assert again.status_code == 409
    restored = client.post("/api/v1/users/john/unsuspend", headers=bearer(admin_token))
    assert restored.status_code == 200
    assert restored.json()["status"] == "active"
    assert restored.json()["suspension_reason"] is None
    login(client, "john", PASSWORD)
    assert hook_calls == ["suspend:john:True", "unsuspend:john"]
    assert events(settings, "user.suspended")[0]["reason"] == "Unpaid invoice"
    assert events(settings, "user.unsuspended") == [{"username": "john"}]


def test_sessions_listed_and_ended(client: TestClient, admin_token: str) -> None:
    create_user(client, admin_token, "john")
    first = login(client, "john", PASSWORD)
    login(client, "john", PASSWORD)
    listed = client.get("/api/v1/users/john/sessions", headers=bearer(admin_token))
    assert listed.status_code == 200
    assert len(listed.json()) == 2
    assert set(listed.json()[0]) == {
        "id",
        "ip",
        "user_agent",
        "created_at",
        "last_seen_at",
        "expires_at",
    }
    ended = client.delete("/api/v1/users/john/sessions", headers=bearer(admin_token))
    assert ended.status_code == 200
    assert ended.json() == {"success": True, "message": "Logged john out of 2 sessions"}
    assert client.get("/api/v1/users/john", headers=bearer(first)).status_code == 401
    after = client.get("/api/v1/users/john/sessions", headers=bearer(admin_token))
    assert after.json() == []


def test_replayed_create_makes_one_account(
    client: TestClient, admin_token: str, settings: Settings
) -> None:
    headers = {**bearer(admin_token), "Idempotency-Key": "create-john-1"}
    body = {"username": "john", "email": "john@example.com", "password": PASSWORD}
    first = client.post("/api/v1/users", json=body, headers=headers)
    (home(settings, "john") / "domains" / "marker").write_text("kept", encoding="utf-8")
    second = client.post("/api/v1/users", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert (home(settings, "john") / "domains" / "marker").read_text(encoding="utf-8") == "kept"
    assert len(events(settings, "user.created")) == 1
    listed = client.get("/api/v1/users?role=user", headers=bearer(admin_token)).json()
    assert [item["username"] for item in listed] == ["john"]


def test_disk_usage_measured_by_job(
    client: TestClient, admin_token: str, settings: Settings
) -> None:
    create_user(client, admin_token, "john")
    (home(settings, "john") / "domains" / "big.bin").write_bytes(b"x" * 3 * 1024 * 1024)
    panel = client.app.state.panel  # type: ignore[attr-defined]
    job_id = queue_measurement(panel.sync_engine, panel.jobs)
    assert job_id is not None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}", headers=bearer(admin_token)).json()
        if job["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.05)
    assert job["status"] == "succeeded", job
    assert job["result"] == {"accounts": 1}
    usage = client.get("/api/v1/users/john", headers=bearer(admin_token)).json()["usage"]
    assert usage["disk_used_mb"] >= 3
    assert usage["disk_measured_at"] is not None


def test_disk_usage_schedule_and_dedupe(client: TestClient, settings: Settings) -> None:
    matches = every(15)
    assert matches(datetime(2026, 1, 1, 10, 30))
    assert not matches(datetime(2026, 1, 1, 10, 31))
    assert every(60)(datetime(2026, 1, 1, 11, 0))
    panel = client.app.state.panel  # type: ignore[attr-defined]
    panel.jobs.stop_consumer()
    first = queue_measurement(panel.sync_engine, panel.jobs)
    assert first is not None
    assert queue_measurement(panel.sync_engine, panel.jobs) is None
