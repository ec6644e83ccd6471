"""Request and response bodies of single sign-on."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from wispanel.core.schemas import Line, RequestModel, ShortLine

MIN_EXPIRES = 30
MAX_EXPIRES = 900
DEFAULT_EXPIRES = 300


class SsoMintRequest(RequestModel):
    username: ShortLine = Field(min_length=1, max_length=32, examples=["john"])
    target_path: Line = Field(
        default="/",
        max_length=2048,
        description="Path inside the panel UI the user lands on; must start with a single /",
        examples=["/domains"],
    )
    expires_in: int = Field(
        default=DEFAULT_EXPIRES,
        description=f"Seconds the link works; clamped to {MIN_EXPIRES}-{MAX_EXPIRES}",
        examples=[300],
    )
    reason: ShortLine | None = Field(
        default=None,
        description="Why the link was minted; kept in the audit log",
        examples=["WHMCS client area login"],
    )

    @field_validator("target_path")
    @classmethod
    def _local_path(cls, value: str) -> str:
        if not value.startswith("/") or value.startswith("//") or "\\" in value:
            raise ValueError("must be a path on this panel starting with a single /")
        if "#" in value:
            raise ValueError("must not contain a fragment (#)")
        return value

    @field_validator("expires_in")
    @classmethod
    def _clamp(cls, value: int) -> int:
        return max(MIN_EXPIRES, min(MAX_EXPIRES, value))


class SsoMintResponse(BaseModel):
    success: bool = True
    nonce: str = Field(description="43 base64url characters, usable once")
    consume_url: str = Field(examples=["https://panel.example.com:3082/sso/consume/NONCE"])
    expires_in: int = Field(examples=[300])
    target_path: str = Field(examples=["/domains"])


class SsoExchangeRequest(RequestModel):
    handoff: ShortLine = Field(
        min_length=1,
        max_length=64,
        description="The `sso` value the consume redirect put in the URL fragment",
    )
