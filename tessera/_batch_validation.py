"""The WriteBatch form of the write rules, vectorised: one Arrow table in, the same ``Validated`` as WriteRecords.

Every batch row is one multi-measure record: the time column, the dimension columns (NULL = dimension absent),
a measure name (a column or one constant) and every other column as a multi-measure attribute. Checks run per
column with pyarrow.compute / numpy, and only rejected rows cost Python work (their reason strings), so a batch
of 100k+ rows validates in well under a second.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tessera import arrowipc, layout, limits, partition_key
from tessera.errors import ValidationError
from tessera.v1 import common_pb2, ingest_pb2
from tessera.validation import (
    DIMENSION,
    INT64_MAX,
    MULTI,
    ColumnSpec,
    Schema,
    TableContext,
    TimeWindow,
    Validated,
    future_reason,
    name_problem,
    show,
    too_old_reason,
    validated_from,
)

DEFAULT_TIME_COLUMN = "time"
DEFAULT_MEASURE_NAME = "metrics"
_UNIT_NS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


class _Rejections:
    """Per-row rejection state: the first reason found for a row wins."""

    def __init__(self, n: int) -> None:
        self.ok = np.ones(n, dtype=bool)
        self._reasons: dict[int, str] = {}

    def add(self, mask: np.ndarray, reason: str | Callable[[int], str]) -> None:
        """Reject the rows of ``mask`` not rejected yet."""
        for i in np.flatnonzero(mask & self.ok).tolist():
            self._reasons[i] = reason(i) if callable(reason) else reason
        self.ok &= ~mask

    def records(self) -> list[common_pb2.RejectedRecord]:
        """The rejections in row order."""
        return [common_pb2.RejectedRecord(record_index=i, reason=r) for i, r in sorted(self._reasons.items())]


@dataclass
class _Measure:
    values: pa.Array  # in the layout's Arrow type
    type_name: str
    nulls: np.ndarray


def validate_batch(request: ingest_pb2.WriteBatchRequest, ctx: TableContext) -> Validated:
    """Validate a WriteBatch request; see ``tessera.validation.validate_write_batch``."""
    columns = _decode(request.arrow_ipc)
    time_col = request.time_column or DEFAULT_TIME_COLUMN
    dim_cols = _dimension_columns(request, columns, time_col)
    special = {time_col, *dim_cols, request.measure_name_column, request.version_column} - {""}
    measure_cols = [name for name in columns if name not in special]
    for name in measure_cols:
        _check_measure_type(name, columns[name].type)
    n = len(columns[time_col])
    rej = _Rejections(n)

    time_ns, magnetic = _times(time_col, columns[time_col], request.time_unit or "MILLISECONDS", ctx, rej)
    names, name_bytes = _measure_names(request, columns, n, rej)
    versions = _versions(request.version_column, columns, n, rej)
    dims = {name: columns[name].cast(pa.string()) for name in dim_cols}
    dim_bytes = _check_dimensions(dims, rej)
    _check_required_dimension(ctx.required_dimension, dims, n, rej)
    measures = {name: _measure(name, columns[name], rej) for name in measure_cols if columns[name].type != pa.null()}
    _check_measures(measures, dim_bytes + name_bytes, rej)
    schema = _check_schema(dims, measures, ctx, rej)

    keep = np.flatnonzero(rej.ok)
    every_row = keep.size == len(time_ns)
    take = pa.array(keep, pa.int64())

    def kept(arr: pa.Array) -> pa.Array:
        return arr if every_row else arr.take(take)  # the common case needs no copy

    out: dict[str, pa.Array] = {
        layout.TIME: pa.array(time_ns[keep], layout.TIME_TYPE),
        layout.MEASURE_NAME: kept(names),
    }
    used_dims = [d for d in dim_cols if _used(dims[d].is_null().to_numpy(zero_copy_only=False), keep)]
    used_measures = [m for m in measures if _used(measures[m].nulls, keep)]
    out.update({d: kept(dims[d]) for d in used_dims})
    out.update({m: kept(measures[m].values) for m in used_measures})
    new_columns = {c: spec for c, spec in schema.new.items() if c in used_dims or c in used_measures}
    return validated_from(out, used_dims, used_measures, pa.array(versions[keep], pa.int64()), keep.astype(np.int64),
                          magnetic[keep], rej.records(), new_columns)


def _used(nulls: np.ndarray, keep: np.ndarray) -> bool:
    return bool((~nulls[keep]).any())


# --- request-level checks -----------------------------------------------------------------------------------


def _decode(data: bytes) -> dict[str, pa.Array]:
    """The batch's columns as plain (unchunked, dictionary-decoded) arrays; raise on an unusable stream."""
    try:
        table = arrowipc.read_stream(data)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ValidationError(f"arrow_ipc is not a readable Arrow IPC stream: {exc}") from exc
    if table.num_rows == 0:
        raise ValidationError("arrow_ipc holds no rows; a WriteBatch request needs at least one row")
    if len(set(table.column_names)) != len(table.column_names):
        dups = sorted({c for c in table.column_names if table.column_names.count(c) > 1})
        raise ValidationError(f"arrow_ipc has duplicate column names: {', '.join(map(show, dups))}")
    columns: dict[str, pa.Array] = {}
    for name in table.column_names:
        arr = table.column(name).combine_chunks()
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        if pa.types.is_large_string(arr.type) or pa.types.is_string_view(arr.type):
            arr = arr.cast(pa.string())
        columns[name] = arr
    return columns


def _dimension_columns(request: ingest_pb2.WriteBatchRequest, columns: dict[str, pa.Array],
                       time_col: str) -> list[str]:
    """Check the roles the request gives to columns; return the dimension columns."""
    if time_col not in columns:
        raise ValidationError(f"time_column {show(time_col)} is not in the batch (columns: "
                              f"{', '.join(map(show, columns))})")
    time_type = columns[time_col].type
    if not (pa.types.is_timestamp(time_type) or pa.types.is_integer(time_type)):
        raise ValidationError(f"time column {show(time_col)} has Arrow type {time_type}; expected a timestamp "
                              "or an integer column")
    if request.time_unit and request.time_unit not in limits.TIME_UNITS:
        raise ValidationError(f"time_unit {show(request.time_unit)} is invalid: expected one of "
                              f"{', '.join(limits.TIME_UNITS)}")
    dims = list(request.dimension_columns)
    if len(set(dims)) != len(dims):
        raise ValidationError("dimension_columns lists a column more than once")
    for name in dims:
        if name not in columns:
            raise ValidationError(f"dimension column {show(name)} is not in the batch")
        if not pa.types.is_string(columns[name].type):
            raise ValidationError(f"dimension column {show(name)} has Arrow type {columns[name].type}; "
                                  "dimensions must be string columns")
    if request.measure_name_column and request.measure_name:
        raise ValidationError("give measure_name or measure_name_column, not both")
    if request.measure_name_column:
        _check_column(request.measure_name_column, "measure_name_column", columns, pa.types.is_string, "string")
    problem = name_problem(request.measure_name or DEFAULT_MEASURE_NAME, limits.MEASURE_NAME_MAX_BYTES)
    if problem:
        raise ValidationError(f"measure_name {show(request.measure_name)} is invalid: {problem}")
    if request.version_column:
        _check_column(request.version_column, "version_column", columns, pa.types.is_integer, "integer")
    roles = [time_col, *dims, request.measure_name_column, request.version_column]
    roles = [r for r in roles if r]
    if len(set(roles)) != len(roles):
        raise ValidationError("a column may have only one role (time, dimension, measure name or version)")
    return dims


def _check_column(name: str, role: str, columns: dict[str, pa.Array],
                  is_ok: Callable[[pa.DataType], bool], expected: str) -> None:
    if name not in columns:
        raise ValidationError(f"{role} {show(name)} is not in the batch")
    if not is_ok(columns[name].type):
        raise ValidationError(f"{role} {show(name)} has Arrow type {columns[name].type}; expected {expected}")


def _check_measure_type(name: str, arrow_type: pa.DataType) -> None:
    if arrow_type == pa.null():
        return  # all NULL: carries no measure
    try:
        layout.type_name_of(arrow_type)
    except KeyError:
        raise ValidationError(
            f"column {show(name)} has Arrow type {arrow_type}, which cannot be stored; measure columns must be "
            "floating point (DOUBLE), integer (BIGINT), string (VARCHAR), bool (BOOLEAN) or timestamp (TIMESTAMP)"
        ) from None


# --- per-row checks -----------------------------------------------------------------------------------------


def _int64(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An integer or timestamp column as int64 values (0 where NULL), its NULL mask and its uint64 overflow."""
    nulls = arr.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_timestamp(arr.type):
        arr = arr.cast(pa.int64())
    raw = arr.fill_null(0).to_numpy(zero_copy_only=False)
    overflow = np.zeros(len(raw), dtype=bool)
    if raw.dtype == np.uint64:
        overflow = raw > np.uint64(INT64_MAX)
        raw = np.where(overflow, 0, raw)
    return raw.astype(np.int64), nulls, overflow


def _to_ns(raw: np.ndarray, unit_ns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offsets in a unit as ns; plus masks of negative offsets and of offsets past int64 ns."""
    negative = raw < 0
    overflow = raw > INT64_MAX // unit_ns
    return np.where(negative | overflow, 0, raw) * unit_ns, negative, overflow


def _times(name: str, arr: pa.Array, unit: str, ctx: TableContext,
           rej: _Rejections) -> tuple[np.ndarray, np.ndarray]:
    unit_ns = _UNIT_NS[arr.type.unit] if pa.types.is_timestamp(arr.type) else limits.TIME_UNITS[unit]
    raw, nulls, too_big = _int64(arr)
    ns, negative, overflow = _to_ns(raw, unit_ns)
    label = f"Column {show(name)}"
    rej.add(nulls, f"Invalid time for record. {label} is NULL")
    rej.add(negative, lambda i: f"Invalid time for record. {label} value {raw[i]} is negative; times before "
                                "1970-01-01 are not supported")
    rej.add(overflow | too_big, f"Invalid time for record. {label} value is past the latest time that fits in "
                                "64-bit nanoseconds")
    window = TimeWindow.of(ctx)
    rej.add(ns > window.newest, lambda i: future_reason(label, int(ns[i]), ctx))
    magnetic = ns < window.memory_oldest
    too_old = magnetic if not ctx.magnetic_writes else ns < window.oldest
    rej.add(too_old, lambda i: too_old_reason(label, int(ns[i]), ctx))
    return ns, magnetic


def _measure_names(request: ingest_pb2.WriteBatchRequest, columns: dict[str, pa.Array], n: int,
                   rej: _Rejections) -> tuple[pa.Array, np.ndarray]:
    """Each row's measure name, and its size in bytes."""
    if not request.measure_name_column:
        name = request.measure_name or DEFAULT_MEASURE_NAME
        return pa.array([name] * n, pa.string()), np.full(n, len(name.encode()), dtype=np.int64)
    label = f"Column {show(request.measure_name_column)}"
    names = columns[request.measure_name_column]
    rej.add(names.is_null().to_numpy(zero_copy_only=False), f"{label}: the measure name is NULL")
    distinct = pc.unique(names.drop_null())
    problems = [name_problem(v, limits.MEASURE_NAME_MAX_BYTES) for v in distinct.to_pylist()]
    if any(problems):
        which = pc.index_in(names, value_set=distinct).fill_null(0).to_numpy(zero_copy_only=False)
        bad = np.array([p is not None for p in problems])[which] & ~names.is_null().to_numpy(zero_copy_only=False)
        rej.add(bad, lambda i: f"{label} measure name {show(distinct[which[i]].as_py())} is invalid: "
                               f"{problems[which[i]]}")
    return names, _lengths(names)


def _versions(name: str, columns: dict[str, pa.Array], n: int, rej: _Rejections) -> np.ndarray:
    if not name:
        return np.ones(n, dtype=np.int64)
    raw, nulls, overflow = _int64(columns[name])
    versions = np.where(nulls, 1, raw)
    rej.add(overflow, f"Column {show(name)}: the version does not fit in a signed 64-bit integer")
    rej.add(versions < 1, lambda i: f"Column {show(name)} version {versions[i]} is invalid: versions start at 1")
    return versions


def _check_dimensions(dims: dict[str, pa.Array], rej: _Rejections) -> np.ndarray:
    """Check dimension names and values; return each row's series-key size in bytes."""
    n = len(rej.ok)
    size = np.zeros(n, dtype=np.int64)
    count = np.zeros(n, dtype=np.int64)
    for name, arr in dims.items():
        present = arr.is_valid().to_numpy(zero_copy_only=False)
        problem = name_problem(name, limits.DIMENSION_NAME_MAX_BYTES)
        if problem:
            rej.add(present, f"dimension column {show(name)} is invalid: {problem}")
        lengths = _lengths(arr)
        rej.add(present & (lengths == 0), f"Column {show(name)}: dimension values may not be empty (use NULL "
                                          "for an absent dimension)")
        size += np.where(present, lengths + len(name.encode()), 0)
        count += present
    rej.add(count > limits.MAX_DIMENSIONS_PER_RECORD,
            lambda i: f"the row has {count[i]} dimensions; the limit is {limits.MAX_DIMENSIONS_PER_RECORD} per record")
    rej.add(size > limits.MAX_SERIES_KEY_BYTES,
            lambda i: f"the row's dimension names and values are {size[i]} bytes; the limit is "
                      f"{limits.MAX_SERIES_KEY_BYTES} bytes per series")
    return size


def _check_required_dimension(name: str | None, dims: dict[str, pa.Array], n: int, rej: _Rejections) -> None:
    """Reject the rows lacking the table's REQUIRED partition-key dimension (NULL, or no such column)."""
    if name is None:
        return
    lacking = dims[name].is_null().to_numpy(zero_copy_only=False) if name in dims else np.ones(n, dtype=bool)
    rej.add(lacking, partition_key.missing_reason("the row", name))


def _measure(name: str, arr: pa.Array, rej: _Rejections) -> _Measure:
    """One attribute column in its layout type; rejects rows whose value cannot be stored."""
    type_name = layout.type_name_of(arr.type)
    label = f"Column {show(name)}"
    nulls = arr.is_null().to_numpy(zero_copy_only=False)
    if type_name == "DOUBLE":
        arr = arr.cast(pa.float64())
        values = arr.fill_null(0.0).to_numpy(zero_copy_only=False)
        rej.add(~np.isfinite(values), lambda i: f"{label} value {values[i]} is not a finite DOUBLE (NaN and "
                                                "Infinity cannot be written)")
    elif type_name == "VARCHAR":
        lengths = _lengths(arr)
        rej.add(lengths > limits.MAX_VARCHAR_BYTES, lambda i: f"{label} value is {lengths[i]} bytes; the limit is "
                                                              f"{limits.MAX_VARCHAR_BYTES} bytes per VARCHAR")
        rej.add(~nulls & (lengths == 0), f"{label} value may not be empty (use NULL for no value)")
    elif type_name == "BIGINT":
        raw, _, overflow = _int64(arr)
        rej.add(overflow, f"{label} value does not fit in a BIGINT (a signed 64-bit integer)")
        arr = pa.array(raw, pa.int64(), mask=nulls)
    elif type_name == "TIMESTAMP":
        unit_ns = _UNIT_NS[arr.type.unit]
        raw, _, too_big = _int64(arr)
        ns, negative, overflow = _to_ns(raw, unit_ns)
        rej.add(~nulls & (negative | overflow | too_big),
                f"{label} value is out of range for a TIMESTAMP (1970-01-01 to 2262-04-11)")
        arr = pa.array(ns, layout.TIME_TYPE, mask=nulls)
    return _Measure(arr, type_name, nulls)


_MAX_TEXT_BYTES = {"BIGINT": 20, "TIMESTAMP": 20, "DOUBLE": 25, "BOOLEAN": 5}
"""The longest string of each type but VARCHAR: -9223372036854775808 (20), -0.0000028350568030914777 (25), false."""


def _value_bytes(measure: _Measure) -> np.ndarray:
    """Bytes of each value written as a string, as WriteRecords would carry it."""
    values = measure.values
    if measure.type_name == "TIMESTAMP":
        values = values.cast(pa.int64())
    if measure.type_name != "VARCHAR":
        values = values.cast(pa.string())
    return _lengths(values)


def _lengths(arr: pa.Array) -> np.ndarray:
    """Byte length of each string value, 0 where NULL."""
    lengths: np.ndarray = pc.binary_length(arr).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    return lengths


def _check_measures(measures: dict[str, _Measure], key_bytes: np.ndarray, rej: _Rejections) -> None:
    """Per-row multi-measure limits: at least one value, at most 256, value bytes and record size."""
    n = len(rej.ok)
    count = np.zeros(n, dtype=np.int64)
    value_bytes = np.zeros(n, dtype=np.int64)
    name_bytes = np.zeros(n, dtype=np.int64)
    for name, measure in measures.items():
        present = ~measure.nulls
        count += present
        name_bytes += np.where(present, len(name.encode()), 0)
    # A number written as a string has at most _MAX_TEXT_BYTES bytes: when even that bound keeps every row
    # within the limits, the exact sizes (a cast to string per column) change nothing and are skipped.
    bound = sum(np.where(~m.nulls, _MAX_TEXT_BYTES.get(m.type_name, limits.MAX_VARCHAR_BYTES), 0)
                for m in measures.values())
    within = (np.all(bound <= limits.MAX_MULTI_MEASURE_VALUE_BYTES)
              and np.all(key_bytes + name_bytes + bound <= limits.MAX_RECORD_BYTES))
    for measure in measures.values() if not within else ():
        value_bytes += np.where(~measure.nulls, _value_bytes(measure), 0)
    rej.add(count == 0, "every measure of the row is NULL; a row needs at least one measure value")
    rej.add(count > limits.MAX_MEASURES_PER_MULTI_RECORD,
            lambda i: f"the row has {count[i]} measure values; the limit is "
                      f"{limits.MAX_MEASURES_PER_MULTI_RECORD} per multi-measure record")
    rej.add(value_bytes > limits.MAX_MULTI_MEASURE_VALUE_BYTES,
            lambda i: f"the row's measure values are {value_bytes[i]} bytes; the limit is "
                      f"{limits.MAX_MULTI_MEASURE_VALUE_BYTES} bytes per multi-measure record")
    size = key_bytes + name_bytes + value_bytes
    rej.add(size > limits.MAX_RECORD_BYTES,
            lambda i: f"the row is {size[i]} bytes (dimensions, measure name and measure values); the limit is "
                      f"{limits.MAX_RECORD_BYTES} bytes per record")


def _check_schema(dims: dict[str, pa.Array], measures: dict[str, _Measure], ctx: TableContext,
                  rej: _Rejections) -> Schema:
    """Column names and kinds/types against the table; a column that cannot be used rejects its rows."""
    schema = Schema(ctx.columns)
    uses: list[tuple[str, ColumnSpec, np.ndarray]] = [
        (name, ColumnSpec(DIMENSION, "VARCHAR"), arr.is_valid().to_numpy(zero_copy_only=False))
        for name, arr in dims.items()
    ]
    uses += [(name, ColumnSpec(MULTI, m.type_name), ~m.nulls) for name, m in measures.items()]
    for name, spec, present in uses:
        if not (present & rej.ok).any():
            continue
        problem = name_problem(name, limits.MEASURE_NAME_MAX_BYTES) if spec.kind == MULTI else None
        if problem:
            rej.add(present, f"column {show(name)} is invalid as a measure name: {problem}")
            continue
        problem = schema.problem([(name, spec)], subject="the batch")
        if problem:
            rej.add(present, f"Column {show(name)}: {problem}")
        else:
            schema.add([(name, spec)])
    return schema
