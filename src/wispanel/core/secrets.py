"""Per-install secrets kept in 0600 files under `<data-dir>/secrets/`.

The JWT signing key and the encryption key are created once, on the first start of an
install. Later starts only read them: a missing, weak or placeholder file stops the panel,
because regenerating would silently log everyone out and make encrypted data unreadable.
"""

from __future__ import annotations

import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from wispanel.core.errors import ConfigurationError

SECRET_NAMES = ("jwt.key", "encryption.key")
MIN_SECRET_LENGTH = 43  # 32 random bytes in base64url
PLACEHOLDERS = frozenset(
    {"changeme", "change-me", "secret", "placeholder", "replace-me", "xxx", "todo"}
)


@dataclass(frozen=True)
class InstallSecrets:
    jwt_key: str
    encryption_key: str


def secrets_dir(data_dir: Path) -> Path:
    return data_dir / "secrets"


def _install_marker(data_dir: Path) -> Path:
    return secrets_dir(data_dir) / ".created"


def ensure_secrets(data_dir: Path) -> InstallSecrets:
    """Create the secrets on an install's first start, then load and check them."""
    directory = secrets_dir(data_dir)
    if not _install_marker(data_dir).exists():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        for name in SECRET_NAMES:
            path = directory / name
            if not path.exists():
                _write_new_secret(path)
        _install_marker(data_dir).touch(mode=0o600)
    return load_secrets(data_dir)


def load_secrets(data_dir: Path) -> InstallSecrets:
    """Read the secrets, refusing missing, readable-by-others or placeholder values."""
    values = [_read_secret(secrets_dir(data_dir) / name) for name in SECRET_NAMES]
    return InstallSecrets(jwt_key=values[0], encryption_key=values[1])


def _write_new_secret(path: Path) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_urlsafe(48) + "\n")


def _read_secret(path: Path) -> str:
    try:
        mode = path.stat().st_mode
        value = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError as error:
        raise ConfigurationError(
            f"Secret file {path} is missing; restore it from a backup of this install "
            "(a new one would invalidate every session and encrypted value)"
        ) from error
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigurationError(f"Secret file {path} is readable by others; run chmod 600 {path}")
    if value.lower() in PLACEHOLDERS or len(value) < MIN_SECRET_LENGTH:
        raise ConfigurationError(
            f"Secret file {path} holds a placeholder or a value shorter than "
            f"{MIN_SECRET_LENGTH} characters; put a random value in it"
        )
    return value
