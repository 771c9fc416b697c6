"""Compaction: adjacent small segments of a partition merged into fewer, larger ones, versions deduplicated.

Flushes make one segment per flush; a partition written at a trickle (or with late writes) collects many
small files, which cost a read each and compress worse. Compaction takes runs of segments ordered by time,
merges each run up to ``target_rows`` rows, applies the dedup rule (newest version of each key wins), writes
the result and commits it with one manifest replacement: readers see the old files or the new ones, never
both, and the old files are deleted only once no view pins them.

It runs on worker threads and holds only the partition's ``maintenance`` lock: appends and reads go on.
Memory is bounded by ``target_rows`` rows, and by the node's working-memory share (``work_bytes``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa

from services.storage.manifest import SegmentEntry
from services.storage.memstore import concat
from services.storage.partition import Partition
from services.storage.segments import read_segment
from tessera import dedup

SIZE_RATIO = 4
"""A run is merged only if its largest segment holds at most this many times the rows of all the others:
absorbing a small file into a much bigger one rewrites the big one for little gain (size tiers, as an LSM
tree), so a segment grows by merges of comparable size and each row is rewritten O(log n) times."""


def plan_runs(segments: Sequence[SegmentEntry], min_segments: int, target_rows: int, final_level: int = 0,
              quiet: Callable[[SegmentEntry], bool] | None = None) -> list[list[SegmentEntry]]:
    """Runs of time-adjacent segments worth merging (each of two or more, at most ~target_rows rows, of
    comparable sizes), then lone segments written below ``final_level`` that are ``quiet`` (no tile of
    theirs took writes lately: a flush's fast encoding, rewritten once at the final level when nothing is
    left to merge it with)."""
    runs = _merge_runs(segments, min_segments, target_rows)
    if quiet is not None and final_level:
        merged = {s.name for r in runs for s in r}
        runs += [[s] for s in segments if s.name not in merged and 0 < s.level < final_level and quiet(s)]
    return runs


def _merge_runs(segments: Sequence[SegmentEntry], min_segments: int, target_rows: int) -> list[list[SegmentEntry]]:
    if len(segments) < min_segments:
        return []
    ordered = sorted(segments, key=lambda s: (s.info.min_time_ns, s.info.max_time_ns, s.name))
    runs: list[list[SegmentEntry]] = []
    run: list[SegmentEntry] = []
    rows = 0
    for seg in ordered:
        if seg.info.rows >= target_rows:  # already big: closes the run
            if len(run) > 1:
                runs.append(run)
            run, rows = [], 0
            continue
        if run and rows + seg.info.rows > target_rows:
            if len(run) > 1:
                runs.append(run)
            run, rows = [], 0
        run.append(seg)
        rows += seg.info.rows
    if len(run) > 1:
        runs.append(run)
    return [r for r in (_comparable(r) for r in runs) if len(r) > 1]


def _comparable(run: list[SegmentEntry]) -> list[SegmentEntry]:
    """The run without its oversized ends: the largest segment is dropped while it dwarfs the rest."""
    run = list(run)
    while len(run) > 1:
        biggest = max(s.info.rows for s in run)
        if biggest <= SIZE_RATIO * (sum(s.info.rows for s in run) - biggest):
            break
        end = 0 if run[0].info.rows >= run[-1].info.rows else -1  # trim the bigger end (keeps adjacency)
        run.pop(end)
    return run


WORK_PER_ROW_BYTE = 4
"""A merge holds its input rows, the decoding's working memory and the encoder's (one column or row group at a
time, no sorted copy of the rows): measured 2.1–2.5 times the rows' in-memory bytes at the peak (6 TSBS
segments of 60 k rows merged into one of 360 k, 75 MiB of rows: 158–186 MiB, in process); four times keeps
a margin (it was measured at 3.75 when merges still sorted a copy)."""


async def compact(partition: Partition, measure_columns: Callable[[pa.Table], list[str]], min_segments: int,
                  target_rows: int, work_bytes: int | None = None, quiet_s: float | None = None) -> int:
    """Merge the partition's small segments; return how many segment files were replaced. A merge holds at
    most ``target_rows`` rows, fewer when their working memory would exceed ``work_bytes``."""
    replaced = 0
    if work_bytes is not None:
        target_rows = max(1000, min(target_rows, work_bytes // (WORK_PER_ROW_BYTE * partition.row_bytes)))
    async with partition.maintenance:
        quiet = None if quiet_s is None else (lambda seg: all(
            partition.idle_seconds(b) >= quiet_s for b in range(seg.min_bucket, seg.max_bucket + 1)))
        runs = plan_runs(partition.manifest.segments, min_segments, target_rows,
                         partition.options.compression_level, quiet)
        everything = {s.name for s in partition.manifest.segments}
        for run in runs:
            rows, order = await asyncio.to_thread(_merged_rows, partition, run)
            partition.note_row_bytes(rows)
            # The merged file no longer needs deduplicating against older files only if the run was all of them.
            supersedes = any(s.supersedes for s in run) and {s.name for s in run} != everything
            merged = await partition.write_segment(rows, measure_columns(rows), supersedes, order)
            await partition.replace_segments(run, [merged])
            replaced += len(run)
    return replaced


def _merged_rows(partition: Partition, run: Sequence[SegmentEntry]) -> tuple[pa.Table, np.ndarray | None]:
    """The run's rows and the order that keeps one row per key (None: all, as they are); the encoder takes
    them in that order a column and a row group at a time, so the merge holds no sorted copy."""
    tables = [read_segment(partition.store, f"{partition.directory}/{s.name}").table for s in run]
    rows = concat(tables)
    return rows, dedup.latest_version_order(rows)
