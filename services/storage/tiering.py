"""When memory-store data moves to the magnetic store: the tiering policy, and the clock it reads.

A tile's memory store is flushed into a segment when any of these holds:

- its whole time bucket is older than the table's memory-store retention (Timestream's ageing rule);
- its bucket has ended and it took no append for ``idle_flush_s`` (a closed hour stops costing RAM and WAL
  replay time soon after its last late write);
- its bucket has not ended but it took no append for ``open_idle_flush_s`` (a writer that stopped leaves
  nothing in memory and the WAL; later appends start a new memory store, and compaction
  merges the small segments this leaves);
- the node's memory stores are above ``flush_at_fraction`` of the memory limit, or its resident memory is
  above ``high_water_fraction`` of it: the largest go first, until the total is back under the mark (half
  the mark when resident memory is high). Back-pressure refuses appends only at ``memstore_fraction``.

Where a row physically lives changes nothing a reader sees: every scan reads both tiers through one view.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from services.storage.partition import Partition
from tessera import layout


class Clock:
    """Wall-clock nanoseconds, shifted by an offset that test hooks can set (days of retention in seconds)."""

    def __init__(self) -> None:
        self.offset_ns = 0

    def now_ns(self) -> int:
        """The current time as this node sees it."""
        return time.time_ns() + self.offset_ns


@dataclass(frozen=True)
class FlushPlan:
    """Buckets of one partition to flush together, and why (for the log)."""

    partition: Partition
    buckets: tuple[int, ...]
    reason: str


def aged_and_idle(partition: Partition, now_ns: int, memory_retention_ns: int | None,
                  idle_flush_s: float, open_idle_flush_s: float) -> FlushPlan | None:
    """The buckets of a partition whose memory stores are due by age or idleness."""
    due: list[int] = []
    reasons: set[str] = set()
    for bucket, tile in list(partition.tiles.items()):
        if not tile.mem.rows:
            continue
        bucket_end = (bucket + 1) * layout.TILE_BUCKET_NS
        if memory_retention_ns is not None and bucket_end <= now_ns - memory_retention_ns:
            due.append(bucket)
            reasons.add("older than memory retention")
        elif bucket_end <= now_ns and partition.idle_seconds(bucket) >= idle_flush_s:
            due.append(bucket)
            reasons.add("bucket ended and idle")
        elif bucket_end > now_ns and partition.idle_seconds(bucket) >= open_idle_flush_s:
            due.append(bucket)
            reasons.add("current bucket idle")
    if not due:
        return None
    return FlushPlan(partition, tuple(sorted(due)), ", ".join(sorted(reasons)))


def bounded(plans: Iterable[FlushPlan], max_rows: int, max_bytes: int) -> list[FlushPlan]:
    """Plans split so that none flushes more than about ``max_rows`` rows or ``max_bytes`` of memory stores
    at once: a flush holds a sorted copy of its rows and their encoded file in memory, so its size bounds the
    memory it needs beyond the memory stores (compaction merges the smaller segments later). A single
    larger tile goes alone, and the flush takes only a prefix of it (``Partition.flush``'s ``max_bytes``)."""
    out: list[FlushPlan] = []
    for plan in plans:
        group: list[int] = []
        rows = held_bytes = 0
        for bucket in plan.buckets:
            tile = plan.partition.tiles.get(bucket)
            held, size = (tile.mem.rows, tile.mem.nbytes) if tile is not None else (0, 0)
            if group and (rows + held > max_rows or held_bytes + size > max_bytes):
                out.append(FlushPlan(plan.partition, tuple(group), plan.reason))
                group, rows, held_bytes = [], 0, 0
            group.append(bucket)
            rows += held
            held_bytes += size
        if group:
            out.append(FlushPlan(plan.partition, tuple(group), plan.reason))
    return out


def under_pressure(partitions: Iterable[Partition], used_bytes: int, target_bytes: int) -> list[FlushPlan]:
    """The largest memory stores to flush, in order, until ``used_bytes`` would be under ``target_bytes``."""
    sized = sorted(((t.mem.nbytes, p, b) for p in partitions for b, t in list(p.tiles.items()) if t.mem.rows),
                   key=lambda x: -x[0])
    chosen: dict[int, tuple[Partition, list[int]]] = {}
    for nbytes, partition, bucket in sized:
        if used_bytes <= target_bytes:
            break
        chosen.setdefault(id(partition), (partition, []))[1].append(bucket)
        used_bytes -= nbytes
    return [FlushPlan(p, tuple(sorted(bs)), "memory above the flush mark") for p, bs in chosen.values()]
