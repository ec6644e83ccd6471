"""The `system` profile: real Linux users and homes, created and removed through the API.

These tests need root. They create users named `wsptest<hex>` under /home and remove them
again, also when a check fails.
"""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD, bearer, login
from wispanel.app import create_app
from wispanel.core.config import Settings
from wispanel.host.accounts import SystemAccounts
from wispanel.host.runner import CommandRunner

pytestmark = [
    pytest.mark.system,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create Linux users"),
]
HOME_ROOT = Path("/home")


def getent(database: str, name: str) -> str | None:
    result = subprocess.run(
        ["/usr/bin/getent", database, name], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() if result.returncode == 0 else None


@pytest.fixture
def username() -> Iterator[str]:
    name = f"wsptest{secrets.token_hex(3)}"
    yield name
    SystemAccounts(CommandRunner(), HOME_ROOT, "/usr/sbin/nologin").remove(name)


def test_create_and_remove_real_user(username: str) -> None:
    accounts = SystemAccounts(CommandRunner(), HOME_ROOT, "/usr/sbin/nologin")
    home = accounts.create(username)
    entry = getent("passwd", username)
    assert entry is not None
    fields = entry.split(":")
    assert fields[5] == str(HOME_ROOT / username)
    assert fields[6] == "/usr/sbin/nologin"
    assert getent("group", username) is not None
    user = pwd.getpwnam(username)
    web_gid = grp.getgrnam("www-data").gr_gid
    for passage in (home, home / "domains"):
        info = passage.stat()
        assert (info.st_uid, info.st_gid) == (user.pw_uid, web_gid)
        assert stat.S_IMODE(info.st_mode) == 0o710
    for name in ("logs", "tmp", "backups", "mail"):
        info = (home / name).stat()
        assert (info.st_uid, info.st_gid) == (user.pw_uid, user.pw_gid)
    assert stat.S_IMODE((home / "tmp").stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "mail").stat().st_mode) == 0o750
    assert accounts.system_account_exists(username)

    accounts.suspend(username)
    assert getent("shadow", username).split(":")[7] == "1"
    accounts.unsuspend(username)
    assert getent("shadow", username).split(":")[7] == ""

    accounts.remove(username)
    assert getent("passwd", username) is None
    assert getent("group", username) is None
    assert not home.exists()


@pytest.fixture
def system_client(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> Iterator[tuple[TestClient, Settings]]:
    settings = make_settings(server={"profile": "system", "data_dir": tmp_path / "data"})
    with TestClient(create_app(settings), client=("127.0.0.1", 40000)) as client:
        yield client, settings


def test_api_creates_and_deletes_host_user(
    system_client: tuple[TestClient, Settings], username: str
) -> None:
    client, _settings = system_client
    token = login(client)
    confirmed = client.post(
        "/api/v1/auth/reauth", json={"password": ADMIN_PASSWORD}, headers=bearer(token)
    )
    assert confirmed.status_code == 200
    body = {"username": username, "email": f"{username}@example.com", "password": "a-password"}
    created = client.post("/api/v1/users", json=body, headers=bearer(token))
    assert created.status_code == 201, created.text
    assert getent("passwd", username) is not None
    assert (HOME_ROOT / username / "domains").is_dir()
    deleted = client.delete(f"/api/v1/users/{username}", headers=bearer(token))
    assert deleted.status_code == 200, deleted.text
    assert getent("passwd", username) is None
    assert not (HOME_ROOT / username).exists()


def test_existing_system_account_refused(
    system_client: tuple[TestClient, Settings], username: str
) -> None:
    client, _settings = system_client
    subprocess.run(["/usr/sbin/useradd", "--no-create-home", username], check=True)
    body = {"username": username, "email": "x@example.com", "password": "a-password"}
    response = client.post("/api/v1/users", json=body, headers=bearer(login(client)))
    assert response.status_code == 409
    assert response.json()["details"] == {"username": ["taken by a system account"]}
    assert not (HOME_ROOT / username).exists()
