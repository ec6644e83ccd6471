"""Domains and their alias (parked) names."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wispanel.core.database import Base, UTCDateTime, utcnow

MAX_DOMAIN_LENGTH = 253


class Domain(Base):
    """A site: its name, owner, document root and web settings; nginx is rendered from it."""

    __tablename__ = "domains"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Normalised: lowercase ASCII (IDNA A-labels), no trailing dot.
    name: Mapped[str] = mapped_column(String(MAX_DOMAIN_LENGTH), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    # The owner's domain this one is a subdomain of; it counts against max_subdomains.
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("domains.id", ondelete="SET NULL"), index=True
    )
    webserver: Mapped[str] = mapped_column(String(16), default="nginx")
    # None serves static files only.
    php_version: Mapped[str | None] = mapped_column(String(16))
    # Relative to the owner's home, like `domains/example.com/public_html`.
    document_root: Mapped[str] = mapped_column(String(255))
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    redirect_url: Mapped[str | None] = mapped_column(String(2048))
    redirect_code: Mapped[int] = mapped_column(Integer, default=301)
    ssl_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    force_https: Mapped[bool] = mapped_column(Boolean, default=False)
    hsts: Mapped[bool] = mapped_column(Boolean, default=False)
    custom_directives: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    aliases: Mapped[list[DomainAlias]] = relationship(
        back_populates="domain",
        cascade="all, delete-orphan",
        order_by="DomainAlias.id",
        lazy="selectin",
    )


class DomainAlias(Base):
    """Another name served by the same server block as its domain."""

    __tablename__ = "domain_aliases"

    id: Mapped[int] = mapped_column(primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(MAX_DOMAIN_LENGTH), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    domain: Mapped[Domain] = relationship(back_populates="aliases")
