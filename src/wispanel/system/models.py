"""Resource samples the panel takes of its host on a schedule, for the history graphs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Double, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from wispanel.core.database import Base, UTCDateTime


class ResourceSample(Base):
    """One measurement of a host.

    CPU time and network bytes are the host's counters since boot, so the change between
    two samples gives the CPU load and traffic over the whole interval between them.
    """

    __tablename__ = "resource_samples"
    __table_args__ = (Index("ix_resource_samples_host_taken_at", "host", "taken_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The host name of the machine measured; each node's job worker samples its own.
    host: Mapped[str] = mapped_column(String(255))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    cpu_busy_seconds: Mapped[float] = mapped_column(Double)
    cpu_total_seconds: Mapped[float] = mapped_column(Double)
    memory_percent: Mapped[float] = mapped_column(Double)
    memory_used_bytes: Mapped[int] = mapped_column(BigInteger)
    swap_percent: Mapped[float] = mapped_column(Double)
    # Used space of the file systems holding the data directory and the account homes.
    data_disk_percent: Mapped[float] = mapped_column(Double)
    home_disk_percent: Mapped[float] = mapped_column(Double)
    load_1: Mapped[float] = mapped_column(Double)
    load_5: Mapped[float] = mapped_column(Double)
    load_15: Mapped[float] = mapped_column(Double)
    net_bytes_sent: Mapped[int] = mapped_column(BigInteger)
    net_bytes_recv: Mapped[int] = mapped_column(BigInteger)
