"""The wispanel command's offline subcommands."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
import yaml
from typer.testing import CliRunner

from wispanel import cli
from wispanel.cli import app
from wispanel.core.logging import configure_logging

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture(autouse=True)
def uncached_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Keep the commands from caching loggers, so later tests can still capture log lines."""
    monkeypatch.setattr(
        cli, "configure_logging", functools.partial(configure_logging, cache_loggers=False)
    )
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    config = structlog.get_config()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**config)


def test_doctor_lists_components(tmp_path: Path) -> None:
    result = runner.invoke(app, ["doctor", "--data-dir", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    reports = {report["name"]: report for report in json.loads(result.stdout)}
    assert reports["panel database (sqlite)"]["running"] is True
    for name in ("nginx", "powerdns", "postfix", "pure-ftpd", "nftables"):
        matching = [report for key, report in reports.items() if key.startswith(name)]
        assert matching, name
        assert matching[0]["install_command"].startswith("apt-get install -y ")
    redis = [report for key, report in reports.items() if key.lower().startswith("redis")]
    assert redis[0]["installed"] is True
    assert redis[0]["version"]


def test_doctor_table(tmp_path: Path) -> None:
    result = runner.invoke(app, ["doctor", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "install" in result.stdout


def test_openapi_writes_yaml_and_json(tmp_path: Path) -> None:
    for name in ("api.yaml", "api.json"):
        result = runner.invoke(app, ["openapi", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
    from_yaml = yaml.safe_load((tmp_path / "api.yaml").read_text(encoding="utf-8"))
    from_json = json.loads((tmp_path / "api.json").read_text(encoding="utf-8"))
    assert from_yaml == from_json
    assert from_json["openapi"] == "3.0.3"


def test_postman_matches_committed(tmp_path: Path) -> None:
    output = tmp_path / "collection.json"
    result = runner.invoke(app, ["postman", str(output)])
    assert result.exit_code == 0, result.output
    committed = ROOT / "sdk" / "whmcs" / "wispanel-api.postman_collection.json"
    assert output.read_text(encoding="utf-8") == committed.read_text(encoding="utf-8")


def test_migrate(tmp_path: Path) -> None:
    result = runner.invoke(app, ["migrate", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "panel.db").exists()


def test_invalid_setting_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WISPANEL_SERVER__PORT", "99999")
    result = runner.invoke(app, ["migrate", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "Invalid settings" in result.output
