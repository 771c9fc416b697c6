"""A segment's column codecs: how each column sits in the Parquet file, the metadata that names the codec
of each, and the integer and decimal transforms behind them.

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
  (order 2, counters), or kept (order 0: noise), whichever has the smallest sum of bit lengths over the
  first row group (one order per column and file); then zigzag (small negative -> small positive), as
  int32 when every value of the column lies within ±2**27 (then any order's differences fit) else int64,
  written with
  BYTE_STREAM_SPLIT so that zstd sees the low bytes of all values together and runs of zero high bytes.
  A TSBS delta has ~2.1 bits of entropy; this stores it in ~2.7 bits at zstd level 1 (~2.3 at level 15),
  where Parquet's own DELTA_BINARY_PACKED takes ~4 bits (bit-packed miniblocks that zstd cannot squeeze).
  TSBS segments of one hour take 0.37 bytes a value in all (0.32 at level 15), of a day 0.345 (0.30).
- DOUBLE columns whose every value is a short decimal (``float(n) / 10**k == v`` bit for bit for some
  k in 0..9, tried from 0 up; -0.0, NaN, infinities and huge values never qualify) are stored as the
  integers n with the integer treatment above and their k in the file's metadata: 21.37 °C costs a few
  bits of change, not 8 bytes of mantissa. Other DOUBLE columns take the cheapest of three by an estimate
  over the first row group (``_plan_doubles``; format 2 for the first and last):

  - ``DECIMAL_X``, mostly short decimals: the exact values as DECIMAL, the others (a -0.0, a computed
    average among two-decimal readings) NULL there and as they are in a companion column
    ``EXCEPTIONS_PREFIX + name`` that is NULL elsewhere (a NULL costs a bit of definition level). One -0.0
    among a million two-decimal readings cost the whole column 8 bytes a value before.
  - ``FLOAT`` with a Parquet dictionary: few distinct values (°F converted from two-decimal °C, averages
    of a few readings): ~1.6 bytes a value where the byte-split doubles took ~5.8.
  - ``FLOAT_BITS``, the rest (full-precision random walks, integrals): each double's 64 bits as an integer,
    given the integer treatment above (differences of the bit patterns within a series, zigzag,
    BYTE_STREAM_SPLIT). A slow walk's neighbours share sign, exponent and top mantissa bits, so their
    difference has zero high bytes: 5-15 % under byte-split doubles, and exact whatever the bits (NaN
    payloads, -0.0, subnormals), since it is integer arithmetic modulo 2**64.

- ``ts_series`` when series are short (few rows each, e.g. 100,000 devices or a request id in a dimension):
  DELTA_BINARY_PACKED (the column is sorted: a new series costs its gap, ~6 bytes, not 8 in a dictionary
  page plus an index); otherwise a dictionary, as above.
- BOOLEAN: plain bit-packed.

Every series restarts its differences at each row group, so a row group decodes on its own and readers
skip row groups freely. The file's key-value metadata ``tessera.segment`` (JSON) lists every column
(``Column``: name, type, codec, order, scale), so a reader needs nothing but the file; other Parquet
readers see the keys, dimensions and time as they are, and integer-coded measures as differences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from tessera import layout

FORMAT_VERSION = 1
"""Version of each ``SegmentInfo``, and of the ``tessera.segment`` metadata of a file that uses only the
codecs of the first format (which earlier builds read)."""
FILE_FORMATS = (1, 2)
"""Versions of a file's ``tessera.segment`` metadata this build reads. 2 adds DECIMAL_X and FLOAT_BITS, which
a build that reads only 1 would misdecode, so a file is marked 2 only when it uses one of them."""
METADATA_KEY = b"tessera.segment"
NULL_TYPE = "NULL"
"""Type name of a column whose Arrow type is ``null`` (every value NULL, type never learnt)."""

# Codecs: how a column's values sit in the file (see the module docstring).
DICT = "dict"  # strings: dictionary + RLE indices
PLAIN = "plain"  # as is (BOOLEAN, NULL-typed, a ts_vhash that does not recompute)
TIME = "time"  # the time column: in the coarsest exact unit (ns, us or ms), DELTA_BINARY_PACKED
INT = "int"  # zigzag differences of order 0..2 per series and row group, BYTE_STREAM_SPLIT
DECIMAL = "decimal"  # doubles as integers scaled by 10**k, then as INT
FLOAT = "float"  # doubles as they are, BYTE_STREAM_SPLIT
COMPUTED = "computed"  # not stored: ts_vhash, recomputed from the measures
DECIMAL_X = "decimal_x"  # DECIMAL, with the values not exact at the scale in a companion column (format 2)
FLOAT_BITS = "float_bits"  # doubles' bit patterns as INT (format 2)
DELTA = "delta"  # as is, DELTA_BINARY_PACKED (a sorted ts_series of short series)
_FORMAT_2 = frozenset({DECIMAL_X, FLOAT_BITS})
EXCEPTIONS_PREFIX = "ts_x:"
"""A DECIMAL_X column's companion is named this plus the column's name (no user name starts with ts_)."""

_MAX_SCALE = 9
_MAX_EXCEPTIONS = 0.25  # DECIMAL_X only when at most this share of the values are not exact at the scale
_SCALE_LIMIT = float(2**62)  # |v * 10**k| must stay below this for the scaled value to be an int64
_SAMPLE = 1024  # values tried first when looking for a decimal scale


@dataclass(frozen=True)
class Column:
    """How one column of the rows sits in the file."""

    name: str
    type_name: str  # Timestream type, NULL_TYPE, or the fixed column's own
    codec: str
    order: int = 0  # INT / DECIMAL: order of the differences
    scale: int = 0  # DECIMAL: the values are integers / 10**scale

    def to_json(self) -> list[Any]:
        """The column's entry in the file's metadata."""
        return [self.name, self.type_name, self.codec, self.order, self.scale]

    @classmethod
    def from_json(cls, doc: Sequence[Any]) -> Column:
        """Inverse of ``to_json``."""
        name, type_name, codec, order, scale = doc
        return cls(str(name), str(type_name), str(codec), int(order), int(scale))


def file_format(columns: Sequence[Column]) -> int:
    """The ``tessera.segment`` format a file of these columns is marked with: the lowest that has their codecs."""
    return 2 if any(c.codec in _FORMAT_2 for c in columns) else 1


def companion(name: str) -> str:
    """The name of a DECIMAL_X column's companion, which holds its values not exact at the scale."""
    return EXCEPTIONS_PREFIX + name


def _type_name(arrow_type: pa.DataType) -> str:
    """The Timestream type name of a column type (NULL_TYPE for Arrow's null)."""
    return NULL_TYPE if pa.types.is_null(arrow_type) else layout.type_name_of(arrow_type)


def arrow_type(column: Column) -> pa.DataType:
    """The exact Arrow type a column is read back as."""
    if column.name in layout.FIXED_COLUMNS:
        return layout.FIXED_COLUMNS[column.name]
    return pa.null() if column.type_name == NULL_TYPE else layout.ARROW_TYPES[column.type_name]


# --- columns ------------------------------------------------------------------------------------------------


def run_starts(series: npt.NDArray[np.uint64], group_rows: Sequence[int]) -> npt.NDArray[np.bool_]:
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


@dataclass(frozen=True)
class Plan:
    """How one column is written, chosen over the whole column (``plan_column``) so that every row group is
    encoded alike (``encode_group``): its codec and the Arrow type the file stores it as."""

    column: Column
    stored_type: pa.DataType
    dictionary: bool = False
    """FLOAT: written with a Parquet dictionary (few distinct values), not BYTE_STREAM_SPLIT."""

    def stored(self) -> list[tuple[str, pa.DataType]]:
        """The file's columns for this one: itself and, for DECIMAL_X, its companion."""
        fields = [(self.column.name, self.stored_type)]
        if self.column.codec == DECIMAL_X:
            fields.append((companion(self.column.name), pa.float64()))
        return fields


def plan_reads_values(name: str, arrow_type: pa.DataType) -> bool:
    """Whether ``plan_column`` looks at a column's values (else only at its type: strings, booleans, the
    series hash), so that callers combine only such columns."""
    if name == layout.SERIES:
        return False
    return bool(pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)
                or pa.types.is_timestamp(arrow_type))


def plan_series(series: npt.NDArray[np.uint64]) -> Plan:
    """The codec of the sorted ts_series column: DELTA when its series are short, else DICT."""
    distinct = int(np.count_nonzero(series[1:] != series[:-1])) + 1 if len(series) else 0
    short = distinct * _SHORT_SERIES_ROWS > len(series)
    return Plan(Column(layout.SERIES, str(pa.uint64()), DELTA if short else DICT), pa.uint64())


_SHORT_SERIES_ROWS = 32
"""Series of fewer rows than this, on average, make ts_series DELTA_BINARY_PACKED (see the module docstring)."""


def plan_column(name: str, arr: pa.Array | pa.ChunkedArray, sample: pa.Array,
                sample_starts: npt.NDArray[np.bool_]) -> Plan:
    """The codec of one column: ``arr`` holds all its rows in any order (units, scales and widths are chosen
    over every value), ``sample`` a run of them in the order written (the first row group, with its
    ``run_starts``), from which the order of differences is chosen. Where ``plan_reads_values`` is False,
    only ``arr``'s type is read."""
    t = arr.type
    type_name = _type_name(t) if name not in layout.FIXED_COLUMNS else str(t)
    if name == layout.TIME:
        ns = arr.cast(pa.int64()).to_numpy()
        for unit, scale in (("ms", 6), ("us", 3)):
            if not (ns % 10**scale).any():
                return Plan(Column(name, type_name, TIME, scale=scale), pa.timestamp(unit))
        return Plan(Column(name, type_name, TIME), t)
    if pa.types.is_string(t):
        return Plan(Column(name, type_name, DICT), t)
    if name == layout.SERIES or pa.types.is_boolean(t) or pa.types.is_null(t):
        return Plan(Column(name, type_name, DICT if name == layout.SERIES else PLAIN), t)
    valid, sample_valid = _validity(arr), _validity(sample)
    sample_nn_starts = _non_null(sample_valid, sample_starts)
    if pa.types.is_floating(t):
        values = arr.fill_null(0.0).to_numpy(zero_copy_only=False)
        found = _decimal_scale(values if valid is None else values[valid])
        sample_values = sample.fill_null(0.0).to_numpy(zero_copy_only=False)
        if found is None:
            return _plan_doubles(name, type_name, values if valid is None else values[valid],
                                 sample_values if sample_valid is None else sample_values[sample_valid],
                                 sample_nn_starts)
        scale, ints = found
        sample_ints = _scaled(sample_values if sample_valid is None else sample_values[sample_valid], scale)
        assert sample_ints is not None  # the sample's values are among those just scaled exactly
        order = _choose_order(sample_ints.view(np.uint64), sample_nn_starts)
        return Plan(Column(name, type_name, DECIMAL, order, scale), _stored_int_type(ints))
    ints = _int_values(arr).view(np.int64)
    sample_u = _int_values(sample)
    order = _choose_order(sample_u if sample_valid is None else sample_u[sample_valid], sample_nn_starts)
    return Plan(Column(name, type_name, INT, order), _stored_int_type(ints if valid is None else ints[valid]))


FLOAT_BITS_MAX_COST = 56.0
"""Bits a value above which FLOAT_BITS is not chosen over plain byte-split FLOAT."""


def _plan_doubles(name: str, type_name: str, values: npt.NDArray[np.float64], sample: npt.NDArray[np.float64],
                  sample_starts: npt.NDArray[np.bool_]) -> Plan:
    """The codec of a DOUBLE column that is not all short decimals: DECIMAL_X, FLOAT with a dictionary or
    FLOAT_BITS, whichever ``_cost`` (bits a value) estimates least over the sample (``values``: the column's
    non-NULL values; ``sample``: those of the first row group in written order, its ``starts``)."""
    if not len(values):  # every value NULL: nothing to code (and no reason to need format 2)
        return Plan(Column(name, type_name, FLOAT), pa.float64())
    n = max(len(sample), 1)
    bits = sample.view(np.uint64)
    bits_order = _choose_order(bits, sample_starts)
    bits_cost = _cost(_zigzag(_nth_differences(bits, bits_order, sample_starts))) / n
    # Differences of bit patterns pay only when they are clearly narrower than the doubles themselves,
    # which byte-split zstd already packs to ~7 bytes (noise): else plain FLOAT, readable by format 1.
    options: list[tuple[float, Plan]] = [
        (bits_cost, Plan(Column(name, type_name, FLOAT_BITS, bits_order), pa.int64())) if bits_cost < FLOAT_BITS_MAX_COST
        else (FLOAT_BITS_MAX_COST, Plan(Column(name, type_name, FLOAT), pa.float64()))]
    head = bits[:_SAMPLE * 4]
    if pc.count_distinct(pa.array(head)).as_py() < 0.75 * len(head):  # else a dictionary costs ~8 bytes a value
        distinct = pc.count_distinct(pa.array(bits)).as_py()
        options.append((np.log2(max(distinct, 2)) + 64.0 * distinct / n,
                        Plan(Column(name, type_name, FLOAT), pa.float64(), dictionary=True)))
    scale = _exceptions_scale(sample[:_SAMPLE * 4])
    if scale is not None:
        ok = _exact(values, scale)
        if np.count_nonzero(~ok) <= _MAX_EXCEPTIONS * len(values):
            sample_ok = _exact(sample, scale)
            ints = _scaled(sample[sample_ok], scale)
            assert ints is not None
            starts = _non_null(sample_ok, sample_starts)
            order = _choose_order(ints.view(np.uint64), starts)
            cost = (_cost(_zigzag(_nth_differences(ints.view(np.uint64), order, starts)))
                    + 64.0 * np.count_nonzero(~sample_ok)) / n
            exact = _scaled(values[ok], scale)
            assert exact is not None
            stored = _stored_int_type(exact)
            options.append((cost, Plan(Column(name, type_name, DECIMAL_X, order, scale), stored)))
    return min(options, key=lambda option: option[0])[1]


def _exact(values: npt.NDArray[np.float64], scale: int) -> npt.NDArray[np.bool_]:
    """Per value, whether it is n / 10**scale bit for bit for an int64 n (not NaN, infinite, huge or -0.0)."""
    power = 10.0**scale
    with np.errstate(over="ignore", invalid="ignore"):
        ok = np.isfinite(values) & (np.abs(values) * power < _SCALE_LIMIT)
        ints = np.zeros(len(values), dtype=np.int64)
        ints[ok] = np.rint(values[ok] * power).astype(np.int64)
    same: npt.NDArray[np.bool_] = ok & ((ints.astype(np.float64) / power).view(np.uint64) == values.view(np.uint64))
    return same


def _exceptions_scale(sample: npt.NDArray[np.float64]) -> int | None:
    """The smallest scale at which the sample's values are exact but for about the fewest of any scale, or None
    when more than ``_MAX_EXCEPTIONS`` of them are not exact at every scale."""
    if not len(sample):
        return None
    misses = [int(np.count_nonzero(~_exact(sample, k))) for k in range(_MAX_SCALE + 1)]
    fewest = min(misses)
    if fewest > _MAX_EXCEPTIONS * len(sample):
        return None
    return next(k for k, m in enumerate(misses) if m <= fewest + len(sample) // 64)


_NARROW = 2**27
"""Values within ±_NARROW store as int32 whatever the order: a run's first value zigzags below 2**28, and a
difference of differences spans at most 4 × 2**28 (zigzagged below 2**31)."""


def _stored_int_type(values: npt.NDArray[np.int64]) -> pa.DataType:
    """int32 when every value lies within ±_NARROW (their zigzagged differences of any order then fit), else
    int64. Decided over the whole column, so every row group stores the same type."""
    if not len(values) or (int(values.max()) < _NARROW and int(values.min()) > -_NARROW):
        return pa.int32()
    return pa.int64()


def encode_group(plan: Plan, arr: pa.Array, starts: npt.NDArray[np.bool_]) -> list[pa.Array]:
    """What the file stores for the rows of one row group of a planned column, one array for each of
    ``plan.stored()`` (``starts`` of those rows: the first is always one, so the group decodes on its own)."""
    column = plan.column
    if column.codec not in (INT, DECIMAL, DECIMAL_X, FLOAT_BITS):
        return [arr.cast(plan.stored_type) if arr.type != plan.stored_type else arr]
    valid = _validity(arr)
    extra: list[pa.Array] = []
    if column.codec == DECIMAL_X:  # the values not exact at the scale go to the companion, NULL in the column
        values = arr.fill_null(0.0).to_numpy(zero_copy_only=False)
        present = np.ones(len(values), dtype=np.bool_) if valid is None else valid
        ok = present.copy()
        ok[present] = _exact(values[present], column.scale)
        extra.append(pa.array(values, mask=ok | ~present))
        valid = None if ok.all() else ok
        ints = _scaled(values[ok], column.scale)
        assert ints is not None  # _exact checked these
        values_u = ints.view(np.uint64)
    elif column.codec == FLOAT_BITS:
        values_u = arr.fill_null(0.0).to_numpy(zero_copy_only=False).view(np.uint64)
        if valid is not None:
            values_u = values_u[valid]
    elif column.codec == DECIMAL:
        values = arr.fill_null(0.0).to_numpy(zero_copy_only=False)
        ints = _scaled(values if valid is None else values[valid], column.scale)
        if ints is None:  # the plan verified the scale over every value of the column
            raise AssertionError(f"column {column.name!r}: a row group's values are not exact at scale "
                                 f"{column.scale}")
        values_u = ints.view(np.uint64)
    else:
        values_u = _int_values(arr)
        if valid is not None:
            values_u = values_u[valid]
    zz = _zigzag(_nth_differences(values_u, column.order, _non_null(valid, starts)))
    stored = zz.view(np.int64) if plan.stored_type == pa.int64() else zz.astype(np.int32)
    return [_with_nulls(stored, valid), *extra]


def combined(column: pa.ChunkedArray) -> pa.Array:
    """A chunked column as one array (without a copy when it already is one chunk)."""
    return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)


def decode_columns(columns: Mapping[str, Column], table: pa.Table, starts: npt.NDArray[np.bool_]) -> pa.Table:
    """The stored columns back to the rows' own: undo differences and scales, cast to the exact types.

    ``starts`` marks the rows where differences restart (``run_starts`` of the rows as stored); the table may
    hold any subset of whole runs, and must hold the companion of each DECIMAL_X column it holds."""
    out = {}
    for name in table.column_names:
        if name.startswith(EXCEPTIONS_PREFIX):
            continue  # merged into its column below
        column = columns[name]
        arr = combined(table.column(name))
        if column.codec in (INT, DECIMAL, DECIMAL_X, FLOAT_BITS):
            valid = _validity(arr)
            stored = arr.fill_null(0).to_numpy(zero_copy_only=False)
            ints = _decode_ints(stored if valid is None else stored[valid], column.order, _non_null(valid, starts))
            if column.codec == DECIMAL:
                arr = _with_nulls(_unscale(ints, column.scale), valid)
            elif column.codec == FLOAT_BITS:
                arr = _with_nulls(ints.view(np.float64), valid)
            elif column.codec == DECIMAL_X:
                arr = _with_exceptions(_unscale(ints, column.scale), valid,
                                       combined(table.column(companion(name))))
            else:
                arr = _with_nulls(ints, valid)
        target = arrow_type(column)
        if arr.type != target:
            arr = arr.cast(target)
        out[name] = arr
    return pa.table(out)


def _with_exceptions(exact: npt.NDArray[np.float64], valid: npt.NDArray[np.bool_] | None,
                     exceptions: pa.Array) -> pa.Array:
    """A DECIMAL_X column's doubles: its decoded values at its valid rows, the companion's elsewhere."""
    if not exceptions.null_count and len(exceptions):  # every value an exception
        return exceptions
    if valid is None:
        return pa.array(exact)
    present = exceptions.is_valid().to_numpy(zero_copy_only=False)
    full = exceptions.fill_null(0.0).to_numpy(zero_copy_only=False).copy()
    full[valid] = exact
    return pa.array(full, mask=~(valid | present))


# --- integer and decimal transforms -------------------------------------------------------------------------

_U1 = np.uint64(1)


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


def _choose_order(values: npt.NDArray[np.uint64], starts: npt.NDArray[np.bool_]) -> int:
    """The order of differences (0..2) whose zigzagged values cost least."""
    best: tuple[float, int] | None = None
    current = values
    for order in range(3):
        cost = _cost(_zigzag(current))
        if best is None or cost < best[0]:
            best = (cost, order)
        current = _differences(current, starts)
    assert best is not None
    return best[1]


def _nth_differences(values: npt.NDArray[np.uint64], order: int, starts: npt.NDArray[np.bool_]
                     ) -> npt.NDArray[np.uint64]:
    for _ in range(order):
        values = _differences(values, starts)
    return values


def _decode_ints(stored: npt.NDArray[Any], order: int, starts: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """Inverse of the differences ``encode_group`` stores."""
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
    """The smallest k in 0..9 that stores every value exactly as an integer n (v == n / 10**k), or None.

    A scale is tried on the first values, then on those the last full try found inexact (most scales fail
    there, without another pass over the column), and only then on every value."""
    if not len(values) or not np.isfinite(values).all() or np.signbit(values[values == 0.0]).any():
        return None  # NaN, an infinity or -0.0 is exact at no scale
    largest = float(np.abs(values).max())
    sample = values[:_SAMPLE]
    inexact: npt.NDArray[np.float64] | None = None
    for scale in range(_MAX_SCALE + 1):
        if largest * 10.0**scale >= _SCALE_LIMIT:
            return None  # too big for an int64 at this scale, and at every larger one
        if _scaled(sample, scale) is None or inexact is not None and _scaled(inexact, scale) is None:
            continue
        ints = _scaled(values, scale)
        if ints is not None:
            return scale, ints
        inexact = values[~_exact(values, scale)]
    return None


def _unscale(ints: npt.NDArray[np.int64], scale: int) -> npt.NDArray[np.float64]:
    """Doubles back from their scaled integers: the expression ``_scaled`` verified, bit for bit."""
    out: npt.NDArray[np.float64] = ints.astype(np.float64) / 10.0**scale
    return out
