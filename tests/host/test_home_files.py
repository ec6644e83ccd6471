"""Document roots made and removed inside a home without following the account's links."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from wispanel.host.errors import UnsafePathError
from wispanel.host.home_files import WebOwnership, make_document_root, remove_inside


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home" / "john"
    path.mkdir(parents=True)
    return path


def make(home: Path, relative: str, ownership: WebOwnership | None = None) -> list[str]:
    return make_document_root(home, relative, ownership, "index.html", "<h1>hello</h1>")


def test_creates_path_and_index(home: Path) -> None:
    created = make(home, "domains/example.com/public_html")
    assert created == ["domains", "domains/example.com", "domains/example.com/public_html"]
    index = home / "domains/example.com/public_html/index.html"
    assert index.read_text() == "<h1>hello</h1>"


def test_keeps_existing_content(home: Path) -> None:
    root = home / "site"
    root.mkdir()
    (root / "app.php").write_text("<?php")
    assert make(home, "site") == []
    assert sorted(path.name for path in root.iterdir()) == ["app.php"]


@pytest.mark.parametrize("relative", ["", "/etc", "../other", "a/../../b", "."])
def test_refuses_paths_leaving_home(home: Path, relative: str) -> None:
    with pytest.raises(UnsafePathError):
        make(home, relative)


def test_refuses_link_on_the_way(home: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (home / "domains").symlink_to(outside)
    with pytest.raises(UnsafePathError):
        make(home, "domains/example.com/public_html")
    assert list(outside.iterdir()) == []


def test_refuses_link_as_document_root(home: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (home / "site").symlink_to(outside)
    with pytest.raises(UnsafePathError):
        make(home, "site")
    assert list(outside.iterdir()) == []


def test_refuses_home_that_is_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "john"
    link.symlink_to(real)
    with pytest.raises(UnsafePathError):
        make(link, "public_html")
    assert list(real.iterdir()) == []


def test_ownership_sets_group_and_modes(home: Path) -> None:
    info = home.stat()
    ownership = WebOwnership(uid=info.st_uid, web_gid=os.getgid())
    make(home, "domains/example.com/public_html", ownership)
    assert stat.S_IMODE((home / "domains").stat().st_mode) == 0o710
    root = home / "domains/example.com/public_html"
    assert stat.S_IMODE(root.stat().st_mode) == 0o2750
    assert (root / "index.html").stat().st_gid == os.getgid()


def test_ownership_refuses_directory_of_someone_else(home: Path) -> None:
    (home / "site").mkdir()
    ownership = WebOwnership(uid=home.stat().st_uid + 1, web_gid=os.getgid())
    with pytest.raises(UnsafePathError):
        make(home, "site", ownership)


def test_remove_inside_deletes_tree(home: Path) -> None:
    make(home, "domains/example.com/public_html")
    assert remove_inside(home, "domains/example.com") is True
    assert (home / "domains").is_dir()
    assert not (home / "domains/example.com").exists()
    assert remove_inside(home, "domains/example.com") is False


def test_remove_inside_unlinks_link_without_following(home: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    (home / "domains").mkdir()
    (home / "domains/example.com").symlink_to(outside)
    assert remove_inside(home, "domains/example.com") is True
    assert (outside / "keep.txt").read_text() == "keep"


def test_remove_inside_refuses_link_on_the_way(home: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "example.com").mkdir(parents=True)
    (home / "domains").symlink_to(outside)
    with pytest.raises(UnsafePathError):
        remove_inside(home, "domains/example.com")
    assert (outside / "example.com").is_dir()
