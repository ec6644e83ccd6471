"""PHP-FPM versions, pool rendering and the per-profile layout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.host.web_helpers import assert_golden

from wispanel.core.config import Profile, WebSettings
from wispanel.host.errors import CommandNotFound, HostError
from wispanel.host.phpfpm import FpmLayout, PhpFpm, PoolConfig, discover_versions
from wispanel.host.runner import CommandRunner

DATA = Path("/srv/wispanel")


def fake_binaries(directory: Path, *names: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = directory / name
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)


def test_discover_versions_by_binary_name(tmp_path: Path) -> None:
    fake_binaries(tmp_path / "sbin", "php-fpm8.2", "php-fpm7.4", "php8.3-fpm", "php-fpm", "php")
    (tmp_path / "sbin" / "php-fpm8.1").write_text("not executable")
    versions = discover_versions([str(tmp_path / "sbin")])
    assert [item.version for item in versions] == ["7.4", "8.2", "8.3"]
    assert versions[1].binary == tmp_path / "sbin" / "php-fpm8.2"


def test_default_version_prefers_setting(tmp_path: Path) -> None:
    fake_binaries(tmp_path, "php-fpm8.2", "php-fpm8.3")
    layout = FpmLayout(Profile.LOCAL, DATA)
    php = PhpFpm(layout, WebSettings(), CommandRunner(), None, [str(tmp_path)])
    assert php.default_version() == "8.3"
    chosen = PhpFpm(
        layout, WebSettings(default_php_version="8.2"), CommandRunner(), None, [str(tmp_path)]
    )
    assert chosen.default_version() == "8.2"


def test_no_versions_names_install_command(tmp_path: Path) -> None:
    php = PhpFpm(FpmLayout(Profile.LOCAL, DATA), WebSettings(), CommandRunner(), None, [])
    with pytest.raises(CommandNotFound, match="apt-get install -y php-fpm"):
        php.default_version()


def test_local_pool_golden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("wispanel.host.phpfpm.os.geteuid", lambda: 1000)
    php = PhpFpm(FpmLayout(Profile.LOCAL, DATA), WebSettings(), CommandRunner(), None)
    pool = php.pool_config("john", "8.2", DATA / "home" / "john")
    assert_golden("php-fpm/pool_local.conf", php.render_pool(pool))
    assert_golden("php-fpm/php-fpm.conf", php.render_master("8.2"))


def test_system_pool_golden() -> None:
    php = PhpFpm(FpmLayout(Profile.SYSTEM, DATA), WebSettings(), CommandRunner(), None)
    pool = php.pool_config("john", "8.2", Path("/home/john"))
    assert pool.run_as == ("john", "john")
    assert php.layout.pool_file("john", "8.2") == Path("/etc/php/8.2/fpm/pool.d/wispanel-john.conf")
    assert_golden("php-fpm/pool_system.conf", php.render_pool(pool))


@pytest.mark.parametrize("version", ["8", "8.2;", "8.2\n", "../8.2", "8.2.1"])
def test_bad_version_rejected(version: str) -> None:
    with pytest.raises(HostError):
        FpmLayout(Profile.LOCAL, DATA).pool_file("john", version)


@pytest.mark.parametrize("username", ["john;", "John", "../x", "a b"])
def test_bad_username_rejected(username: str) -> None:
    with pytest.raises(HostError):
        FpmLayout(Profile.LOCAL, DATA).socket(username, "8.2")


def test_long_socket_path_rejected() -> None:
    with pytest.raises(HostError, match="shorter data directory"):
        PoolConfig(
            username="john",
            version="8.2",
            home=DATA,
            socket=Path("/" + "d" * 120 + "/x.sock"),
            run_as=None,
            listen_owner=None,
            max_children=5,
            idle_timeout_seconds=10,
            max_requests=500,
        )


@pytest.mark.skipif(not discover_versions(), reason="php-fpm is not installed")
def test_rendered_pool_passes_php_fpm_check(tmp_path: Path) -> None:
    php = PhpFpm(FpmLayout(Profile.LOCAL, tmp_path), WebSettings(), CommandRunner(), None)
    version = php.default_version()
    pool_dir = php.layout.pool_dir(version)
    pool_dir.mkdir(parents=True)
    pool = php.pool_config("john", version, tmp_path / "home" / "john")
    php.layout.pool_file("john", version).write_text(php.render_pool(pool))
    php.layout.master_conf(version).write_text(php.render_master(version))
    php.check(version)
    assert os.path.exists(php.layout.pool_file("john", version))
