"""A long run minute by minute: rows/s, storage-node memory and CPU, bytes on disk by tier, and flushes.

Inputs are what a run already collects: the driver's timeline (rows acknowledged in each second since the
start), :class:`loadtest.report.ProcessSampler`'s samples of the storage nodes, the disk samples of
:class:`loadtest.engine.DiskSampler` and the flushes the storage nodes logged (:mod:`loadtest.storage_logs`).
Minute ``m`` covers ``[start + 60 (m - 1), start + 60 m)``; the last one may be shorter and says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from loadtest.engine import DiskUse
from loadtest.storage_logs import FlushEvent

MIB = 1 << 20
SHORT_NAMES = {"older than memory retention": "retention", "bucket ended and idle": "idle",
               "memory above the flush mark": "pressure", "forced": "forced"}

Sample = tuple[float, float, int]
"""(Unix time, CPU % of one core, RSS kB), as ProcessSampler keeps them."""


@dataclass(frozen=True)
class Minute:
    """The figures of one minute of a run."""

    index: int
    seconds: int
    rows_per_s: float
    rss_max_mb: float
    """The largest RSS any storage node reached in the minute."""
    rss_total_mb: float
    """Storage nodes' RSS added up, at their last sample in the minute."""
    cpu_mean_pct: float
    """Mean CPU % of one core over the storage nodes and the minute's samples."""
    wal_mb: float | None
    magnetic_mb: float | None
    """Bytes on disk of every storage node at the minute's last disk sample (None: none taken)."""
    flushes: dict[str, int] = field(default_factory=dict)
    """Flushes started in the minute, by tiering rule (short names: retention, idle, pressure, forced)."""
    flushed_rows: int = 0


def per_minute(start_unix: float, timeline: Sequence[int], storage: Mapping[str, Sequence[Sample]],
               disk: Sequence[tuple[float, DiskUse]] = (), flushes: Sequence[FlushEvent] = ()) -> list[Minute]:
    """One :class:`Minute` per minute of the timeline (a partial last minute included if it has 10 s)."""
    out = []
    minutes = (len(timeline) + 59) // 60
    for m in range(minutes):
        lo, hi = start_unix + 60 * m, start_unix + 60 * (m + 1)
        seconds = timeline[60 * m:60 * (m + 1)]
        if len(seconds) < 10 and m > 0:
            break
        inside = {name: [s for s in samples if lo <= s[0] < hi] for name, samples in storage.items()}
        all_samples = [s for samples in inside.values() for s in samples]
        last_disk = [use for t, use in disk if lo <= t < hi]
        events = [e for e in flushes if lo <= e.at_unix < hi]
        reasons: Counter[str] = Counter()
        for e in events:
            for reason in e.reasons or ("unknown",):
                reasons[SHORT_NAMES.get(reason, reason)] += 1
        out.append(Minute(
            index=m + 1, seconds=len(seconds), rows_per_s=sum(seconds) / len(seconds),
            rss_max_mb=max((s[2] for s in all_samples), default=0) / 1024,
            rss_total_mb=sum(samples[-1][2] for samples in inside.values() if samples) / 1024,
            cpu_mean_pct=sum(s[1] for s in all_samples) / len(all_samples) if all_samples else 0.0,
            wal_mb=last_disk[-1].wal / MIB if last_disk else None,
            magnetic_mb=last_disk[-1].magnetic / MIB if last_disk else None,
            flushes=dict(sorted(reasons.items())), flushed_rows=sum(e.rows for e in events)))
    return out


def _mb(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def minutes_table(minutes: Sequence[Minute]) -> str:
    """A markdown table of the minutes."""
    lines = [("| minute | rows/s | storage RSS max MB (one node) | storage RSS sum MB | storage CPU % (mean) "
             "| WAL MiB | magnetic MiB | flushes by rule | rows flushed |"),
             "|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for m in minutes:
        label = f"{m.index}" + (f" ({m.seconds} s)" if m.seconds < 60 else "")
        flushes = ", ".join(f"{k} {v}" for k, v in m.flushes.items()) or "—"
        lines.append(f"| {label} | {m.rows_per_s:,.0f} | {m.rss_max_mb:,.0f} | {m.rss_total_mb:,.0f} | "
                     f"{m.cpu_mean_pct:.0f} | {_mb(m.wal_mb)} | {_mb(m.magnetic_mb)} | {flushes} | "
                     f"{m.flushed_rows:,} |")
    return "\n".join(lines)


def steadiness(minutes: Sequence[Minute], reference_rows_per_s: float) -> dict[str, float]:
    """The full minutes' rows/s against a reference (a short load's figure): lowest, median and last, as
    fractions of the reference."""
    full = sorted(m.rows_per_s for m in minutes if m.seconds == 60)
    if not full or reference_rows_per_s <= 0:
        return {}
    last = next(m.rows_per_s for m in reversed(minutes) if m.seconds == 60)
    return {"min": full[0] / reference_rows_per_s, "median": full[len(full) // 2] / reference_rows_per_s,
            "last": last / reference_rows_per_s}
