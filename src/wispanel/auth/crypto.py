"""Keys derived from the install's encryption key, and the hashes of stored credentials.

Each purpose gets its own key through HKDF-SHA256, so a key leaked from one use can't
decrypt or forge values of another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

TOTP_PURPOSE = b"wispanel totp secret v1"
RECOVERY_PURPOSE = b"wispanel recovery code v1"


@lru_cache(maxsize=16)
def derive_key(encryption_key: str, purpose: bytes) -> bytes:
    """Derive 32 bytes for one purpose from the install's encryption key."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        encryption_key.encode()
    )


def encrypt_totp_secret(encryption_key: str, secret: str) -> str:
    fernet = Fernet(base64.urlsafe_b64encode(derive_key(encryption_key, TOTP_PURPOSE)))
    return fernet.encrypt(secret.encode()).decode()


def decrypt_totp_secret(encryption_key: str, token: str) -> str:
    """Decrypt a stored TOTP secret; a value from another install raises ValueError."""
    fernet = Fernet(base64.urlsafe_b64encode(derive_key(encryption_key, TOTP_PURPOSE)))
    try:
        return fernet.decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise ValueError("TOTP secret can't be decrypted with this install's key") from error


def recovery_code_hash(encryption_key: str, code: str) -> str:
    """HMAC-SHA256 of a recovery code with dashes, spaces and case removed."""
    normalised = code.replace("-", "").replace(" ", "").lower()
    key = derive_key(encryption_key, RECOVERY_PURPOSE)
    return hmac.new(key, normalised.encode(), hashlib.sha256).hexdigest()


def sha256_hex(value: str) -> str:
    """SHA-256 of a high-entropy credential (API key, SSO nonce, hand-off value)."""
    return hashlib.sha256(value.encode()).hexdigest()
