"""Certificates end to end: Pebble issues, the panel's nginx serves, uploads are checked.

The panel runs its real nginx and PowerDNS on free loopback ports. Pebble resolves hosted
names through the panel's PowerDNS (127.0.0.1) and fetches HTTP-01 answers from the
panel's nginx, so an issued certificate has passed a real validation.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.testclient import TestClient

from tests.api.test_dns import events, needs_pdns, zone_of
from tests.conftest import ADMIN_PASSWORD, CLIENT_ADDRESS, bearer, login
from tests.factories import change_account
from tests.host.web_helpers import (
    free_port,
    needs_nginx,
    needs_php_fpm,
    scratch_panel_settings,
    short_data_dir,
)
from tests.integration.pebble import Pebble, needs_pebble, run_pebble
from wispanel.app import create_app
from wispanel.core.config import Settings
from wispanel.host.certificates import fingerprint, served_certificate
from wispanel.ssl import installation
from wispanel.ssl.dns_challenge import Dns01Responder

pytestmark = [pytest.mark.integration, needs_nginx, needs_php_fpm, needs_pdns]
PASSWORD = "account-password"
SSL = "/api/v1/ssl"


def create_user(client: TestClient, admin: str, username: str) -> str:
    body = {"username": username, "email": f"{username}@example.com", "password": PASSWORD}
    response = client.post("/api/v1/users", json=body, headers=bearer(admin))
    assert response.status_code == 201, response.text
    return login(client, username, PASSWORD)


def add_domain(client: TestClient, token: str, domain: str) -> None:
    response = client.post("/api/v1/domains", json={"domain": domain}, headers=bearer(token))
    assert response.status_code == 201, response.text


def served(settings: Settings, name: str) -> x509.Certificate | None:
    return served_certificate("127.0.0.1", settings.web.https_port, name)


def wait_job(client: TestClient, token: str, job_id: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}", headers=bearer(token)).json()
        if body["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def https_status(settings: Settings, host: str) -> int:
    """GET / over HTTPS with `host` as SNI and Host header; return the status code."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", settings.web.https_port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        status_line = tls.recv(64).split(b"\r\n")[0]
    return int(status_line.split()[1])


# Self-made certificates for uploads


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def self_signed(
    names: list[str], *, days: int = 30, starts_in: timedelta = timedelta(0)
) -> tuple[str, str]:
    """Return a self-signed certificate for `names` and its key, both PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    start = datetime.now(UTC) - timedelta(minutes=5) + starts_in
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(_name("WisPanel upload test"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def sign_csr(csr_pem: str) -> str:
    """Sign a CSR with a throwaway CA and return the certificate PEM."""
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    ca_key = ec.generate_private_key(ec.SECP256R1())
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(_name("WisPanel CSR test CA"))
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(san, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


# Issuing through Pebble


@pytest.fixture
def acme_panel(make_settings: Callable[..., Settings]) -> Iterator[tuple[Settings, Pebble]]:
    for directory in short_data_dir():
        http_port, dns_port = free_port(), free_port()
        with run_pebble(directory / "pebble", http_port=http_port, dns_port=dns_port) as pebble:
            yield (
                make_settings(
                    directory / "panel",
                    web={"http_port": http_port, "https_port": free_port()},
                    dns={"port": dns_port, "api_port": free_port()},
                    rate_limit={"default_per_minute": 1000, "anonymous_per_minute": 1000},
                    ssl={
                        "acme_directory_url": pebble.directory_url,
                        "acme_ca_bundle": str(pebble.ca_bundle),
                    },
                ),
                pebble,
            )


@needs_pebble
def test_issue_renew_and_delete(acme_panel: tuple[Settings, Pebble]) -> None:
    settings, pebble = acme_panel
    with TestClient(create_app(settings), client=CLIENT_ADDRESS) as client:
        john = create_user(client, login(client), "john")
        add_domain(client, john, "example.com")

        accepted = client.post(f"{SSL}/issue", json={"domain": "example.com"}, headers=bearer(john))
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["url"] == f"/api/v1/jobs/{accepted.json()['job_id']}"
        job = wait_job(client, john, accepted.json()["job_id"])
        assert job["status"] == "succeeded", job
        assert job["result"]["names"] == ["example.com", "www.example.com"]

        leaf = served(settings, "example.com")
        assert leaf is not None
        assert served(settings, "www.example.com") == leaf
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert sorted(san.get_values_for_type(x509.DNSName)) == ["example.com", "www.example.com"]
        chain = (settings.data_dir / "ssl" / "example.com" / "fullchain.pem").read_bytes()
        intermediate = x509.load_pem_x509_certificates(chain)[1]
        leaf.verify_directly_issued_by(intermediate)
        root = pebble.issuing_roots()[0]
        intermediate.verify_directly_issued_by(root)
        key_file = settings.data_dir / "ssl" / "example.com" / "privkey.pem"
        assert key_file.stat().st_mode & 0o777 == 0o600
        assert https_status(settings, "example.com") == 200

        fetched = client.get(f"{SSL}/certificates/example.com", headers=bearer(john))
        assert fetched.status_code == 200, fetched.text
        assert fetched.json()["source"] == "acme"
        assert fetched.json()["served"]["matches"] is True
        assert fetched.json()["fingerprint_sha256"] == fingerprint(leaf)
        assert fetched.json()["issuer"] == intermediate.subject.rfc4514_string()
        listed = client.get(f"{SSL}/certificates", headers=bearer(john)).json()
        assert [item["domain"] for item in listed] == ["example.com"]
        page = client.get(f"{SSL}/certificates?per_page=1", headers=bearer(john)).json()
        assert page["meta"]["total"] == 1
        assert [event["domain"] for event in events(settings, "ssl.issued")] == ["example.com"]

        renewal = client.post(f"{SSL}/renew", json={"domain": "example.com"}, headers=bearer(john))
        assert renewal.status_code == 202, renewal.text
        assert wait_job(client, john, renewal.json()["job_id"])["status"] == "succeeded"
        renewed = served(settings, "example.com")
        assert renewed is not None
        assert fingerprint(renewed) != fingerprint(leaf)
        assert [event["domain"] for event in events(settings, "ssl.renewed")] == ["example.com"]

        deleted = client.delete(f"{SSL}/certificates/example.com", headers=bearer(john))
        assert deleted.status_code == 200, deleted.text
        assert served(settings, "example.com") is None
        assert not key_file.exists()
        domain = client.get("/api/v1/domains/example.com", headers=bearer(john)).json()
        assert domain["ssl_enabled"] is False
        assert client.get(f"{SSL}/certificates", headers=bearer(john)).json() == []


@needs_pebble
def test_wildcard_through_dns01(acme_panel: tuple[Settings, Pebble]) -> None:
    settings, _pebble = acme_panel
    with TestClient(create_app(settings), client=CLIENT_ADDRESS) as client:
        john = create_user(client, login(client), "john")
        add_domain(client, john, "example.com")
        records_before = zone_of(client, john, "example.com")["records"]

        body = {"domain": "example.com", "wildcard": True}
        accepted = client.post(f"{SSL}/issue", json=body, headers=bearer(john))
        assert accepted.status_code == 202, accepted.text
        job = wait_job(client, john, accepted.json()["job_id"])
        assert job["status"] == "succeeded", job
        assert job["result"]["names"] == ["example.com", "*.example.com"]

        leaf = served(settings, "www.example.com")
        assert leaf is not None
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert sorted(san.get_values_for_type(x509.DNSName)) == ["*.example.com", "example.com"]
        # The challenge record lived only in PowerDNS, and only during the order.
        pdns = client.app.state.panel.dns  # type: ignore[attr-defined]
        rrsets = pdns.api().get_zone("example.com.")["rrsets"]
        assert not [r for r in rrsets if r["name"].startswith("_acme-challenge")]
        assert zone_of(client, john, "example.com")["records"] == records_before


@needs_pebble
def test_failed_validation_keeps_state(acme_panel: tuple[Settings, Pebble]) -> None:
    settings, _pebble = acme_panel
    with TestClient(create_app(settings), client=CLIENT_ADDRESS) as client:
        john = create_user(client, login(client), "john")
        add_domain(client, john, "example.com")
        records = zone_of(client, john, "example.com")["records"]
        apex = next(r for r in records if r["type"] == "A" and r["name"] == "@")
        # nginx listens on 127.0.0.1 only, so Pebble's fetch from 127.0.0.2 is rejected.
        moved = client.put(
            f"/api/v1/dns/zones/example.com/records/{apex['id']}",
            json={"name": "@", "type": "A", "content": "127.0.0.2"},
            headers=bearer(john),
        )
        assert moved.status_code == 200, moved.text

        body = {"domain": "example.com", "include_www": False}
        accepted = client.post(f"{SSL}/issue", json=body, headers=bearer(john))
        assert accepted.status_code == 202, accepted.text
        job = wait_job(client, john, accepted.json()["job_id"])
        assert job["status"] == "failed", job
        assert "example.com" in job["error"]
        failures = events(settings, "ssl.failed")
        assert [event["domain"] for event in failures] == ["example.com"]
        assert served(settings, "example.com") is None
        assert not (settings.data_dir / "ssl" / "example.com" / "fullchain.pem").exists()
        missing = client.get(f"{SSL}/certificates/example.com", headers=bearer(john))
        assert missing.status_code == 404


# Uploads, CSRs, scope and packages; no ACME server needed


@pytest.fixture
def panel_settings(make_settings: Callable[..., Settings]) -> Iterator[Settings]:
    yield from scratch_panel_settings(make_settings)


@pytest.fixture
def client(panel_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(panel_settings), client=CLIENT_ADDRESS) as test_client:
        yield test_client


def challenge_values(client: TestClient, name: str) -> set[str]:
    pdns = client.app.state.panel.dns  # type: ignore[attr-defined]
    rrsets = pdns.api().get_zone("example.com.")["rrsets"]
    found = [r for r in rrsets if r["name"] == name and r["type"] == "TXT"]
    return {record["content"] for rrset in found for record in rrset["records"]}


def test_overlapping_dns_challenges(client: TestClient) -> None:
    john = create_user(client, login(client), "john")
    add_domain(client, john, "example.com")
    panel = client.app.state.panel  # type: ignore[attr-defined]
    name = "_acme-challenge.example.com."
    first, second = Dns01Responder(panel), Dns01Responder(panel)

    first.present("example.com", "token-of-the-first-order", "first-digest")
    second.present("example.com", "token-of-the-second-order", "second-digest")
    assert challenge_values(client, name) == {'"first-digest"', '"second-digest"'}
    first.cleanup()
    assert challenge_values(client, name) == {'"second-digest"'}
    second.cleanup()
    assert challenge_values(client, name) == set()


def test_upload_checked_and_served(client: TestClient, panel_settings: Settings) -> None:
    john = create_user(client, login(client), "john")
    add_domain(client, john, "example.com")
    certificate, key = self_signed(["example.com", "www.example.com"])

    installed = client.post(
        f"{SSL}/install",
        json={"domain": "example.com", "certificate": certificate, "private_key": key},
        headers=bearer(john),
    )
    assert installed.status_code == 200, installed.text
    first = installed.json()["fingerprint_sha256"]
    leaf = served(panel_settings, "example.com")
    assert leaf is not None
    assert fingerprint(leaf) == first
    assert installed.json()["source"] == "uploaded"

    _other_certificate, other_key = self_signed(["example.com"])
    expired = self_signed(["example.com"], days=1, starts_in=timedelta(days=-3))
    future = self_signed(["example.com"], starts_in=timedelta(days=2))
    elsewhere = self_signed(["example.org"])
    rejected = {
        "mismatched key": ({"certificate": certificate, "private_key": other_key}, "private_key"),
        "expired": ({"certificate": expired[0], "private_key": expired[1]}, "certificate"),
        "not yet valid": ({"certificate": future[0], "private_key": future[1]}, "certificate"),
        "other name": ({"certificate": elsewhere[0], "private_key": elsewhere[1]}, "certificate"),
        "not PEM": ({"certificate": "hello", "private_key": key}, "certificate"),
        "key not PEM": ({"certificate": certificate, "private_key": "hello"}, "private_key"),
        "too large": (
            {"certificate": certificate + "x" * 70_000, "private_key": key},
            "certificate",
        ),
    }
    for case, (fields, field) in rejected.items():
        response = client.post(
            f"{SSL}/install", json={"domain": "example.com", **fields}, headers=bearer(john)
        )
        assert response.status_code == 400, f"{case}: {response.text}"
        assert field in response.json()["details"], case
        assert key.splitlines()[1] not in response.text, case
    still = served(panel_settings, "example.com")
    assert still is not None
    assert fingerprint(still) == first

    csr = client.post(
        f"{SSL}/csr", json={"domain": "example.com", "key_type": "rsa2048"}, headers=bearer(john)
    )
    assert csr.status_code == 200, csr.text
    assert "PRIVATE KEY-----" not in csr.text
    pending = panel_settings.data_dir / "ssl" / "example.com" / "pending-key.pem"
    assert pending.stat().st_mode & 0o777 == 0o600
    signed = sign_csr(csr.json()["csr"])
    from_csr = client.post(
        f"{SSL}/install",
        json={"domain": "example.com", "certificate": signed},
        headers=bearer(john),
    )
    assert from_csr.status_code == 200, from_csr.text
    now_served = served(panel_settings, "example.com")
    assert now_served is not None
    assert fingerprint(now_served) == from_csr.json()["fingerprint_sha256"]
    assert not pending.exists()

    removed = client.delete("/api/v1/domains/example.com", headers=bearer(john))
    assert removed.status_code == 200, removed.text
    assert not (panel_settings.data_dir / "ssl" / "example.com").exists()


def test_failed_install_serves_previous(
    client: TestClient, panel_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    john = create_user(client, login(client), "john")
    add_domain(client, john, "example.com")
    certificate, key = self_signed(["example.com"])
    upload = {"domain": "example.com", "certificate": certificate, "private_key": key}
    first = client.post(f"{SSL}/install", json=upload, headers=bearer(john))
    assert first.status_code == 200, first.text

    # nginx takes the new certificate, but the check after the reload reports it missing.
    monkeypatch.setattr(installation, "wait_until_served", lambda *_args: False)
    second_certificate, second_key = self_signed(["example.com"])
    upload = {"domain": "example.com", "certificate": second_certificate, "private_key": second_key}
    failed = client.post(f"{SSL}/install", json=upload, headers=bearer(john))
    assert failed.status_code == 502, failed.text

    expected = first.json()["fingerprint_sha256"]
    deadline = time.monotonic() + 5
    leaf = served(panel_settings, "example.com")
    while (leaf is None or fingerprint(leaf) != expected) and time.monotonic() < deadline:
        time.sleep(0.1)
        leaf = served(panel_settings, "example.com")
    assert leaf is not None
    assert fingerprint(leaf) == expected
    fetched = client.get(f"{SSL}/certificates/example.com", headers=bearer(john)).json()
    assert fetched["fingerprint_sha256"] == expected


def test_files_go_with_account(client: TestClient, panel_settings: Settings) -> None:
    admin = login(client)
    john = create_user(client, admin, "john")
    add_domain(client, john, "example.com")
    certificate, key = self_signed(["example.com"])
    upload = {"domain": "example.com", "certificate": certificate, "private_key": key}
    assert client.post(f"{SSL}/install", json=upload, headers=bearer(john)).status_code == 200
    csr = client.post(f"{SSL}/csr", json={"domain": "example.com"}, headers=bearer(john))
    assert csr.status_code == 200, csr.text
    directory = panel_settings.data_dir / "ssl" / "example.com"
    assert (directory / "pending-key.pem").exists()

    confirmed = client.post(
        "/api/v1/auth/reauth", json={"password": ADMIN_PASSWORD}, headers=bearer(admin)
    )
    assert confirmed.status_code == 200, confirmed.text
    deleted = client.delete("/api/v1/users/john", headers=bearer(admin))
    assert deleted.status_code == 200, deleted.text
    assert not directory.exists()

    # A directory left for a name, by a crash or an older panel, goes when the name is added.
    leftover = panel_settings.data_dir / "ssl" / "example.org"
    leftover.mkdir(mode=0o700)
    (leftover / "fullchain.pem").write_text(certificate)
    (leftover / "privkey.pem").write_text(key)
    mary = create_user(client, admin, "mary")
    add_domain(client, mary, "example.org")
    assert not leftover.exists()
    enabled = client.put(
        "/api/v1/domains/example.org", json={"ssl_enabled": True}, headers=bearer(mary)
    )
    assert enabled.status_code == 200, enabled.text
    assert served(panel_settings, "example.org") is None


def test_scope_and_package(client: TestClient, panel_settings: Settings) -> None:
    admin = login(client)
    john = create_user(client, admin, "john")
    mary = create_user(client, admin, "mary")
    add_domain(client, john, "example.com")
    add_domain(client, mary, "example.org")
    certificate, key = self_signed(["example.org"])
    upload = {"domain": "example.org", "certificate": certificate, "private_key": key}

    assert client.post(f"{SSL}/install", json=upload, headers=bearer(john)).status_code == 404
    assert (
        client.post(
            f"{SSL}/issue", json={"domain": "example.org"}, headers=bearer(john)
        ).status_code
        == 404
    )
    assert (
        client.post(f"{SSL}/csr", json={"domain": "example.org"}, headers=bearer(john)).status_code
        == 404
    )
    assert client.get(f"{SSL}/certificates/example.org", headers=bearer(john)).status_code == 404
    assert client.delete(f"{SSL}/certificates/example.org", headers=bearer(john)).status_code == 404
    assert client.post(f"{SSL}/install", json=upload, headers=bearer(mary)).status_code == 200
    assert client.get(f"{SSL}/certificates", headers=bearer(john)).json() == []
    assert len(client.get(f"{SSL}/certificates", headers=bearer(admin)).json()) == 1

    change_account(panel_settings, "john", feature_overrides={"ssl": False})
    john_certificate, john_key = self_signed(["example.com"])
    body = {"domain": "example.com", "certificate": john_certificate, "private_key": john_key}
    forbidden = client.post(f"{SSL}/install", json=body, headers=bearer(john))
    assert forbidden.status_code == 403, forbidden.text
    issue = client.post(f"{SSL}/issue", json={"domain": "example.com"}, headers=bearer(john))
    assert issue.status_code == 403
    fetched = served(panel_settings, "example.com")
    refused = x509.load_pem_x509_certificate(john_certificate.encode())
    assert fetched is None or fingerprint(fetched) != fingerprint(refused)
    assert not (panel_settings.data_dir / "ssl" / "example.com").exists()
