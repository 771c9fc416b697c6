"""Deleting rows: by retention (older than the table's memory + magnetic retention, from both tiers), and
exact rows a repair replaces (``drop_exact``).

Whole segments older than the cutoff are dropped from the manifest; a segment that straddles it is rewritten
with only its rows at or after the cutoff (one manifest replacement, so readers see one or the other). Memory
stores drop their old rows in place. The cutoff comes from the catalog on every round, so an UpdateTable of
the retention takes effect on running nodes at the next round, without a restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa

from services.storage.manifest import SegmentEntry
from services.storage.memstore import key_arrays
from services.storage.partition import Partition
from services.storage.segment_info import may_contain
from services.storage.segments import read_segment
from tessera import layout


async def expire(partition: Partition, cutoff_ns: int, measure_columns: Callable[[pa.Table], list[str]]) -> int:
    """Delete the partition's rows with time < cutoff_ns; return how many rows (or segments' rows) went."""
    removed = 0
    for bucket, tile in list(partition.tiles.items()):
        if bucket * layout.TILE_BUCKET_NS < cutoff_ns and tile.mem.rows:  # the bucket starts before the cutoff
            async with tile.lock:
                removed += tile.mem.drop_before(cutoff_ns)
    async with partition.maintenance:
        old = [s for s in partition.manifest.segments if s.info.min_time_ns < cutoff_ns]
        if not old:
            return removed
        new: list[SegmentEntry] = []
        for seg in old:
            removed += seg.info.rows
            if seg.info.max_time_ns < cutoff_ns:
                continue
            path = f"{partition.directory}/{seg.name}"
            kept = (await asyncio.to_thread(read_segment, partition.store, path, start_ns=cutoff_ns,
                                            end_ns=2**63 - 1)).table
            removed -= kept.num_rows
            if kept.num_rows:
                new.append(await partition.write_segment(kept, measure_columns(kept), seg.supersedes))
        await partition.replace_segments(old, new)
    return removed


async def drop_buckets(partition: Partition, buckets: Sequence[int],
                       measure_columns: Callable[[pa.Table], list[str]]) -> int:
    """Delete every row of these time buckets (tiles this replica no longer holds for placement); return how
    many rows went. A segment spanning other buckets too is rewritten with their rows."""
    gone = set(buckets)
    removed = 0
    for bucket in gone:
        tile = partition.tiles.get(bucket)
        if tile is not None and tile.mem.rows:
            async with tile.lock:  # a tile holds its own bucket's rows only: all of them go
                removed += tile.mem.drop_before((bucket + 1) * layout.TILE_BUCKET_NS)
    async with partition.maintenance:
        old = [s for s in partition.manifest.segments
               if any(s.info.min_time_ns < (b + 1) * layout.TILE_BUCKET_NS and b * layout.TILE_BUCKET_NS
                      <= s.info.max_time_ns for b in gone)]
        new: list[SegmentEntry] = []
        for seg in old:
            table = (await asyncio.to_thread(read_segment, partition.store, f"{partition.directory}/{seg.name}")).table
            times = table.column(layout.TIME).cast(pa.int64()).to_numpy()
            keep = ~np.isin(times // layout.TILE_BUCKET_NS, np.fromiter(gone, dtype=np.int64))
            removed += int((~keep).sum())
            if keep.any():
                kept = table.filter(pa.array(keep))
                new.append(await partition.write_segment(kept, measure_columns(kept), seg.supersedes))
        if old:
            await partition.replace_segments(old, new)
        for bucket in gone:
            tile = partition.tiles.get(bucket)
            if tile is not None and not tile.mem.rows:
                del partition.tiles[bucket]
    return removed


async def drop_exact(partition: Partition, rows: Sequence[tuple[int, int, int, int]],
                     measure_columns: Callable[[pa.Table], list[str]]) -> int:
    """Rewrite the segments holding any of these exact rows (series, time, version, value hash) without
    them; return how many rows went. The caller holds the partition's ``maintenance`` lock."""
    wanted = set(rows)
    series = np.array([r[0] for r in rows], dtype=np.uint64)
    times = np.array([r[1] for r in rows], dtype=np.int64)
    old: list[SegmentEntry] = []
    new: list[SegmentEntry] = []
    removed = 0
    for seg in list(partition.manifest.segments):
        if not may_contain(seg.info, series, times).any():
            continue
        table = (await asyncio.to_thread(read_segment, partition.store, f"{partition.directory}/{seg.name}")).table
        keep = await asyncio.to_thread(_not_in, table, wanted)  # a row at a time: off the event loop
        if keep.all():
            continue
        removed += int((~keep).sum())
        old.append(seg)
        kept = table.filter(pa.array(keep))
        if kept.num_rows:
            new.append(await partition.write_segment(kept, measure_columns(kept), seg.supersedes))
    if old:
        await partition.replace_segments(old, new)
    return removed


def _not_in(table: pa.Table, wanted: set[tuple[int, int, int, int]]) -> np.ndarray:
    """Per row: whether its (series, time, version, value hash) is not one of ``wanted``."""
    s, t = key_arrays(table)
    versions = table.column(layout.VERSION).to_numpy()
    hashes = table.column(layout.VALUE_HASH).to_numpy()
    return np.array([(int(a), int(b), int(c), int(d)) not in wanted for a, b, c, d in zip(s, t, versions, hashes)],
                    dtype=bool)
