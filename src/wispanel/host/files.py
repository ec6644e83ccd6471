"""Atomic file writes and transactions that restore the previous files on failure."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import structlog

from wispanel.host.errors import HostError
from wispanel.host.paths import open_nofollow

log = structlog.get_logger(__name__)


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def atomic_write(
    path: Path | str,
    data: bytes | str,
    mode: int = 0o644,
    owner: tuple[int, int] | None = None,
) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new file, never a mix.

    Writes a temporary file in the same directory, fsyncs it, sets ``mode`` (not reduced by
    the umask) and ``owner`` as (uid, gid), renames it over ``path`` and fsyncs the
    directory. A symlink at ``path`` is replaced, not followed. Strings are encoded as UTF-8.
    """
    target = Path(path)
    content = data.encode("utf-8") if isinstance(data, str) else data
    descriptor, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(descriptor, "wb") as temp_file:
            temp_file.write(content)
            temp_file.flush()
            os.fsync(temp_file.fileno())
            if owner is not None:
                current = os.fstat(temp_file.fileno())
                if (current.st_uid, current.st_gid) != owner:
                    os.fchown(temp_file.fileno(), *owner)
            # chmod after chown, because chown clears the setuid and setgid bits.
            os.fchmod(temp_file.fileno(), mode)
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    _fsync_directory(target.parent)


@dataclass(frozen=True)
class _Backup:
    """The state of one path before a transaction first touched it."""

    path: Path
    content: bytes | None  # None: the path did not exist
    mode: int = 0
    owner: tuple[int, int] = (0, 0)
    link_target: str | None = None  # set when the path was a symlink


def _take_backup(path: Path) -> _Backup:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return _Backup(path, None)
    if stat.S_ISLNK(info.st_mode):
        return _Backup(path, b"", link_target=os.readlink(path))
    if not stat.S_ISREG(info.st_mode):
        raise HostError(f"cannot change {path}: it exists and is not a regular file")
    with open_nofollow(path, "rb") as existing:
        content = existing.read()
    return _Backup(path, content, stat.S_IMODE(info.st_mode), (info.st_uid, info.st_gid))


def _restore(backup: _Backup) -> None:
    if backup.content is None:
        backup.path.unlink(missing_ok=True)
    elif backup.link_target is not None:
        backup.path.unlink(missing_ok=True)
        os.symlink(backup.link_target, backup.path)
    else:
        atomic_write(backup.path, backup.content, backup.mode, backup.owner)


class FileTransaction:
    """Group file changes so that a failure puts every touched file back.

    Use as a context manager: an exception inside the block rolls back, a clean exit
    commits. Backups of the previous content are kept in memory, so this suits config
    files, not large data.
    """

    def __init__(self) -> None:
        self._backups: dict[Path, _Backup] = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.rollback()

    @property
    def touched_paths(self) -> list[Path]:
        """Paths changed since the last commit or rollback, in the order first touched."""
        return list(self._backups)

    def write(
        self,
        path: Path | str,
        data: bytes | str,
        mode: int = 0o644,
        owner: tuple[int, int] | None = None,
    ) -> None:
        """Record the current state of ``path``, then replace it atomically with ``data``."""
        target = Path(path).absolute()
        self._remember(target)
        atomic_write(target, data, mode, owner)

    def remove(self, path: Path | str) -> None:
        """Record the current state of ``path``, then delete it if it exists."""
        target = Path(path).absolute()
        self._remember(target)
        target.unlink(missing_ok=True)
        _fsync_directory(target.parent)

    def commit(self) -> None:
        """Keep the changes and drop the backups."""
        self._backups.clear()

    def rollback(self) -> None:
        """Restore every touched path in reverse order, then drop the backups.

        Every path is attempted even if one fails. The failures are logged, then raised
        together as one HostError.
        """
        failed: list[str] = []
        for backup in reversed(self._backups.values()):
            try:
                _restore(backup)
            except OSError as error:
                log.error("files.restore_failed", path=str(backup.path), error=str(error))
                failed.append(f"{backup.path}: {error.strerror or error}")
        self._backups.clear()
        if failed:
            raise HostError("rollback could not restore " + "; ".join(failed))

    def _remember(self, path: Path) -> None:
        # Only the first change counts: that is the state a rollback must bring back.
        if path not in self._backups:
            self._backups[path] = _take_backup(path)
