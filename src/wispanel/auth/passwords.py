"""Argon2id password hashing with parameters from the settings."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from wispanel.core.config import AuthSettings


def password_hasher(settings: AuthSettings) -> PasswordHasher:
    return PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )


def verify_password(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    """Return whether `password` matches; a malformed stored hash never matches."""
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
