"""Two tenants over every route of the users folder: each role on each other's objects.

Reseller A (`resa`) owns `usera`, reseller B (`resb`) owns `userb`, and `admin` sees all.
An object outside the caller's scope is 404; one in scope that the caller may not change
is 403.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import update
from starlette.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD, bearer, login
from wispanel.core.config import Settings
from wispanel.core.database import create_sync_engine
from wispanel.users.models import User

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


ACTORS = ("admin", "resa", "resb", "usera", "userb")
TARGETS = ("admin", "resa", "resb", "usera", "userb")
PARENT = {"usera": "resa", "userb": "resb"}
RESELLERS = {"resa", "resb"}


@dataclass(frozen=True)
class World:
    client: TestClient
    tokens: dict[str, str]


@pytest.fixture
def world(client: TestClient, admin_token: str) -> World:
    for reseller in ("resa", "resb"):
        body = {"username": reseller, "email": f"{reseller}@example.com", "password": PASSWORD}
        created = client.post("/api/v1/resellers", json=body, headers=bearer(admin_token))
        assert created.status_code == 201, created.text
    tokens = {"admin": admin_token}
    for reseller in ("resa", "resb"):
        tokens[reseller] = login(client, reseller, PASSWORD)
    for user, reseller in PARENT.items():
        body = {"username": user, "email": f"{user}@example.com", "password": PASSWORD}
        created = client.post("/api/v1/users", json=body, headers=bearer(tokens[reseller]))
        assert created.status_code == 201, created.text
        tokens[user] = login(client, user, PASSWORD)
    for name, token in tokens.items():
        if name != "admin":
            confirm_password(client, token, PASSWORD)
    return World(client, tokens)


def sees(actor: str, target: str) -> bool:
    if actor == "admin":
        return True
    return target == actor or PARENT.get(target) == actor


def manages(actor: str, target: str) -> bool:
    return (actor == "admin" and target != "admin") or PARENT.get(target) == actor


def expected(route: str, actor: str, target: str) -> int:  # noqa: PLR0911 - one rule per route
    if not sees(actor, target):
        return 404
    is_self = actor == target
    if route in ("get_user",):
        return 200
    if route in ("put_user_email", "get_sessions", "delete_sessions"):
        return 200 if is_self or manages(actor, target) else 403
    if route in ("suspend", "unsuspend", "delete_user"):
        if is_self or not manages(actor, target):
            return 403
        if route == "unsuspend":
            return 409  # the target is active
        if route == "delete_user" and target in RESELLERS:
            return 409  # the reseller still has an account
        return 200
    if target not in RESELLERS:
        return 404
    if route == "get_reseller":
        return 200
    if actor != "admin":
        return 403
    return 409 if route == "delete_reseller" else 200


OBJECT_ROUTES = {
    "get_user": ("GET", "/api/v1/users/{t}", None),
    "put_user_email": ("PUT", "/api/v1/users/{t}", {"email": "changed-{t}@example.org"}),
    "delete_user": ("DELETE", "/api/v1/users/{t}", None),
    "suspend": ("POST", "/api/v1/users/{t}/suspend", {"reason": "matrix"}),
    "unsuspend": ("POST", "/api/v1/users/{t}/unsuspend", None),
    "get_sessions": ("GET", "/api/v1/users/{t}/sessions", None),
    "delete_sessions": ("DELETE", "/api/v1/users/{t}/sessions", None),
    "get_reseller": ("GET", "/api/v1/resellers/{t}", None),
    "put_reseller_limits": ("PUT", "/api/v1/resellers/{t}/limits", {"max_users": 5}),
    "delete_reseller": ("DELETE", "/api/v1/resellers/{t}", None),
}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("route", sorted(OBJECT_ROUTES))
def test_object_routes(world: World, route: str, actor: str, target: str) -> None:
    method, path, body = OBJECT_ROUTES[route]
    json = None
    if body is not None:
        json = {
            key: value.format(t=target) if isinstance(value, str) else value
            for key, value in body.items()
        }
    response = world.client.request(
        method, path.format(t=target), json=json, headers=bearer(world.tokens[actor])
    )
    assert response.status_code == expected(route, actor, target), response.text
    if response.status_code >= 400:
        assert response.json()["success"] is False
    if response.status_code == 404:
        assert target not in response.text or "not found" in response.json()["message"]


VISIBLE_USERS = {
    "admin": ["admin", "resa", "resb", "usera", "userb"],
    "resa": ["resa", "usera"],
    "resb": ["resb", "userb"],
    "usera": ["usera"],
    "userb": ["userb"],
}


@pytest.mark.parametrize("actor", ACTORS)
def test_lists_are_scoped(world: World, actor: str) -> None:
    headers = bearer(world.tokens[actor])
    users = world.client.get("/api/v1/users", headers=headers).json()
    assert [item["username"] for item in users] == VISIBLE_USERS[actor]
    resellers = world.client.get("/api/v1/resellers", headers=headers).json()
    assert [item["username"] for item in resellers] == [
        name for name in VISIBLE_USERS[actor] if name in RESELLERS
    ]
    packages = world.client.get("/api/v1/packages", headers=headers)
    assert packages.status_code == 200
    assert [item["name"] for item in packages.json()] == ["default"]


@pytest.mark.parametrize(
    ("actor", "status"),
    [("admin", 201), ("resa", 201), ("resb", 201), ("usera", 403), ("userb", 403)],
)
def test_create_user_by_role(world: World, actor: str, status: int) -> None:
    body = {"username": "newone", "email": "new@example.com", "password": PASSWORD}
    response = world.client.post("/api/v1/users", json=body, headers=bearer(world.tokens[actor]))
    assert response.status_code == status, response.text
    if status == 201 and actor != "admin":
        assert response.json()["reseller"] == actor


def test_reseller_cannot_place_account_under_other(world: World) -> None:
    body = {
        "username": "newone",
        "email": "n@example.com",
        "password": PASSWORD,
        "reseller": "resb",
    }
    response = world.client.post("/api/v1/users", json=body, headers=bearer(world.tokens["resa"]))
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("actor", "status"),
    [("admin", 201), ("resa", 403), ("resb", 403), ("usera", 403), ("userb", 403)],
)
def test_create_reseller_by_role(world: World, actor: str, status: int) -> None:
    body = {"username": "resc", "email": "resc@example.com", "password": PASSWORD}
    response = world.client.post(
        "/api/v1/resellers", json=body, headers=bearer(world.tokens[actor])
    )
    assert response.status_code == status


@pytest.mark.parametrize("actor", ACTORS)
def test_package_writes_admin_only(world: World, actor: str) -> None:
    headers = bearer(world.tokens[actor])
    created = world.client.post("/api/v1/packages", json={"name": "gold"}, headers=headers)
    changed = world.client.put("/api/v1/packages/default", json={"ssh": True}, headers=headers)
    removed = world.client.delete("/api/v1/packages/gold", headers=headers)
    if actor == "admin":
        assert (created.status_code, changed.status_code, removed.status_code) == (201, 200, 200)
    else:
        assert (created.status_code, changed.status_code, removed.status_code) == (403, 403, 403)


def test_unauthenticated_everywhere(client: TestClient) -> None:
    for method, path, _body in OBJECT_ROUTES.values():
        response = client.request(method, path.format(t="admin"))
        assert response.status_code == 401, (method, path)
    for path in ("/api/v1/users", "/api/v1/resellers", "/api/v1/packages"):
        assert client.get(path).status_code == 401
        assert client.post(path, json={}).status_code == 401
