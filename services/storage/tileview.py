"""The one read interface of a replica's data: tiles' memory stores plus the magnetic segments under them.

A ``TileView`` is a consistent, immutable picture of some buckets of one partition: the memory-store
snapshots of those buckets and the segment files that hold rows of them, taken at one instant (no key is
seen in both tiers, or in neither, while a flush moves it). Scans, digests, compaction, retention and the
coming repair all read through it. The segments it names are pinned until ``release``, so a compaction
that replaces them deletes the files only after the last reader is done.

Reads push down what is safe to push under the dedup rule: the time range, the buckets, dimension
equality/IN, measure names and the projection. These select whole keys (every version of a key shares its
series and time), so the newest version of a key is never filtered out while an older one passes. Value
predicates are not pushed: they run after deduplication.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Self

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from services.storage.blobstore import BlobStore
from services.storage.manifest import SegmentEntry
from services.storage.memstore import concat
from services.storage.segments import read_segment
from tessera import dedup, layout


@dataclass(frozen=True)
class ReadFilter:
    """What a read may skip: rows outside [start_ns, end_ns) or the buckets, other series, other columns."""

    start_ns: int
    end_ns: int
    buckets: frozenset[int] | None = None
    columns: Sequence[str] | None = None
    """Non-fixed columns wanted (None: every column). The fixed columns always come back."""
    dimension_in: Mapping[str, Sequence[str]] = field(default_factory=dict)
    measure_names: Sequence[str] | None = None


@dataclass
class ViewRead:
    """Rows read through a view (deduplicated, fixed columns plus the wanted ones) and bytes read."""

    table: pa.Table
    bytes_read: int


@dataclass
class TileView:
    """Memory-store snapshots and pinned segments of some buckets of one partition, as of one instant."""

    directory: str
    store: BlobStore
    buckets: frozenset[int]
    memory: list[pa.Table]
    segments: list[SegmentEntry]
    dedup_across: bool
    """A memory row or segment may supersede a row of an older segment: deduplicate what is read."""
    _release: Callable[[], None] | None = None

    def read(self, flt: ReadFilter) -> ViewRead:
        """Rows passing the filter from both tiers, one per key under the dedup rule."""
        parts: list[pa.Table] = []
        bytes_read = 0
        for entry in self.segments:
            if entry.info.max_time_ns < flt.start_ns or entry.info.min_time_ns >= flt.end_ns:
                continue
            got = read_segment(self.store, f"{self.directory}/{entry.name}", columns=flt.columns,
                               start_ns=flt.start_ns, end_ns=flt.end_ns, dimension_in=flt.dimension_in or None,
                               measure_names=flt.measure_names, identity=entry.identity)
            bytes_read += got.bytes_read
            if got.table.num_rows:  # the reader applied time, dimensions and measure names exactly
                parts.append(_in_buckets(got.table, flt.buckets))
        for snapshot in self.memory:
            bytes_read += snapshot.nbytes
            if snapshot.num_rows:  # the columns first: the filter then copies only what is returned
                narrowed = _select(snapshot, flt, also=flt.dimension_in.keys())
                parts.append(_select(_filter_memory_rows(narrowed, flt), flt))
        table = concat([p for p in parts if p.num_rows])
        if self.dedup_across and len(parts) > 1:
            table = dedup.latest_versions(table)
        return ViewRead(table, bytes_read)

    def release(self) -> None:
        """Unpin the segments (safe to call twice)."""
        release, self._release = self._release, None
        if release is not None:
            release()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _select(table: pa.Table, flt: ReadFilter, also: Iterable[str] = ()) -> pa.Table:
    """The fixed columns, the wanted ones and ``also`` (columns a filter still needs)."""
    if flt.columns is None:
        return table
    wanted = set(flt.columns) | set(layout.FIXED_COLUMNS) | set(also)
    if len(wanted) >= table.num_columns and all(c in wanted for c in table.column_names):
        return table
    return table.select([c for c in table.column_names if c in wanted])


def _filter_memory_rows(table: pa.Table, flt: ReadFilter) -> pa.Table:
    """Apply the time range, the view's buckets, the dimension and measure-name filters to memory-store rows."""
    if table.num_rows == 0:
        return table
    times = table.column(layout.TIME).cast(pa.int64()).to_numpy()
    mask = (times >= flt.start_ns) & (times < flt.end_ns)
    if flt.buckets is not None:
        mask &= np.isin(times // layout.TILE_BUCKET_NS, np.fromiter(flt.buckets, dtype=np.int64))
    for name, values in flt.dimension_in.items():
        if name not in table.column_names or pa.types.is_null(table.schema.field(name).type):
            mask &= False  # no row has that dimension: none equals a value
            continue
        mask &= pc.is_in(table.column(name), value_set=pa.array(list(values), pa.string())).to_numpy(
            zero_copy_only=False)
    if flt.measure_names is not None:
        mask &= pc.is_in(table.column(layout.MEASURE_NAME),
                         value_set=pa.array(list(flt.measure_names), pa.string())).to_numpy(zero_copy_only=False)
    return table if mask.all() else table.filter(pa.array(mask))


def _in_buckets(table: pa.Table, buckets: frozenset[int] | None) -> pa.Table:
    if buckets is None or table.num_rows == 0:
        return table
    times = table.column(layout.TIME).cast(pa.int64()).to_numpy()
    keep = np.isin(times // layout.TILE_BUCKET_NS, np.fromiter(buckets, dtype=np.int64))
    return table if keep.all() else table.filter(pa.array(keep))
