"""Certificate endpoints without an ACME server or nginx: validation, scope, CSRs, renewals.

Domain rows are written straight into the database, because adding one through the API
needs nginx. The ACME directory points at a closed loopback port, so no test can reach a
real certificate authority.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from tests.conftest import CLIENT_ADDRESS, bearer, login
from tests.factories import change_account, create_account
from tests.host.web_helpers import free_port
from wispanel.app import create_app
from wispanel.core.config import Settings
from wispanel.core.database import create_sync_engine
from wispanel.core.models import EventRecord
from wispanel.domains.models import Domain
from wispanel.jobs.models import Job
from wispanel.ssl.cleanup import sweep_orphans
from wispanel.ssl.issuance import JOB_RENEW, queue_renewals
from wispanel.ssl.models import Certificate, CertificateSource

SSL = "/api/v1/ssl"
CLOSED_ACME = "https://127.0.0.1:9/directory"


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(ssl={"acme_directory_url": CLOSED_ACME})


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), client=CLIENT_ADDRESS) as test_client:
        yield test_client


def add_domain_row(settings: Settings, owner_id: int, name: str) -> int:
    engine = create_sync_engine(settings.database_url)
    with Session(engine) as db:
        domain = Domain(
            name=name,
            owner_id=owner_id,
            document_root=f"domains/{name}/public_html",
            custom_directives="",
        )
        db.add(domain)
        db.commit()
        domain_id = domain.id
    engine.dispose()
    return domain_id


def add_certificate_row(settings: Settings, domain_id: int, source: str, days_left: int) -> None:
    now = datetime.now(UTC)
    engine = create_sync_engine(settings.database_url)
    with Session(engine) as db:
        db.add(
            Certificate(
                domain_id=domain_id,
                source=source,
                names=["example.com", "www.example.com"],
                subject="CN=example.com",
                issuer="CN=Pebble Intermediate CA",
                serial="1f",
                not_before=now - timedelta(days=60),
                not_after=now + timedelta(days=days_left),
                fingerprint_sha256="AB:CD",
            )
        )
        db.commit()
    engine.dispose()


def jobs_of(settings: Settings, kind: str) -> list[dict[str, Any]]:
    engine = create_sync_engine(settings.database_url)
    with Session(engine) as db:
        found = [dict(job.params) for job in db.scalars(select(Job).where(Job.kind == kind))]
    engine.dispose()
    return found


def events(settings: Settings, name: str) -> list[dict[str, Any]]:
    engine = create_sync_engine(settings.database_url)
    with Session(engine) as db:
        rows = db.scalars(select(EventRecord).where(EventRecord.name == name)).all()
        found = [dict(row.data) for row in rows]
    engine.dispose()
    return found


def wait_job(client: TestClient, token: str, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        body: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}", headers=bearer(token)).json()
        if body["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


@pytest.fixture
def john(client: TestClient, settings: Settings) -> str:
    owner_id = create_account(settings, "john")
    add_domain_row(settings, owner_id, "example.com")
    return login(client, "john", "account-password")


def test_domain_required(client: TestClient, john: str) -> None:
    for path in ("issue", "renew", "csr"):
        response = client.post(f"{SSL}/{path}", json={}, headers=bearer(john))
        assert response.status_code == 400, path
        assert response.json()["message"] == "Domain is required"
        assert response.json()["details"] == {"domain": ["required"]}
    install = client.post(f"{SSL}/install", json={"certificate": "x"}, headers=bearer(john))
    assert install.status_code == 400
    assert install.json()["message"] == "Domain is required"


def test_malformed_bodies_rejected(client: TestClient, john: str) -> None:
    bodies = [
        ("issue", {"domain": "example.com", "colour": "red"}),
        ("issue", {"domain": "example.com", "include_www": "perhaps"}),
        ("csr", {"domain": "example.com", "key_type": "dsa1024"}),
        ("csr", {"domain": "example.com", "names": ["../../etc/passwd"]}),
        ("csr", {"domain": "example.com", "names": ["example.org"]}),
        ("csr", {"domain": "example.com", "names": ["a b.example.com"]}),
        ("install", {"domain": "example.com"}),
    ]
    for path, body in bodies:
        response = client.post(f"{SSL}/{path}", json=body, headers=bearer(john))
        assert response.status_code == 400, f"{path} {body}: {response.text}"
        assert response.json()["code"] == "VALIDATION_ERROR"


def test_unknown_domain_not_found(client: TestClient, john: str) -> None:
    for path in ("issue", "renew", "csr"):
        response = client.post(f"{SSL}/{path}", json={"domain": "nope.test"}, headers=bearer(john))
        assert response.status_code == 404, path
    for method in ("GET", "DELETE"):
        response = client.request(method, f"{SSL}/certificates/nope.test", headers=bearer(john))
        assert response.status_code == 404, method
    traversal = client.get(f"{SSL}/certificates/..%2F..%2Fetc", headers=bearer(john))
    assert traversal.status_code in (400, 404)


def test_no_certificate_yet(client: TestClient, john: str) -> None:
    assert client.get(f"{SSL}/certificates", headers=bearer(john)).json() == []
    page = client.get(f"{SSL}/certificates?page=1", headers=bearer(john)).json()
    assert page["meta"]["total"] == 0
    assert page["data"] == []
    shown = client.get(f"{SSL}/certificates/example.com", headers=bearer(john))
    assert shown.status_code == 404
    assert client.delete(f"{SSL}/certificates/example.com", headers=bearer(john)).status_code == 404
    renew = client.post(f"{SSL}/renew", json={"domain": "example.com"}, headers=bearer(john))
    assert renew.status_code == 404


def test_csr_keeps_key_on_server(client: TestClient, john: str, settings: Settings) -> None:
    response = client.post(f"{SSL}/csr", json={"domain": "example.com"}, headers=bearer(john))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["names"] == ["example.com", "www.example.com"]
    assert body["key_type"] == "ec256"
    assert "PRIVATE KEY-----" not in response.text
    csr = x509.load_pem_x509_csr(body["csr"].encode())
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["example.com", "www.example.com"]

    pending = settings.data_dir / "ssl" / "example.com" / "pending-key.pem"
    assert pending.stat().st_mode & 0o777 == 0o600
    assert pending.parent.stat().st_mode & 0o777 == 0o700
    key = serialization.load_pem_private_key(pending.read_bytes(), password=None)
    encoding = serialization.Encoding.DER
    public_format = serialization.PublicFormat.SubjectPublicKeyInfo
    assert key.public_key().public_bytes(encoding, public_format) == csr.public_key().public_bytes(
        encoding, public_format
    )

    wildcard = client.post(
        f"{SSL}/csr",
        json={"domain": "example.com", "names": ["*.example.com", "shop.example.com"]},
        headers=bearer(john),
    )
    assert wildcard.status_code == 200, wildcard.text
    assert wildcard.json()["names"] == ["*.example.com", "shop.example.com"]


def test_install_rejects_bad_input(client: TestClient, john: str, settings: Settings) -> None:
    cases = {
        "not PEM": {"certificate": "hello", "private_key": "world"},
        "no key and no CSR": {
            "certificate": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
        },
        "too large": {"certificate": "x" * 70_000, "private_key": "y"},
    }
    for case, fields in cases.items():
        response = client.post(
            f"{SSL}/install", json={"domain": "example.com", **fields}, headers=bearer(john)
        )
        assert response.status_code == 400, f"{case}: {response.text}"
        assert response.json()["details"], case
    assert not (settings.data_dir / "ssl" / "example.com" / "fullchain.pem").exists()


def test_other_tenant_and_package(client: TestClient, john: str, settings: Settings) -> None:
    mary_id = create_account(settings, "mary")
    add_domain_row(settings, mary_id, "example.org")
    for path in ("issue", "csr"):
        response = client.post(
            f"{SSL}/{path}", json={"domain": "example.org"}, headers=bearer(john)
        )
        assert response.status_code == 404, path

    change_account(settings, "john", feature_overrides={"ssl": False})
    for path in ("issue", "csr"):
        response = client.post(
            f"{SSL}/{path}", json={"domain": "example.com"}, headers=bearer(john)
        )
        assert response.status_code == 403, path
        assert response.json()["code"] == "FORBIDDEN"


def test_list_in_scope(client: TestClient, john: str, settings: Settings) -> None:
    mary_id = create_account(settings, "mary")
    mary_domain = add_domain_row(settings, mary_id, "example.org")
    add_certificate_row(settings, mary_domain, CertificateSource.UPLOADED, 50)
    assert client.get(f"{SSL}/certificates", headers=bearer(john)).json() == []
    listed = client.get(f"{SSL}/certificates", headers=bearer(login(client))).json()
    assert [(item["domain"], item["owner"]) for item in listed] == [("example.org", "mary")]
    assert listed[0]["days_remaining"] in (49, 50)
    assert listed[0]["served"] is None


def test_renewals_queued_once(client: TestClient, settings: Settings) -> None:
    owner_id = create_account(settings, "john")
    soon = add_domain_row(settings, owner_id, "example.com")
    later = add_domain_row(settings, owner_id, "example.net")
    uploaded = add_domain_row(settings, owner_id, "example.org")
    add_certificate_row(settings, soon, CertificateSource.ACME, 10)
    add_certificate_row(settings, later, CertificateSource.ACME, 80)
    add_certificate_row(settings, uploaded, CertificateSource.UPLOADED, 5)
    panel = client.app.state.panel  # type: ignore[attr-defined]
    # Hold the queue's consumer off the new jobs, so they stay queued for the second check.
    panel.jobs.stop_consumer()

    assert len(queue_renewals(panel)) == 1
    assert queue_renewals(panel) == []
    (params,) = jobs_of(settings, JOB_RENEW)
    assert params["domain"] == "example.com"
    assert params["names"] == ["example.com", "www.example.com"]


def test_unreachable_acme_server_fails_job(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path / "data",
        ssl={"acme_directory_url": CLOSED_ACME},
        dns={"port": free_port(), "api_port": free_port()},
    )
    with TestClient(create_app(settings), client=CLIENT_ADDRESS) as client:
        owner_id = create_account(settings, "john")
        add_domain_row(settings, owner_id, "example.com")
        john = login(client, "john", "account-password")

        accepted = client.post(f"{SSL}/issue", json={"domain": "example.com"}, headers=bearer(john))
        assert accepted.status_code == 202, accepted.text
        # Nothing resolves through the stopped DNS server, so only the domain is ordered.
        job = wait_job(client, john, accepted.json()["job_id"])
        assert job["status"] == "failed", job
        assert "127.0.0.1:9" in job["error"]
        (failure,) = events(settings, "ssl.failed")
        assert failure["domain"] == "example.com"
        assert failure["names"] == ["example.com"]
        assert not (settings.data_dir / "ssl" / "example.com").exists()


def test_orphan_directories_swept(client: TestClient, john: str, settings: Settings) -> None:
    kept = settings.data_dir / "ssl" / "example.com"
    orphan = settings.data_dir / "ssl" / "gone.example"
    odd = settings.data_dir / "ssl" / "not a hostname"
    for directory in (kept, orphan, odd):
        directory.mkdir(parents=True)
        (directory / "fullchain.pem").write_text("x")
    panel = client.app.state.panel  # type: ignore[attr-defined]

    assert sweep_orphans(panel) == ["gone.example"]
    assert kept.exists()
    assert not orphan.exists()
    assert odd.exists()
