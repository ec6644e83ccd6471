"""DNS zones and their records; PowerDNS is rendered from these rows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from wispanel.core.database import Base, UTCDateTime, utcnow
from wispanel.domains.models import MAX_DOMAIN_LENGTH


class DnsZone(Base):
    """A zone the panel serves: its name, owner, origin and SOA serial."""

    __tablename__ = "dns_zones"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Normalised like domain names: lowercase ASCII, no trailing dot.
    name: Mapped[str] = mapped_column(String(MAX_DOMAIN_LENGTH), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    # The domain (or the domain of the alias) this zone was made for; None for DNS-only zones.
    domain_id: Mapped[int | None] = mapped_column(
        ForeignKey("domains.id", ondelete="SET NULL"), index=True
    )
    # "domain", "alias" or "dns_only".
    kind: Mapped[str] = mapped_column(String(16), default="dns_only")
    # YYYYMMDDnn; raised on every change.
    serial: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class DnsRecord(Base):
    """One record of a zone, in parts; its PowerDNS content is rendered from them."""

    __tablename__ = "dns_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("dns_zones.id", ondelete="CASCADE"), index=True)
    # Relative to the zone: "@" for the apex, "www", "_sip._tcp", "*.dev".
    name: Mapped[str] = mapped_column(String(MAX_DOMAIN_LENGTH))
    type: Mapped[str] = mapped_column(String(8))
    # The address, target host name (fully qualified, trailing dot), text, or CAA value.
    content: Mapped[str] = mapped_column(Text)
    ttl: Mapped[int] = mapped_column(Integer)
    priority: Mapped[int | None] = mapped_column(Integer)  # MX, SRV
    weight: Mapped[int | None] = mapped_column(Integer)  # SRV
    port: Mapped[int | None] = mapped_column(Integer)  # SRV
    flags: Mapped[int | None] = mapped_column(Integer)  # CAA
    tag: Mapped[str | None] = mapped_column(String(32))  # CAA
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
