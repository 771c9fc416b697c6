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
    index: list[int] = field(default_factory=list)
    dims: list[list[str]] = field(default_factory=list)      # per dimension, its values
    values: list[list[str]] = field(default_factory=list)    # per measure value, its strings
    times: list[str] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)


def validate_fast(records: Sequence[common_pb2.Record], ctx: TableContext) -> Validated | None:
    """The Validated of a request whose records are all valid, or None when any needs a closer look."""
    groups = _gather(records)
    if groups is None:
        return None
    schema, window = Schema(ctx.columns), TimeWindow.of(ctx)
    tables: list[pa.Table] = []
    for group in groups:  # in order of each shape's first record, as the per-record validator sees them
        uses = _shape_uses(group.key)
        if uses is None or schema.problem(uses) is not None:
            return None
        schema.add(uses)
        table = _group_table(group, window)
        if table is None:
            return None
        tables.append(table)
    merged = pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]
    source = np.concatenate([np.asarray(g.index, dtype=np.int64) for g in groups])
    order = np.argsort(source, kind="stable")
    merged = merged.take(pa.array(order))
    versions = merged.column("__version").combine_chunks()
    columns = {n: merged.column(n).combine_chunks() for n in merged.column_names if n != "__version"}
    dims = [n for n in columns if n not in (layout.TIME, layout.MEASURE_NAME) and _is_dimension(n, groups)]
    measures = [n for n in columns if n not in (layout.TIME, layout.MEASURE_NAME) and n not in dims]
    n = len(records)
    return validated_from(columns, dims, measures, versions, np.arange(n, dtype=np.int64), np.zeros(n, dtype=bool),
                          [], schema.new)


def _gather(records: Sequence[common_pb2.Record]) -> list[_Group] | None:
    """Group records by shape; None for anything the fast path does not take (e.g. a single-measure
    record with MeasureValues, or a MULTI record with a MeasureValue)."""
    by_key: dict[ShapeKey, _Group] = {}
    for i, r in enumerate(records):
        dims = r.dimensions
        mvs = r.measure_values
        value_type = r.measure_value_type or "DOUBLE"
        key: ShapeKey = (tuple(d.name for d in dims), tuple(d.dimension_value_type for d in dims), r.measure_name,
                         value_type, tuple((m.name, m.type) for m in mvs), r.time_unit or "MILLISECONDS")
        group = by_key.get(key)
        if group is None:
            group = by_key[key] = _Group(key, dims=[[] for _ in dims],
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
    return list(by_key.values())


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
    times = _times(pa.array(group.times, pa.string()), unit_ns, window)
    if times is None:
        return None
    columns[layout.TIME] = pa.array(times, layout.TIME_TYPE)
    columns[layout.MEASURE_NAME] = pa.array([measure_name] * n, pa.string())
    dim_bytes = np.full(n, sum(len(d.encode()) for d in dim_names), dtype=np.int64)
    for name, values in zip(dim_names, group.dims):
        arr = pa.array(values, pa.string())
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
    for (name, type_name), values in zip(typed, group.values):
        arr = pa.array(values, pa.string())
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
    versions = np.asarray(group.versions, dtype=np.int64)
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
