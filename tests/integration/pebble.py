"""Pebble, Let's Encrypt's test ACME server from Debian, started on loopback ports for a test."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.host.web_helpers import free_port
from wispanel.host.runner import which

needs_pebble = pytest.mark.skipif(which("pebble") is None, reason="pebble is not installed")


@dataclass(frozen=True)
class Pebble:
    directory_url: str
    management_url: str
    # The CA that signed Pebble's own HTTPS certificate, for the ACME client to trust.
    ca_bundle: Path

    def issuing_roots(self) -> list[x509.Certificate]:
        """Return Pebble's current issuing root, fetched from its management interface."""
        context = ssl.create_default_context(cafile=str(self.ca_bundle))
        with urllib.request.urlopen(  # noqa: S310 - a https URL on loopback built above
            f"{self.management_url}/roots/0", context=context, timeout=5
        ) as response:
            return x509.load_pem_x509_certificates(response.read())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def write_server_certificate(directory: Path) -> tuple[Path, Path, Path]:
    """Write a throwaway CA and a certificate for 127.0.0.1 it signed; return their paths."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("WisPanel test CA for Pebble"))
        .issuer_name(_name("WisPanel test CA for Pebble"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    san = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(IPv4Address("127.0.0.1"))]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(san, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def _wait_ready(url: str, ca_bundle: Path, process: subprocess.Popen[bytes]) -> None:
    context = ssl.create_default_context(cafile=str(ca_bundle))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pebble exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(url, context=context, timeout=2):  # noqa: S310 - loopback
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"pebble did not answer at {url} within 15 seconds")


@contextmanager
def run_pebble(directory: Path, *, http_port: int, dns_port: int) -> Iterator[Pebble]:
    """Run Pebble on free loopback ports until the block ends.

    Pebble validates HTTP-01 on `http_port` of the address that the DNS server on
    `dns_port` returns for each name.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca_bundle, certificate, key = write_server_certificate(directory)
    acme_port, management_port = free_port(), free_port()
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{acme_port}",
            "managementListenAddress": f"127.0.0.1:{management_port}",
            "certificate": str(certificate),
            "privateKey": str(key),
            "httpPort": http_port,
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }
    config_file = directory / "pebble-config.json"
    config_file.write_text(json.dumps(config), encoding="utf-8")
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        # Validate at once, and never reuse an authorisation, so every order is checked.
        "PEBBLE_VA_NOSLEEP": "1",
        "PEBBLE_AUTHZREUSE": "0",
    }
    log = (directory / "pebble.log").open("wb")
    process = subprocess.Popen(
        [
            str(which("pebble")),
            "-config",
            str(config_file),
            "-dnsserver",
            f"127.0.0.1:{dns_port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=environment,
    )
    try:
        directory_url = f"https://127.0.0.1:{acme_port}/dir"
        _wait_ready(directory_url, ca_bundle, process)
        yield Pebble(directory_url, f"https://127.0.0.1:{management_port}", ca_bundle)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
