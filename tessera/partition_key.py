"""A table's customer-defined partition key (Timestream's ``Schema.CompositePartitionKey``) and the range hash.

Without a partition key a record's range hash (which hash range, hence which cell and tile, it goes to) is
``layout.dimension_hash`` over all its dimensions. With one, it is the same function over one pair only:

- a DIMENSION key named ``k``: ``dimension_hash([(k, value of k)])``;
- a MEASURE key: ``dimension_hash([("measure_name", measure name)])`` (``measure_name`` is a reserved name,
  so no dimension can collide with it);
- a record lacking the key (or with an empty value): ``dimension_hash([])`` = ``layout.ABSENT_KEY_HASH``.

So every record with one key value lands in one range, and a query pinning the key to a few values reads
only their ranges. The series hash (``ts_series``, the dedup key) is not affected: it always covers every
dimension and the measure name. Every place that computes a range hash goes through this module (the SDK
row by row and column-wise, the ingest node's ownership check, the storage layout, query pruning).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from tessera import layout
from tessera.v1 import common_pb2

DIMENSION = "DIMENSION"
MEASURE = "MEASURE"
REQUIRED = "REQUIRED"
OPTIONAL = "OPTIONAL"
TYPES = (DIMENSION, MEASURE)
ENFORCEMENTS = (REQUIRED, OPTIONAL)


@dataclass(frozen=True)
class PartitionKey:
    """One partition key, as the catalog stores it."""

    type: str
    """DIMENSION or MEASURE."""
    name: str = ""
    """The dimension's name (DIMENSION keys); empty for MEASURE keys."""
    enforcement: str = ""
    """REQUIRED, OPTIONAL, or "" when the creator left it out (behaves as OPTIONAL)."""

    @property
    def column(self) -> str:
        """The stored column the range hash is taken over: the dimension, or ``measure_name``."""
        return self.name if self.type == DIMENSION else layout.MEASURE_NAME

    @property
    def required_dimension(self) -> str | None:
        """The dimension every record must carry, when enforcement is REQUIRED (a MEASURE key requires
        nothing more: every record has a measure name)."""
        return self.name if self.type == DIMENSION and self.enforcement == REQUIRED else None

    def hash_of(self, value: str | None) -> int:
        """The range hash of a record whose key value is ``value`` (None or "" = the record lacks it)."""
        return layout.dimension_hash([(self.column, value)] if value else [])

    def to_proto(self) -> common_pb2.PartitionKey:
        """The protobuf (Timestream) form."""
        return common_pb2.PartitionKey(type=self.type, name=self.name, enforcement_in_record=self.enforcement)


def from_proto(key: common_pb2.PartitionKey) -> PartitionKey:
    """The key a protobuf message describes (as stored: validated by the catalog)."""
    return PartitionKey(type=key.type, name=key.name, enforcement=key.enforcement_in_record)


def of_route(route: common_pb2.TableRoute) -> PartitionKey | None:
    """The partition key of a routed table, or None when it has none."""
    return from_proto(route.partition_key) if route.HasField("partition_key") else None


def record_hash(key: PartitionKey, record: common_pb2.Record, common: common_pb2.Record | None) -> int:
    """The range hash of one Record under ``key`` (CommonAttributes fill what the record leaves out)."""
    if key.type == MEASURE:
        name = record.measure_name or (common.measure_name if common is not None else "")
        return key.hash_of(name)
    dims: Iterable[common_pb2.Dimension] = record.dimensions
    if common is not None:
        dims = [*record.dimensions, *common.dimensions]
    # Summing over every pair with the key's name (a valid record has at most one) matches record_hashes.
    return layout.dimension_hash([(d.name, d.value) for d in dims if d.name == key.name and d.value])


def record_hashes(key: PartitionKey, offsets: npt.NDArray[np.int64], dimension_names: pa.Array,
                  dimension_values: pa.Array, measure_names: pa.Array,
                  common: common_pb2.Record | None) -> npt.NDArray[np.uint64]:
    """``record_hash`` of every record in column form, vectorised.

    ``offsets`` (n + 1) delimit each record's items in the flattened ``dimension_names``/``values``;
    ``measure_names`` has one entry per record (NULL = absent).
    """
    n = len(offsets) - 1
    if key.type == MEASURE:
        names = measure_names
        fallback = common.measure_name if common is not None else ""
        if fallback:
            empty = pc.fill_null(pc.equal(pc.utf8_length(names), 0), True)
            names = pc.if_else(empty, pa.scalar(fallback), names)
        return layout.single_pair_hashes(layout.MEASURE_NAME, names, n)
    matched = pc.fill_null(pc.equal(dimension_names, pa.scalar(key.name)), False)
    present = pc.and_(matched, pc.fill_null(pc.greater(pc.utf8_length(dimension_values), 0), False))
    pair = layout.hash_each(dimension_values, b"p" + key.name.encode() + b"\x00")
    pair = np.where(present.to_numpy(zero_copy_only=False), pair, np.uint64(0))
    with np.errstate(over="ignore"):
        running = np.zeros(len(pair) + 1, dtype=np.uint64)
        np.cumsum(pair, out=running[1:])
        sums = running[offsets[1:]] - running[offsets[:-1]]  # wrapping sums, per record
        if common is not None:
            sums += np.uint64(layout.pair_sum((d.name, d.value) for d in common.dimensions
                                              if d.name == key.name and d.value))
    return layout.mix_dimension_sums(sums)


def column_hashes(key: PartitionKey, data: pa.Table, dimension_columns: Iterable[str],
                  measure_names: pa.Array | None) -> npt.NDArray[np.uint64]:
    """The range hash of every row of a columnar (WriteBatch) table: ``measure_names`` is each row's measure
    name (MEASURE keys); a DIMENSION key absent from ``dimension_columns`` is absent from every row."""
    if key.type == MEASURE:
        return layout.single_pair_hashes(layout.MEASURE_NAME, measure_names, data.num_rows)
    values = data.column(key.name) if key.name in set(dimension_columns) else None
    return layout.single_pair_hashes(key.name, values, data.num_rows)


def missing_reason(label: str, dimension: str) -> str:
    """Why a record lacking a REQUIRED partition-key dimension is rejected (``label`` names the record)."""
    return (f"{label} does not have the dimension '{dimension}', the table's partition key, which is REQUIRED in "
            "every record (Schema.CompositePartitionKey[0].EnforcementInRecord)")
