"""Certificate endpoints without an ACME server or nginx: validation, scope, CSRs, renewals.

Domain rows are written straight into the database, because adding one through the API
needs nginx. The ACME directory points at a closed loopback port, so no test can reach a
real certificate authority.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from starlette.testclient import TestClient

from tests.conftest import CLIENT_ADDRESS, bearer, login
from tests.factories import change_account, create_account
from tests.host.web_helpers import free_port
from wispanel.app import create_app
from wispanel.core.config import Settings
from wispanel.core.database import create_sync_engine
from wispanel.core.models import EventRecord
from wispanel.domains.models import Domain, DomainAlias
from wispanel.jobs import service as jobs_service
from wispanel.jobs.models import Job
from wispanel.jobs.queue import JobQueue
from wispanel.ssl import installation, issuance
from wispanel.ssl.cleanup import sweep_orphans
from wispanel.ssl.issuance import JOB_ISSUE, JOB_RENEW, queue_renewals
from wispanel.ssl.models import NAME_TEXT_LENGTH, Certificate, CertificateSource

SSL = "/api/v1/ssl"
CLOSED_ACME = "https://127.0.0.1:9/directory"


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(ssl={"acme_directory_url": CLOSED_ACME})


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), client=CLIENT_ADDRESS) as test_client:
        yield test_client


def add_domain_row(
    settings: Settings, owner_id: int, name: str, domain_id: int | None = None
) -> int:
    engine = create_sync_engine(settings.database_url)
    with Session(engine) as db:
        domain = Domain(
            id=domain_id,
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


def delete_row(settings: Settings, model: type[Domain | DomainAlias], row_id: int) -> None:
    engine = create_sync_engine(settings.database_url)
    with Session(engine) as db:
        db.execute(delete(model).where(model.id == row_id))
        db.commit()
    engine.dispose()


def add_alias_row(settings: Settings, domain_id: int, name: str) -> int:
    engine = create_sync_engine(settings.database_url)
    with Session(engine) as db:
        alias = DomainAlias(domain_id=domain_id, name=name)
        db.add(alias)
        db.commit()
        alias_id = alias.id
    engine.dispose()
    return alias_id


def add_certificate_row(
    settings: Settings,
    domain_id: int,
    source: str,
    days_left: int,
    names: list[str] | None = None,
) -> None:
    now = datetime.now(UTC)
    engine = create_sync_engine(settings.database_url)
    with Session(engine) as db:
        db.add(
            Certificate(
                domain_id=domain_id,
                source=source,
                names=names or ["example.com", "www.example.com"],
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
        statement = select(Job).where(Job.kind == kind).order_by(Job.created_at)
        found = [dict(job.params) for job in db.scalars(statement)]
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
    fetched = client.get(f"{SSL}/certificates/example.com", headers=bearer(john))
    assert fetched.status_code == 404
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


def test_job_checks_queued_domain(client: TestClient, settings: Settings) -> None:
    john_id = create_account(settings, "john")
    mary_id = create_account(settings, "mary")
    john = login(client, "john", "account-password")
    panel = client.app.state.panel  # type: ignore[attr-defined]
    panel.jobs.stop_consumer()
    # SQLite gives a deleted row's id to the next insert; the explicit id does the same on
    # every database. Mary's row gets either another name or the same name.
    for queued, marys in (("race4.com", "marys-site.org"), ("again.com", "again.com")):
        domain_id = add_domain_row(settings, john_id, queued)
        body = {"domain": queued, "include_www": False}
        accepted = client.post(f"{SSL}/issue", json=body, headers=bearer(john))
        assert accepted.status_code == 202, accepted.text
        delete_row(settings, Domain, domain_id)
        add_domain_row(settings, mary_id, marys, domain_id)

        panel.jobs.run(accepted.json()["job_id"])
        job = wait_job(client, john, accepted.json()["job_id"])
        assert job["status"] == "failed", job
        expected = f"Certificate for {queued} was not issued: the domain no longer exists"
        assert job["error"] == expected
    assert events(settings, "ssl.failed") == []


def test_names_rechecked_at_order(client: TestClient, settings: Settings) -> None:
    john_id = create_account(settings, "john")
    mary_id = create_account(settings, "mary")
    john = login(client, "john", "account-password")
    domain_id = add_domain_row(settings, john_id, "example.com")
    alias_id = add_alias_row(settings, domain_id, "johns-alias.net")
    before = ["example.com", "www.example.com", "johns-alias.net", "www.johns-alias.net"]
    add_certificate_row(settings, domain_id, CertificateSource.ACME, 10, names=before)
    panel = client.app.state.panel  # type: ignore[attr-defined]
    panel.jobs.stop_consumer()

    queued = client.post(f"{SSL}/renew", json={"domain": "example.com"}, headers=bearer(john))
    assert queued.status_code == 202, queued.text
    assert jobs_of(settings, JOB_RENEW)[0]["names"] == before
    delete_row(settings, DomainAlias, alias_id)
    add_domain_row(settings, mary_id, "johns-alias.net")

    # The job queued while the alias was John's orders only his names now.
    panel.jobs.run(queued.json()["job_id"])
    assert wait_job(client, john, queued.json()["job_id"])["status"] == "failed"
    (failure,) = events(settings, "ssl.failed")
    assert failure["names"] == ["example.com", "www.example.com"]

    again = client.post(f"{SSL}/renew", json={"domain": "example.com"}, headers=bearer(john))
    assert again.status_code == 202, again.text
    panel.jobs.run(again.json()["job_id"])
    assert wait_job(client, john, again.json()["job_id"])["status"] == "failed"
    assert queue_renewals(panel) != []
    requested = [params["names"] for params in jobs_of(settings, JOB_RENEW)]
    assert requested[1:] == [["example.com", "www.example.com"]] * 2


def test_simultaneous_issue_queues_one(
    client: TestClient, john: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    panel = client.app.state.panel  # type: ignore[attr-defined]
    panel.jobs.stop_consumer()
    body = {"domain": "example.com", "include_www": False}
    submit = jobs_service.submit

    async def slow_submit(
        db: AsyncSession, queue: JobQueue, kind: str, params: dict[str, Any], owner_id: int | None
    ) -> Job:
        # Widens the gap between the check for a pending job and the insert of the new one.
        await anyio.sleep(0.5)
        return await submit(db, queue, kind, params, owner_id)

    monkeypatch.setattr(jobs_service, "submit", slow_submit)

    def post(_: int) -> int:
        return client.post(f"{SSL}/issue", json=body, headers=bearer(john)).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(post, range(6)))
    assert statuses == [202, 409, 409, 409, 409, 409]
    assert len(jobs_of(settings, JOB_ISSUE)) == 1


def sign_csr(csr_pem: str) -> str:
    """Sign a CSR with a throwaway CA and return the certificate PEM."""
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "WisPanel CSR test CA")])
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca_name)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(san, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def test_stale_pending_key_ignored(client: TestClient, settings: Settings) -> None:
    john_id = create_account(settings, "john")
    mary_id = create_account(settings, "mary")
    john = login(client, "john", "account-password")
    domain_id = add_domain_row(settings, john_id, "example.com")
    csr = client.post(f"{SSL}/csr", json={"domain": "example.com"}, headers=bearer(john))
    assert csr.status_code == 200, csr.text
    signed = sign_csr(csr.json()["csr"])
    delete_row(settings, Domain, domain_id)
    add_domain_row(settings, mary_id, "example.com")
    assert (settings.data_dir / "ssl" / "example.com" / "pending-key.pem").exists()

    mary = login(client, "mary", "account-password")
    body = {"domain": "example.com", "certificate": signed}
    response = client.post(f"{SSL}/install", json=body, headers=bearer(mary))
    assert response.status_code == 400, response.text
    assert "private_key is required" in response.json()["message"]


# Checks of uploads that run before anything reaches nginx

UploadKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def self_signed(
    key: UploadKey | None = None,
    *,
    san: bool = True,
    subject: x509.Name | None = None,
) -> tuple[str, str]:
    """Return a self-signed certificate for example.com and its key, both PEM."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example.com")])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject or name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
    )
    if san:
        names = x509.SubjectAlternativeName([x509.DNSName("example.com")])
        builder = builder.add_extension(names, critical=False)
    certificate = builder.sign(key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def openssl_certificate(tmp_path: Path, serial: str) -> tuple[str, str]:
    """Return a certificate with any serial number (the builder rejects odd ones) and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(key_pem)
    command = [
        "openssl", "req", "-x509", "-new", "-key", str(key_file), "-set_serial", serial,
        "-subj", "/CN=example.com", "-addext", "subjectAltName=DNS:example.com", "-days", "2",
    ]  # fmt: skip
    certificate = subprocess.run(command, capture_output=True, check=True, text=True).stdout
    return certificate, key_pem.decode()


def bogus_rsa_key(bits: int) -> str:
    """Return an RSA key whose "primes" are random odd numbers: quick to make, slow to check."""

    def odd(size: int) -> int:
        # The two top bits set make the product exactly twice as long.
        return secrets.randbits(size) | (3 << (size - 2)) | 1

    p, q = odd(bits // 2), odd(bits // 2)
    d = p * q - 2
    numbers = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=d % (p - 1),
        dmq1=d % (q - 1),
        iqmp=odd(bits // 2 - 8),
        public_numbers=rsa.RSAPublicNumbers(65537, p * q),
    )
    key = numbers.private_key(unsafe_skip_rsa_key_validation=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return pem.decode()


def install(client: TestClient, token: str, **fields: str) -> Any:
    return client.post(
        f"{SSL}/install", json={"domain": "example.com", **fields}, headers=bearer(token)
    )


def test_install_rejects_weak_keys(client: TestClient, john: str) -> None:
    keys: dict[str, UploadKey] = {
        "1024-bit RSA key": rsa.generate_private_key(65537, 1024),  # noqa: S505 - must fail
        "EC key on secp521r1": ec.generate_private_key(ec.SECP521R1()),
    }
    for case, key in keys.items():
        certificate, key_pem = self_signed(key)
        response = install(client, john, certificate=certificate, private_key=key_pem)
        assert response.status_code == 400, f"{case}: {response.text}"
        assert case in response.json()["details"]["private_key"][0]


def test_huge_rsa_key_rejected_quickly(client: TestClient, john: str) -> None:
    certificate, _key = self_signed()
    huge = bogus_rsa_key(66_000)
    assert 40_000 < len(huge) < 60_000
    started = time.monotonic()
    response = install(client, john, certificate=certificate, private_key=huge)
    elapsed = time.monotonic() - started
    assert response.status_code == 400, response.text
    assert "66000-bit RSA key" in response.json()["details"]["private_key"][0]
    # Testing the bogus primes, as a full key check does, takes over 10 s.
    assert elapsed < 3, elapsed


def test_lone_surrogate_rejected(client: TestClient, john: str) -> None:
    certificate, key = self_signed()
    fields = {"certificate": certificate, "private_key": key, "chain": certificate}
    for field in fields:
        # json.dumps escapes the surrogate as \ud800, which JSON allows.
        body = json.dumps({"domain": "example.com", **fields, field: "-----BEGIN \ud800"})
        response = client.post(
            f"{SSL}/install",
            content=body,
            headers={**bearer(john), "Content-Type": "application/json"},
        )
        assert response.status_code == 400, f"{field}: {response.text}"
        assert list(response.json()["details"]) == [field]


def test_key_errors_name_the_cause(client: TestClient, john: str) -> None:
    certificate, key = self_signed()
    loaded = serialization.load_pem_private_key(key.encode(), password=None)
    encrypted = loaded.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret passphrase"),
    ).decode()
    malformed = key.replace(key.splitlines()[2], "A" * 64)

    locked = install(client, john, certificate=certificate, private_key=encrypted)
    assert locked.status_code == 400, locked.text
    assert "private_key is encrypted" in locked.json()["message"]
    broken = install(client, john, certificate=certificate, private_key=malformed)
    assert broken.status_code == 400, broken.text
    assert "could not be parsed" in broken.json()["message"]
    assert "passphrase" not in broken.json()["message"]


def test_certificate_without_san_rejected(client: TestClient, john: str) -> None:
    certificate, key = self_signed(san=False)
    response = install(client, john, certificate=certificate, private_key=key)
    assert response.status_code == 400, response.text
    assert "no subjectAltName" in response.json()["details"]["certificate"][0]


def test_serial_numbers_checked(client: TestClient, john: str, tmp_path: Path) -> None:
    cases = {
        "-5": "not positive",
        "0x" + "7f" * 21: "longer than 20 octets",
    }
    for serial, expected in cases.items():
        certificate, key = openssl_certificate(tmp_path, serial)
        response = install(client, john, certificate=certificate, private_key=key)
        assert response.status_code == 400, f"{serial}: {response.text}"
        assert expected in response.json()["details"]["certificate"][0], serial


def test_long_subject_fitted() -> None:
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"unit {i:02} " + "x" * 50)
            for i in range(30)
        ]
    )
    certificate, _key = self_signed(subject=subject)
    row = Certificate(domain_id=1)
    installation._fill(row, x509.load_pem_x509_certificate(certificate.encode()), "uploaded")
    assert len(row.subject) == NAME_TEXT_LENGTH
    assert row.subject.endswith("...")
    assert row.issuer == "CN=example.com"


def test_job_error_hides_database() -> None:
    stale = StaleDataError(
        "UPDATE statement on table 'domains' expected to update 1 row(s); 0 were matched."
    )
    reason = issuance._reason(stale)
    assert "domains" not in reason
    assert "UPDATE" not in reason
    assert "changed or deleted" in reason
