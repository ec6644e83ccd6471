"""Webhook subscriptions: shapes, validation, refused targets, tenancy and API key scopes."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.api.test_webhooks_delivery import (
    FAST_WEBHOOKS,
    USER_CREATED,
    Receiver,
    assert_signed,
    detach_accounts,  # noqa: F401 - a fixture, requested by name
    make_app,
    wait_for_delivery,
)
from tests.conftest import ADMIN_PASSWORD, bearer, login
from tests.factories import create_account
from wispanel.core.config import Settings
from wispanel.users.models import Role
from wispanel.webhooks import addresses
from wispanel.webhooks.addresses import TargetRefused, resolve_target

HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
ZERO_TIME = "0001-01-01T00:00:00Z"
TARGET = "https://hooks.example.com/wispanel"


# Addresses the refused-target tests name; nothing may connect to or look up any of them.
WATCHED = (
    "169.254.169.254",
    "10.0.0.1",
    "fd00:ec2::254",
    "::ffff:10.0.0.1",
    "0.0.0.0",  # noqa: S104 - an address the test expects to be refused, not a binding
)


@pytest.fixture
def no_outbound(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record, and block, every connection and name lookup aimed at a watched address.

    Other traffic (the test database on 127.0.0.1) passes through untouched.
    """
    attempts: list[Any] = []
    connect, connect_ex, getaddrinfo = (
        socket.socket.connect,
        socket.socket.connect_ex,
        socket.getaddrinfo,
    )

    def watched(host: Any) -> bool:
        return str(host).strip("[]") in WATCHED

    def guarded_connect(sock: socket.socket, address: Any) -> Any:
        if isinstance(address, tuple) and watched(address[0]):
            attempts.append(address)
            raise AssertionError(f"unexpected connection to {address}")
        return connect(sock, address)

    def guarded_connect_ex(sock: socket.socket, address: Any) -> Any:
        if isinstance(address, tuple) and watched(address[0]):
            attempts.append(address)
            raise AssertionError(f"unexpected connection to {address}")
        return connect_ex(sock, address)

    def guarded_lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        if watched(host):
            attempts.append(host)
            raise AssertionError(f"unexpected name lookup of {host}")
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_lookup)
    return attempts


@pytest.fixture
def public_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Resolve hooks.example.com to a public address without a real lookup."""
    getaddrinfo = socket.getaddrinfo

    def resolve(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        if host != "hooks.example.com":
            return getaddrinfo(host, port, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)


def create(client: TestClient, token: str, body: dict[str, Any]) -> Any:
    return client.post("/api/v1/webhooks", json=body, headers=bearer(token))


def test_create_shows_secret_once(client: TestClient, admin_token: str, public_dns: None) -> None:
    response = create(client, admin_token, {"url": TARGET, "events": ["user.created", "domain.*"]})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["success"] is True
    data = body["data"]
    assert set(data) == {
        "id",
        "owner",
        "url",
        "events",
        "secret",
        "enabled",
        "created_at",
        "last_fired_at",
        "failure_count",
    }
    assert HEX32.match(data["id"])
    assert HEX64.match(data["secret"])
    assert data["owner"] == "admin"
    assert data["url"] == TARGET
    assert data["events"] == ["user.created", "domain.*"]
    assert data["enabled"] is True
    assert data["last_fired_at"] == ZERO_TIME
    assert data["failure_count"] == 0
    shown = client.get(f"/api/v1/webhooks/{data['id']}", headers=bearer(admin_token)).json()
    assert shown["data"]["secret"] == "<redacted>"
    assert {**shown["data"], "secret": data["secret"]} == data


def test_list_always_paginated(client: TestClient, admin_token: str, public_dns: None) -> None:
    empty = client.get("/api/v1/webhooks", headers=bearer(admin_token)).json()
    assert empty == {
        "success": True,
        "data": [],
        "meta": {"total": 0, "per_page": 50, "current_page": 1, "last_page": 1},
    }
    ids = [create(client, admin_token, {"url": TARGET, "events": ["*"]}).json()["data"]["id"]]
    ids.append(create(client, admin_token, {"url": TARGET, "events": ["*"]}).json()["data"]["id"])
    listed = client.get("/api/v1/webhooks", headers=bearer(admin_token)).json()
    assert [item["id"] for item in listed["data"]] == ids
    assert {item["secret"] for item in listed["data"]} == {"<redacted>"}
    assert listed["meta"] == {"total": 2, "per_page": 50, "current_page": 1, "last_page": 1}
    page = client.get("/api/v1/webhooks?per_page=1&page=2", headers=bearer(admin_token)).json()
    assert [item["id"] for item in page["data"]] == ids[1:]
    assert page["meta"]["last_page"] == 2


def test_patch_changes_fields(client: TestClient, admin_token: str, public_dns: None) -> None:
    webhook = create(client, admin_token, {"url": TARGET, "events": ["*"]}).json()["data"]
    path = f"/api/v1/webhooks/{webhook['id']}"
    changed = client.patch(
        path,
        json={"url": f"{TARGET}/v2", "events": ["domain.created"], "enabled": False},
        headers=bearer(admin_token),
    )
    assert changed.status_code == 200, changed.text
    data = changed.json()["data"]
    assert data["url"] == f"{TARGET}/v2"
    assert data["events"] == ["domain.created"]
    assert data["enabled"] is False
    assert data["secret"] == "<redacted>"
    only_enabled = client.patch(path, json={"enabled": True}, headers=bearer(admin_token))
    assert only_enabled.json()["data"]["enabled"] is True
    assert only_enabled.json()["data"]["events"] == ["domain.created"]
    empty = client.patch(path, json={}, headers=bearer(admin_token))
    assert empty.status_code == 400
    assert empty.json()["error"] == "Send at least one of url, events or enabled"


def test_delete_removes(client: TestClient, admin_token: str, public_dns: None) -> None:
    webhook = create(client, admin_token, {"url": TARGET, "events": ["*"]}).json()["data"]
    path = f"/api/v1/webhooks/{webhook['id']}"
    deleted = client.delete(path, headers=bearer(admin_token))
    assert deleted.status_code == 200
    assert deleted.json() == {"success": True, "message": "Webhook deleted"}
    missing = client.get(path, headers=bearer(admin_token))
    assert missing.status_code == 404
    assert missing.json()["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"events": ["*"]}, "URL is required"),
        ({"url": "", "events": ["*"]}, "URL is required"),
        ({"url": TARGET}, "At least one event pattern is required"),
        ({"url": TARGET, "events": []}, "At least one event pattern is required"),
        (
            {"url": "ftp://hooks.example.com/", "events": ["*"]},
            "URL must start with http:// or https://",
        ),
        (
            {"url": "hooks.example.com/x", "events": ["*"]},
            "URL must start with http:// or https://",
        ),
        (
            {"url": "https://user:pw@hooks.example.com/", "events": ["*"]},
            "URL must not contain a user name or password; receivers authenticate deliveries "
            "by their signature",
        ),
        (
            {"url": TARGET, "events": ["user.craeted"]},
            "Unknown event pattern 'user.craeted'; use an event name such as 'user.created', "
            "a prefix such as 'domain.*', or '*'",
        ),
    ],
)
def test_create_validation(
    client: TestClient, admin_token: str, body: dict[str, Any], message: str
) -> None:
    response = create(client, admin_token, body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert response.json()["error"] == message


def test_patch_validation(client: TestClient, admin_token: str, public_dns: None) -> None:
    webhook = create(client, admin_token, {"url": TARGET, "events": ["*"]}).json()["data"]
    path = f"/api/v1/webhooks/{webhook['id']}"
    for body, message in (
        ({"url": ""}, "URL is required"),
        ({"url": None}, "URL is required"),
        ({"events": []}, "At least one event pattern is required"),
        ({"url": "gopher://hooks.example.com/"}, "URL must start with http:// or https://"),
        ({"enabled": None}, "enabled must be true or false"),
    ):
        response = client.patch(path, json=body, headers=bearer(admin_token))
        assert response.status_code == 400, body
        assert response.json()["error"] == message


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254, a cloud metadata address"),
        ("http://10.0.0.1/", "10.0.0.1, a private address"),
        ("http://[fd00:ec2::254]/", "fd00:ec2::254, a cloud metadata address"),
        ("http://[::ffff:10.0.0.1]/", "::ffff:a00:1, a private address"),
        ("http://0.0.0.0:8080/", "0.0.0.0, an unspecified address"),
    ],
)
def test_private_targets_refused_without_traffic(
    client: TestClient, admin_token: str, no_outbound: list[Any], url: str, reason: str
) -> None:
    response = create(client, admin_token, {"url": url, "events": ["*"]})
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert response.json()["details"] == {"url": ["address not allowed"]}
    assert no_outbound == []
    listed = client.get("/api/v1/webhooks", headers=bearer(admin_token)).json()
    assert listed["meta"]["total"] == 0


def test_loopback_refused_by_default(client: TestClient, admin_token: str) -> None:
    with Receiver() as receiver:
        response = create(client, admin_token, {"url": receiver.url, "events": ["*"]})
    assert response.status_code == 400
    assert response.json()["error"] == (
        "URL is not allowed because 127.0.0.1 resolves to 127.0.0.1, a loopback address; "
        "use a public address or ask an admin to turn on webhooks.allow_private_targets"
    )
    assert receiver.requests == []


def test_metadata_refused_even_when_private_allowed(
    make_settings: Callable[..., Settings], settings: Settings, no_outbound: list[Any]
) -> None:
    allowed = make_settings(webhooks={"allow_private_targets": True})
    with TestClient(make_app(allowed)) as client:
        token = login(client)
        metadata = create(client, token, {"url": "http://169.254.169.254/", "events": ["*"]})
        private = create(client, token, {"url": "http://10.0.0.1/", "events": ["*"]})
    assert metadata.status_code == 400
    assert metadata.json()["error"] == (
        "URL is not allowed because 169.254.169.254 resolves to 169.254.169.254, a cloud "
        "metadata address; use a public address"
    )
    assert private.status_code == 201
    assert no_outbound == []


def test_rebinding_name_refused_when_it_turns_inward(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter(["93.184.215.14", "10.0.0.1"])

    def resolve(host: str, port: int, *_args: Any, **_kwargs: Any) -> Any:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(addresses.socket, "getaddrinfo", resolve)
    first = resolve_target("https://hooks.example.com/x", allow_private=False)
    assert str(first.address) == "93.184.215.14"
    assert first.host == "hooks.example.com"
    with pytest.raises(TargetRefused, match=r"10\.0\.0\.1, a private address"):
        resolve_target("https://hooks.example.com/x", allow_private=False)


def test_name_with_one_inward_address_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def resolve(host: str, port: int, *_args: Any, **_kwargs: Any) -> Any:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", port, 0, 0)),
        ]

    monkeypatch.setattr(addresses.socket, "getaddrinfo", resolve)
    with pytest.raises(TargetRefused, match=r"::1, a loopback address"):
        resolve_target("http://hooks.example.com/", allow_private=False)


def test_delivery_connects_to_checked_address(
    make_settings: Callable[..., Settings], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request goes to the resolved address while Host keeps the name of the URL."""
    lookups: list[str] = []
    getaddrinfo = socket.getaddrinfo

    def resolve(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        if host != "receiver.test":
            return getaddrinfo(host, port, *args, **kwargs)
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(addresses.socket, "getaddrinfo", resolve)
    with (
        TestClient(make_app(make_settings(webhooks=FAST_WEBHOOKS))) as client,
        Receiver() as receiver,
    ):
        token = login(client)
        url = f"http://receiver.test:{receiver.port}/in"
        webhook = create(client, token, {"url": url, "events": ["*"]}).json()["data"]
        response = client.post(f"/api/v1/webhooks/{webhook['id']}/test", headers=bearer(token))
    assert response.json()["data"]["status"] == "succeeded"
    (request,) = receiver.requests
    assert request.headers["Host"] == f"receiver.test:{receiver.port}"
    assert_signed(request, webhook["secret"])
    # The name is resolved at creation and again for the attempt. It exists nowhere else, so
    # the request reached the receiver only through the address that lookup returned.
    assert lookups == ["receiver.test", "receiver.test"]


@pytest.mark.usefixtures("detach_accounts")
def test_subscriptions_scoped_to_owner(
    client: TestClient, settings: Settings, public_dns: None
) -> None:
    reseller_id = create_account(settings, "reseller1", role=Role.RESELLER)
    create_account(settings, "customer1", parent_id=reseller_id)
    create_account(settings, "stranger1")
    tokens = {
        name: login(client, name, "account-password")
        for name in ("reseller1", "customer1", "stranger1")
    }
    tokens["admin"] = login(client)
    ids = {
        name: create(client, token, {"url": TARGET, "events": ["*"]}).json()["data"]["id"]
        for name, token in tokens.items()
    }

    def visible(name: str) -> set[str]:
        listed = client.get("/api/v1/webhooks", headers=bearer(tokens[name])).json()
        return {item["owner"] for item in listed["data"]}

    assert visible("admin") == {"admin", "reseller1", "customer1", "stranger1"}
    assert visible("reseller1") == {"reseller1", "customer1"}
    assert visible("customer1") == {"customer1"}
    assert visible("stranger1") == {"stranger1"}
    other = ids["customer1"]
    for method, suffix in (
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("GET", "/deliveries"),
        ("POST", "/test"),
    ):
        response = client.request(
            method,
            f"/api/v1/webhooks/{other}{suffix}",
            json={"enabled": False} if method == "PATCH" else None,
            headers=bearer(tokens["stranger1"]),
        )
        assert response.status_code == 404, (method, suffix)
        assert response.json()["code"] == "NOT_FOUND"
    assert (
        client.get(f"/api/v1/webhooks/{other}", headers=bearer(tokens["admin"])).status_code == 200
    )


def test_webhook_id_validated(client: TestClient, admin_token: str) -> None:
    for bad in ("../../etc", "x" * 40, "ABCDEF"):
        response = client.get(f"/api/v1/webhooks/{bad}", headers=bearer(admin_token))
        assert response.status_code in (400, 404), bad
        assert response.json()["success"] is False


def _api_key(client: TestClient, token: str, permissions: list[str]) -> str:
    reauth = client.post(
        "/api/v1/auth/reauth", json={"password": ADMIN_PASSWORD}, headers=bearer(token)
    )
    created = client.post(
        "/api/v1/users/admin/api-keys",
        json={"name": f"key-{'-'.join(permissions)}", "permissions": permissions},
        headers=bearer(token),
    )
    if reauth.status_code == 404 or created.status_code == 404:
        pytest.skip("API keys are not available in this build")
    assert created.status_code == 201, created.text
    key: str = created.json()["api_key"]
    return key


def test_api_key_needs_webhooks_scope(
    client: TestClient, admin_token: str, public_dns: None
) -> None:
    body = {"url": TARGET, "events": ["*"]}
    for permissions, allowed in (
        (["read"], False),
        (["domains"], False),
        (["webhooks"], True),
        (["all"], True),
    ):
        key = _api_key(client, admin_token, permissions)
        response = client.post("/api/v1/webhooks", json=body, headers=bearer(key))
        if allowed:
            assert response.status_code == 201, permissions
        else:
            assert response.status_code == 403, permissions
            assert response.json()["error"] == (
                "API key is not scoped for 'webhooks' on this request"
            )
    read_key = _api_key(client, admin_token, ["read"])
    assert client.get("/api/v1/webhooks", headers=bearer(read_key)).status_code == 200


def test_user_created_through_api_delivered(
    make_settings: Callable[..., Settings], settings: Settings
) -> None:
    with (
        TestClient(make_app(make_settings(webhooks=FAST_WEBHOOKS))) as client,
        Receiver() as receiver,
    ):
        token = login(client)
        webhook = create(client, token, {"url": receiver.url, "events": ["user.*"]}).json()["data"]
        response = client.post(
            "/api/v1/users",
            json={"username": "john", "email": "john@example.com", "password": "john-password1"},
            headers=bearer(token),
        )
        if response.status_code in (404, 405):
            pytest.skip("POST /api/v1/users is not available in this build")
        assert response.status_code == 201, response.text
        (request,) = receiver.wait_for(1)
        wait_for_delivery(client, token, webhook["id"], "succeeded")
    assert_signed(request, webhook["secret"])
    assert request.headers["X-WisPanel-Event"] == "user.created"
    data = json.loads(request.body)["data"]
    assert set(data) == set(USER_CREATED)
    assert data["username"] == "john"
    assert data["email"] == "john@example.com"
    assert data["role"] == "user"
    assert data["creator"] == "admin"
