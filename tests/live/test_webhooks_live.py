"""Webhooks from a real `wispanel serve` process: a retry pending when it is killed is sent
after it starts again, with the same delivery id."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.api.test_webhooks_delivery import Receiver, assert_signed
from tests.live.panel_process import run_panel

pytestmark = pytest.mark.live
PASSWORD = "live-admin-password"
ENV = {
    "WISPANEL_ADMIN_PASSWORD": PASSWORD,
    "WISPANEL_WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true",
    "WISPANEL_WEBHOOKS__RETRY_SCHEDULE_SECONDS": "[3]",
    "WISPANEL_WEBHOOKS__CONNECT_TIMEOUT": "1",
    "WISPANEL_WEBHOOKS__READ_TIMEOUT": "2",
}


def test_retry_survives_killed_panel(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    with Receiver([500]) as receiver:
        with run_panel(data_dir, env=ENV) as panel, panel.client() as client:
            token = client.post(
                "/api/v1/auth/login", json={"username": "admin", "password": PASSWORD}
            ).json()["token"]
            headers = {"Authorization": f"Bearer {token}"}
            webhook = client.post(
                "/api/v1/webhooks",
                json={"url": receiver.url, "events": ["user.created"]},
                headers=headers,
            ).json()["data"]
            created = client.post(
                "/api/v1/users",
                json={"username": "john", "email": "john@example.com", "password": "pw-john-123"},
                headers=headers,
            )
            if created.status_code in (404, 405):
                pytest.skip("POST /api/v1/users is not available in this build")
            assert created.status_code == 201, created.text
            receiver.wait_for(1)
            path = f"/api/v1/webhooks/{webhook['id']}/deliveries"
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                (first,) = client.get(path, headers=headers).json()["data"]
                if first["attempt_count"] == 1:
                    break
                time.sleep(0.05)
            assert first["status"] == "pending"
            # Killed with the retry scheduled three seconds after the failed attempt.
            panel.process.kill()
            panel.process.wait()
        assert len(receiver.requests) == 1
        with run_panel(data_dir, env=ENV) as panel, panel.client() as client:
            requests = receiver.wait_for(2)
            token = client.post(
                "/api/v1/auth/login", json={"username": "admin", "password": PASSWORD}
            ).json()["token"]
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                listed = client.get(
                    f"/api/v1/webhooks/{webhook['id']}/deliveries",
                    headers={"Authorization": f"Bearer {token}"},
                ).json()["data"]
                if listed and listed[0]["status"] == "succeeded":
                    break
                time.sleep(0.2)
    (delivery,) = listed
    assert delivery["status"] == "succeeded"
    assert [attempt["status_code"] for attempt in delivery["attempts"]] == [500, 200]
    assert {request.headers["X-WisPanel-Delivery"] for request in requests} == {delivery["id"]}
    for request in requests:
        assert_signed(request, webhook["secret"])
    assert json.loads(requests[1].body)["data"]["username"] == "john"
    log = "".join(path.read_text() for path in data_dir.glob("serve-*.log"))
    assert webhook["secret"] not in log
    assert "john@example.com" not in log
