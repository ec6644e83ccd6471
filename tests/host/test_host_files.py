"""atomic_write and FileTransaction on real files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from wispanel.host.errors import HostError
from wispanel.host.files import FileTransaction, atomic_write


def file_mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_write_creates_file_with_mode(tmp_path: Path) -> None:
    target = tmp_path / "site.conf"

    atomic_write(target, "server {}\n", mode=0o640)

    assert target.read_text() == "server {}\n"
    assert file_mode(target) == 0o640
    assert os.listdir(tmp_path) == ["site.conf"]


def test_atomic_write_replaces_existing(tmp_path: Path) -> None:
    target = tmp_path / "site.conf"
    target.write_bytes(b"old")

    atomic_write(target, b"new", mode=0o600)

    assert target.read_bytes() == b"new"
    assert file_mode(target) == 0o600


def test_atomic_write_sets_owner(tmp_path: Path) -> None:
    target = tmp_path / "owned.conf"
    owner = (os.getuid(), os.getgid())

    atomic_write(target, b"data", owner=owner)

    info = target.stat()
    assert (info.st_uid, info.st_gid) == owner


def test_atomic_write_replaces_symlink_not_target(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"keep me")
    link = tmp_path / "link.conf"
    link.symlink_to(outside)

    atomic_write(link, b"new content")

    assert outside.read_bytes() == b"keep me"
    assert not link.is_symlink()
    assert link.read_bytes() == b"new content"


def test_atomic_write_missing_directory_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "missing" / "file.conf", b"data")

    assert os.listdir(tmp_path) == []


def test_transaction_rolls_back_on_exception(tmp_path: Path) -> None:
    first = tmp_path / "first.conf"
    second = tmp_path / "second.conf"
    created = tmp_path / "created.conf"
    first.write_bytes(b"first original")
    first.chmod(0o600)
    second.write_bytes(b"second original")
    second.chmod(0o640)

    def write_then_fail() -> None:
        with FileTransaction() as transaction:
            transaction.write(first, b"first new", mode=0o644)
            transaction.write(second, "second new", mode=0o644)
            transaction.write(created, b"brand new")
            assert first.read_bytes() == b"first new"
            assert created.exists()
            raise RuntimeError("nginx -t failed")

    with pytest.raises(RuntimeError, match="nginx -t failed"):
        write_then_fail()

    assert first.read_bytes() == b"first original"
    assert file_mode(first) == 0o600
    assert second.read_bytes() == b"second original"
    assert file_mode(second) == 0o640
    assert not created.exists()
    assert sorted(os.listdir(tmp_path)) == ["first.conf", "second.conf"]


def test_transaction_commits_on_clean_exit(tmp_path: Path) -> None:
    target = tmp_path / "site.conf"
    target.write_bytes(b"old")

    with FileTransaction() as transaction:
        transaction.write(target, b"new")

    assert target.read_bytes() == b"new"
    assert transaction.touched_paths == []


def test_transaction_restores_removed_file(tmp_path: Path) -> None:
    target = tmp_path / "site.conf"
    target.write_bytes(b"content")
    target.chmod(0o604)
    transaction = FileTransaction()

    transaction.remove(target)
    transaction.remove(tmp_path / "never-existed.conf")
    assert not target.exists()
    transaction.rollback()

    assert target.read_bytes() == b"content"
    assert file_mode(target) == 0o604
    assert not (tmp_path / "never-existed.conf").exists()


def test_transaction_restores_first_state(tmp_path: Path) -> None:
    target = tmp_path / "site.conf"
    target.write_bytes(b"v1")
    transaction = FileTransaction()

    transaction.write(target, b"v2")
    transaction.write(target, b"v3")
    transaction.remove(target)
    transaction.rollback()

    assert target.read_bytes() == b"v1"


def test_transaction_restores_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real.conf"
    real.write_bytes(b"real")
    link = tmp_path / "enabled.conf"
    link.symlink_to("real.conf")
    transaction = FileTransaction()

    transaction.write(link, b"replaced")
    assert not link.is_symlink()
    transaction.rollback()

    assert link.is_symlink()
    assert os.readlink(link) == "real.conf"
    assert real.read_bytes() == b"real"


def test_commit_forgets_backups(tmp_path: Path) -> None:
    target = tmp_path / "site.conf"
    target.write_bytes(b"old")
    transaction = FileTransaction()

    transaction.write(target, b"new")
    assert transaction.touched_paths == [target]
    transaction.commit()
    transaction.rollback()

    assert target.read_bytes() == b"new"


def test_transaction_rejects_directory(tmp_path: Path) -> None:
    directory = tmp_path / "conf.d"
    directory.mkdir()

    with pytest.raises(HostError, match="not a regular file"):
        FileTransaction().write(directory, b"data")
    assert directory.is_dir()


def test_rollback_reports_paths_it_cannot_restore(tmp_path: Path) -> None:
    directory = tmp_path / "sites"
    directory.mkdir()
    target = directory / "site.conf"
    target.write_bytes(b"old")
    transaction = FileTransaction()
    transaction.write(target, b"new")
    target.unlink()
    directory.rmdir()

    with pytest.raises(HostError, match="rollback could not restore"):
        transaction.rollback()
