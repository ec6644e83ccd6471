"""Accounts (admins, resellers and hosting users) and the hosting packages they are on."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from wispanel.core.database import Base, UTCDateTime, utcnow

UNLIMITED = -1


class Role(StrEnum):
    ADMIN = "admin"
    RESELLER = "reseller"
    USER = "user"


class AccountStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Package(Base):
    """A hosting plan: countable limits (-1 is unlimited) and feature flags."""

    __tablename__ = "packages"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    max_domains: Mapped[int] = mapped_column(Integer, default=UNLIMITED)
    max_subdomains: Mapped[int] = mapped_column(Integer, default=UNLIMITED)
    max_databases: Mapped[int] = mapped_column(Integer, default=UNLIMITED)
    max_email_accounts: Mapped[int] = mapped_column(Integer, default=UNLIMITED)
    max_ftp_accounts: Mapped[int] = mapped_column(Integer, default=UNLIMITED)
    max_cronjobs: Mapped[int] = mapped_column(Integer, default=UNLIMITED)
    disk_quota_mb: Mapped[int] = mapped_column(Integer, default=UNLIMITED)
    bandwidth_quota_mb: Mapped[int] = mapped_column(Integer, default=UNLIMITED)
    php: Mapped[bool] = mapped_column(Boolean, default=True)
    ssl: Mapped[bool] = mapped_column(Boolean, default=True)
    cron: Mapped[bool] = mapped_column(Boolean, default=True)
    dns_control: Mapped[bool] = mapped_column(Boolean, default=True)
    ssh: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=Role.USER)
    status: Mapped[str] = mapped_column(String(16), default=AccountStatus.ACTIVE)
    # Copied into every token as `tv`; raising it revokes every token issued before.
    token_version: Mapped[int] = mapped_column(Integer, default=1)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    # Admin accounts have no package: they are not limited.
    package_id: Mapped[int | None] = mapped_column(
        ForeignKey("packages.id", ondelete="RESTRICT"), index=True
    )
    # Per-account values that win over the package: {"max_domains": 5, "ssh": true, ...}.
    # A reseller's `max_users` and its `can_grant_*` features live here too.
    limit_overrides: Mapped[dict[str, int] | None] = mapped_column(JSON)
    feature_overrides: Mapped[dict[str, bool] | None] = mapped_column(JSON)
    # A reseller with overselling on may hand out more, in sum, than its own limits.
    allow_overselling: Mapped[bool] = mapped_column(Boolean, default=False)
    suspension_reason: Mapped[str | None] = mapped_column(String(255))
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when the account was suspended because its reseller was, so unsuspending the
    # reseller brings back exactly these accounts and leaves the others suspended.
    suspended_with_reseller: Mapped[bool] = mapped_column(Boolean, default=False)
    disk_used_bytes: Mapped[int | None] = mapped_column(BigInteger)
    disk_measured_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
