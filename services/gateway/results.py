"""Arrow query results in Timestream's Query response shapes: ColumnInfo with ScalarType, ArrayColumnInfo
and RowColumnInfo, and rows of ScalarValue / ArrayValue / RowValue / NullValue, scalars in the same text as
the gRPC API (services.query.results.scalar_strings: nine fractional digits on timestamps, exact BIGINTs)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from services.query.results import scalar_strings, scalar_type

NULL: dict[str, Any] = {"NullValue": True}


def column_type(t: pa.DataType) -> dict[str, Any]:
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return {"ArrayColumnInfo": {"Type": column_type(t.value_type)}}
    if pa.types.is_struct(t):
        return {"RowColumnInfo": [{"Name": f.name, "Type": column_type(f.type)} for f in t]}
    return {"ScalarType": scalar_type(t)}


def column_info(schema: pa.Schema) -> list[dict[str, Any]]:
    return [{"Name": f.name, "Type": column_type(f.type)} for f in schema]


def rows(table: pa.Table) -> list[dict[str, Any]]:
    """Every row as ``{"Data": [Datum, ...]}``."""
    columns = [_datums(table.column(i).combine_chunks()) for i in range(table.num_columns)]
    return [{"Data": [c[r] for c in columns]} for r in range(table.num_rows)]


def _datums(arr: pa.Array) -> list[dict[str, Any]]:
    t = arr.type
    valid = arr.is_valid().to_pylist()
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        offsets = arr.offsets.to_pylist()  # absolute positions in the child, also for a sliced array
        first = offsets[0]
        values = _datums(arr.values.slice(first, offsets[-1] - first))
        return [{"ArrayValue": values[offsets[i] - first:offsets[i + 1] - first]} if ok else NULL
                for i, ok in enumerate(valid)]
    if pa.types.is_fixed_size_list(t):
        return _datums(arr.cast(pa.list_(t.value_type)))
    if pa.types.is_struct(t):
        fields = [_datums(arr.field(i)) for i in range(t.num_fields)]
        return [{"RowValue": {"Data": [f[r] for f in fields]}} if ok else NULL for r, ok in enumerate(valid)]
    return [NULL if s is None else {"ScalarValue": s} for s in scalar_strings(pa.chunked_array([arr], t))]
