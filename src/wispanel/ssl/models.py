"""Certificates installed for domains: where each came from and what it covers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from wispanel.core.database import Base, UTCDateTime, utcnow

# Length of the subject and issuer columns; longer distinguished names are shortened.
NAME_TEXT_LENGTH = 1024


class CertificateSource:
    ACME = "acme"
    UPLOADED = "uploaded"


class Certificate(Base):
    """The certificate a domain's site serves; the files live in its certificate directory.

    ACME certificates are renewed before `not_after`; uploaded ones are left to their owner.
    """

    __tablename__ = "ssl_certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    domain_id: Mapped[int] = mapped_column(
        ForeignKey("domains.id", ondelete="CASCADE"), unique=True
    )
    source: Mapped[str] = mapped_column(String(16))
    names: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(String(NAME_TEXT_LENGTH))
    issuer: Mapped[str] = mapped_column(String(NAME_TEXT_LENGTH))
    # Hexadecimal, as the issuer assigned it (at most 20 bytes by RFC 5280).
    serial: Mapped[str] = mapped_column(String(64))
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    fingerprint_sha256: Mapped[str] = mapped_column(String(95))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
