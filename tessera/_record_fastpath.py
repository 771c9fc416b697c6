"""WriteRecords validation for the common case, vectorised: every record valid, no CommonAttributes.

Records are grouped by *shape* (dimension names and types, measure name and type, measure value names and
types, time unit). Name, type and schema rules are decided once per shape; values, times, versions and
sizes are checked column-wise with Arrow compute, using the same patterns and limits as the per-record
validator. Whenever anything is not plainly valid this returns None and the caller runs the exact
per-record validator, so every rejection keeps its precise reason and the result is always identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from tessera import layout, limits
from tessera.v1 import common_pb2
from tessera.validation import (
    _DECIMAL,
    _DIMENSION_SPEC,
    _INTEGER,
    INT64_MAX,
    MEASURE,
    MULTI,
    ColumnSpec,
    Schema,
    TableContext,
    TimeWindow,
    Validated,
    _names_ok,
    name_problem,
    validated_from,
)

MULTI_TYPE = MULTI
ShapeKey = tuple[tuple[str, ...], tuple[str, ...], str, str, tuple[tuple[str, str], ...], str]


@dataclass
class _Group:
    """The records of one shape, column by column, in request order."""

    key: ShapeKey
    index: npt.NDArray[np.int64]
    dims: list[pa.Array]      # per dimension, its values (strings)
    values: list[pa.Array]    # per measure value, its strings
    times: pa.Array
    versions: npt.NDArray[np.int64]


@dataclass
class _Lists:
    """A shape's records while they are gathered from protobuf messages."""

    key: ShapeKey
    index: list[int] = field(default_factory=list)
    dims: list[list[str]] = field(default_factory=list)
    values: list[list[str]] = field(default_factory=list)
    times: list[str] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)

    def group(self) -> _Group:
        return _Group(self.key, np.asarray(self.index, dtype=np.int64), [pa.array(d, pa.string()) for d in self.dims],
                      [pa.array(v, pa.string()) for v in self.values], pa.array(self.times, pa.string()),
                      np.asarray(self.versions, dtype=np.int64))


def validate_fast(records: Sequence[common_pb2.Record], ctx: TableContext) -> Validated | None:
    """The Validated of a request whose records are all valid, or None when any needs a closer look."""
    groups = _gather(records)
    return None if groups is None else _validated(groups, len(records), ctx)


def validate_fast_columns(batch: pa.RecordBatch, ctx: TableContext) -> Validated | None:
    """validate_fast for records in ``record_columns`` form, gathered column-wise (no per-record Python)."""
    groups = _gather_columns(batch)
    return None if groups is None else _validated(groups, batch.num_rows, ctx)


def _validated(groups: list[_Group], n: int, ctx: TableContext) -> Validated | None:
    schema, window = Schema(ctx.columns), TimeWindow.of(ctx)
    tables: list[pa.Table] = []
    for group in groups:  # in order of each shape's first record, as the per-record validator sees them
        if ctx.required_dimension is not None and ctx.required_dimension not in group.key[0]:
            return None  # records lacking the partition key: the exact path rejects them with the reason
        uses = _shape_uses(group.key)
        if uses is None or schema.problem(uses) is not None:
            return None
        schema.add(uses)
        table = _group_table(group, window)
        if table is None:
            return None
        tables.append(table)
    if len(tables) > 1:
        merged = pa.concat_tables(tables, promote_options="default")
        order = np.argsort(np.concatenate([g.index for g in groups]), kind="stable")
        merged = merged.take(pa.array(order))
    else:
        merged = tables[0]
    versions = merged.column("__version").combine_chunks()
    columns = {c: merged.column(c).combine_chunks() for c in merged.column_names if c != "__version"}
    dims = [c for c in columns if c not in (layout.TIME, layout.MEASURE_NAME) and _is_dimension(c, groups)]
    measures = [c for c in columns if c not in (layout.TIME, layout.MEASURE_NAME) and c not in dims]
    return validated_from(columns, dims, measures, versions, np.arange(n, dtype=np.int64), np.zeros(n, dtype=bool),
                          [], schema.new)


def _gather(records: Sequence[common_pb2.Record]) -> list[_Group] | None:
    """Group records by shape; None for anything the fast path does not take (e.g. a single-measure
    record with MeasureValues, or a MULTI record with a MeasureValue)."""
    by_key: dict[ShapeKey, _Lists] = {}
    for i, r in enumerate(records):
        dims = r.dimensions
        mvs = r.measure_values
        value_type = r.measure_value_type or "DOUBLE"
        key: ShapeKey = (tuple(d.name for d in dims), tuple(d.dimension_value_type for d in dims), r.measure_name,
                         value_type, tuple((m.name, m.type) for m in mvs), r.time_unit or "MILLISECONDS")
        group = by_key.get(key)
        if group is None:
            group = by_key[key] = _Lists(key, dims=[[] for _ in dims],
                                         values=[[] for _ in (mvs if value_type == MULTI_TYPE else (0,))])
        group.index.append(i)
        for column, d in zip(group.dims, dims):
            column.append(d.value)
        if value_type == MULTI_TYPE:
            if r.measure_value:
                return None
            for column, m in zip(group.values, mvs):
                column.append(m.value)
        else:
            if mvs:
                return None
            group.values[0].append(r.measure_value)
        group.times.append(r.time)
        group.versions.append(r.version if r.HasField("version") else 1)
    return [lists.group() for lists in by_key.values()]


_SEPARATORS = "[\x1e\x1f]"
MAX_RECORDS_PER_SHAPE_GROUP = 4
"""The columnar gather takes requests with at most one shape per this many records on average: it costs
~4 µs a record plus ~40 µs a shape, the per-record validator ~15-20 µs a record."""


def _strings(column: pa.Array) -> pa.Array:
    return column.fill_null("")


def _joined(offsets: npt.NDArray[np.int64], items: pa.Array) -> pa.Array:
    """Per record, its list items joined with \x1f (the record's part of the shape key)."""
    return pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), items), "\x1f")


def _items(flat: pa.Array, start: int, stop: int) -> list[str]:
    return [str(v) for v in flat.slice(start, stop - start).to_pylist()]


def _gather_columns(batch: pa.RecordBatch) -> list[_Group] | None:
    """_gather for a ``record_columns`` batch: the shape key of every record as one string, then per shape
    a strided take of its dimension and measure values."""
    from tessera.record_columns import list_parts

    dim_offsets, dims = list_parts(batch.column("Dimensions"))
    mv_offsets, mvs = list_parts(batch.column("MeasureValues"))
    parts = {"dim_names": dims["Name"], "dim_types": _strings(dims["DimensionValueType"]),
             "mv_names": mvs["Name"], "mv_types": mvs["Type"],
             "measure_name": _strings(batch.column("MeasureName")),
             "value_type": pc.if_else(pc.equal(_strings(batch.column("MeasureValueType")), ""), "DOUBLE",
                                      batch.column("MeasureValueType").fill_null("")),
             "unit": pc.if_else(pc.equal(_strings(batch.column("TimeUnit")), ""), "MILLISECONDS",
                                batch.column("TimeUnit").fill_null(""))}
    if any(a.null_count or pc.any(pc.match_substring_regex(pc.unique(a), _SEPARATORS)).as_py()
           for a in parts.values()):
        return None  # a separator inside a name would blur shapes: the exact path judges those
    counts = [pc.cast(pa.array(np.diff(offsets)), pa.string()) for offsets in (dim_offsets, mv_offsets)]
    key = pc.binary_join_element_wise(  # the counts tell [] from [""]: joined, both are ""
        *counts, _joined(dim_offsets, parts["dim_names"]), _joined(dim_offsets, parts["dim_types"]),
        parts["measure_name"],
        parts["value_type"], _joined(mv_offsets, parts["mv_names"]), _joined(mv_offsets, parts["mv_types"]),
        parts["unit"], "\x1e")
    if dims["Value"].null_count or mvs["Value"].null_count:
        return None
    multi = pc.equal(parts["value_type"], MULTI_TYPE).to_numpy(zero_copy_only=False)
    has_value = pc.not_equal(_strings(batch.column("MeasureValue")), "").to_numpy(zero_copy_only=False)
    mv_count = np.diff(mv_offsets)
    if np.any(multi & has_value) or np.any(~multi & (mv_count > 0)):
        return None
    shapes = pc.dictionary_encode(key)  # shape ids in order of first appearance
    if len(shapes.dictionary) > max(1, batch.num_rows // MAX_RECORDS_PER_SHAPE_GROUP):
        return None  # nearly a shape per record: the per-record validator is cheaper than a group each
    ids = shapes.indices.to_numpy(zero_copy_only=False)
    times, versions = _strings(batch.column("Time")), batch.column("Version").fill_null(1).to_numpy()
    dim_values, mv_values = dims["Value"], mvs["Value"]
    order = np.argsort(ids, kind="stable")  # rows by shape id, in request order within a shape
    groups = []
    for rows in np.split(order, np.flatnonzero(np.diff(ids[order])) + 1):
        first = int(rows[0])
        d0, d1, m0, m1 = dim_offsets[first], dim_offsets[first + 1], mv_offsets[first], mv_offsets[first + 1]
        value_type = parts["value_type"][first].as_py()
        shape_key: ShapeKey = (
            tuple(_items(parts["dim_names"], d0, d1)), tuple(_items(parts["dim_types"], d0, d1)),
            parts["measure_name"][first].as_py(), value_type,
            tuple(zip(_items(parts["mv_names"], m0, m1), _items(parts["mv_types"], m0, m1))), parts["unit"][first].as_py())
        dim_columns = [dim_values.take(pa.array(dim_offsets[rows] + j)) for j in range(d1 - d0)]
        if value_type == MULTI_TYPE:
            values = [mv_values.take(pa.array(mv_offsets[rows] + j)) for j in range(m1 - m0)]
        else:
            values = [_strings(batch.column("MeasureValue")).take(pa.array(rows))]
        groups.append(_Group(shape_key, rows.astype(np.int64), dim_columns, values, times.take(pa.array(rows)),
                             versions[rows]))
    return groups


def _shape_uses(key: ShapeKey) -> list[tuple[str, ColumnSpec]] | None:
    """The columns a shape uses, or None when a name, type or count rule fails for it."""
    dim_names, dim_types, measure_name, value_type, mvs, unit = key
    if unit not in limits.TIME_UNITS or any(t not in ("", "VARCHAR") for t in dim_types):
        return None
    if len(dim_names) > limits.MAX_DIMENSIONS_PER_RECORD or not _names_ok(dim_names, limits.DIMENSION_NAME_MAX_BYTES):
        return None
    if not measure_name or name_problem(measure_name, limits.MEASURE_NAME_MAX_BYTES) is not None:
        return None
    uses = [(name, _DIMENSION_SPEC) for name in dim_names]
    if value_type == MULTI_TYPE:
        names = tuple(n for n, _ in mvs)
        if not mvs or len(mvs) > limits.MAX_MEASURES_PER_MULTI_RECORD:
            return None
        if not _names_ok(names, limits.MEASURE_NAME_MAX_BYTES) or any(t not in limits.MULTI_VALUE_TYPES for _, t in mvs):
            return None
        if set(names) & set(dim_names):
            return None
        return uses + [(n, ColumnSpec(MULTI, t)) for n, t in mvs]
    if value_type not in limits.MEASURE_VALUE_TYPES or measure_name in dim_names:
        return None
    return uses + [(measure_name, ColumnSpec(MEASURE, value_type))]


def _is_dimension(name: str, groups: list[_Group]) -> bool:
    return any(name in g.key[0] for g in groups)


def _utf8_bytes(arr: pa.Array) -> npt.NDArray[np.int64]:
    lengths: npt.NDArray[np.int64] = pc.binary_length(pc.cast(arr, pa.binary())).to_numpy(
        zero_copy_only=False).astype(np.int64)
    return lengths


def _group_table(group: _Group, window: TimeWindow) -> pa.Table | None:
    """The group's rows as a layout table (plus a __version column), or None if any value is not plainly valid."""
    dim_names, _, measure_name, value_type, mvs, unit = group.key
    unit_ns = limits.TIME_UNITS[unit]
    n = len(group.index)
    columns: dict[str, pa.Array] = {}
    times = _times(group.times, unit_ns, window)
    if times is None:
        return None
    columns[layout.TIME] = pa.array(times, layout.TIME_TYPE)
    columns[layout.MEASURE_NAME] = pa.array([measure_name] * n, pa.string())
    dim_bytes = np.full(n, sum(len(d.encode()) for d in dim_names), dtype=np.int64)
    for name, arr in zip(dim_names, group.dims):
        lengths = _utf8_bytes(arr)
        if np.any(lengths == 0):
            return None
        dim_bytes += lengths
        columns[name] = arr
    if np.any(dim_bytes > limits.MAX_SERIES_KEY_BYTES):
        return None
    typed = list(mvs) if value_type == MULTI_TYPE else [(layout.SINGLE_VALUE_COLUMNS[value_type], value_type)]
    value_bytes = np.zeros(n, dtype=np.int64)
    name_bytes = 0
    for (name, type_name), arr in zip(typed, group.values):
        lengths = _utf8_bytes(arr)
        if np.any(lengths == 0):
            return None
        parsed = _parse(arr, type_name, unit_ns, lengths)
        if parsed is None:
            return None
        columns[name] = parsed
        value_bytes += lengths
        name_bytes += len(name.encode()) if value_type == MULTI_TYPE else 0
    if value_type == MULTI_TYPE and np.any(value_bytes > limits.MAX_MULTI_MEASURE_VALUE_BYTES):
        return None
    size = dim_bytes + len(measure_name.encode()) + value_bytes + name_bytes
    if np.any(size > limits.MAX_RECORD_BYTES):
        return None
    versions = group.versions
    if np.any(versions < 1):
        return None
    columns["__version"] = pa.array(versions, pa.int64())
    return pa.table(columns)


def _times(text: pa.Array, unit_ns: int, window: TimeWindow) -> npt.NDArray[np.int64] | None:
    if not pc.all(pc.match_substring_regex(text, _INTEGER.pattern)).as_py():
        return None
    try:
        offsets = pc.cast(text, pa.int64()).to_numpy()
    except pa.ArrowInvalid:
        return None
    if np.any(offsets < 0) or np.any(offsets > INT64_MAX // unit_ns):
        return None
    times: npt.NDArray[np.int64] = offsets * unit_ns
    # Records for the magnetic store, or outside the window, take the exact path (it explains them).
    if np.any(times > window.newest) or np.any(times < window.memory_oldest):
        return None
    return times


def _parse(arr: pa.Array, type_name: str, unit_ns: int, lengths: np.ndarray) -> Any:
    """The typed Arrow array of measure values, or None unless every value parses as the per-record path would."""
    try:
        if type_name == "DOUBLE":
            if not pc.all(pc.match_substring_regex(arr, _DECIMAL.pattern)).as_py():
                return None
            out = pc.cast(arr, pa.float64())
            return out if pc.all(pc.is_finite(out)).as_py() else None
        if type_name in ("BIGINT", "TIMESTAMP"):
            if not pc.all(pc.match_substring_regex(arr, _INTEGER.pattern)).as_py():
                return None
            ints = pc.cast(arr, pa.int64())
            if type_name == "BIGINT":
                return ints
            raw = ints.to_numpy()
            if np.any(raw < 0) or np.any(raw > INT64_MAX // unit_ns):
                return None
            return pa.array(raw * unit_ns, layout.TIME_TYPE)
        if type_name == "BOOLEAN":
            lowered = pc.utf8_lower(arr)
            if not pc.all(pc.is_in(lowered, pa.array(["true", "false"]))).as_py():
                return None
            return pc.equal(lowered, "true")
    except pa.ArrowInvalid:
        return None
    if np.any(lengths > limits.MAX_VARCHAR_BYTES):
        return None
    return arr
