"""Signing secrets: created, encrypted at rest, and used to sign each delivery's body.

Secrets are kept encrypted with AES-256-GCM under a key derived by HKDF-SHA256 from the
install's encryption key, because the panel needs the secret itself to sign deliveries (a
hash would not do). The webhook id is the associated data, so a ciphertext copied onto
another row does not decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12
KEY_INFO = b"wispanel webhook signing secrets v1"
USER_AGENT = "WisPanel-Webhook/1"


def new_secret() -> str:
    """Return a new signing secret: 64 hex digits (32 random bytes)."""
    return secrets.token_hex(32)


class SecretBox:
    """Encrypts and decrypts signing secrets with a key derived from the install's key."""

    def __init__(self, encryption_key: str) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=KEY_INFO).derive(
            encryption_key.encode()
        )
        self._aead = AESGCM(derived)

    def encrypt(self, secret: str, webhook_id: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret.encode(), webhook_id.encode())
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, stored: str, webhook_id: str) -> str:
        raw = base64.urlsafe_b64decode(stored.encode())
        nonce, sealed = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
        return self._aead.decrypt(nonce, sealed, webhook_id.encode()).decode()


def signature(secret: str, body: bytes) -> str:
    """Return the hex HMAC-SHA256 of the raw body, keyed with the secret's characters."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed_headers(
    secret: str, body: bytes, *, event: str, delivery_id: str, timestamp: int
) -> dict[str, str]:
    """Return the headers of one attempt: event, delivery id, timestamp and both signatures.

    `X-WisPanel-Signature` covers the body alone. `X-WisPanel-Signature-V2` covers
    "<timestamp>.<body>", so a receiver that rejects old timestamps also rejects replays.
    """
    stamped = signature(secret, str(timestamp).encode() + b"." + body)
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-WisPanel-Event": event,
        "X-WisPanel-Delivery": delivery_id,
        "X-WisPanel-Timestamp": str(timestamp),
        "X-WisPanel-Signature": f"sha256={signature(secret, body)}",
        "X-WisPanel-Signature-V2": f"t={timestamp},v1={stamped}",
    }
