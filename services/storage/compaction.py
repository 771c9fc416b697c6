"""Compaction: adjacent small segments of a partition merged into fewer, larger ones, versions deduplicated.

Flushes make one segment per flush; a partition written at a trickle (or with late writes) collects many
small files, which cost a read each and compress worse. Compaction takes runs of segments ordered by time,
merges each run up to ``target_rows`` rows, applies the dedup rule (newest version of each key wins), writes
the result and commits it with one manifest replacement: readers see the old files or the new ones, never
both, and the old files are deleted only once no view pins them.

It runs on worker threads and holds only the partition's ``maintenance`` lock: appends and reads go on.
Memory is bounded by ``target_rows`` rows (plus one segment) at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pyarrow as pa

from services.storage.manifest import SegmentEntry
from services.storage.memstore import concat
from services.storage.partition import Partition
from services.storage.segments import read_segment
from tessera import dedup


def plan_runs(segments: Sequence[SegmentEntry], min_segments: int, target_rows: int) -> list[list[SegmentEntry]]:
    """Runs of time-adjacent segments worth merging (each of two or more, at most ~target_rows rows)."""
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
    return runs


async def compact(partition: Partition, measure_columns: Callable[[pa.Table], list[str]], min_segments: int,
                  target_rows: int) -> int:
    """Merge the partition's small segments; return how many segment files were replaced."""
    replaced = 0
    async with partition.maintenance:
        runs = plan_runs(partition.manifest.segments, min_segments, target_rows)
        everything = {s.name for s in partition.manifest.segments}
        for run in runs:
            rows = await asyncio.to_thread(_merged_rows, partition, run)
            # The merged file no longer needs deduplicating against older files only if the run was all of them.
            supersedes = any(s.supersedes for s in run) and {s.name for s in run} != everything
            merged = await partition.write_segment(rows, measure_columns(rows), supersedes)
            await partition.replace_segments(run, [merged])
            replaced += len(run)
    return replaced


def _merged_rows(partition: Partition, run: Sequence[SegmentEntry]) -> pa.Table:
    tables = [read_segment(partition.store, f"{partition.directory}/{s.name}").table for s in run]
    return dedup.latest_versions(concat(tables))
