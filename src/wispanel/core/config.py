"""Typed settings: defaults, then the TOML file, then `WISPANEL_<SECTION>__<KEY>` variables.

`load_settings()` is the only place that reads the environment for configuration; everything
else receives the `Settings` object (the API through `app.state.settings`).
"""

from __future__ import annotations

import ipaddress
import os
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

SYSTEM_CONFIG_FILE = Path("/etc/wispanel/wispanel.toml")


class Profile(StrEnum):
    """The host profile: the panel's own daemons under the data directory, or the system's."""

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
    # Seconds a verified session state is reused before the database is read again.
    # Revocation in this process is immediate, and other processes see it within this window.
    session_cache_seconds: float = Field(default=2.0, ge=0, le=60)
    session_touch_seconds: int = Field(default=60, ge=1)
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_memory_kib: int = Field(default=47_104, ge=8_192)
    argon2_parallelism: int = Field(default=1, ge=1)
    # Whether a session token only works from the IP address it logged in from, per role;
    # an account's own setting overrides its role's.
    ip_binding: dict[str, bool] = Field(
        default_factory=lambda: {"admin": True, "reseller": True, "user": False}
    )
    # When on, a login while another session of the account is live needs `force: true`.
    single_session: bool = False
    # Failed logins of one account before it is locked; each further failure doubles the
    # lock, from `lockout_base_seconds` up to `lockout_max_seconds`.
    lockout_threshold: int = Field(default=5, ge=1)
    lockout_base_seconds: int = Field(default=30, ge=1)
    lockout_max_seconds: int = Field(default=900, ge=1)
    # Failures older than this no longer count towards a lock.
    lockout_window_seconds: int = Field(default=900, ge=60)
    reauth_seconds: int = Field(default=300, ge=30, le=3600)
    impersonation_ttl: int = Field(default=3600, ge=60, le=3600)
    # Seconds a verified API key may be reused before the database is asked again.
    api_key_cache_seconds: float = Field(default=5.0, ge=0, le=60)


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


class AccountSettings(BaseModel):
    """Hosting accounts: where homes live, how logins are blocked, how usage is measured."""

    # Parent of the account homes in the system profile; the local profile uses <data-dir>/home.
    home_root: Path = Path("/home")
    nologin_shell: str = "/usr/sbin/nologin"
    min_password_length: int = Field(default=8, ge=6, le=128)
    # Minutes between two measurements of every account's disk usage.
    disk_usage_interval_minutes: int = Field(default=60, ge=1, le=1440)
    # Whether new resellers may hand out more, in sum, than their own limits.
    allow_overselling: bool = False


class WebhookSettings(BaseModel):
    """Outgoing webhook deliveries: retries, timeouts and which targets may be reached."""

    # Seconds to wait before each retry after a failed attempt; its length is the retry count.
    retry_schedule_seconds: list[float] = Field(
        default_factory=lambda: [1.0, 5.0, 25.0, 120.0, 600.0, 3600.0, 21600.0]
    )
    connect_timeout: float = Field(default=5.0, gt=0, le=60)
    read_timeout: float = Field(default=10.0, gt=0, le=120)
    # Allows targets on loopback, private, link-local and other non-public addresses.
    # Cloud metadata, unspecified and multicast addresses stay refused either way.
    allow_private_targets: bool = False
    # Days a finished delivery and its attempts are kept before they are pruned.
    delivery_retention_days: int = Field(default=30, ge=1)

    @field_validator("retry_schedule_seconds")
    @classmethod
    def _non_negative_delays(cls, schedule: list[float]) -> list[float]:
        if any(delay < 0 for delay in schedule):
            raise ValueError("retry delays must be zero or more seconds")
        return schedule


class WebSettings(BaseModel):
    """The sites: nginx listeners, PHP-FPM pools, and what domains keep and show."""

    # The local profile's own nginx; unless set, the system profile listens on *:80 and *:443.
    listen_address: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=1, le=65535)
    https_port: int = Field(default=8443, ge=1, le=65535)
    # System profile: the group nginx workers run in (Debian's www-data). Account homes give
    # it passage, document roots give it read access, and pool sockets accept it.
    server_group: str = Field(default="www-data", pattern=r"^[a-z_][a-z0-9_-]{0,31}$")
    # System profile: nginx writes each account's site logs here, outside the home, because
    # its master runs as root and must not open paths the account controls.
    system_log_dir: Path = Path("/var/log/wispanel")
    worker_processes: int = Field(default=1, ge=1, le=64)
    # Open files each nginx worker may hold; each domain's two log files count in every worker.
    worker_rlimit_nofile: int = Field(default=65_536, ge=1024)
    # PHP-FPM process manager of every account pool: processes start on demand.
    pm_max_children: int = Field(default=5, ge=1, le=1000)
    pm_process_idle_timeout_seconds: int = Field(default=10, ge=1)
    pm_max_requests: int = Field(default=500, ge=0)
    # The PHP version of new domains; None picks the newest installed.
    default_php_version: str | None = Field(default=None, pattern=r"^\d+\.\d+$")
    # Whether deleting a domain keeps its directory under the account's home.
    keep_files_on_delete: bool = True
    logs_default_lines: int = Field(default=100, ge=1)
    logs_max_lines: int = Field(default=1000, ge=1)
    # Seconds to wait for nginx -t or php-fpm -t.
    check_timeout_seconds: float = Field(default=60.0, gt=0)

    @field_validator("listen_address")
    @classmethod
    def _listen_address(cls, value: str) -> str:
        if value == "*":
            return value
        bracketed = value.startswith("[") and value.endswith("]")
        try:
            address = ipaddress.ip_address(value[1:-1] if bracketed else value)
        except ValueError as error:
            raise ValueError("listen_address must be *, an IPv4 address or [IPv6]") from error
        if bracketed != (address.version == 6):
            raise ValueError("listen_address must be *, an IPv4 address or [IPv6]")
        return value


class DnsSettings(BaseModel):
    """PowerDNS Authoritative and the records every new zone starts with."""

    # The local profile's own pdns_server; unless set, the system profile's is on port 53.
    port: int = Field(default=5353, ge=1, le=65535)
    api_port: int = Field(default=8081, ge=1, le=65535)
    # Seconds to wait for one call to the PowerDNS HTTP API.
    api_timeout_seconds: float = Field(default=10.0, gt=0)
    # The system profile's API key file; the local profile generates <data-dir>/pdns/api.key.
    api_key_file: Path = Path("/etc/wispanel/pdns-api.key")
    # Fully qualified names of the name servers in every zone's NS records and SOA.
    nameservers: list[str] = Field(
        default_factory=lambda: ["ns1.example.net.", "ns2.example.net."], min_length=1
    )
    # Addresses of the apex and www records of new zones; None leaves that record out.
    server_ipv4: str | None = "127.0.0.1"
    server_ipv6: str | None = None
    # The SOA contact as a name (hostmaster.example.net.); None uses hostmaster.<zone>.
    soa_contact: str | None = None
    # Record TTLs in seconds accepted from the API, and the one used when none is sent.
    ttl_min: int = Field(default=60, ge=0)
    ttl_max: int = Field(default=86_400, ge=1, le=2_147_483_647)
    ttl_default: int = Field(default=3600, ge=0)


class SystemSettings(BaseModel):
    """Resource samples behind the history graphs, and the limits of the system endpoints."""

    # Minutes between two resource samples. Huey checks periodic tasks once a minute.
    sample_interval_minutes: int = Field(default=5, ge=1, le=60)
    # Days a resource sample is kept before the sampler prunes it.
    sample_retention_days: int = Field(default=30, ge=1, le=366)
    # The max points one GET /system/resources/history returns, whatever the request sets.
    history_max_points: int = Field(default=1000, ge=10, le=10_000)
    # Seconds each readiness check of GET /system/health may take before it counts as failed.
    health_timeout_seconds: float = Field(default=3.0, gt=0, le=30)


class SslSettings(BaseModel):
    """Certificates of hosted domains: the ACME server, its account, and the renewal window."""

    # The ACME directory; the default is Let's Encrypt's production server.
    acme_directory_url: str = Field(
        default="https://acme-v02.api.letsencrypt.org/directory", pattern=r"^https://"
    )
    # PEM bundle of CAs that sign the ACME server's own HTTPS certificate; None uses the
    # system's trust store.
    acme_ca_bundle: Path | None = None
    # Contact address registered with the ACME account; None registers without one.
    contact_email: str | None = None
    # A certificate expiring within this many days is renewed by the periodic check.
    renew_before_days: int = Field(default=30, ge=1, le=365)
    # Minutes between two runs of the renewal check.
    renew_check_interval_minutes: int = Field(default=720, ge=1, le=1440)
    # Key type of issued certificates and generated CSRs.
    key_type: str = Field(default="ec256", pattern=r"^(ec256|ec384|rsa2048|rsa3072|rsa4096)$")
    # Seconds one ACME order may take, from the order to the downloaded certificate.
    acme_timeout_seconds: float = Field(default=120.0, gt=0, le=3600)
    # Seconds to wait for nginx to serve a new certificate after the reload.
    verify_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # The max size in bytes of an uploaded certificate, chain or key.
    max_upload_bytes: int = Field(default=65_536, ge=4096, le=1_048_576)


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
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    accounts: AccountSettings = Field(default_factory=AccountSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    dns: DnsSettings = Field(default_factory=DnsSettings)
    system: SystemSettings = Field(default_factory=SystemSettings)
    ssl: SslSettings = Field(default_factory=SslSettings)
    # Password of the first `admin` account, used once on a first start with an empty database.
    admin_password: SecretStr | None = None
    admin_email: str = "admin@localhost"

    @field_validator("server")
    @classmethod
    def _absolute_data_dir(cls, server: ServerSettings) -> ServerSettings:
        server.data_dir = server.data_dir.expanduser().absolute()
        return server

    @model_validator(mode="after")
    def _system_profile_ports(self) -> Settings:
        """Give the system profile the standard ports wherever none was set."""
        if self.server.profile is not Profile.SYSTEM:
            return self
        web_set, dns_set = self.web.model_fields_set, self.dns.model_fields_set
        if "listen_address" not in web_set:
            self.web.listen_address = "*"
        if "http_port" not in web_set:
            self.web.http_port = 80
        if "https_port" not in web_set:
            self.web.https_port = 443
        if "port" not in dns_set:
            self.dns.port = 53
        return self

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
