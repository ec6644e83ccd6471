"""Validation of names and paths before they reach a file path or a command."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import BinaryIO, Literal

from wispanel.host.errors import InvalidNameError, UnsafePathError

try:
    import idna as _idna
except ImportError:  # pragma: no cover - idna comes with httpx and email-validator
    _idna = None  # type: ignore[assignment]

USERNAME_PATTERN = re.compile(r"[a-z][a-z0-9]{1,15}")
HOSTNAME_LABEL_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
MAX_HOSTNAME_LENGTH = 253
# Longer input is rejected before IDNA conversion, which is costly on huge strings.
_MAX_RAW_HOSTNAME_LENGTH = 1024
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")

OpenMode = Literal["rb", "wb", "ab", "r+b"]
_OPEN_FLAGS: dict[str, int] = {
    "rb": os.O_RDONLY,
    "wb": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
    "ab": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
    "r+b": os.O_RDWR,
}


def _check_part(part: str) -> None:
    if not isinstance(part, str):
        raise TypeError(f"path parts must be str, got {type(part).__name__}")
    if part == "":
        raise UnsafePathError(part, "empty path component")
    if _CONTROL_CHARACTERS.search(part):
        raise UnsafePathError(part, "contains NUL or control characters")
    if part.startswith("/"):
        raise UnsafePathError(part, "absolute paths are not allowed here")
    if ".." in part.split("/"):
        raise UnsafePathError(part, "'..' components are not allowed")


def ensure_inside(root: Path, path: Path) -> Path:
    """Return ``path`` unchanged if it resolves inside ``root``, else raise UnsafePathError.

    Symlinks are resolved in both (``strict=False``, so missing files are fine). A relative
    ``path`` is taken relative to ``root``. ``root`` itself counts as inside.
    """
    full = path if path.is_absolute() else root / path
    if "\0" in str(full):
        raise UnsafePathError(str(full), "contains a NUL character")
    resolved_root = root.resolve(strict=False)
    resolved = full.resolve(strict=False)
    if not resolved.is_relative_to(resolved_root):
        raise UnsafePathError(str(full), f"resolves to {resolved}, outside {resolved_root}")
    return full


def safe_join(root: Path, *parts: str) -> Path:
    """Join ``parts`` onto ``root`` and check that the result stays inside ``root``.

    Rejects empty, absolute and ``..`` parts and NUL or control characters, then
    resolves symlinks to check the target. Returns the joined path without resolving it.
    """
    for part in parts:
        _check_part(part)
    return ensure_inside(root, root.joinpath(*parts))


def open_nofollow(path: Path, mode: OpenMode = "rb", permissions: int = 0o644) -> BinaryIO:
    """Open a file without following a symlink in its last component.

    ``permissions`` applies only when ``mode`` creates the file (and is reduced by the
    umask). A symlink at ``path`` raises UnsafePathError.
    """
    flags = _OPEN_FLAGS[mode] | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        descriptor = os.open(path, flags, permissions)
    except OSError as error:
        if os.path.islink(path):
            raise UnsafePathError(str(path), "is a symbolic link") from error
        raise
    return os.fdopen(descriptor, mode)


def validate_username(name: str) -> str:
    """Return ``name`` if it is a valid account username, else raise InvalidNameError.

    The rule: a lowercase ASCII letter, then lowercase letters or digits, 2 to 16
    characters in all. Reserved names such as ``root`` pass here, because the users module
    rejects them.
    """
    if not isinstance(name, str) or not USERNAME_PATTERN.fullmatch(name):
        raise InvalidNameError(
            "username",
            name,
            "must be 2-16 characters: a lowercase letter, then lowercase letters or digits",
        )
    return name


def _to_ascii(name: str, field: str) -> str:
    """Convert a hostname to lowercase ASCII, encoding non-ASCII labels with IDNA."""
    if name.isascii():
        return name.lower()
    try:
        if _idna is not None:
            return _idna.encode(name, uts46=True).decode("ascii")
        return name.encode("idna").decode("ascii").lower()
    except UnicodeError as error:
        raise InvalidNameError(
            field, name, f"is not a valid internationalised domain name ({error})"
        ) from error


def _is_valid_a_label(label: str) -> bool:
    """Check that an ``xn--`` label decodes as valid IDNA."""
    try:
        if _idna is not None:
            _idna.decode(label)
        else:
            label.encode("ascii").decode("idna")
    except UnicodeError:
        return False
    return True


def validate_hostname(name: str, field: str = "hostname") -> str:
    """Return the normalised ASCII form of a hostname, or raise InvalidNameError.

    Normalisation lowercases, removes one trailing dot and IDNA-encodes non-ASCII labels
    (``bücher.example`` becomes ``xn--bcher-kva.example``). The result needs at least two
    labels of 1-63 characters from ``a-z``, ``0-9`` and ``-``, not starting or ending
    with ``-``, and at most 253 characters in all. Wildcards and underscore labels such
    as ``_dmarc`` are not hostnames and fail here.
    """
    if not isinstance(name, str) or name == "":
        raise InvalidNameError(field, name, "must be a non-empty string")
    if len(name) > _MAX_RAW_HOSTNAME_LENGTH:
        raise InvalidNameError(field, name, f"must be at most {MAX_HOSTNAME_LENGTH} characters")
    if _CONTROL_CHARACTERS.search(name):
        raise InvalidNameError(field, name, "must not contain control characters")

    ascii_name = _to_ascii(name.removesuffix("."), field)
    if len(ascii_name) > MAX_HOSTNAME_LENGTH:
        raise InvalidNameError(field, name, f"must be at most {MAX_HOSTNAME_LENGTH} characters")
    labels = ascii_name.split(".")
    if len(labels) < 2:
        raise InvalidNameError(field, name, "must have at least two labels, like example.com")
    for label in labels:
        if not HOSTNAME_LABEL_PATTERN.fullmatch(label):
            raise InvalidNameError(
                field,
                name,
                f"label {label!r} must be 1-63 characters of a-z, 0-9 and '-',"
                " not starting or ending with '-'",
            )
        if label.startswith("xn--") and not _is_valid_a_label(label):
            raise InvalidNameError(field, name, f"label {label!r} is not a valid IDNA A-label")
    return ascii_name
