"""Request and response bodies of the API key endpoints."""

from __future__ import annotations

import ipaddress
from datetime import datetime

from pydantic import BaseModel, Field, field_validator

from wispanel.auth.scopes import SCOPES
from wispanel.core.schemas import RequestModel, ShortLine

MAX_ALLOWLIST = 100


class ApiKeyCreate(RequestModel):
    name: ShortLine = Field(min_length=1, max_length=100, examples=["WHMCS"])
    permissions: list[str] = Field(
        default_factory=lambda: ["read"],
        max_length=len(SCOPES),
        description="Scopes: `read`, `all`, or area names such as `domains`",
        examples=[["read", "domains"]],
    )
    ip_whitelist: list[str] = Field(
        default_factory=list,
        max_length=MAX_ALLOWLIST,
        description="IP addresses or CIDR networks the key may be used from; empty allows any",
        examples=[["203.0.113.7", "198.51.100.0/24"]],
    )
    expires_in: int = Field(
        default=0, ge=0, le=3650, description="Days until the key expires; 0 never", examples=[90]
    )
    rate_limit: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="Requests a minute for this key; empty uses the owner's role limit",
        examples=[120],
    )

    @field_validator("permissions")
    @classmethod
    def _known_scopes(cls, value: list[str]) -> list[str]:
        unknown = sorted({scope for scope in value if scope not in SCOPES})
        if unknown:
            raise ValueError(
                f"unknown scopes {', '.join(unknown)[:200]}; use {', '.join(sorted(SCOPES))}"
            )
        if not value:
            raise ValueError("at least one scope is required")
        return list(dict.fromkeys(value))

    @field_validator("ip_whitelist")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        normalised = []
        for entry in value:
            try:
                network = ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError as error:
                raise ValueError(f"{entry[:64]!r} is not an IP address or CIDR network") from error
            normalised.append(
                str(network.network_address) if network.num_addresses == 1 else str(network)
            )
        return list(dict.fromkeys(normalised))


class ApiKeyOut(BaseModel):
    id: str = Field(examples=["9f2c4e6a8b0d1f3a"])
    name: str = Field(examples=["WHMCS"])
    key_prefix: str = Field(examples=["wsp_3f9a1c2b"])
    permissions: list[str] = Field(examples=[["read", "domains"]])
    ip_whitelist: list[str] = Field(examples=[["203.0.113.7"]])
    rate_limit: int | None = Field(default=None, examples=[None])
    last_used: datetime = Field(description="0001-01-01T00:00:00Z when never used")
    created_at: datetime
    expires_at: datetime = Field(description="0001-01-01T00:00:00Z when it never expires")
    enabled: bool = True


class ApiKeyCreated(BaseModel):
    success: bool = True
    message: str = Field(examples=["API key created; the secret is shown only once"])
    secret_key: str = Field(examples=["wsp_" + "0" * 48])
    api_key: str = Field(examples=["wsp_" + "0" * 48])
    key: ApiKeyOut
