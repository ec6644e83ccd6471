"""Certificate and key files: parse, check, generate, write atomically, and read what is served.

Everything here works on PEM bytes with `cryptography`. Keys are written 0600 in a 0700
directory and never logged.
"""

from __future__ import annotations

import socket
import ssl
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from wispanel.host.errors import HostError
from wispanel.host.files import FileTransaction, atomic_write

FULLCHAIN = "fullchain.pem"
PRIVATE_KEY = "privkey.pem"
# The key of a CSR made by the panel, kept until a certificate for it is installed.
PENDING_KEY = "pending-key.pem"
KEY_TYPES = ("ec256", "ec384", "rsa2048", "rsa3072", "rsa4096")
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
# Key sizes and curves accepted in uploads. Smaller RSA keys fail OpenSSL's default security
# level 2 in Debian, and larger ones make every handshake slow.
RSA_BITS = (2048, 8192)
EC_CURVES = ("secp256r1", "secp384r1")


class CertificateError(HostError, ValueError):
    """A certificate, chain or key that can't be used; the message names the problem."""


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """The facts about a certificate that the API shows."""

    subject: str
    issuer: str
    names: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    serial: str
    fingerprint_sha256: str


def generate_key(key_type: str) -> PrivateKey:
    """Generate a private key of one of KEY_TYPES (`ec256`, `rsa2048`, ...)."""
    if key_type == "ec256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "ec384":
        return ec.generate_private_key(ec.SECP384R1())
    if key_type in ("rsa2048", "rsa3072", "rsa4096"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[3:]))
    raise CertificateError(f"unknown key type {key_type[:16]!r}; use one of {', '.join(KEY_TYPES)}")


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def build_csr(key: PrivateKey, names: Sequence[str]) -> bytes:
    """Return a PEM CSR for `names`: the first is the common name, all are in the SAN."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    san = x509.SubjectAlternativeName([x509.DNSName(name) for name in names])
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(san, critical=False)
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM)


def load_chain(pem: bytes, field: str = "certificate") -> list[x509.Certificate]:
    """Parse one or more PEM certificates, leaf first; raise CertificateError if none."""
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        raise CertificateError(f"{field} is not a PEM certificate (BEGIN CERTIFICATE missing)")
    try:
        chain = x509.load_pem_x509_certificates(pem)
    except ValueError as error:
        raise CertificateError(f"{field} is not a valid PEM certificate: {error}") from error
    return chain


def load_key(pem: bytes) -> PrivateKey:
    """Parse an unencrypted PEM private key: RSA of 2048-8192 bits, or EC on P-256 or P-384.

    RSA keys are loaded without OpenSSL's consistency check, which tests the primes and
    takes seconds for a large key with bogus ones. Callers compare the key with the
    certificate's public key, and `nginx -t` rejects a private half that doesn't fit it.
    """
    if b"PRIVATE KEY-----" not in pem:
        raise CertificateError("private_key is not a PEM private key (BEGIN PRIVATE KEY missing)")
    try:
        key = serialization.load_pem_private_key(
            pem, password=None, unsafe_skip_rsa_key_validation=True
        )
    except TypeError as error:
        # Raised for an encrypted key when no password is given.
        raise CertificateError(
            "private_key is encrypted; remove its passphrase, for example with"
            " `openssl pkey -in key.pem -out plain.pem`"
        ) from error
    except UnsupportedAlgorithm as error:
        raise CertificateError("private_key uses a key algorithm that is not supported") from error
    except ValueError as error:
        # The message never includes the key itself.
        raise CertificateError(
            "private_key could not be parsed: the PEM block or the key inside it is malformed"
        ) from error
    return check_key_type(key)


def check_key_type(key: object) -> PrivateKey:
    """Return `key` if it is RSA of RSA_BITS or EC on EC_CURVES; raise CertificateError if not."""
    if isinstance(key, rsa.RSAPrivateKey):
        if not RSA_BITS[0] <= key.key_size <= RSA_BITS[1]:
            raise CertificateError(
                f"private_key is a {key.key_size}-bit RSA key; use RSA of {RSA_BITS[0]} to"
                f" {RSA_BITS[1]} bits, or EC on P-256 or P-384"
            )
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in EC_CURVES:
            raise CertificateError(
                f"private_key is an EC key on {key.curve.name}; use P-256 or P-384, or RSA of"
                f" {RSA_BITS[0]} to {RSA_BITS[1]} bits"
            )
        return key
    raise CertificateError("private_key must be an RSA key or an EC key on P-256 or P-384")


def key_matches(certificate: x509.Certificate, key: PrivateKey) -> bool:
    """Return whether the certificate's public key is the public half of `key`."""
    encoding, public_format = (
        serialization.Encoding.DER,
        serialization.PublicFormat.SubjectPublicKeyInfo,
    )
    ours = key.public_key().public_bytes(encoding, public_format)
    return certificate.public_key().public_bytes(encoding, public_format) == ours


def names_of(certificate: x509.Certificate) -> tuple[str, ...]:
    """Return the DNS names of the certificate's SAN, or its common name without a SAN."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        common = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return tuple(str(item.value).lower() for item in common)
    return tuple(name.lower() for name in san.value.get_values_for_type(x509.DNSName))


def covers(names: Sequence[str], hostname: str) -> bool:
    """Return whether a certificate for `names` is valid for `hostname` (RFC 6125 wildcards)."""
    for name in names:
        if name == hostname:
            return True
        wildcard = name.startswith("*.") and hostname.count(".") >= 2
        if wildcard and hostname.split(".", 1)[1] == name[2:]:
            return True
    return False


def fingerprint(certificate: x509.Certificate) -> str:
    """Return the SHA-256 fingerprint as colon-separated uppercase hex, as `openssl x509` does."""
    return certificate.fingerprint(hashes.SHA256()).hex(":").upper()


def describe(certificate: x509.Certificate) -> CertificateInfo:
    return CertificateInfo(
        subject=certificate.subject.rfc4514_string(),
        issuer=certificate.issuer.rfc4514_string(),
        names=names_of(certificate),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        serial=format(certificate.serial_number, "x"),
        fingerprint_sha256=fingerprint(certificate),
    )


def read_certificate(directory: Path) -> x509.Certificate | None:
    """Return the leaf certificate stored in `directory`, or None when there is none."""
    path = directory / FULLCHAIN
    if not path.is_file():
        return None
    return load_chain(path.read_bytes())[0]


def _prepare(directory: Path) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)


def stage_files(directory: Path, fullchain: bytes, key: bytes) -> FileTransaction:
    """Write the certificate and key atomically and return the transaction to commit or undo.

    Until the caller commits, `rollback()` brings back the previous files (or none).
    """
    _prepare(directory)
    transaction = FileTransaction()
    try:
        transaction.write(directory / FULLCHAIN, fullchain, mode=0o644)
        transaction.write(directory / PRIVATE_KEY, key, mode=0o600)
    except BaseException:
        transaction.rollback()
        raise
    return transaction


def stage_removal(directory: Path) -> FileTransaction:
    """Remove the certificate, key and pending key, undoable until the caller commits."""
    transaction = FileTransaction()
    try:
        for name in (FULLCHAIN, PRIVATE_KEY, PENDING_KEY):
            if (directory / name).exists():
                transaction.remove(directory / name)
    except BaseException:
        transaction.rollback()
        raise
    return transaction


def save_pending_key(directory: Path, key: bytes) -> None:
    _prepare(directory)
    atomic_write(directory / PENDING_KEY, key, mode=0o600)


def read_pending_key(directory: Path, written_after: datetime) -> bytes | None:
    """Return the key of the last CSR, or None when there is none written after `written_after`.

    Callers pass the domain's creation time: an older key was made for an earlier domain of
    the same name, possibly by another account, and must not be used.
    """
    path = directory / PENDING_KEY
    try:
        status = path.stat(follow_symlinks=False)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(status.st_mode):
        return None
    if datetime.fromtimestamp(status.st_mtime, UTC) < written_after:
        return None
    return path.read_bytes()


def served_certificate(
    address: str, port: int, server_name: str, timeout: float = 5.0
) -> x509.Certificate | None:
    """Return the certificate a TLS server presents for `server_name` (SNI), or None.

    The handshake does not verify the chain, because the point is to see which certificate
    the server sends, including self-signed ones. None means that no TLS listener accepted
    the connection or that the server sent no certificate for the name.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((address, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=server_name) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError):
        return None
    return x509.load_der_x509_certificate(der) if der else None
