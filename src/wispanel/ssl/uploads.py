"""Checks of uploaded certificates and of the names in a CSR, before anything reaches a file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from wispanel.core.errors import ValidationFailed
from wispanel.domains.models import Domain
from wispanel.host import certificates
from wispanel.host.errors import InvalidNameError
from wispanel.host.paths import validate_hostname


@dataclass(frozen=True, slots=True)
class CheckedUpload:
    """A certificate chain and key that passed every check, re-encoded as clean PEM."""

    fullchain: bytes
    key: bytes
    info: certificates.CertificateInfo


MAX_SERIAL_OCTETS = 20


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details={field: [message]})


def _check_sizes(max_bytes: int, **fields: str | None) -> None:
    for field, value in fields.items():
        if value is None:
            continue
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError as error:
            # JSON allows escaped lone surrogates (\ud800), which no UTF-8 text can contain.
            raise _invalid(
                field, f"{field} contains a lone surrogate (U+D800 to U+DFFF); send it as PEM text"
            ) from error
        if size > max_bytes:
            raise _invalid(field, f"{field} is larger than {max_bytes} bytes")


def _check_serial(leaf: x509.Certificate) -> None:
    # RFC 5280 4.1.2.2: a positive integer of at most 20 octets in DER, sign bit included.
    serial = leaf.serial_number
    if serial <= 0:
        raise _invalid("certificate", "certificate has a serial number that is not positive")
    if serial.bit_length() // 8 + 1 > MAX_SERIAL_OCTETS:
        raise _invalid(
            "certificate",
            f"certificate has a serial number longer than {MAX_SERIAL_OCTETS} octets",
        )


def _check_names(leaf: x509.Certificate) -> tuple[str, ...]:
    """Return the certificate's DNS names; it must have a subjectAltName extension."""
    try:
        leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound as error:
        raise _invalid(
            "certificate",
            "certificate has no subjectAltName extension; browsers ignore the common name,"
            " so it must be reissued with its names in the subjectAltName",
        ) from error
    except ValueError as error:
        # Raised for malformed or duplicate extensions.
        raise _invalid("certificate", f"certificate has an invalid extension: {error}") from error
    return certificates.names_of(leaf)


def _parse_chain(field: str, value: str) -> list[x509.Certificate]:
    try:
        return certificates.load_chain(value.encode("utf-8"), field)
    except certificates.CertificateError as error:
        raise _invalid(field, str(error)) from error


def _check_validity(leaf: x509.Certificate) -> None:
    now = datetime.now(UTC)
    if leaf.not_valid_before_utc > now:
        raise _invalid(
            "certificate",
            f"certificate is not valid before {leaf.not_valid_before_utc.isoformat()}",
        )
    if leaf.not_valid_after_utc <= now:
        raise _invalid(
            "certificate", f"certificate expired on {leaf.not_valid_after_utc.isoformat()}"
        )


def check_upload(
    domain: str,
    *,
    certificate: str,
    chain: str | None,
    private_key: str | None,
    pending_key: bytes | None,
    max_bytes: int,
) -> CheckedUpload:
    """Return the upload as clean PEM if it is usable for `domain`, else raise 400.

    The certificate must have a subjectAltName that covers the domain, a serial number as
    RFC 5280 allows, and be valid now. The key must be the certificate's. Without
    `private_key`, the key kept from the last CSR of the domain is used. Parsing blocks, so
    async callers run this in a worker thread.
    """
    _check_sizes(max_bytes, certificate=certificate, chain=chain, private_key=private_key)
    parsed = _parse_chain("certificate", certificate)
    if chain is not None and chain.strip():
        parsed += _parse_chain("chain", chain)
    leaf = parsed[0]
    _check_serial(leaf)
    names = _check_names(leaf)
    if private_key is not None:
        key_bytes = private_key.encode("utf-8")
    elif pending_key is not None:
        key_bytes = pending_key
    else:
        raise _invalid(
            "private_key",
            f"private_key is required: no key from POST /api/v1/ssl/csr is pending for {domain}",
        )
    try:
        key = certificates.load_key(key_bytes)
    except certificates.CertificateError as error:
        raise _invalid("private_key", str(error)) from error
    if not certificates.key_matches(leaf, key):
        raise _invalid("private_key", "private_key does not match the certificate's public key")
    if not certificates.covers(names, domain):
        listed = ", ".join(names[:10]) or "none"
        raise _invalid("certificate", f"certificate does not cover {domain}; it names {listed}")
    _check_validity(leaf)
    fullchain = b"".join(item.public_bytes(serialization.Encoding.PEM) for item in parsed)
    return CheckedUpload(fullchain, certificates.key_pem(key), certificates.describe(leaf))


def drop_pending_key(directory: Path) -> None:
    (directory / certificates.PENDING_KEY).unlink(missing_ok=True)


def _base_names(domain: Domain) -> list[str]:
    return [domain.name, *(alias.name for alias in domain.aliases)]


def csr_names(domain: Domain, requested: Sequence[str] | None) -> list[str]:
    """Return the validated CSR names: the domain, its aliases or names under them.

    Without `requested`, the names are the domain and www.<domain>. A leading `*.`
    requests a wildcard.
    """
    if not requested:
        return [domain.name, f"www.{domain.name}"]
    bases = _base_names(domain)
    result: list[str] = []
    for raw in requested:
        wildcard = raw.startswith("*.")
        try:
            name = validate_hostname(raw[2:] if wildcard else raw, "names")
        except InvalidNameError as error:
            raise _invalid("names", str(error)) from error
        if not any(name == base or name.endswith(f".{base}") for base in bases):
            raise _invalid(
                "names", f"{name} is not {domain.name}, one of its aliases, or a name under them"
            )
        full = f"*.{name}" if wildcard else name
        if full not in result:
            result.append(full)
    return result
