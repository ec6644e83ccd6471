"""Request and response bodies of accounts, resellers, packages and account sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from wispanel.core.schemas import RequestModel, ShortLine

Limit = int | None
Feature = bool | None
LIMIT_FIELD = Field(default=None, ge=-1, le=2_000_000_000, description="-1 is unlimited")


class LimitValues(RequestModel):
    """Per-account limits; an omitted field is unchanged, `null` falls back to the package."""

    max_domains: Limit = Field(default=None, ge=-1, le=2_000_000_000, examples=[10])
    max_subdomains: Limit = LIMIT_FIELD
    max_databases: Limit = LIMIT_FIELD
    max_email_accounts: Limit = LIMIT_FIELD
    max_ftp_accounts: Limit = LIMIT_FIELD
    max_cronjobs: Limit = LIMIT_FIELD
    disk_quota_mb: Limit = Field(default=None, ge=-1, le=2_000_000_000, examples=[10240])
    bandwidth_quota_mb: Limit = LIMIT_FIELD


class FeatureValues(RequestModel):
    """Per-account features; an omitted field is unchanged, `null` falls back to the package."""

    php: Feature = None
    ssl: Feature = None
    cron: Feature = None
    dns_control: Feature = None
    ssh: Feature = Field(default=None, examples=[False])


class UserCreate(RequestModel):
    username: str | None = Field(default=None, max_length=255, examples=["john"])
    email: str | None = Field(default=None, max_length=254, examples=["john@example.com"])
    password: str | None = Field(default=None, max_length=1024, examples=["s3cret-passphrase"])
    package: ShortLine = Field(default="default", examples=["default"])
    role: Literal["user", "reseller", "admin"] = Field(
        default="user", description="Only admins may create resellers and admins"
    )
    reseller: ShortLine | None = Field(
        default=None, description="Admins only: the reseller the new account belongs to"
    )
    limits: LimitValues | None = None
    features: FeatureValues | None = None


class UserUpdate(RequestModel):
    email: str | None = Field(default=None, max_length=254, examples=["john@example.net"])
    password: str | None = Field(
        default=None, max_length=1024, description="Omit to keep the current password"
    )
    package: ShortLine | None = Field(default=None, examples=["gold"])
    role: Literal["user", "reseller"] | None = Field(
        default=None, description="Admins only: move an account between user and reseller"
    )
    limits: LimitValues | None = None
    features: FeatureValues | None = None


class SuspendRequest(RequestModel):
    reason: ShortLine | None = Field(default=None, examples=["Unpaid invoice"])


class LimitsOut(BaseModel):
    max_users: int | None = Field(default=None, description="Resellers only")
    max_domains: int = Field(examples=[10])
    max_subdomains: int
    max_databases: int
    max_email_accounts: int
    max_ftp_accounts: int
    max_cronjobs: int
    disk_quota_mb: int = Field(examples=[10240])
    bandwidth_quota_mb: int


class FeaturesOut(BaseModel):
    php: bool
    ssl: bool
    cron: bool
    dns_control: bool
    ssh: bool


class UsageOut(BaseModel):
    disk_used_mb: float | None = Field(description="None until first measured", examples=[12.5])
    disk_measured_at: datetime | None


class UserOut(BaseModel):
    id: int
    username: str = Field(examples=["john"])
    email: str = Field(examples=["john@example.com"])
    role: str = Field(examples=["user"])
    status: str = Field(examples=["active"])
    package: str | None = Field(examples=["default"])
    reseller: str | None = Field(description="The reseller the account belongs to")
    limits: LimitsOut
    features: FeaturesOut
    usage: UsageOut
    suspension_reason: str | None
    suspended_at: datetime | None
    created_at: datetime
    updated_at: datetime


class SessionOut(BaseModel):
    id: str
    ip: str = Field(examples=["203.0.113.7"])
    user_agent: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


class ResellerLimitsUpdate(RequestModel):
    """A reseller's own limits, the features it may grant, and overselling."""

    max_users: Limit = Field(default=None, ge=-1, le=2_000_000_000, examples=[50])
    max_domains: Limit = LIMIT_FIELD
    max_subdomains: Limit = LIMIT_FIELD
    max_databases: Limit = LIMIT_FIELD
    max_email_accounts: Limit = LIMIT_FIELD
    max_ftp_accounts: Limit = LIMIT_FIELD
    max_cronjobs: Limit = LIMIT_FIELD
    disk_quota_mb: Limit = LIMIT_FIELD
    bandwidth_quota_mb: Limit = LIMIT_FIELD
    can_grant_php: Feature = None
    can_grant_ssl: Feature = None
    can_grant_cron: Feature = None
    can_grant_dns_control: Feature = None
    can_grant_ssh: Feature = None
    allow_overselling: bool | None = Field(
        default=None, description="Let the sum of the accounts' limits exceed the reseller's"
    )


class ResellerCreate(ResellerLimitsUpdate):
    username: str | None = Field(default=None, max_length=255, examples=["acme"])
    email: str | None = Field(default=None, max_length=254, examples=["sales@acme.example"])
    password: str | None = Field(default=None, max_length=1024)
    package: ShortLine = Field(default="default", examples=["default"])


class ResellerCreated(BaseModel):
    success: bool = True
    message: str = Field(examples=["Reseller created successfully"])
    username: str = Field(examples=["acme"])
    package: str = Field(examples=["default"])


class ResellerOut(BaseModel):
    id: int
    username: str = Field(examples=["acme"])
    email: str
    status: str = Field(examples=["active"])
    package: str | None
    max_users: int = Field(examples=[50])
    max_domains: int
    max_subdomains: int
    max_databases: int
    max_email_accounts: int
    max_ftp_accounts: int
    max_cronjobs: int
    disk_quota_mb: int
    bandwidth_quota_mb: int
    can_grant_php: bool
    can_grant_ssl: bool
    can_grant_cron: bool
    can_grant_dns_control: bool
    can_grant_ssh: bool
    allow_overselling: bool
    users_count: int = Field(description="Accounts the reseller has created")
    allocated: dict[str, int] = Field(
        description="Sum of each limit over the reseller's accounts; -1 when one is unlimited"
    )
    usage: UsageOut
    suspension_reason: str | None
    created_at: datetime


PACKAGE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$"


class PackageFields(RequestModel):
    description: ShortLine | None = Field(default=None, examples=["Ten sites with mail"])
    max_domains: Limit = Field(default=None, ge=-1, le=2_000_000_000, examples=[10])
    max_subdomains: Limit = LIMIT_FIELD
    max_databases: Limit = LIMIT_FIELD
    max_email_accounts: Limit = LIMIT_FIELD
    max_ftp_accounts: Limit = LIMIT_FIELD
    max_cronjobs: Limit = LIMIT_FIELD
    disk_quota_mb: Limit = LIMIT_FIELD
    bandwidth_quota_mb: Limit = LIMIT_FIELD
    php: Feature = None
    ssl: Feature = None
    cron: Feature = None
    dns_control: Feature = None
    ssh: Feature = None


class PackageCreate(PackageFields):
    name: str = Field(pattern=PACKAGE_NAME_PATTERN, examples=["gold"])


class PackageOut(BaseModel):
    id: int
    name: str = Field(examples=["gold"])
    description: str
    max_domains: int = Field(examples=[10])
    max_subdomains: int
    max_databases: int
    max_email_accounts: int
    max_ftp_accounts: int
    max_cronjobs: int
    disk_quota_mb: int
    bandwidth_quota_mb: int
    php: bool
    ssl: bool
    cron: bool
    dns_control: bool
    ssh: bool
    accounts: int = Field(description="Accounts on this package")
    created_at: datetime
    updated_at: datetime
