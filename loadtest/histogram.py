"""Latency recording with HdrHistogram: 1 µs .. 60 s at 3 significant digits, mergeable across processes.

Each worker process records into its own :class:`Latency`, sends ``encode()`` (compressed bytes) back to the
parent, which merges them with :meth:`Latency.merge`. Values above 60 s are recorded as 60 s and counted in
``clamped`` so that a stuck call shows up instead of vanishing.
"""

from __future__ import annotations

from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 60_000_000
SIGNIFICANT_DIGITS = 3
PERCENTILES = (50.0, 95.0, 99.0, 99.9)


@dataclass(frozen=True)
class Summary:
    """Latency figures in milliseconds (count is a number of calls)."""

    count: int
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    min_ms: float
    clamped: int = 0
    """Calls slower than 60 s, recorded as 60 s."""

    def as_dict(self) -> dict[str, float | int]:
        """The figures as a JSON-friendly dict."""
        return {"count": self.count, "mean_ms": self.mean_ms, "p50_ms": self.p50_ms, "p95_ms": self.p95_ms,
                "p99_ms": self.p99_ms, "p999_ms": self.p999_ms, "max_ms": self.max_ms, "min_ms": self.min_ms,
                "clamped": self.clamped}


class Latency:
    """An HDR histogram of call latencies in microseconds."""

    def __init__(self) -> None:
        self._h = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
        self.clamped = 0

    def record_seconds(self, seconds: float) -> None:
        """Record one call that took ``seconds``."""
        self.record_us(round(seconds * 1e6))

    def record_us(self, micros: int) -> None:
        """Record one call that took ``micros`` microseconds (clamped to 1 µs .. 60 s)."""
        if micros > HIGHEST_US:
            self.clamped += 1
            micros = HIGHEST_US
        self._h.record_value(max(LOWEST_US, micros))

    @property
    def count(self) -> int:
        """Calls recorded."""
        return int(self._h.get_total_count())

    def merge(self, other: Latency) -> None:
        """Add every value of ``other`` into this histogram."""
        self._h.add(other._h)
        self.clamped += other.clamped

    def encode(self) -> bytes:
        """A compact, picklable form for sending between processes."""
        return self.clamped.to_bytes(8, "little") + bytes(self._h.encode())

    @classmethod
    def decode(cls, data: bytes) -> Latency:
        """The histogram that ``encode`` produced."""
        out = cls()
        out.clamped = int.from_bytes(data[:8], "little")
        if len(data) > 8:
            out._h.add(HdrHistogram.decode(data[8:]))
        return out

    def percentile_ms(self, percentile: float) -> float:
        """The value at ``percentile`` (0..100) in milliseconds (0 when empty)."""
        return float(self._h.get_value_at_percentile(percentile)) / 1000.0 if self.count else 0.0

    def summary(self) -> Summary:
        """Count, mean, p50/p95/p99/p99.9, min and max."""
        if not self.count:
            return Summary(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, self.clamped)
        p50, p95, p99, p999 = (self.percentile_ms(p) for p in PERCENTILES)
        return Summary(self.count, round(float(self._h.get_mean_value()) / 1000.0, 3), p50, p95, p99, p999,
                       float(self._h.get_max_value()) / 1000.0, float(self._h.get_min_value()) / 1000.0,
                       self.clamped)
