"""The magnetic store's file format: one immutable Parquet file per segment, small on disk, exact on read.

A segment holds deduplicated layout rows (``tessera.layout``: one row per key) of one tile, sorted by
(ts_series, time). ``encode_segment`` turns rows into the file's bytes plus a ``SegmentInfo`` for the
tile's manifest; ``read_segment`` gives back exactly those rows, every value bit for bit (NULLs, NaN
payloads, -0.0, integers near 2**63), filtered by time range, dimension IN-lists and measure names;
``may_contain`` and ``lookup_keys`` serve write-time dedup.

How each column is stored, and why (the figures are TSBS cpu-only, 100 hosts; the command and the other
data sets are in ``loadtest/storage_size.py``):

- ``time``: a Parquet timestamp in the coarsest unit that holds every value exactly (ms, us or ns: a
  jitter of whole milliseconds costs ~10 bits a row, not ~30), DELTA_BINARY_PACKED. Sorted by series
  then time, a regular interval packs to ~0 bits a row; it keeps real statistics for pruning by time.
- ``measure_name``, ``ts_series``, dimensions, VARCHAR measures: dictionary pages with RLE indices. After
  the sort they come in runs, which cost a few bytes a run.
- ``ts_vhash`` is not stored: it is a hash of the measure values, so the reader recomputes it with
  ``layout.value_hashes``. The writer checks that the recomputation reproduces the given column and
  stores the column (8 random bytes a row) only if not, e.g. when given the wrong measure columns.
- Integer columns (BIGINT and TIMESTAMP measures, ``ts_version``) get the time-series treatment of
  Gorilla and VictoriaMetrics, kept inside Parquet: within each series and row group, each non-NULL value
  is replaced by its difference from the previous one (order 1), or the difference of differences
  (order 2, counters), or kept (order 0: noise), whichever has the smallest sum of bit lengths; then
  zigzag (small negative -> small positive) and the narrowest of int32/int64, written with
  BYTE_STREAM_SPLIT so that zstd sees the low bytes of all values together and runs of zero high bytes.
  A TSBS delta has ~2.1 bits of entropy; this stores it in ~2.7 bits at zstd level 1 (~2.3 at level 15),
  where Parquet's own DELTA_BINARY_PACKED takes ~4 bits (bit-packed miniblocks that zstd cannot squeeze).
  TSBS segments of one hour take 0.37 bytes a value in all (0.32 at level 15), of a day 0.345 (0.30).
- DOUBLE columns whose every value is a short decimal (``float(n) / 10**k == v`` bit for bit for some
  k in 0..9, tried from 0 up; -0.0, NaN, infinities and huge values never qualify) are stored as the
  integers n with the integer treatment above and their k in the file's metadata: 21.37 °C costs a few
  bits of change, not 8 bytes of mantissa. Other doubles are stored as they are with BYTE_STREAM_SPLIT.
- BOOLEAN: plain bit-packed. Every page is zstd-compressed (level in ``SegmentOptions``).

Every series restarts its differences at each row group, so a row group decodes on its own and readers
skip row groups freely. Row groups carry statistics (time, ts_series, measure_name, dimensions and the
untransformed measures; none for transformed columns, whose statistics would mislead) and a page
index. The file's key-value metadata ``tessera.segment`` (JSON) lists every column with its type and
codec, so a reader needs nothing but the file; other Parquet readers see the keys, dimensions and time
as they are, and integer-coded measures as differences.

Reads prune row groups by statistics, then read the filter columns of the remaining groups (strings as
dictionaries, so an IN-list is tested once per distinct value), drop the groups with no matching row,
and only then read and decode the other columns of the groups left, filtering rows exactly.
``bytes_read`` is the footer plus the compressed column chunks read.

The key summary in ``SegmentInfo`` lists per distinct series its time range and row count (32 bytes a
series before compression): ``may_contain`` answers "might this segment hold key (series, time)?" from
the manifest alone, without false negatives; for TSBS shapes it is ~0.005 bytes a value.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from services.storage.blobstore import BlobStore
from tessera import layout
from tessera.errors import InternalError, ValidationError

FORMAT_VERSION = 1
METADATA_KEY = b"tessera.segment"
NULL_TYPE = "NULL"
"""Type name of a column whose Arrow type is ``null`` (every value NULL, type never learnt)."""

# Codecs: how a column's values sit in the file (see the module docstring).
_DICT = "dict"  # strings: dictionary + RLE indices
_PLAIN = "plain"  # as is (BOOLEAN, NULL-typed, a ts_vhash that does not recompute)
_TIME = "time"  # the time column: in the coarsest exact unit (ns, us or ms), DELTA_BINARY_PACKED
_INT = "int"  # zigzag differences of order 0..2 per series and row group, BYTE_STREAM_SPLIT
_DECIMAL = "decimal"  # doubles as integers scaled by 10**k, then as _INT
_FLOAT = "float"  # doubles as they are, BYTE_STREAM_SPLIT
_COMPUTED = "computed"  # not stored: ts_vhash, recomputed from the measures

_MAX_SCALE = 9
_SCALE_LIMIT = float(2**62)  # |v * 10**k| must stay below this for the scaled value to be an int64
_SAMPLE = 1024  # values tried first when looking for a decimal scale


@dataclass(frozen=True)
class SegmentOptions:
    """How segments are written."""

    compression_level: int = 1
    """zstd level of every page. 1 is fast (whole encode ~1 M TSBS rows/s) and, on byte-split differences,
    smaller than 3..12; 15 saves ~13% more on TSBS at ~40% of the speed (a choice for compaction)."""
    row_group_rows: int = 131_072
    """Rows per row group: the unit a reader skips or reads. Each costs ~150 bytes of footer a column."""

    def __post_init__(self) -> None:
        if not 1 <= self.compression_level <= 22:
            raise ValidationError(f"segment compression_level {self.compression_level} is outside zstd's 1..22")
        if self.row_group_rows < 1024:
            raise ValidationError(f"segment row_group_rows {self.row_group_rows} is below 1024")


DEFAULT_OPTIONS = SegmentOptions()


# --- what the manifest keeps -------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class KeySummary:
    """Per distinct series of a segment (sorted): its first and last time and its row count."""

    series: npt.NDArray[np.uint64]
    min_time_ns: npt.NDArray[np.int64]
    max_time_ns: npt.NDArray[np.int64]
    rows: npt.NDArray[np.int64]

    def __post_init__(self) -> None:
        for name in ("series", "min_time_ns", "max_time_ns", "rows"):
            getattr(self, name).setflags(write=False)  # frozen means frozen: the manifest shares it

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KeySummary):
            return NotImplemented
        return all(np.array_equal(getattr(self, n), getattr(other, n))
                   for n in ("series", "min_time_ns", "max_time_ns", "rows"))

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def of(cls, series: npt.NDArray[np.uint64], times: npt.NDArray[np.int64]) -> KeySummary:
        """The summary of keys sorted by (series, time)."""
        if not len(series):
            return cls(np.empty(0, np.uint64), np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64))
        first = np.flatnonzero(np.r_[True, series[1:] != series[:-1]])
        last = np.r_[first[1:] - 1, len(series) - 1]
        return cls(series[first].copy(), times[first].copy(), times[last].copy(), (last - first + 1).astype(np.int64))

    def encode(self) -> str:
        """The four arrays, little-endian, zlib-compressed, base64: compact inside a JSON manifest."""
        raw = b"".join([self.series.astype("<u8").tobytes(), self.min_time_ns.astype("<i8").tobytes(),
                        self.max_time_ns.astype("<i8").tobytes(), self.rows.astype("<i8").tobytes()])
        return base64.b64encode(zlib.compress(raw, 6)).decode("ascii")

    @classmethod
    def decode(cls, text: str, count: int) -> KeySummary:
        """Inverse of ``encode``."""
        raw = zlib.decompress(base64.b64decode(text))
        if len(raw) != 32 * count:
            raise ValueError(f"key summary holds {len(raw)} bytes, want {32 * count} for {count} series")
        parts = [np.frombuffer(raw, dtype, count, 8 * count * i) for i, dtype in enumerate(("<u8", "<i8", "<i8", "<i8"))]
        return cls(parts[0].astype(np.uint64), parts[1].astype(np.int64), parts[2].astype(np.int64),
                   parts[3].astype(np.int64))


@dataclass(frozen=True)
class SegmentInfo:
    """What a manifest keeps about a segment: size, time span, schema and the key summary."""

    rows: int
    bytes: int
    min_time_ns: int
    max_time_ns: int
    """Inclusive bounds of the rows' times."""
    columns: tuple[tuple[str, str], ...]
    """The non-fixed columns stored, (name, Timestream type), in the rows' column order."""
    measures: tuple[str, ...]
    """Which of ``columns`` are measures; every other one is a dimension."""
    measure_names: tuple[str, ...]
    """The distinct non-NULL measure_name values, sorted: a reader can skip the segment without opening it."""
    keys: KeySummary = field(repr=False)

    @property
    def dimensions(self) -> tuple[str, ...]:
        """The non-fixed columns that are not measures."""
        measures = set(self.measures)
        return tuple(name for name, _ in self.columns if name not in measures)

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict (``from_json`` inverts it)."""
        return {"format": FORMAT_VERSION, "rows": self.rows, "bytes": self.bytes, "min_time_ns": self.min_time_ns,
                "max_time_ns": self.max_time_ns, "columns": [list(c) for c in self.columns],
                "measures": list(self.measures), "measure_names": list(self.measure_names),
                "series": len(self.keys.series), "keys": self.keys.encode()}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> SegmentInfo:
        """The info ``to_json`` wrote; ValueError if the document is not one."""
        try:
            if doc.get("format") != FORMAT_VERSION:
                raise ValueError(f"segment info format {doc.get('format')!r}, this build reads {FORMAT_VERSION}")
            return cls(int(doc["rows"]), int(doc["bytes"]), int(doc["min_time_ns"]), int(doc["max_time_ns"]),
                       tuple((str(n), str(t)) for n, t in doc["columns"]), tuple(str(m) for m in doc["measures"]),
                       tuple(str(m) for m in doc["measure_names"]), KeySummary.decode(doc["keys"], int(doc["series"])))
        except (KeyError, TypeError, ValueError, zlib.error) as exc:
            raise ValueError(f"not a segment info: {exc}") from exc


@dataclass(frozen=True)
class EncodedSegment:
    """A segment file's bytes and its info."""

    data: bytes
    info: SegmentInfo


@dataclass(frozen=True)
class SegmentRead:
    """Rows read from a segment and the bytes of the file read to get them."""

    table: pa.Table
    bytes_read: int


def may_contain(info: SegmentInfo, series: npt.ArrayLike, times: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Per key (series[i], times[i]): False if the segment surely lacks it (its series is absent, or the
    time is outside the series' range); True if it may hold it. No false negatives."""
    s = np.asarray(series, dtype=np.uint64)
    t = np.asarray(times, dtype=np.int64)
    keys = info.keys
    if not len(keys.series) or not len(s):
        return np.zeros(len(s), dtype=np.bool_)
    at = np.searchsorted(keys.series, s)
    clipped = np.minimum(at, len(keys.series) - 1)
    found: npt.NDArray[np.bool_] = (at < len(keys.series)) & (keys.series[clipped] == s)
    return found & (keys.min_time_ns[clipped] <= t) & (t <= keys.max_time_ns[clipped])


# --- integer and decimal transforms -------------------------------------------------------------------------

_U1 = np.uint64(1)
_U63 = np.uint64(63)


def _differences(values: npt.NDArray[np.uint64], starts: npt.NDArray[np.bool_]) -> npt.NDArray[np.uint64]:
    """Each value minus the previous one (modulo 2**64), except at starts, which keep their value."""
    out = values.copy()
    out[1:] -= values[:-1]
    out[starts] = values[starts]
    return out


def _running_sums(diffs: npt.NDArray[np.uint64], starts: npt.NDArray[np.bool_]) -> npt.NDArray[np.uint64]:
    """Inverse of ``_differences``: running sums (modulo 2**64) restarting at each start."""
    if not len(diffs):
        return diffs
    total = np.cumsum(diffs, dtype=np.uint64)
    first = np.flatnonzero(starts)
    before = total[first] - diffs[first]
    out: npt.NDArray[np.uint64] = total - np.repeat(before, np.diff(np.r_[first, len(diffs)]))
    return out


def _zigzag(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """Signed differences (as uint64 bits) to unsigned: 0, -1, 1, -2 ... become 0, 1, 2, 3 ..."""
    signed = values.view(np.int64)
    out: npt.NDArray[np.uint64] = ((signed << 1) ^ (signed >> 63)).view(np.uint64)
    return out


def _unzigzag(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """Inverse of ``_zigzag``."""
    out: npt.NDArray[np.uint64] = (values >> _U1) ^ np.negative(values & _U1)
    return out


def _cost(zigzagged: npt.NDArray[np.uint64]) -> float:
    """About the bits the values need: the sum of their bit lengths."""
    return float(np.log2(zigzagged.astype(np.float64) + 1.0).sum())


def _encode_ints(values: npt.NDArray[np.uint64], starts: npt.NDArray[np.bool_]) -> tuple[npt.NDArray[Any], int]:
    """Zigzagged differences of the order (0..2) that costs least, as int32 if they fit, else int64."""
    best: tuple[float, int, npt.NDArray[np.uint64]] | None = None
    current = values
    for order in range(3):
        zz = _zigzag(current)
        cost = _cost(zz)
        if best is None or cost < best[0]:
            best = (cost, order, zz)
        current = _differences(current, starts)
    assert best is not None
    _, order, zz = best
    if not len(zz) or int(zz.max()) < 2**31:
        return zz.astype(np.int32), order
    return zz.view(np.int64), order


def _decode_ints(stored: npt.NDArray[Any], order: int, starts: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """Inverse of ``_encode_ints``."""
    values = _unzigzag(stored.astype(np.int64).view(np.uint64))
    for _ in range(order):
        values = _running_sums(values, starts)
    out: npt.NDArray[np.int64] = values.view(np.int64)
    return out


def _scaled(values: npt.NDArray[np.float64], scale: int) -> npt.NDArray[np.int64] | None:
    """The integers n with n / 10**scale == v bit for bit for every value, or None."""
    power = 10.0**scale
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = values * power
    ints = np.rint(scaled).astype(np.int64)
    if not np.array_equal((ints.astype(np.float64) / power).view(np.uint64), values.view(np.uint64)):
        return None
    return ints


def _decimal_scale(values: npt.NDArray[np.float64]) -> tuple[int, npt.NDArray[np.int64]] | None:
    """The smallest k in 0..9 that stores every value exactly as an integer n (v == n / 10**k), or None."""
    if not len(values) or not np.isfinite(values).all():
        return None
    largest = float(np.abs(values).max())
    sample = values[:_SAMPLE]
    for scale in range(_MAX_SCALE + 1):
        if largest * 10.0**scale >= _SCALE_LIMIT:
            return None  # too big for an int64 at this scale, and at every larger one
        if _scaled(sample, scale) is None:
            continue
        ints = _scaled(values, scale)
        if ints is not None:
            return scale, ints
    return None


def _unscale(ints: npt.NDArray[np.int64], scale: int) -> npt.NDArray[np.float64]:
    """Doubles back from their scaled integers: the expression ``_scaled`` verified, bit for bit."""
    out: npt.NDArray[np.float64] = ints.astype(np.float64) / 10.0**scale
    return out


# --- writing ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Column:
    """How one column of the rows sits in the file."""

    name: str
    type_name: str  # Timestream type, NULL_TYPE, or the fixed column's own
    codec: str
    order: int = 0  # _INT / _DECIMAL: order of the differences
    scale: int = 0  # _DECIMAL: the values are integers / 10**scale

    def to_json(self) -> list[Any]:
        """The column's entry in the file's metadata."""
        return [self.name, self.type_name, self.codec, self.order, self.scale]

    @classmethod
    def from_json(cls, doc: Sequence[Any]) -> _Column:
        """Inverse of ``to_json``."""
        name, type_name, codec, order, scale = doc
        return cls(str(name), str(type_name), str(codec), int(order), int(scale))


def _type_name(arrow_type: pa.DataType) -> str:
    """The Timestream type name of a column type (NULL_TYPE for Arrow's null)."""
    return NULL_TYPE if pa.types.is_null(arrow_type) else layout.type_name_of(arrow_type)


def _arrow_type(column: _Column) -> pa.DataType:
    """The exact Arrow type a column is read back as."""
    if column.name in layout.FIXED_COLUMNS:
        return layout.FIXED_COLUMNS[column.name]
    return pa.null() if column.type_name == NULL_TYPE else layout.ARROW_TYPES[column.type_name]


def _check_rows(rows: pa.Table) -> None:
    """ValidationError unless the rows are layout rows this format stores exactly."""
    if rows.num_rows == 0:
        raise ValidationError("cannot encode a segment of no rows")
    if len(set(rows.column_names)) != rows.num_columns:
        raise ValidationError("rows for a segment name a column twice")
    for name, arrow_type in layout.FIXED_COLUMNS.items():
        if name not in rows.column_names:
            raise ValidationError(f"rows for a segment lack the column {name!r}")
        if rows.schema.field(name).type != arrow_type:
            raise ValidationError(f"rows for a segment have column {name!r} of type "
                                  f"{rows.schema.field(name).type}, want {arrow_type}")
        if name != layout.MEASURE_NAME and rows.column(name).null_count:
            raise ValidationError(f"rows for a segment have NULL in key column {name!r}")
    for f in rows.schema:
        if f.name in layout.FIXED_COLUMNS or pa.types.is_null(f.type):
            continue
        try:
            exact = layout.ARROW_TYPES[layout.type_name_of(f.type)] == f.type
        except KeyError:
            exact = False
        if not exact:
            raise ValidationError(f"rows for a segment have column {f.name!r} of type {f.type}, which is not "
                                  f"one of {', '.join(str(t) for t in layout.ARROW_TYPES.values())}")


def _sorted(rows: pa.Table) -> pa.Table:
    """The rows by (ts_series, time), taking them only if not sorted already (a snapshot often is)."""
    series = rows.column(layout.SERIES).to_numpy()
    times = rows.column(layout.TIME).cast(pa.int64()).to_numpy()
    same = series[1:] == series[:-1]
    if ((series[1:] > series[:-1]) | (same & (times[1:] > times[:-1]))).all():
        return rows
    order = pc.sort_indices(rows, sort_keys=[(layout.SERIES, "ascending"), (layout.TIME, "ascending")])
    return rows.take(order)


def _starts(series: npt.NDArray[np.uint64], group_rows: Sequence[int]) -> npt.NDArray[np.bool_]:
    """Rows where a run of differences restarts: a new series or a new row group."""
    starts = np.ones(len(series), dtype=np.bool_)
    starts[1:] = series[1:] != series[:-1]
    starts[np.cumsum(group_rows)[:-1]] = True
    return starts


def _non_null(valid: npt.NDArray[np.bool_] | None, starts: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Starts among the non-NULL values: the first non-NULL value of each run."""
    if valid is None:
        return starts
    run = np.cumsum(starts)[valid]
    out = np.ones(len(run), dtype=np.bool_)
    out[1:] = run[1:] != run[:-1]
    return out


def _validity(arr: pa.Array) -> npt.NDArray[np.bool_] | None:
    """Per row, whether it is not NULL; None when no row is NULL."""
    if not arr.null_count:
        return None
    valid: npt.NDArray[np.bool_] = arr.is_valid().to_numpy(zero_copy_only=False)
    return valid


def _int_values(arr: pa.Array) -> npt.NDArray[np.uint64]:
    """An int64 or timestamp column's values as uint64 bits, NULLs as 0."""
    if pa.types.is_timestamp(arr.type):
        arr = arr.cast(pa.int64())
    out: npt.NDArray[np.uint64] = arr.fill_null(0).to_numpy(zero_copy_only=False).view(np.uint64)
    return out


def _with_nulls(stored: npt.NDArray[Any], valid: npt.NDArray[np.bool_] | None) -> pa.Array:
    """An Arrow array of the non-NULL values placed at the valid rows, NULL elsewhere."""
    if valid is None:
        return pa.array(stored)
    full = np.zeros(len(valid), dtype=stored.dtype)
    full[valid] = stored
    return pa.array(full, mask=~valid)


def _encode_column(name: str, arr: pa.Array, starts: npt.NDArray[np.bool_]) -> tuple[_Column, pa.Array]:
    """The codec of one column and what the file stores for it."""
    t = arr.type
    type_name = _type_name(t) if name not in layout.FIXED_COLUMNS else str(t)
    if name == layout.TIME:
        ns = arr.cast(pa.int64()).to_numpy()
        for unit, scale in (("ms", 6), ("us", 3)):
            if not (ns % 10**scale).any():
                return _Column(name, type_name, _TIME, scale=scale), arr.cast(pa.timestamp(unit))
        return _Column(name, type_name, _TIME), arr
    if pa.types.is_string(t):
        return _Column(name, type_name, _DICT), arr
    if name == layout.SERIES or pa.types.is_boolean(t) or pa.types.is_null(t):
        return _Column(name, type_name, _DICT if name == layout.SERIES else _PLAIN), arr
    valid = _validity(arr)
    nn_starts = _non_null(valid, starts)
    if pa.types.is_floating(t):
        values = arr.fill_null(0.0).to_numpy(zero_copy_only=False)
        found = _decimal_scale(values if valid is None else values[valid])
        if found is None:
            return _Column(name, type_name, _FLOAT), arr
        scale, ints = found
        stored, order = _encode_ints(ints.view(np.uint64), nn_starts)
        return _Column(name, type_name, _DECIMAL, order, scale), _with_nulls(stored, valid)
    values_u = _int_values(arr)
    stored, order = _encode_ints(values_u if valid is None else values_u[valid], nn_starts)
    return _Column(name, type_name, _INT, order), _with_nulls(stored, valid)


def _combined(column: pa.ChunkedArray) -> pa.Array:
    """A chunked column as one array (without a copy when it already is one chunk)."""
    return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)


def encode_segment(rows: pa.Table, measure_columns: Sequence[str], *,
                   options: SegmentOptions = DEFAULT_OPTIONS) -> EncodedSegment:
    """A segment file holding ``rows`` (deduplicated layout rows, any order) and its info.

    ``measure_columns`` names the measures; every other non-fixed column is a dimension. Names absent
    from the rows are ignored (such a measure is NULL in every row and adds nothing to the value hash).
    Raises ValidationError for rows this format cannot store exactly, or two rows with the same key.
    """
    _check_rows(rows)
    rows = _sorted(rows)
    series = rows.column(layout.SERIES).to_numpy()
    times = rows.column(layout.TIME).cast(pa.int64()).to_numpy()
    same = (series[1:] == series[:-1]) & (times[1:] == times[:-1])
    if same.any():
        i = int(np.flatnonzero(same)[0])
        raise ValidationError(f"rows for a segment hold the key (ts_series {series[i]}, time {times[i]}) twice; "
                              "deduplicate them first")
    measures = [m for m in dict.fromkeys(measure_columns) if m in rows.column_names and m not in layout.FIXED_COLUMNS]
    n = rows.num_rows
    group_rows = [min(options.row_group_rows, n - lo) for lo in range(0, n, options.row_group_rows)]
    starts = _starts(series, group_rows)

    columns: list[_Column] = []
    stored: dict[str, pa.Array] = {}
    for name in rows.column_names:
        arr = _combined(rows.column(name))
        if name == layout.VALUE_HASH:
            recomputed = layout.value_hashes(rows, measures)
            same_hash = np.array_equal(recomputed, arr.to_numpy())
            columns.append(_Column(name, str(arr.type), _COMPUTED if same_hash else _PLAIN))
            if not same_hash:
                stored[name] = arr
            continue
        column, data = _encode_column(name, arr, starts)
        columns.append(column)
        stored[name] = data

    metadata = {"format": FORMAT_VERSION, "columns": [c.to_json() for c in columns], "measures": measures}
    data = _write_parquet(pa.table(stored), columns, group_rows, json.dumps(metadata, separators=(",", ":")), options)

    kinds = {c.name: c for c in columns}
    names = pc.unique(rows.column(layout.MEASURE_NAME).drop_null()).to_pylist()
    info = SegmentInfo(
        rows=n, bytes=len(data), min_time_ns=int(times.min()), max_time_ns=int(times.max()),
        columns=tuple((c, kinds[c].type_name) for c in rows.column_names if c not in layout.FIXED_COLUMNS),
        measures=tuple(measures), measure_names=tuple(sorted(names)), keys=KeySummary.of(series, times))
    return EncodedSegment(data, info)


def _write_parquet(table: pa.Table, columns: Sequence[_Column], group_rows: Sequence[int], metadata: str,
                   options: SegmentOptions) -> bytes:
    in_file = [c for c in columns if c.name in table.column_names]
    encodings = {c.name: "DELTA_BINARY_PACKED" for c in in_file if c.codec == _TIME}
    encodings |= {c.name: "BYTE_STREAM_SPLIT" for c in in_file if c.codec in (_INT, _DECIMAL, _FLOAT)}
    sink = pa.BufferOutputStream()
    with pq.ParquetWriter(
        sink, table.schema, compression="zstd", compression_level=options.compression_level,
        use_dictionary=[c.name for c in in_file if c.codec == _DICT], column_encoding=encodings,
        write_statistics=[c.name for c in in_file if c.codec not in (_INT, _DECIMAL)],
        write_page_index=True, store_schema=False,
        sorting_columns=[pq.SortingColumn(table.column_names.index(layout.SERIES)),
                         pq.SortingColumn(table.column_names.index(layout.TIME))],
    ) as writer:
        lo = 0
        for count in group_rows:  # one call a row group, so the groups end where the differences restart
            writer.write_table(table.slice(lo, count), row_group_size=count)
            lo += count
        writer.add_key_value_metadata({METADATA_KEY: metadata})
    data: bytes = sink.getvalue().to_pybytes()
    return data


# --- reading ------------------------------------------------------------------------------------------------


class _Segment:
    """An open segment file: its Parquet reader, its columns' codecs, and the bytes read so far."""

    def __init__(self, file: pa.NativeFile, path: str) -> None:
        self.path = path
        meta = pq.read_metadata(file)
        doc = json.loads((meta.metadata or {}).get(METADATA_KEY, b"null"))
        if not isinstance(doc, dict) or doc.get("format") != FORMAT_VERSION:
            raise ValueError(f"no {METADATA_KEY.decode()} metadata of format {FORMAT_VERSION}")
        self.columns = [_Column.from_json(c) for c in doc["columns"]]
        self.by_name = {c.name: c for c in self.columns}
        self.measures: list[str] = list(doc["measures"])
        self.meta = meta
        self.index = {meta.schema.column(i).name: i for i in range(meta.num_columns)}
        strings = [c.name for c in self.columns  # the IN-list columns: tested once per distinct value
                   if c.codec == _DICT and c.name != layout.SERIES and c.name not in self.measures]
        self.file = pq.ParquetFile(file, metadata=meta, read_dictionary=strings)
        self.bytes_read = meta.serialized_size + 8  # footer, its length and the magic

    def group_rows(self, groups: Sequence[int]) -> list[int]:
        """Rows of each of the row groups."""
        return [self.meta.row_group(g).num_rows for g in groups]

    def read(self, groups: Sequence[int], names: Sequence[str]) -> pa.Table:
        """Columns of the row groups as stored, counting the compressed bytes of the chunks read."""
        names = [n for n in names if n in self.index]
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
def _opened(store: BlobStore, path: str) -> Iterator[_Segment]:
    """The segment at ``path``; pyarrow and format errors become InternalError naming it."""
    try:
        with store.open_read(path) as file:
            yield _Segment(file, path)
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
            indices = chunk.indices.fill_null(0).to_numpy(zero_copy_only=False)
            parts.append(hit[indices] & chunk.is_valid().to_numpy(zero_copy_only=False) if len(hit)
                         else np.zeros(len(chunk), np.bool_))
        else:
            parts.append(pc.fill_null(pc.is_in(chunk, value_set=value_set), False).to_numpy(zero_copy_only=False))
    return np.concatenate(parts) if parts else np.zeros(0, np.bool_)


def _decode(seg: _Segment, table: pa.Table, group_rows: Sequence[int]) -> pa.Table:
    """The stored columns back to the rows' own: undo differences and scales, cast to the exact types."""
    series = table.column(layout.SERIES).to_numpy()
    starts = _starts(series, group_rows) if len(series) else np.zeros(0, np.bool_)
    out = {}
    for name in table.column_names:
        column = seg.by_name[name]
        arr = _combined(table.column(name))
        if column.codec in (_INT, _DECIMAL):
            valid = _validity(arr)
            stored = arr.fill_null(0).to_numpy(zero_copy_only=False)
            ints = _decode_ints(stored if valid is None else stored[valid], column.order, _non_null(valid, starts))
            if column.codec == _DECIMAL:
                arr = _with_nulls(_unscale(ints, column.scale), valid)
            else:
                arr = _with_nulls(ints, valid)
        target = _arrow_type(column)
        if arr.type != target:
            arr = arr.cast(target)
        out[name] = arr
    return pa.table(out)


class _Plan:
    """One read: which columns come back, which filter the rows, and how."""

    def __init__(self, seg: _Segment, wanted: Sequence[str] | None, value_hash: bool) -> None:
        names = [c.name for c in seg.columns]
        keep = set(layout.FIXED_COLUMNS) | (set(names) if wanted is None else set(wanted))
        if not value_hash:
            keep.discard(layout.VALUE_HASH)
        self.output = [n for n in names if n in keep]
        self.compute_hash = value_hash and seg.by_name[layout.VALUE_HASH].codec == _COMPUTED
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
    table = _decode(seg, table, seg.group_rows(groups))
    if mask is not None:
        table = table.filter(pa.array(mask))
    if plan.compute_hash:
        measures = [m for m in seg.measures if m in table.column_names]
        table = table.append_column(layout.VALUE_HASH, pa.array(layout.value_hashes(table, measures), pa.uint64()))
    return table.select(plan.output)


def _empty(seg: _Segment, plan: _Plan) -> pa.Table:
    """No rows, with the columns and types the plan returns."""
    return pa.schema([pa.field(n, _arrow_type(seg.by_name[n])) for n in plan.output]).empty_table()


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
                 measure_names: Sequence[str] | None = None, value_hash: bool = True) -> SegmentRead:
    """The segment's rows with start_ns <= time < end_ns, the listed dimension values and measure names.

    The table has the fixed columns (ts_vhash recomputed when it is not stored) and ``columns`` (None:
    all; names the segment lacks are left out), in the order they were written, typed exactly as they
    were, sorted by (ts_series, time). ``value_hash=False`` leaves ts_vhash out, which spares reading
    the measures that ``columns`` does not ask for. A NULL dimension matches no IN-list.
    """
    with _opened(store, path) as seg:
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
            if column.codec != _DICT or column.name == layout.SERIES:
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


def lookup_keys(store: BlobStore, path: str, series: npt.ArrayLike, times: npt.ArrayLike) -> pa.Table:
    """The segment's rows (all columns, ts_version and ts_vhash included) whose key (series[i], times[i]) is
    asked for. Reads the key columns of the row groups whose statistics may hold a key, then the other
    columns of the groups that do hold one."""
    s = np.asarray(series, dtype=np.uint64)
    t = np.asarray(times, dtype=np.int64)
    with _opened(store, path) as seg:
        plan = _Plan(seg, None, True)
        groups = [g for g in range(seg.meta.num_row_groups) if len(s) and _near_keys(seg, g, s, t)]
        wanted = set(zip(s.tolist(), t.tolist()))
        fingerprints = _fingerprints(s, t)

        def stored_and_wanted(first: pa.Table) -> npt.NDArray[np.bool_]:
            rs = first.column(layout.SERIES).to_numpy()
            rt = _times_ns(first.column(layout.TIME))
            mask = np.isin(_fingerprints(rs, rt), fingerprints)
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


def _times_ns(column: pa.ChunkedArray) -> npt.NDArray[np.int64]:
    """A stored time column (whatever its unit) as int64 nanoseconds."""
    out: npt.NDArray[np.int64] = column.cast(layout.TIME_TYPE).cast(pa.int64()).to_numpy()
    return out


def _unsigned(value: int) -> int:
    """A uint64 statistic pyarrow may report as a signed int64."""
    return value % 2**64


def _fingerprints(series: npt.NDArray[np.uint64], times: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
    """A 64-bit mix of each key (series, time): equal keys, equal fingerprints."""
    return layout.mix64(series ^ layout.mix64(times.view(np.uint64)))


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
