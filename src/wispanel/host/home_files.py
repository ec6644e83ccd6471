"""Directories and files inside account homes, made and removed without following links.

In the system profile the panel runs as root while each account owns its home and can plant
symbolic links there. Every path below a home is therefore walked one component at a time
with O_NOFOLLOW, each step opened relative to the directory before it, and ownership and
modes are set through the open descriptors. A link anywhere on the way stops the walk with
UnsafePathError instead of letting root create, chown or delete outside the home.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from wispanel.host.errors import HostError, UnsafePathError

DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# Directories on the way to a document root let the web server's group pass, not list.
PASSAGE_MODE = 0o710
# A document root lets the web server's group read; new entries inherit the group (setgid).
DOCUMENT_ROOT_MODE = 0o2750
LOCAL_DIRECTORY_MODE = 0o755


@dataclass(frozen=True)
class WebOwnership:
    """The owners of a site's directories in the system profile: the account and nginx's group."""

    uid: int
    web_gid: int


def _parts(relative: str) -> list[str]:
    path = PurePosixPath(relative)
    parts = list(path.parts)
    if path.is_absolute() or not parts or any(part in ("", ".", "..") for part in parts):
        raise UnsafePathError(relative, "not a plain path inside the home")
    return parts


def _open_directory(name: str | Path, dir_fd: int | None = None) -> int:
    try:
        return os.open(name, DIRECTORY_FLAGS, dir_fd=dir_fd)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafePathError(str(name), "a symbolic link or not a directory") from error
        raise


@contextmanager
def _directory(name: str | Path, dir_fd: int | None = None) -> Iterator[int]:
    descriptor = _open_directory(name, dir_fd)
    try:
        yield descriptor
    finally:
        os.close(descriptor)


def _claim(descriptor: int, path: Path, ownership: WebOwnership, mode: int) -> None:
    """Give an existing directory of the account the web group and the given mode bits."""
    info = os.fstat(descriptor)
    if info.st_uid != ownership.uid:
        raise UnsafePathError(str(path), "not owned by the account")
    if info.st_gid != ownership.web_gid:
        os.fchown(descriptor, ownership.uid, ownership.web_gid)
    mode_bits = stat.S_IMODE(info.st_mode) | mode
    os.fchmod(descriptor, mode_bits)


def make_document_root(
    home: Path,
    relative: str,
    ownership: WebOwnership | None,
    index_name: str,
    index_html: str,
) -> list[str]:
    """Create `home/relative` and its missing parents, with a default page when it is empty.

    With `ownership` (system profile) every directory on the way belongs to the account and
    lets the web group pass, and the document root lets it read. Returns the directories
    created, relative to the home, outermost first.
    """
    parts = _parts(relative)
    created: list[str] = []
    with _directory(home) as home_fd:
        if ownership is not None:
            _claim(home_fd, home, ownership, PASSAGE_MODE)
        current = os.dup(home_fd)
        try:
            for index, part in enumerate(parts):
                mode = DOCUMENT_ROOT_MODE if index == len(parts) - 1 else PASSAGE_MODE
                # Root's new directories start private and get their owner and mode below.
                first_mode = LOCAL_DIRECTORY_MODE if ownership is None else 0o700
                try:
                    os.mkdir(part, first_mode, dir_fd=current)
                    created.append("/".join(parts[: index + 1]))
                    new = True
                except FileExistsError:
                    new = False
                following = _open_directory(part, current)
                os.close(current)
                current = following
                if ownership is None:
                    continue
                if new:
                    os.fchown(current, ownership.uid, ownership.web_gid)
                    os.fchmod(current, mode)
                else:
                    _claim(current, home.joinpath(*parts[: index + 1]), ownership, mode)
            if not os.listdir(current):
                _write_new_file(current, index_name, index_html, ownership)
        finally:
            os.close(current)
    return created


def _write_new_file(dir_fd: int, name: str, content: str, ownership: WebOwnership | None) -> None:
    descriptor = os.open(name, NEW_FILE_FLAGS, 0o644, dir_fd=dir_fd)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        if ownership is not None:
            os.fchown(handle.fileno(), ownership.uid, ownership.web_gid)
        handle.write(content)


def remove_inside(home: Path, relative: str) -> bool:
    """Delete the tree `home/relative`; return whether it existed.

    The walk to its parent refuses links, and rmtree works on descriptors from there, so
    nothing outside the home is reached whatever the account put in the way.
    """
    parts = _parts(relative)
    try:
        with _directory(home) as home_fd:
            current = os.dup(home_fd)
            try:
                for part in parts[:-1]:
                    following = _open_directory(part, current)
                    os.close(current)
                    current = following
                try:
                    info = os.stat(parts[-1], dir_fd=current, follow_symlinks=False)
                except FileNotFoundError:
                    return False
                if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
                    os.unlink(parts[-1], dir_fd=current)
                else:
                    shutil.rmtree(parts[-1], dir_fd=current)
                return True
            finally:
                os.close(current)
    except FileNotFoundError:
        return False
    except OSError as error:
        raise HostError(f"failed to remove {home / relative}: {error.strerror}") from error
