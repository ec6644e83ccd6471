"""The real `wispanel serve` process: HTTPS by default, first start, restarts, two processes."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV30SpecValidator

from tests.live.panel_process import free_port, run_panel

pytestmark = pytest.mark.live
PASSWORD = "live-admin-password"


def test_https_first_start_and_login(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    with run_panel(data_dir, https=True) as panel:
        password_file = data_dir / "initial-admin-password"
        password = password_file.read_text(encoding="utf-8").strip()
        with panel.client() as client:
            document = client.get("/openapi.yaml")
            assert document.status_code == 200
            validate(client.get("/openapi.json").json(), cls=OpenAPIV30SpecValidator)
            login = client.post(
                "/api/v1/auth/login", json={"username": "admin", "password": password}
            )
            assert login.status_code == 200
            token = login.json()["token"]
            me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
            assert me.json()["username"] == "admin"
    assert password_file.stat().st_mode & 0o777 == 0o600
    assert (data_dir / "tls" / "panel.key").stat().st_mode & 0o777 == 0o600
    certificate = x509.load_pem_x509_certificate((data_dir / "tls" / "panel.crt").read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    log_lines = [
        json.loads(line) for line in panel.log.read_text().splitlines() if line.startswith("{")
    ]
    created = [line for line in log_lines if line.get("event") == "bootstrap.admin_created"]
    assert created[0]["password_file"] == str(password_file)
    assert password not in panel.log.read_text()


def test_plain_http_refused_on_https_port(tmp_path: Path) -> None:
    with run_panel(tmp_path / "var", https=True) as panel:
        plain = panel.url.replace("https://", "http://")
        try:
            response = httpx.get(f"{plain}/openapi.json", timeout=5)
        except httpx.HTTPError:
            response = None
        assert response is None or response.status_code != 200
        context = ssl.create_default_context()
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{panel.url}/openapi.json", verify=context, timeout=5)


def test_idempotency_across_restart_and_processes(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    env = {"WISPANEL_ADMIN_PASSWORD": PASSWORD}
    body = {"username": "admin", "password": PASSWORD}
    key = {"Idempotency-Key": "live-login-1"}
    with run_panel(data_dir, env=env) as panel, panel.client() as client:
        first = client.post("/api/v1/auth/login", json=body, headers=key)
    assert first.status_code == 200
    with (
        run_panel(data_dir, env=env) as one,
        run_panel(data_dir, env=env, port=free_port()) as two,
        one.client() as client_one,
        two.client() as client_two,
    ):
        again = client_one.post("/api/v1/auth/login", json=body, headers=key)
        other = client_two.post("/api/v1/auth/login", json=body, headers=key)
        mismatch = client_two.post(
            "/api/v1/auth/login", json={**body, "password": "x"}, headers=key
        )
    for replay in (again, other):
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.json()["token"] == first.json()["token"]
    assert mismatch.status_code == 422
    assert mismatch.json()["code"] == "IDEMPOTENCY_KEY_MISMATCH"


def test_placeholder_secret_stops_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    with run_panel(data_dir):
        pass
    (data_dir / "secrets" / "jwt.key").write_text("changeme\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="placeholder"), run_panel(data_dir):
        pass
