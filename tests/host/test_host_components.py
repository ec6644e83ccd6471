"""Component registry inspected on this machine."""

from __future__ import annotations

import glob
import re
import time

import pytest

from wispanel.host import components
from wispanel.host.components import COMPONENTS, Component, find_binary, inspect
from wispanel.host.runner import CommandRunner


def component_named(name: str) -> Component:
    return next(component for component in COMPONENTS if component.name == name)


def test_registry_names_are_unique() -> None:
    names = [component.name for component in COMPONENTS]

    assert len(names) == len(set(names))
    assert {"nginx", "php-fpm", "powerdns", "mariadb", "redis"} <= set(names)


def test_inspect_reports_every_component() -> None:
    runner = CommandRunner()

    reports = [inspect(component, runner) for component in COMPONENTS]

    for component, report in zip(COMPONENTS, reports, strict=True):
        assert report.name == component.name
        assert report.install_command.startswith("apt-get install -y ")
        assert report.installed == (report.binary is not None)
        if not report.installed:
            assert report.version is None


def test_redis_reports_installed_version() -> None:
    report = inspect(component_named("redis"), CommandRunner())

    assert report.installed
    assert report.binary == "/usr/bin/redis-server"
    assert report.version is not None
    assert re.fullmatch(r"\d+\.\d+\.\d+", report.version)


def test_nginx_version_read_from_stderr() -> None:
    runner = CommandRunner()
    if runner.which("nginx") is None:
        pytest.skip("nginx is not installed")

    report = inspect(component_named("nginx"), runner)

    assert report.version is not None
    assert re.fullmatch(r"\d+\.\d+\.\d+", report.version)


def test_php_fpm_found_by_versioned_name() -> None:
    installed = glob.glob("/usr/sbin/php-fpm[0-9]*") + glob.glob("/usr/sbin/php[0-9]*-fpm")
    if not installed:
        pytest.skip("no versioned php-fpm binary in /usr/sbin")

    report = inspect(component_named("php-fpm"), CommandRunner())

    assert report.binary in installed
    assert report.version is not None
    assert re.fullmatch(r"\d+\.\d+\.\d+", report.version)


def test_override_to_missing_binary_is_not_installed() -> None:
    runner = CommandRunner(binaries={"redis-server": "/nonexistent/redis-server"})

    report = inspect(component_named("redis"), runner)

    assert not report.installed
    assert report.binary is None
    assert report.version is None
    assert report.install_command == "apt-get install -y redis-server"


def test_unparsable_version_is_none() -> None:
    component = Component(
        name="echo",
        binaries=("echo",),
        version_argv=("echo", "no version here"),
        version_regex=r"v(\d+)",
        debian_packages=("coreutils",),
        purpose="test",
    )

    report = inspect(component, CommandRunner())

    assert report.installed
    assert report.version is None


def test_slow_version_command_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(components, "VERSION_TIMEOUT_SECONDS", 0.3)
    component = Component(
        name="sleep",
        binaries=("sleep",),
        version_argv=("sleep", "30"),
        version_regex=r".+",
        debian_packages=("coreutils",),
        purpose="test",
    )
    started = time.monotonic()

    report = inspect(component, CommandRunner())

    assert report.installed
    assert report.version is None
    assert time.monotonic() - started < 2


def test_missing_helper_program_gives_no_version() -> None:
    component = Component(
        name="redis-helper",
        binaries=("redis-server",),
        version_argv=("wispanel-no-such-helper", "--version"),
        version_regex=r".+",
        debian_packages=("redis-server",),
        purpose="test",
    )

    report = inspect(component, CommandRunner())

    assert report.installed
    assert report.version is None


def test_find_binary_prefers_named_candidates() -> None:
    component = Component(
        name="mariadb",
        binaries=("wispanel-no-such-binary", "redis-server"),
        version_argv=("wispanel-no-such-binary", "--version"),
        version_regex=r"v=(\S+)",
        debian_packages=("redis-server",),
        purpose="test",
    )
    runner = CommandRunner()

    assert find_binary(component, runner) == "/usr/bin/redis-server"
    assert inspect(component, runner).version is not None
