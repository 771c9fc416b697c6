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

import functools
import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

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


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def mix64(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64's finaliser over an array: a cheap, well-spread 64-bit mix (wraps modulo 2**64)."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * _M1
        x = x ^ (x >> np.uint64(27))
        x = x * _M2
        return x ^ (x >> np.uint64(31))


_DIMENSION_SALT = np.uint64(0x64696D656E73696F)  # distinguishes the three key hashes
_SERIES_SALT = np.uint64(0x7365726965735F76)
_MASK64 = (1 << 64) - 1


@functools.lru_cache(maxsize=65536)
def _pair_hash(name: str, value: str) -> int:
    return _h64(b"p" + name.encode() + b"\x00" + value.encode())


def _mix64_int(x: int) -> int:
    """mix64 of one int, in plain Python (a numpy call per record costs more than the arithmetic)."""
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & _MASK64
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def dimension_hash(dims: Iterable[tuple[str, str]]) -> int:
    """Routing hash of one record's dimensions: picks the hash range, hence the cell and the tile.

    A wrapping sum of one hash per (name, value) pair, mixed: independent of the order dimensions are
    listed in, and computable column-wise (see ``dimension_hashes``) with no per-row strings.
    """
    return _mix64_int(pair_sum(dims) ^ int(_DIMENSION_SALT))


def pair_sum(dims: Iterable[tuple[str, str]]) -> int:
    """The wrapping sum of the (name, value) pair hashes that ``dimension_hash`` mixes."""
    return sum(_pair_hash(n, v) for n, v in dims) & _MASK64


def mix_dimension_sums(sums: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """``dimension_hash`` from per-row pair sums (see ``pair_sum``), vectorised."""
    return mix64(sums ^ _DIMENSION_SALT)


def hash_each(strings: pa.Array, prefix: bytes) -> npt.NDArray[np.uint64]:
    """blake2b of prefix + each string, computed once per distinct string (values repeat across rows)."""
    encoded = pc.dictionary_encode(strings)
    if len(encoded.dictionary) == 0:  # every value NULL: nothing to hash (callers mask NULLs out)
        return np.zeros(len(strings), dtype=np.uint64)
    distinct = np.array([_h64(prefix + s.encode()) for s in encoded.dictionary.to_pylist()], dtype=np.uint64)
    out: npt.NDArray[np.uint64] = distinct[encoded.indices.fill_null(0).to_numpy(zero_copy_only=False)]
    return out


def _as_string(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return arr if pa.types.is_string(arr.type) else arr.cast(pa.string())


def _pair_sums(table: pa.Table, dimension_columns: Sequence[str]) -> npt.NDArray[np.uint64]:
    """Per row, the wrapping sum of its (name, value) pair hashes; a NULL dimension adds nothing."""
    total = np.zeros(table.num_rows, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for name in dimension_columns:
            arr = _as_string(table.column(name))
            pair = hash_each(arr, b"p" + name.encode() + b"\x00")
            valid = arr.is_valid().to_numpy(zero_copy_only=False)
            total += np.where(valid, pair, np.uint64(0))
    return total


def dimension_hashes(table: pa.Table, dimension_columns: Sequence[str]) -> npt.NDArray[np.uint64]:
    """dimension_hash of every row of a table, vectorised (NULL = the row lacks that dimension)."""
    return mix_dimension_sums(_pair_sums(table, dimension_columns))


ABSENT_KEY_HASH = _mix64_int(int(_DIMENSION_SALT))
"""``dimension_hash([])``: the range hash of a record that lacks its table's partition key."""


def single_pair_hashes(name: str, values: pa.Array | pa.ChunkedArray | None, rows: int) -> npt.NDArray[np.uint64]:
    """Per row, ``dimension_hash([(name, value)])`` of its value, vectorised: the range hash over one attribute.

    A NULL or empty value, or no column at all (``values`` None), hashes as ``dimension_hash([])``
    (``ABSENT_KEY_HASH``).
    """
    if values is None:
        return np.full(rows, np.uint64(ABSENT_KEY_HASH), dtype=np.uint64)
    arr = _as_string(values)
    pair = hash_each(arr, b"p" + name.encode() + b"\x00")
    present = pc.fill_null(pc.greater(pc.utf8_length(arr), 0), False).to_numpy(zero_copy_only=False)
    return mix_dimension_sums(np.where(present, pair, np.uint64(0)))


def _value_bits(arr: pa.Array) -> npt.NDArray[np.uint64]:
    t = arr.type
    bits: npt.NDArray[np.uint64]
    if pa.types.is_floating(t):
        bits = arr.cast(pa.float64()).fill_null(0.0).to_numpy().view(np.uint64)
        return bits
    if pa.types.is_integer(t):
        bits = arr.cast(pa.int64()).fill_null(0).to_numpy().view(np.uint64)
        return bits
    if pa.types.is_timestamp(t):
        bits = arr.cast(pa.timestamp("ns")).cast(pa.int64()).fill_null(0).to_numpy().view(np.uint64)
        return bits
    if pa.types.is_boolean(t):
        bits = arr.fill_null(False).to_numpy(zero_copy_only=False).astype(np.uint64)
        return bits
    return hash_each(_as_string(arr).fill_null(""), b"v")


def value_hashes(table: pa.Table, measure_columns: Sequence[str]) -> npt.NDArray[np.uint64]:
    """Per row, a hash of its non-NULL measure values by measure name: equal values, equal hashes.

    A NULL and an absent column contribute nothing, so both write forms hash the same record alike.
    """
    total = np.zeros(table.num_rows, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for name in measure_columns:
            column = table.column(name)
            arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
            tag = np.uint64(_h64(b"c" + name.encode() + b"\x00" + str(arr.type).encode()))
            term = mix64(mix64(_value_bits(arr)) ^ tag)
            valid = arr.is_valid().to_numpy(zero_copy_only=False)
            total += np.where(valid, term, np.uint64(0))
    return mix64(total ^ np.uint64(0x76686173685F7631))


def bucket_of(time_ns: int) -> int:
    """The tile time bucket a timestamp falls in."""
    return time_ns // TILE_BUCKET_NS


def with_key_columns(
    table: pa.Table, dimension_columns: Sequence[str], measure_columns: Sequence[str], versions: pa.Array,
    range_column: str | None = None,
) -> tuple[pa.Table, npt.NDArray[np.uint64]]:
    """Add ts_series, ts_version and ts_vhash to a layout table; also return each row's range hash.

    The range hash is ``dimension_hash`` over every dimension, or, with ``range_column`` (the table's
    partition key: a dimension or ``measure_name``), over that one column (``single_pair_hashes``). The
    series hash always covers every dimension and the measure name.
    """
    pairs = _pair_sums(table, dimension_columns)
    if range_column is None:
        dim_hash = mix_dimension_sums(pairs)
    else:
        keyed = range_column == MEASURE_NAME or range_column in dimension_columns
        dim_hash = single_pair_hashes(range_column, table.column(range_column) if keyed else None, table.num_rows)
    names = hash_each(_as_string(table.column(MEASURE_NAME)), b"m")
    series = mix64(mix64(pairs ^ _SERIES_SALT) ^ names)
    out = table.append_column(SERIES, pa.array(series, pa.uint64()))
    out = out.append_column(VERSION, versions.cast(pa.int64()))
    out = out.append_column(VALUE_HASH, pa.array(value_hashes(table, measure_columns), pa.uint64()))
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


def select_star_order(columns: Iterable[Any]) -> list[str]:
    """A table's columns as ``SELECT *`` and ``DESCRIBE`` list them, as Timestream does: the dimensions,
    ``measure_name``, ``time``, then the measure columns (multi-measure attributes and
    ``measure_value::<type>``), each group by name."""
    columns = list(columns)
    dimensions = {c.name for c in columns if c.kind == "DIMENSION"}
    stored = sorted(name for name, _ in stored_columns(columns))
    return ([n for n in stored if n in dimensions] + [MEASURE_NAME, TIME]
            + [n for n in stored if n not in dimensions])


SINGLE_MEASURE_KEY = f"{MEASURE_NAME}::"


def schema_key(kind: str, name: str) -> str:
    """A column's key in a table's schema (the catalog, column claims, validation).

    Dimensions and multi-measure attributes are columns: their key is their name, one namespace. A
    single-measure name is not a column but a value of ``measure_name``, so it has a namespace of its own,
    ``measure_name::<name>``: a multi-measure attribute may take the same name with another type, as in
    Timestream. No column can be called so, since names may not begin with 'measure_name'.
    """
    return SINGLE_MEASURE_KEY + name if kind == "MEASURE" else name


def schema_name(key: str) -> str:
    """The column or measure name a schema key stands for (``schema_key``'s inverse)."""
    return key.removeprefix(SINGLE_MEASURE_KEY)


def column_key(column: Any) -> str:
    """``schema_key`` of anything with ``kind`` and ``name`` (a Column message, a ColumnInfo)."""
    return schema_key(column.kind, column.name)
