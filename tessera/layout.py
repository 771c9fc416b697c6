"""The storage layout every write form ends in, and the hashes that place and deduplicate rows.

A stored row is one Arrow row with these columns:

- ``time``: timestamp[ns] (UTC, tz-naive)
- ``measure_name``: string
- one string column per dimension (absent dimension = NULL)
- single-measure values in ``measure_value::double|bigint|varchar|boolean``; multi-measure values in one
  column per measure name, typed as declared
- ``ts_series`` uint64: hash of the dimensions and the measure name (the series; the key is series + time)
- ``ts_version`` int64: the record version (highest wins)
- ``ts_vhash`` uint64: hash of the measure values (tells an exact duplicate from a conflicting write)

User names may not start with ``ts_`` (a Timestream rule), so the key columns can never collide with them.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

TIME = "time"
MEASURE_NAME = "measure_name"
SERIES = "ts_series"
VERSION = "ts_version"
VALUE_HASH = "ts_vhash"
KEY_COLUMNS = (SERIES, VERSION, VALUE_HASH)

TIME_TYPE = pa.timestamp("ns")
ARROW_TYPES: dict[str, pa.DataType] = {
    "DOUBLE": pa.float64(),
    "BIGINT": pa.int64(),
    "VARCHAR": pa.string(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMP": TIME_TYPE,
}
SINGLE_VALUE_COLUMNS: dict[str, str] = {
    "DOUBLE": "measure_value::double",
    "BIGINT": "measure_value::bigint",
    "VARCHAR": "measure_value::varchar",
    "BOOLEAN": "measure_value::boolean",
}
FIXED_COLUMNS: dict[str, pa.DataType] = {
    TIME: TIME_TYPE,
    MEASURE_NAME: pa.string(),
    SERIES: pa.uint64(),
    VERSION: pa.int64(),
    VALUE_HASH: pa.uint64(),
}

TILE_BUCKET_NS = 3600 * 1_000_000_000  # one hour of data per tile
HASH_SPACE = 1 << 64


def type_name_of(arrow_type: pa.DataType) -> str:
    """The Timestream type name for an Arrow type, or raise KeyError."""
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMP"
    if pa.types.is_floating(arrow_type):
        return "DOUBLE"
    if pa.types.is_integer(arrow_type):
        return "BIGINT"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "VARCHAR"
    if pa.types.is_boolean(arrow_type):
        return "BOOLEAN"
    raise KeyError(str(arrow_type))


def _h64(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def _dims_bytes(dims: Iterable[tuple[str, str]]) -> bytes:
    # Sorted by name as UTF-8 bytes, so the order in which a client lists dimensions does not matter.
    return b"".join(n.encode() + b"\x00" + v.encode() + b"\x00" for n, v in sorted(dims))


def dimension_hash(dims: Iterable[tuple[str, str]]) -> int:
    """Routing hash of a row's dimensions: picks the hash range, hence the cell and the tile."""
    return _h64(b"d" + _dims_bytes(dims))


def series_hash(dims: Iterable[tuple[str, str]], measure_name: str) -> int:
    """Hash of a series (dimensions + measure name); with the time it is the dedup key."""
    return _h64(b"s" + _dims_bytes(dims) + b"\x01" + measure_name.encode())


def _encode_value(value: Any) -> bytes:
    if isinstance(value, bool):
        return b"b1" if value else b"b0"
    if isinstance(value, int):
        return b"i" + struct.pack("<q", value)
    if isinstance(value, float):
        return b"f" + struct.pack("<d", value)
    if isinstance(value, str):
        return b"s" + value.encode()
    if isinstance(value, np.datetime64):
        return b"t" + struct.pack("<q", int(value.astype("datetime64[ns]").astype(np.int64)))
    if hasattr(value, "value"):  # pandas-style Timestamp
        return b"t" + struct.pack("<q", int(value.value))
    raise TypeError(f"cannot hash measure value of type {type(value).__name__}")


def value_hash(values: Iterable[tuple[str, Any]]) -> int:
    """Hash of a row's non-null measure values, by measure name; equal values give equal hashes."""
    parts = [n.encode() + b"\x00" + _encode_value(v) for n, v in sorted(values) if v is not None]
    return _h64(b"v" + b"\x00".join(parts))


def bucket_of(time_ns: int) -> int:
    """The tile time bucket a timestamp falls in."""
    return time_ns // TILE_BUCKET_NS


def with_key_columns(
    table: pa.Table, dimension_columns: Sequence[str], measure_columns: Sequence[str], versions: pa.Array
) -> tuple[pa.Table, np.ndarray]:
    """Add ts_series, ts_version and ts_vhash to a layout table; also return each row's dimension hash."""
    n = table.num_rows
    dim_lists = [table.column(c).to_pylist() for c in dimension_columns]
    names = table.column(MEASURE_NAME).to_pylist()
    value_lists = [table.column(c).to_pylist() for c in measure_columns]
    time_values = [c for c in measure_columns if pa.types.is_timestamp(table.schema.field(c).type)]
    if time_values:  # hash timestamps as int64 ns, whatever Python type to_pylist produced
        for c in time_values:
            i = list(measure_columns).index(c)
            value_lists[i] = table.column(c).cast(pa.int64()).to_pylist()
    dim_hash = np.empty(n, dtype=np.uint64)
    series = np.empty(n, dtype=np.uint64)
    vhash = np.empty(n, dtype=np.uint64)
    for i in range(n):
        dims = [(c, vals[i]) for c, vals in zip(dimension_columns, dim_lists) if vals[i] is not None]
        dim_hash[i] = dimension_hash(dims)
        series[i] = series_hash(dims, names[i])
        vhash[i] = value_hash((c, vals[i]) for c, vals in zip(measure_columns, value_lists))
    out = table.append_column(SERIES, pa.array(series, pa.uint64()))
    out = out.append_column(VERSION, versions.cast(pa.int64()))
    out = out.append_column(VALUE_HASH, pa.array(vhash, pa.uint64()))
    return out, dim_hash


def stored_columns(columns: Iterable[Any]) -> list[tuple[str, str]]:
    """The (column, type) pairs a table's rows are stored with, from its registered columns (kind/name/type).

    Dimensions and multi-measure attributes are columns of their own; single-measure names all share the
    ``measure_value::<type>`` column of their type.
    """
    out: dict[str, str] = {}
    for c in columns:
        if c.kind == "MEASURE":
            out.setdefault(SINGLE_VALUE_COLUMNS[c.type], c.type)
        else:
            out.setdefault(c.name, c.type)
    return list(out.items())
