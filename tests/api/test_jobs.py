"""Jobs: a record the API shows, run by the consumer inside the panel, scoped to its owner."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from tests.conftest import CLIENT_ADDRESS, bearer, login
from tests.factories import create_account
from wispanel.app import create_app
from wispanel.core.config import Settings
from wispanel.core.database import create_sync_engine
from wispanel.jobs.models import Job
from wispanel.jobs.queue import JobRun


def _write_marker(run: JobRun) -> dict[str, Any]:
    run.progress(50, "half way")
    Path(run.params["path"]).write_text("done", encoding="utf-8")
    return {"written": run.params["path"]}


def _fail(run: JobRun) -> None:
    raise ValueError("the archive is damaged")


def _insert_job(settings: Settings, kind: str, params: dict[str, Any], owner_id: int | None) -> str:
    engine = create_sync_engine(settings.database_url)
    with Session(engine) as db:
        job = Job(id=f"{time.time_ns():032x}"[-32:], kind=kind, params=params, owner_id=owner_id)
        db.add(job)
        db.commit()
        job_id = job.id
    engine.dispose()
    return job_id


def _wait_finished(client: TestClient, token: str, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}", headers=bearer(token)).json()
        if body["status"] in ("succeeded", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {body}")


def test_job_runs_and_reports(settings: Settings, tmp_path: Path) -> None:
    app = create_app(settings)
    app.state.panel.jobs.register("test.marker", _write_marker)
    marker = tmp_path / "marker.txt"
    with TestClient(app, client=CLIENT_ADDRESS) as client:
        token = login(client)
        job_id = _insert_job(settings, "test.marker", {"path": str(marker)}, None)
        app.state.panel.jobs.enqueue(job_id)
        body = _wait_finished(client, token, job_id)
    assert body["status"] == "succeeded"
    assert body["progress"] == 100
    assert body["result"] == {"written": str(marker)}
    assert body["error"] is None
    assert body["duration_seconds"] >= 0
    assert marker.read_text(encoding="utf-8") == "done"


def test_failed_job_keeps_error(settings: Settings) -> None:
    app = create_app(settings)
    app.state.panel.jobs.register("test.fail", _fail)
    with TestClient(app, client=CLIENT_ADDRESS) as client:
        token = login(client)
        job_id = _insert_job(settings, "test.fail", {}, None)
        app.state.panel.jobs.enqueue(job_id)
        body = _wait_finished(client, token, job_id)
    assert body["status"] == "failed"
    assert body["error"] == "the archive is damaged"


def test_queued_job_runs_after_restart(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(jobs={"run_in_process": False})
    marker = tmp_path / "after-restart.txt"
    with TestClient(create_app(settings), client=CLIENT_ADDRESS):
        job_id = _insert_job(settings, "test.marker", {"path": str(marker)}, None)
    assert not marker.exists()
    running = make_settings(jobs={"run_in_process": True})
    app = create_app(running)
    app.state.panel.jobs.register("test.marker", _write_marker)
    with TestClient(app, client=CLIENT_ADDRESS) as client:
        body = _wait_finished(client, login(client), job_id)
    assert body["status"] == "succeeded"
    assert marker.exists()


def test_jobs_are_scoped(client: TestClient, settings: Settings) -> None:
    owner = create_account(settings, "owner1", password="owner-password")
    create_account(settings, "other1", password="other-password")
    job_id = _insert_job(settings, "test.none", {}, owner)
    other = client.get(
        f"/api/v1/jobs/{job_id}", headers=bearer(login(client, "other1", "other-password"))
    )
    assert other.status_code == 404
    assert other.json()["code"] == "NOT_FOUND"
    mine = client.get(
        f"/api/v1/jobs/{job_id}", headers=bearer(login(client, "owner1", "owner-password"))
    )
    assert mine.status_code == 200
    assert client.get(f"/api/v1/jobs/{job_id}", headers=bearer(login(client))).status_code == 200


def test_job_id_validated(client: TestClient, admin_token: str) -> None:
    for bad in ("../../etc", "x" * 40, "ABCDEF"):
        response = client.get(f"/api/v1/jobs/{bad}", headers=bearer(admin_token))
        assert response.status_code in (400, 404), bad
        assert response.json()["success"] is False
