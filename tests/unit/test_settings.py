"""Settings layering and the per-install secrets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wispanel.core.config import Profile, config_file_for, load_settings
from wispanel.core.errors import ConfigurationError
from wispanel.core.secrets import ensure_secrets, load_secrets, secrets_dir


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("WISPANEL_"):
            monkeypatch.delenv(name)
    settings = load_settings(tmp_path)
    assert settings.server.port == 3082
    assert settings.server.profile is Profile.LOCAL
    assert settings.auth.token_ttl == 86400
    assert settings.rate_limit.default_per_minute == 60
    assert settings.rate_limit.login_per_minute == 20
    assert settings.database_url == f"sqlite:///{tmp_path / 'panel.db'}"


def test_file_then_environment_then_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "wispanel.toml").write_text(
        "[rate_limit]\ndefault_per_minute = 5\n[auth]\ntoken_ttl = 3600\n[server]\nport = 4000\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("WISPANEL_AUTH__TOKEN_TTL", "7200")
    monkeypatch.setenv("WISPANEL_SERVER__PORT", "4100")
    settings = load_settings(tmp_path, server={"port": 4200})
    assert settings.rate_limit.default_per_minute == 5  # file over default
    assert settings.auth.token_ttl == 7200  # environment over file
    assert settings.server.port == 4200  # command line over environment


def test_database_url_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WISPANEL_DATABASE__URL", "postgresql://panel@127.0.0.1/panel")
    assert load_settings(tmp_path).database_url == "postgresql://panel@127.0.0.1/panel"


def test_invalid_values_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WISPANEL_RATE_LIMIT__DEFAULT_PER_MINUTE", "-3")
    with pytest.raises(ValueError, match="default_per_minute"):
        load_settings(tmp_path)


def test_system_profile_reads_etc(tmp_path: Path) -> None:
    assert config_file_for(Profile.SYSTEM, tmp_path) == Path("/etc/wispanel/wispanel.toml")
    assert config_file_for(Profile.LOCAL, tmp_path) == tmp_path / "wispanel.toml"


def test_secrets_created_private_and_stable(tmp_path: Path) -> None:
    first = ensure_secrets(tmp_path)
    for name in ("jwt.key", "encryption.key"):
        assert (secrets_dir(tmp_path) / name).stat().st_mode & 0o777 == 0o600
    assert secrets_dir(tmp_path).stat().st_mode & 0o777 == 0o700
    assert first.jwt_key != first.encryption_key
    assert len(first.jwt_key) >= 43
    assert ensure_secrets(tmp_path) == first
    assert ensure_secrets(tmp_path / "other").jwt_key != first.jwt_key


def test_missing_secret_refused_after_first_start(tmp_path: Path) -> None:
    ensure_secrets(tmp_path)
    (secrets_dir(tmp_path) / "jwt.key").unlink()
    with pytest.raises(ConfigurationError, match="missing"):
        ensure_secrets(tmp_path)


@pytest.mark.parametrize("value", ["changeme", "secret", "short", ""])
def test_placeholder_secret_refused(tmp_path: Path, value: str) -> None:
    ensure_secrets(tmp_path)
    (secrets_dir(tmp_path) / "encryption.key").write_text(value, encoding="utf-8")
    with pytest.raises(ConfigurationError, match="placeholder"):
        load_secrets(tmp_path)


def test_readable_secret_refused(tmp_path: Path) -> None:
    ensure_secrets(tmp_path)
    (secrets_dir(tmp_path) / "jwt.key").chmod(0o644)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        load_secrets(tmp_path)
