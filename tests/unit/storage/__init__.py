"""Unit tests of the storage service's domain logic (WAL, tiles, tile store), plus a row builder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from tessera import layout

BASE_NS = 1_700_000_000_000_000_000  # a whole second, in the tile bucket of TILE


@dataclass
class Rec:
    """One single-measure DOUBLE record, or multi-measure when ``measures`` is given."""

    time_ns: int
    dims: dict[str, str] = field(default_factory=lambda: {"host": "h1"})
    measure: str = "cpu"
    value: float | None = 1.0
    version: int = 1
    measures: dict[str, Any] | None = None


def make_rows(records: Sequence[Rec], measure_types: dict[str, pa.DataType] | None = None) -> pa.Table:
    """Layout rows (with real ts_series/ts_version/ts_vhash) for the given records."""
    dim_names = sorted({d for r in records for d in r.dims})
    multi = any(r.measures is not None for r in records)
    columns: dict[str, pa.Array] = {
        layout.TIME: pa.array([r.time_ns for r in records], pa.int64()).cast(layout.TIME_TYPE),
        layout.MEASURE_NAME: pa.array([r.measure for r in records], pa.string()),
    }
    for d in dim_names:
        columns[d] = pa.array([r.dims.get(d) for r in records], pa.string())
    if multi:
        types = measure_types or {}
        names = sorted({m for r in records for m in (r.measures or {})})
        for m in names:
            columns[m] = pa.array([(r.measures or {}).get(m) for r in records], types.get(m, pa.float64()))
        measure_columns = names
    else:
        columns["measure_value::double"] = pa.array([r.value for r in records], pa.float64())
        measure_columns = ["measure_value::double"]
    table = pa.table(columns)
    versions = pa.array([r.version for r in records], pa.int64())
    out, _ = layout.with_key_columns(table, dim_names, measure_columns, versions)
    return out


def ints(column: pa.ChunkedArray | pa.Array) -> list[int]:
    """A timestamp or integer column as Python ints (to_pylist on timestamp[ns] needs pandas)."""
    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.int64())
    return [int(v) for v in column.to_pylist()]
