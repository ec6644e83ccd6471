"""Typed settings: defaults, then the TOML file, then `WISPANEL_<SECTION>__<KEY>` variables.

`load_settings()` is the only place that reads the environment for configuration; everything
else receives the `Settings` object (the API through `app.state.settings`).
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

SYSTEM_CONFIG_FILE = Path("/etc/wispanel/wispanel.toml")


class Profile(StrEnum):
    """How the panel reaches the host: its own daemons under the data directory, or the system's."""

    LOCAL = "local"
    SYSTEM = "system"


class ServerSettings(BaseModel):
    profile: Profile = Profile.LOCAL
    data_dir: Path = Path("var")
    host: str = "127.0.0.1"
    port: int = Field(default=3082, ge=1, le=65535)
    insecure_http: bool = False
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_header_bytes: int = Field(default=16_384, ge=1024)
    trusted_proxies: list[str] = Field(default_factory=list)


class DatabaseSettings(BaseModel):
    url: str | None = None
    echo: bool = False


class AuthSettings(BaseModel):
    token_ttl: int = Field(default=86_400, ge=60, le=30 * 86_400)
    jwt_algorithm: str = "HS256"
    # Seconds a verified session state may be reused before the database is asked again.
    # Revocation in this process is immediate; other processes see it within this window.
    session_cache_seconds: float = Field(default=2.0, ge=0, le=60)
    session_touch_seconds: int = Field(default=60, ge=1)
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_memory_kib: int = Field(default=47_104, ge=8_192)
    argon2_parallelism: int = Field(default=1, ge=1)


class RateLimitSettings(BaseModel):
    enabled: bool = True
    default_per_minute: int = Field(default=60, ge=1)
    admin_per_minute: int | None = Field(default=None, ge=1)
    reseller_per_minute: int | None = Field(default=None, ge=1)
    user_per_minute: int | None = Field(default=None, ge=1)
    anonymous_per_minute: int = Field(default=60, ge=1)
    login_per_minute: int = Field(default=20, ge=1)

    def per_role(self, role: str | None) -> int:
        """Return the per-minute limit for a role, falling back to the default."""
        configured = {
            "admin": self.admin_per_minute,
            "reseller": self.reseller_per_minute,
            "user": self.user_per_minute,
        }.get(role or "")
        return configured or self.default_per_minute


class IdempotencySettings(BaseModel):
    ttl_seconds: int = Field(default=86_400, ge=60)
    # A request still marked in flight after this long is taken as abandoned (its process died).
    in_flight_lease_seconds: int = Field(default=300, ge=5)
    max_stored_body_bytes: int = Field(default=1_048_576, ge=1024)


class RedisSettings(BaseModel):
    """With `url` set, rate limits, idempotency keys and jobs are kept in Redis."""

    url: str | None = None


class JobSettings(BaseModel):
    run_in_process: bool = True
    workers: int = Field(default=2, ge=1, le=32)


class LoggingSettings(BaseModel):
    format: str = Field(default="console", pattern="^(console|json)$")
    level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    access_log: bool = True


class Settings(BaseSettings):
    """Every setting of the panel, grouped in sections."""

    model_config = SettingsConfigDict(
        env_prefix="WISPANEL_",
        env_nested_delimiter="__",
        extra="ignore",
    )
    toml_path: ClassVar[Path | None] = None

    server: ServerSettings = Field(default_factory=ServerSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    idempotency: IdempotencySettings = Field(default_factory=IdempotencySettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    # Password of the first `admin` account, used once on a first start with an empty database.
    admin_password: SecretStr | None = None
    admin_email: str = "admin@localhost"

    @field_validator("server")
    @classmethod
    def _absolute_data_dir(cls, server: ServerSettings) -> ServerSettings:
        server.data_dir = server.data_dir.expanduser().absolute()
        return server

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls.toml_path is not None and cls.toml_path.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls.toml_path))
        return tuple(sources)

    @property
    def data_dir(self) -> Path:
        return self.server.data_dir

    @property
    def database_url(self) -> str:
        """The configured database URL, or SQLite in WAL mode inside the data directory."""
        return self.database.url or f"sqlite:///{self.data_dir / 'panel.db'}"


def config_file_for(profile: Profile, data_dir: Path) -> Path:
    """Return the TOML file a profile reads: the system file, or the one in the data directory."""
    if profile is Profile.SYSTEM:
        return SYSTEM_CONFIG_FILE
    return data_dir / "wispanel.toml"


def load_settings(data_dir: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings for a data directory; `overrides` are sections given on the command line.

    The profile and data directory are needed before the file can be found, so they are read
    from the overrides or the environment first.
    """
    server: dict[str, Any] = dict(overrides.pop("server", {}))
    if data_dir is not None:
        server["data_dir"] = data_dir
    profile = Profile(
        server.get("profile") or os.environ.get("WISPANEL_SERVER__PROFILE") or Profile.LOCAL
    )
    directory = Path(
        server.get("data_dir") or os.environ.get("WISPANEL_SERVER__DATA_DIR") or "var"
    ).absolute()

    class _FileBoundSettings(Settings):
        toml_path: ClassVar[Path | None] = config_file_for(profile, directory)

    if server:
        overrides["server"] = server
    return _FileBoundSettings(**overrides)
