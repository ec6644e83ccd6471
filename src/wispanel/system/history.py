"""Resource samples as a time series: rates from counters, averaged into evenly spaced points.

Rows are read in time order as a stream, so a long range costs time but not memory. A
point stands for a bucket of `bucket_seconds` starting at its time and is the mean of the
samples in it. Buckets without samples are left out, so gaps in sampling stay visible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from wispanel.system.models import ResourceSample

STREAM_BATCH = 1000
# Two samples further apart than this many intervals are not used for a rate: the sampler
# was stopped in between, and an average over the gap would hide it.
MAX_GAP_INTERVALS = 2.5
VALUES = (
    "cpu_percent",
    "memory_percent",
    "swap_percent",
    "data_disk_percent",
    "home_disk_percent",
    "load_1",
    "load_5",
    "load_15",
    "network_sent_bytes_per_second",
    "network_recv_bytes_per_second",
)
LEVELS = VALUES[1:8]


@dataclass
class _Bucket:
    start: datetime
    samples: int = 0
    sums: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, values: dict[str, float | None]) -> None:
        self.samples += 1
        for name, value in values.items():
            if value is not None:
                self.sums[name] = self.sums.get(name, 0.0) + value
                self.counts[name] = self.counts.get(name, 0) + 1

    def point(self) -> dict[str, Any]:
        point: dict[str, Any] = {"time": self.start, "samples": self.samples}
        for name in VALUES:
            count = self.counts.get(name, 0)
            point[name] = round(self.sums[name] / count, 2) if count else None
        return point


def bucket_seconds(since: datetime, until: datetime, max_points: int, interval: int) -> int:
    """Return the width of a point: one sample interval, or wider to stay within max_points."""
    span = (until - since).total_seconds()
    return max(interval * 60, math.ceil(span / max_points))


def _rates(
    previous: ResourceSample | None, sample: ResourceSample, max_gap: float
) -> dict[str, float | None]:
    """Return the CPU share and network rates between two samples, or None where unknown.

    Counters that went down were reset by a reboot, so no rate is given across them.
    """
    rates: dict[str, float | None] = {
        "cpu_percent": None,
        "network_sent_bytes_per_second": None,
        "network_recv_bytes_per_second": None,
    }
    if previous is None:
        return rates
    elapsed = (sample.taken_at - previous.taken_at).total_seconds()
    if not 0 < elapsed <= max_gap:
        return rates
    busy = sample.cpu_busy_seconds - previous.cpu_busy_seconds
    total = sample.cpu_total_seconds - previous.cpu_total_seconds
    if total > 0 and busy >= 0:
        rates["cpu_percent"] = min(100.0, 100.0 * busy / total)
    sent = sample.net_bytes_sent - previous.net_bytes_sent
    received = sample.net_bytes_recv - previous.net_bytes_recv
    if sent >= 0 and received >= 0:
        rates["network_sent_bytes_per_second"] = sent / elapsed
        rates["network_recv_bytes_per_second"] = received / elapsed
    return rates


def _in_range(host: str, since: datetime, until: datetime) -> Select[ResourceSample]:
    return (
        select(ResourceSample)
        .where(
            ResourceSample.host == host,
            ResourceSample.taken_at >= since,
            ResourceSample.taken_at <= until,
        )
        .order_by(ResourceSample.taken_at, ResourceSample.id)
        .execution_options(yield_per=STREAM_BATCH)
    )


async def series(
    db: AsyncSession,
    *,
    host: str,
    since: datetime,
    until: datetime,
    width: int,
    interval: int,
) -> tuple[list[dict[str, Any]], int]:
    """Return the points of one host between since and until, and the samples they hold."""
    max_gap = MAX_GAP_INTERVALS * interval * 60
    # The sample before `since` gives the first sample in range its rates.
    lookback = since - timedelta(seconds=max_gap)
    buckets: dict[int, _Bucket] = {}
    previous: ResourceSample | None = None
    count = 0
    async for sample in await db.stream_scalars(_in_range(host, lookback, until)):
        rates = _rates(previous, sample, max_gap)
        previous = sample
        if sample.taken_at < since:
            continue
        index = int((sample.taken_at - since).total_seconds() // width)
        bucket = buckets.get(index)
        if bucket is None:
            bucket = buckets[index] = _Bucket(since + timedelta(seconds=index * width))
        bucket.add({**{name: getattr(sample, name) for name in LEVELS}, **rates})
        count += 1
    return [buckets[index].point() for index in sorted(buckets)], count
