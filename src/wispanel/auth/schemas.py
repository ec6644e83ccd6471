"""Request and response bodies of the authentication endpoints."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from wispanel.core.schemas import Line, RequestModel, ShortLine


class LoginRequest(RequestModel):
    username: ShortLine | None = Field(
        default=None, description="Username or email address", examples=["admin"]
    )
    password: Line | None = Field(default=None, max_length=1024, examples=["s3cret-passphrase"])


class AccountOut(BaseModel):
    id: int
    username: str = Field(examples=["john"])
    email: str = Field(examples=["john@example.com"])
    role: str = Field(examples=["user"])
    status: str = Field(examples=["active"])
    created_at: datetime


class LoginResponse(BaseModel):
    success: bool = True
    token: str
    expires_in: int = Field(examples=[86400])
    user: AccountOut
