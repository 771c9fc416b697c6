"""Reading a segment file: rows by time, IN-lists and measure names (``read_segment``), rows by key
(``lookup_keys``), and a lost ``SegmentInfo`` rebuilt from the file alone (``read_info``).

Reads prune row groups by statistics, then read the filter columns of the remaining groups (strings as
dictionaries, so an IN-list is tested once per distinct value), drop the groups with no matching row,
and only then read and decode the other columns of the groups left, filtering rows exactly.
``bytes_read`` is the footer plus the compressed column chunks read.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from services.storage.blobstore import BlobStore
from services.storage.keyindex import key_fingerprints
from services.storage.segment_codecs import (
    COMPUTED,
    DECIMAL_X,
    DICT,
    FILE_FORMATS,
    METADATA_KEY,
    Column,
    arrow_type,
    companion,
    decode_columns,
    run_starts,
)
from services.storage.segment_info import KeySummary, SegmentInfo
from tessera import layout
from tessera.errors import InternalError, ValidationError


@dataclass(frozen=True)
class SegmentRead:
    """Rows read from a segment and the bytes of the file read to get them."""

    table: pa.Table
    bytes_read: int


@dataclass(frozen=True)
class _Footer:
    """What a segment's footer says: the Parquet metadata and Tessera's column codecs."""

    meta: pq.FileMetaData
    columns: tuple[Column, ...]
    measures: tuple[str, ...]

    @staticmethod
    def read(file: pa.NativeFile) -> _Footer:
        meta = pq.read_metadata(file)
        doc = json.loads((meta.metadata or {}).get(METADATA_KEY, b"null"))
        if not isinstance(doc, dict) or doc.get("format") not in FILE_FORMATS:
            raise ValueError(f"no {METADATA_KEY.decode()} metadata of a format this build reads "
                             f"({', '.join(map(str, FILE_FORMATS))})")
        return _Footer(meta, tuple(Column.from_json(c) for c in doc["columns"]), tuple(doc["measures"]))


class _FooterCache:
    """Footers of recently read segments, so a repeated read skips parsing them (~0.4 ms a segment).

    Keyed by the store, the path and what the manifest says of the file (rows, bytes, time span): a file
    rewritten under the same name with other contents is read afresh. Bounded by the footers' serialized
    bytes (a parsed footer takes several times that in memory: it grows with columns × row groups)."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._bytes = 0
        self._entries: OrderedDict[tuple[object, ...], _Footer] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[object, ...]) -> _Footer | None:
        with self._lock:
            footer = self._entries.get(key)
            if footer is not None:
                self._entries.move_to_end(key)
            return footer

    def put(self, key: tuple[object, ...], footer: _Footer) -> None:
        size = footer.meta.serialized_size
        if size > self._max_bytes // 8:
            return  # one huge footer would push out many: read it afresh each time
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.meta.serialized_size
            self._entries[key] = footer
            self._bytes += size
            while self._bytes > self._max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= dropped.meta.serialized_size


FOOTER_CACHE_BYTES = 4 << 20
"""Serialized footer bytes kept (parsed, ~10× that in memory: tens of MiB at most)."""
FOOTERS = _FooterCache(FOOTER_CACHE_BYTES)


class _Segment:
    """An open segment file: its Parquet reader, its columns' codecs, and the bytes read so far."""

    def __init__(self, file: pa.NativeFile, path: str, footer: _Footer) -> None:
        self.path = path
        self.columns = list(footer.columns)
        self.by_name = {c.name: c for c in self.columns}
        self.measures: list[str] = list(footer.measures)
        meta = footer.meta
        self.meta = meta
        self.index = {meta.schema.column(i).name: i for i in range(meta.num_columns)}
        strings = [c.name for c in self.columns  # the IN-list columns: tested once per distinct value
                   if c.codec == DICT and c.name != layout.SERIES and c.name not in self.measures]
        self.file = pq.ParquetFile(file, metadata=meta, read_dictionary=strings)
        self.bytes_read = meta.serialized_size + 8  # footer, its length and the magic

    def group_rows(self, groups: Sequence[int]) -> list[int]:
        """Rows of each of the row groups."""
        return [self.meta.row_group(g).num_rows for g in groups]

    def read(self, groups: Sequence[int], names: Sequence[str]) -> pa.Table:
        """Columns of the row groups as stored (a DECIMAL_X column with its companion), counting the compressed
        bytes of the chunks read."""
        names = [n for n in names if n in self.index]
        names += [companion(n) for n in names if n in self.by_name and self.by_name[n].codec == DECIMAL_X]
        for g in groups:
            rg = self.meta.row_group(g)
            self.bytes_read += sum(rg.column(self.index[n]).total_compressed_size for n in names)
        if not groups:
            return pa.schema([self.file.schema_arrow.field(n) for n in names]).empty_table()
        return self.file.read_row_groups(list(groups), columns=names, use_threads=True)

    def statistics(self, group: int, name: str) -> tuple[Any, Any, int | None] | None:
        """(min, max, null count) of a column in a row group as physical values, or None if unknown."""
        i = self.index.get(name)
        if i is None:
            return None
        stats = self.meta.row_group(group).column(i).statistics
        if stats is None:
            return None
        nulls = stats.null_count if stats.has_null_count else None
        if not stats.has_min_max:
            return None, None, nulls
        if name == layout.TIME:  # stored in its own unit
            unit = 10 ** self.by_name[name].scale
            return stats.min_raw * unit, stats.max_raw * unit, nulls
        return stats.min_raw, stats.max_raw, nulls


@contextmanager
def _opened(store: BlobStore, path: str, identity: tuple[object, ...] = ()) -> Iterator[_Segment]:
    """The segment at ``path``; pyarrow and format errors become InternalError naming it. With an
    ``identity`` (what the manifest says of the file), its footer may come from ``FOOTERS``."""
    try:
        with store.open_read(path) as file:
            key = (repr(store), path, *identity) if identity else ()
            footer = FOOTERS.get(key) if key else None
            if footer is None:
                footer = _Footer.read(file)
                if key:
                    FOOTERS.put(key, footer)
            yield _Segment(file, path, footer)
    except InternalError as exc:
        raise InternalError(f"cannot read segment {path}: {exc.message}") from exc
    except (OSError, pa.ArrowException, ValueError, KeyError, TypeError) as exc:
        raise InternalError(f"cannot read segment {path}: {exc}") from exc


def _strings_in(column: pa.ChunkedArray, values: Sequence[str]) -> npt.NDArray[np.bool_]:
    """Per row, whether the (dictionary or plain) string is one of ``values``; NULL never is."""
    value_set = pa.array(list(values), pa.string())
    parts = []
    for chunk in column.chunks:
        if pa.types.is_dictionary(chunk.type):
            hit = pc.is_in(chunk.dictionary, value_set=value_set).to_numpy(zero_copy_only=False)
            if not hit.any():  # no listed value in this chunk's dictionary (or an empty one)
                parts.append(np.zeros(len(chunk), np.bool_))
            elif chunk.null_count:
                indices = chunk.indices.fill_null(0).to_numpy(zero_copy_only=False)
                parts.append(hit[indices] & chunk.is_valid().to_numpy(zero_copy_only=False))
            else:
                parts.append(hit[chunk.indices.to_numpy(zero_copy_only=False)])
        else:
            parts.append(pc.fill_null(pc.is_in(chunk, value_set=value_set), False).to_numpy(zero_copy_only=False))
    return np.concatenate(parts) if parts else np.zeros(0, np.bool_)


class _Plan:
    """One read: which columns come back, which filter the rows, and how."""

    def __init__(self, seg: _Segment, wanted: Sequence[str] | None, value_hash: bool) -> None:
        names = [c.name for c in seg.columns]
        keep = set(layout.FIXED_COLUMNS) | (set(names) if wanted is None else set(wanted))
        if not value_hash:
            keep.discard(layout.VALUE_HASH)
        self.output = [n for n in names if n in keep]
        self.compute_hash = value_hash and seg.by_name[layout.VALUE_HASH].codec == COMPUTED
        stored = [n for n in self.output if n != layout.VALUE_HASH or not self.compute_hash]
        extra = [m for m in seg.measures if m not in keep] if self.compute_hash else []
        self.read = list(dict.fromkeys([*stored, *extra, layout.SERIES]))
        self.filters: list[tuple[tuple[str, ...], Callable[[pa.Table], npt.NDArray[np.bool_]]]] = []
        """(columns a test reads, the test): a row is read when every test passes."""


def _execute(seg: _Segment, groups: Sequence[int], plan: _Plan) -> pa.Table:
    """Run a plan over candidate row groups: filter columns first, then the rest of the surviving groups."""
    mask: npt.NDArray[np.bool_] | None = None
    first: pa.Table | None = None
    if plan.filters and groups:
        first = seg.read(groups, list(dict.fromkeys(name for names, _ in plan.filters for name in names)))
        mask = np.ones(first.num_rows, dtype=np.bool_)
        for _, test in plan.filters:
            mask &= test(first)
        group_of_row = np.repeat(np.arange(len(groups)), seg.group_rows(groups))
        hit = np.bincount(group_of_row[mask], minlength=len(groups)) > 0
        if not hit.all():
            first = first.filter(pa.array(hit[group_of_row]))
            mask = mask[hit[group_of_row]]
            groups = [g for g, h in zip(groups, hit) if h]
    rest = [n for n in plan.read if first is None or n not in first.column_names]
    table = seg.read(groups, rest)
    if first is not None:
        for name in first.column_names:
            table = table.append_column(name, first.column(name))
    series = table.column(layout.SERIES).to_numpy()
    starts = run_starts(series, seg.group_rows(groups)) if len(series) else np.zeros(0, np.bool_)
    if mask is not None:
        keep = _whole_runs(starts, mask)
        if not keep.all():  # decode only the runs holding a wanted row: differences restart at each run
            table, starts, mask = table.filter(pa.array(keep)), starts[keep], mask[keep]
    table = decode_columns(seg.by_name, table, starts)
    if mask is not None:
        table = table.filter(pa.array(mask))
    if plan.compute_hash:
        measures = [m for m in seg.measures if m in table.column_names]
        table = table.append_column(layout.VALUE_HASH, pa.array(layout.value_hashes(table, measures), pa.uint64()))
    return table.select(plan.output)


def _whole_runs(starts: npt.NDArray[np.bool_], mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Per row, whether its run (of ``starts``) holds a row of ``mask``."""
    if not len(starts):
        return mask
    run = np.cumsum(starts) - 1
    wanted = np.zeros(int(run[-1]) + 1, dtype=np.bool_)
    wanted[run[mask]] = True
    keep: npt.NDArray[np.bool_] = wanted[run]
    return keep


def _empty(seg: _Segment, plan: _Plan) -> pa.Table:
    """No rows, with the columns and types the plan returns."""
    return pa.schema([pa.field(n, arrow_type(seg.by_name[n])) for n in plan.output]).empty_table()


def _overlaps(bounds: tuple[Any, Any, int | None] | None, lo: Any, hi: Any) -> bool:
    """Whether a row group's [min, max] meets [lo, hi] (unknown statistics: it may)."""
    if bounds is None or bounds[0] is None:
        return True
    return bool(bounds[0] <= hi and lo <= bounds[1])


def _may_hold_any(seg: _Segment, group: int, name: str, values: Sequence[str]) -> bool:
    """Whether a row group's string column may hold one of ``values``, by its statistics."""
    bounds = seg.statistics(group, name)
    if bounds is None:
        return True
    low, high, nulls = bounds
    if nulls is not None and nulls >= seg.meta.row_group(group).num_rows:
        return False
    if low is None:
        return True
    encoded = [v.encode() for v in values]  # Parquet orders strings by their UTF-8 bytes
    return any(low <= v <= high for v in encoded)


def read_segment(store: BlobStore, path: str, *, columns: Sequence[str] | None = None,
                 start_ns: int | None = None, end_ns: int | None = None,
                 dimension_in: Mapping[str, Sequence[str]] | None = None,
                 measure_names: Sequence[str] | None = None, value_hash: bool = True,
                 identity: tuple[object, ...] = ()) -> SegmentRead:
    """The segment's rows with start_ns <= time < end_ns, the listed dimension values and measure names.

    The table has the fixed columns (ts_vhash recomputed when it is not stored) and ``columns`` (None:
    all; names the segment lacks are left out), in the order they were written, typed exactly as they
    were, sorted by (ts_series, time). ``value_hash=False`` leaves ts_vhash out, which spares reading
    the measures that ``columns`` does not ask for. A NULL dimension matches no IN-list. ``identity``: what
    the manifest says of the file, which lets its parsed footer be reused (``_FooterCache``).
    """
    with _opened(store, path, identity) as seg:
        plan = _Plan(seg, columns, value_hash)
        lo = -(2**63) if start_ns is None else start_ns
        hi = 2**63 - 1 if end_ns is None else end_ns - 1  # inclusive
        groups = [g for g in range(seg.meta.num_row_groups) if lo <= hi and _overlaps(seg.statistics(g, layout.TIME),
                                                                                       lo, hi)]
        if start_ns is not None or end_ns is not None:
            plan.filters.append(((layout.TIME,), _time_test(lo, hi)))
        conditions = dict(dimension_in or {})
        if measure_names is not None:
            conditions[layout.MEASURE_NAME] = measure_names
        for name, values in conditions.items():
            column = seg.by_name.get(name)
            if column is None:
                groups = []  # every row has NULL there, which no IN-list matches
                continue
            if column.codec != DICT or column.name == layout.SERIES:
                raise ValidationError(f"cannot filter segment {path} by column {name!r}: it is not a string column")
            groups = [g for g in groups if _may_hold_any(seg, g, name, values)]
            plan.filters.append(((name,), _in_list_test(name, values)))
        table = _execute(seg, groups, plan) if groups else _empty(seg, plan)
        return SegmentRead(_as_strings(table), seg.bytes_read)


def _time_test(lo: int, hi: int) -> Callable[[pa.Table], npt.NDArray[np.bool_]]:
    """A row test: lo <= time <= hi."""

    def test(table: pa.Table) -> npt.NDArray[np.bool_]:
        times = _times_ns(table.column(layout.TIME))
        mask: npt.NDArray[np.bool_] = (times >= lo) & (times <= hi)
        return mask

    return test


def _in_list_test(name: str, values: Sequence[str]) -> Callable[[pa.Table], npt.NDArray[np.bool_]]:
    """A row test: the string column ``name`` holds one of ``values``."""
    listed = list(values)
    return lambda table: _strings_in(table.column(name), listed)


def _as_strings(table: pa.Table) -> pa.Table:
    """Dictionary-read string columns back to plain strings (the layout's type)."""
    for i, f in enumerate(table.schema):
        if pa.types.is_dictionary(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(f.type.value_type))
    return table


def lookup_keys(store: BlobStore, path: str, series: npt.ArrayLike, times: npt.ArrayLike,
                identity: tuple[object, ...] = ()) -> pa.Table:
    """The segment's rows (all columns, ts_version and ts_vhash included) whose key (series[i], times[i]) is
    asked for. Reads the key columns of the row groups whose statistics may hold a key, then the other
    columns of the groups that do hold one."""
    s = np.asarray(series, dtype=np.uint64)
    t = np.asarray(times, dtype=np.int64)
    with _opened(store, path, identity) as seg:
        plan = _Plan(seg, None, True)
        groups = [g for g in range(seg.meta.num_row_groups) if len(s) and _near_keys(seg, g, s, t)]
        wanted = set(zip(s.tolist(), t.tolist()))
        fingerprints = key_fingerprints(s, t)

        def stored_and_wanted(first: pa.Table) -> npt.NDArray[np.bool_]:
            rs = first.column(layout.SERIES).to_numpy()
            rt = _times_ns(first.column(layout.TIME))
            mask = np.isin(key_fingerprints(rs, rt), fingerprints)
            for i in np.flatnonzero(mask):  # equal fingerprints almost always mean equal keys: confirm
                mask[i] = (int(rs[i]), int(rt[i])) in wanted
            return mask

        plan.filters.append(((layout.SERIES, layout.TIME), stored_and_wanted))
        table = _execute(seg, groups, plan) if groups else _empty(seg, plan)
        return _as_strings(table)


def _near_keys(seg: _Segment, group: int, series: npt.NDArray[np.uint64], times: npt.NDArray[np.int64]) -> bool:
    """Whether a row group's series and time statistics admit one of the keys."""
    near = np.ones(len(series), dtype=np.bool_)
    bounds = seg.statistics(group, layout.SERIES)
    if bounds is not None and bounds[0] is not None:
        near &= (series >= np.uint64(_unsigned(bounds[0]))) & (series <= np.uint64(_unsigned(bounds[1])))
    bounds = seg.statistics(group, layout.TIME)
    if bounds is not None and bounds[0] is not None:
        near &= (times >= bounds[0]) & (times <= bounds[1])
    return bool(near.any())


_NS_PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


def _times_ns(column: pa.ChunkedArray) -> npt.NDArray[np.int64]:
    """A stored time column (whatever its unit) as int64 nanoseconds: its integers scaled in numpy (valid
    times, 1970 to 2262, fit in int64 nanoseconds; Arrow's unit cast would check each value for overflow)."""
    if not pa.types.is_timestamp(column.type):
        out: npt.NDArray[np.int64] = column.cast(layout.TIME_TYPE).cast(pa.int64()).to_numpy()
        return out
    raw = [chunk.cast(pa.int64()).to_numpy(zero_copy_only=False) for chunk in column.chunks]
    values = np.concatenate(raw) if len(raw) != 1 else raw[0]
    scale = _NS_PER_UNIT[column.type.unit]
    return values.astype(np.int64, copy=False) * scale if scale != 1 else values.astype(np.int64, copy=False)


def _unsigned(value: int) -> int:
    """A uint64 statistic pyarrow may report as a signed int64."""
    return value % 2**64





def read_info(store: BlobStore, path: str) -> SegmentInfo:
    """Rebuild a segment's info from its file alone (footer plus the key and measure_name columns), for a
    manifest that lost it."""
    size = store.size(path)
    with _opened(store, path) as seg:
        groups = list(range(seg.meta.num_row_groups))
        keys = seg.read(groups, [layout.SERIES, layout.TIME, layout.MEASURE_NAME])
        series = keys.column(layout.SERIES).to_numpy()
        times = _times_ns(keys.column(layout.TIME))
        names = pc.unique(_as_strings(keys).column(layout.MEASURE_NAME).drop_null()).to_pylist()
        return SegmentInfo(
            rows=seg.meta.num_rows, bytes=size, min_time_ns=int(times.min()), max_time_ns=int(times.max()),
            columns=tuple((c.name, c.type_name) for c in seg.columns if c.name not in layout.FIXED_COLUMNS),
            measures=tuple(seg.measures), measure_names=tuple(sorted(names)), keys=KeySummary.of(series, times))
