"""safe_join, ensure_inside, open_nofollow and the name validators."""

from __future__ import annotations

from pathlib import Path

import pytest

from wispanel.host.errors import InvalidNameError, UnsafePathError
from wispanel.host.paths import (
    ensure_inside,
    open_nofollow,
    safe_join,
    validate_hostname,
    validate_username,
)


def test_safe_join_accepts_plain_parts(tmp_path: Path) -> None:
    assert safe_join(tmp_path, "sites", "example.com.conf") == tmp_path / "sites/example.com.conf"
    assert safe_join(tmp_path, "a/b") == tmp_path / "a" / "b"
    assert safe_join(tmp_path) == tmp_path


@pytest.mark.parametrize(
    ("part", "reason"),
    [
        ("..", "'..'"),
        ("../etc/passwd", "'..'"),
        ("sites/../../etc", "'..'"),
        ("/etc/passwd", "absolute"),
        ("name\0.conf", "control"),
        ("name\n.conf", "control"),
        ("name\r", "control"),
        ("name\x7f", "control"),
        ("", "empty"),
    ],
)
def test_safe_join_rejects_unsafe_part(tmp_path: Path, part: str, reason: str) -> None:
    with pytest.raises(UnsafePathError, match=reason) as caught:
        safe_join(tmp_path, "sites", part)

    assert caught.value.code == "VALIDATION_ERROR"


def test_safe_join_rejects_symlink_outside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "escape").symlink_to(outside)

    with pytest.raises(UnsafePathError, match="outside"):
        safe_join(root, "escape", "file.conf")
    with pytest.raises(UnsafePathError, match="outside"):
        safe_join(root, "escape")


def test_safe_join_rejects_dangling_symlink_outside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "passwd").symlink_to("/etc/wispanel-missing-file")

    with pytest.raises(UnsafePathError):
        safe_join(root, "passwd")


def test_safe_join_allows_symlink_inside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "real").mkdir(parents=True)
    (root / "alias").symlink_to(root / "real")

    assert safe_join(root, "alias", "file.conf") == root / "alias" / "file.conf"


def test_safe_join_works_when_root_is_symlink(tmp_path: Path) -> None:
    real_root = tmp_path / "real-root"
    real_root.mkdir()
    linked_root = tmp_path / "linked-root"
    linked_root.symlink_to(real_root)

    assert safe_join(linked_root, "file") == linked_root / "file"


def test_ensure_inside_checks_resolved_path(tmp_path: Path) -> None:
    assert ensure_inside(tmp_path, tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert ensure_inside(tmp_path, Path("relative")) == tmp_path / "relative"
    assert ensure_inside(tmp_path, tmp_path) == tmp_path
    with pytest.raises(UnsafePathError):
        ensure_inside(tmp_path, tmp_path / ".." / "other")
    with pytest.raises(UnsafePathError):
        ensure_inside(tmp_path / "a", tmp_path / "ab")
    with pytest.raises(UnsafePathError):
        ensure_inside(tmp_path, tmp_path / "a\0b")


def test_open_nofollow_reads_and_writes(tmp_path: Path) -> None:
    target = tmp_path / "file.conf"

    with open_nofollow(target, "wb", permissions=0o600) as stream:
        stream.write(b"listen 8080;\n")
    with open_nofollow(target) as stream:
        content = stream.read()

    assert content == b"listen 8080;\n"
    assert target.stat().st_mode & 0o777 == 0o600


def test_open_nofollow_rejects_symlink(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"original")
    link = tmp_path / "link"
    link.symlink_to(target)

    with pytest.raises(UnsafePathError, match="symbolic link"):
        open_nofollow(link)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        open_nofollow(link, "wb")
    assert target.read_bytes() == b"original"


def test_open_nofollow_missing_file_raises() -> None:
    with pytest.raises(FileNotFoundError):
        open_nofollow(Path("/nonexistent/wispanel/file"))


@pytest.mark.parametrize("name", ["john", "ab", "a1", "root", "user2024", "abcdefghijklmnop"])
def test_validate_username_accepts(name: str) -> None:
    assert validate_username(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "Bad;Name",
        "../etc",
        "a",
        "abcdefghijklmnopq",
        "john\n",
        "jo\nhn",
        "John",
        "1john",
        "jo-hn",
        "jo_hn",
        "jo hn",
        "",
        "jöhn",
    ],
)
def test_validate_username_rejects(name: str) -> None:
    with pytest.raises(InvalidNameError) as caught:
        validate_username(name)

    assert caught.value.field == "username"
    assert caught.value.code == "VALIDATION_ERROR"
    assert "username" in str(caught.value)
    assert "lowercase letter" in str(caught.value)


def test_invalid_name_error_is_value_error() -> None:
    with pytest.raises(ValueError, match="invalid username"):
        validate_username("X")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("example.com", "example.com"),
        ("Example.COM", "example.com"),
        ("example.com.", "example.com"),
        ("www.sub-domain.example.co.uk", "www.sub-domain.example.co.uk"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("BÜCHER.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("a" * 63 + ".com", "a" * 63 + ".com"),
        ("123.example", "123.example"),
    ],
)
def test_validate_hostname_normalises(name: str, expected: str) -> None:
    assert validate_hostname(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        "",
        "localhost",
        "-bad.com",
        "bad-.com",
        "a" * 64 + ".com",
        "example..com",
        ".example.com",
        "example.com..",
        "exa mple.com",
        "example.com\n",
        "exam\0ple.com",
        "Bad;Name.com",
        "../etc.com",
        "_dmarc.example.com",
        "*.example.com",
        "xn--zz.example",
        ".".join(["a" * 63] * 4),
        "a." * 600 + "com",
    ],
)
def test_validate_hostname_rejects(name: str) -> None:
    with pytest.raises(InvalidNameError) as caught:
        validate_hostname(name)

    assert caught.value.field == "hostname"
    assert caught.value.code == "VALIDATION_ERROR"


def test_validate_hostname_names_field_and_rule() -> None:
    with pytest.raises(InvalidNameError) as caught:
        validate_hostname("-bad.com", field="domain")

    message = str(caught.value)
    assert message.startswith("invalid domain '-bad.com'")
    assert "not starting or ending with '-'" in message


def test_validate_hostname_length_limit() -> None:
    longest = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
    assert len(longest) == 253
    assert validate_hostname(longest) == longest

    with pytest.raises(InvalidNameError, match="253"):
        validate_hostname(longest + "d")
