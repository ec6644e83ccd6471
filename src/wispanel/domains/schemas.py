"""Request and response bodies of domains, aliases, vhosts, logs and PHP versions."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from wispanel.core.schemas import RequestModel, ShortLine, documented_as_required
from wispanel.host.nginx_directives import ALLOWED_DIRECTIVES


class DomainCreate(RequestModel):
    model_config = ConfigDict(json_schema_extra=documented_as_required("domain"))

    domain: str | None = Field(
        default=None,
        max_length=1024,
        description="Lowercased and IDNA-encoded; one trailing dot is dropped",
        examples=["example.com"],
    )
    owner: ShortLine | None = Field(
        default=None,
        description="Admins and resellers: the account that owns the domain (default: you)",
        examples=["john"],
    )
    php_version: ShortLine | None = Field(
        default=None,
        description="An installed PHP-FPM version; omit for the default, `none` for no PHP",
        examples=["8.2"],
    )
    document_root: ShortLine | None = Field(
        default=None,
        description="Relative to the owner's home (default domains/<domain>/public_html)",
        examples=["domains/example.com/public_html"],
    )
    webserver: Literal["nginx"] = "nginx"


class DomainUpdate(RequestModel):
    """Fields to change; an omitted field stays as it is. Renaming is not possible."""

    php_version: ShortLine | None = Field(
        default=None, description="An installed PHP-FPM version, or `none` for no PHP"
    )
    document_root: ShortLine | None = Field(
        default=None, description="Relative to the owner's home", examples=["public_html"]
    )
    redirect_url: str | None = Field(
        default=None,
        max_length=2048,
        description="Send every request there (the ACME path excepted); empty string removes it",
        examples=["https://example.org/"],
    )
    redirect_code: Literal[301, 302] | None = Field(default=None, examples=[301])
    ssl_enabled: bool | None = Field(
        default=None, description="Serve HTTPS once the domain has a certificate"
    )
    force_https: bool | None = Field(default=None, description="Redirect HTTP to HTTPS")
    hsts: bool | None = Field(default=None, description="Send Strict-Transport-Security")


class AliasOut(BaseModel):
    alias: str = Field(examples=["example.net"])
    domain: str = Field(examples=["example.com"])
    created_at: datetime


class DomainOut(BaseModel):
    id: int
    domain: str = Field(examples=["example.com"])
    unicode_domain: str = Field(examples=["example.com"])
    owner: str = Field(examples=["john"])
    parent_domain: str | None = Field(default=None, examples=[None])
    webserver: str = Field(examples=["nginx"])
    php_version: str | None = Field(examples=["8.2"])
    document_root: str = Field(
        description="Absolute path the site is served from",
        examples=["/home/john/domains/example.com/public_html"],
    )
    status: Literal["active", "suspended"]
    suspended: bool
    suspended_by_account: bool = Field(
        description="The owner's account is suspended, so the site is too"
    )
    redirect_url: str | None
    redirect_code: int
    ssl_enabled: bool
    force_https: bool
    hsts: bool
    has_custom_directives: bool
    aliases: list[str]
    server_names: list[str]
    created_at: datetime
    updated_at: datetime


class VhostUpdate(RequestModel):
    custom_directives: str = Field(
        max_length=16_384,
        description=(
            "nginx directives inserted into the server block; empty removes them. Allowed: "
            + ", ".join(sorted(ALLOWED_DIRECTIVES))
            + ". location and if open blocks; root, alias and auth_basic_user_file take a path"
            " inside the account's home; access_log can only be turned off."
        ),
        examples=["expires 1h;"],
    )


class VhostOut(BaseModel):
    domain: str
    webserver: str
    config_file: str
    config: str | None = Field(description="The rendered server block as on disk")
    custom_directives: str


class AliasCreate(RequestModel):
    model_config = ConfigDict(json_schema_extra=documented_as_required("alias"))

    alias: str | None = Field(default=None, max_length=1024, examples=["example.net"])


class LogOut(BaseModel):
    domain: str
    type: Literal["access", "error"]
    lines: list[str]
    count: int
    max_lines: int


class PhpVersionOut(BaseModel):
    version: str = Field(examples=["8.2"])
    binary: str = Field(examples=["/usr/sbin/php-fpm8.2"])
    default: bool
