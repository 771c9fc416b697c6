"""Timestream-shaped records as Arrow columns: the SDK's wire form of WriteRecords (``records_arrow``).

Each row is one boto3-shaped record, field for field (``Dimensions``, ``MeasureName``, ``MeasureValue``,
``MeasureValueType``, ``MeasureValues``, ``Time``, ``TimeUnit``, ``Version``), so a request means exactly
what the same records sent as protobuf ``Record`` messages mean: the same rules, the same rejection reasons,
the same indexes. A NULL string or list is an absent field (protobuf's ""/empty); a NULL version is no version.

Encoding the dicts is one call into Arrow's C++ converter; routing hashes are computed column-wise. Both
ends spend a few microseconds a record instead of a Python call per field.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from tessera import arrowipc, errors, layout, partition_key
from tessera.v1 import common_pb2

_DIMENSION = pa.struct([("Name", pa.string()), ("Value", pa.string()), ("DimensionValueType", pa.string())])
_MEASURE_VALUE = pa.struct([("Name", pa.string()), ("Value", pa.string()), ("Type", pa.string())])
RECORD_TYPE = pa.struct([
    ("Dimensions", pa.list_(_DIMENSION)),
    ("MeasureName", pa.string()),
    ("MeasureValue", pa.string()),
    ("MeasureValueType", pa.string()),
    ("MeasureValues", pa.list_(_MEASURE_VALUE)),
    ("Time", pa.string()),
    ("TimeUnit", pa.string()),
    ("Version", pa.int64()),
])
RECORDS_SCHEMA = pa.schema(list(RECORD_TYPE))
_FIELDS = frozenset(RECORDS_SCHEMA.names)
_REQUIRED_IN_LISTS = (("Dimensions", ("Name", "Value")), ("MeasureValues", ("Name", "Value", "Type")))


def encode(records: Sequence[Any]) -> pa.RecordBatch | None:
    """The records as one batch, or None when a record is not a plain boto3 dict of strings (a protobuf
    Record, an integer Time, a missing Name, an unknown key ...): the caller then takes the per-record path,
    which explains the problem."""
    if not all(isinstance(r, dict) and r.keys() <= _FIELDS for r in records):
        return None
    try:
        struct = pa.array(records, type=RECORD_TYPE)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        return None
    batch = pa.RecordBatch.from_struct_array(struct)
    for column, required in _REQUIRED_IN_LISTS:
        _, items = list_parts(batch.column(column))
        if any(items[name].null_count for name in required):
            return None
    return batch


def to_ipc(batch: pa.RecordBatch) -> bytes:
    """The batch as the bytes of ``WriteRecordsRequest.records_arrow``."""
    return arrowipc.to_ipc(pa.Table.from_batches([batch]))


def decode(data: bytes) -> pa.RecordBatch:
    """``records_arrow`` bytes as one batch in RECORDS_SCHEMA, or ValidationError naming what is off."""
    table = arrowipc.from_ipc(data, "records_arrow")
    if not table.schema.equals(RECORDS_SCHEMA):
        raise errors.ValidationError(
            f"records_arrow has schema {table.schema.to_string(show_schema_metadata=False)!r}; "
            f"it must be {RECORDS_SCHEMA.to_string()!r} (one row per record, boto3 field names)")
    return table.combine_chunks().to_batches()[0] if table.num_rows else RECORDS_SCHEMA.empty_table().to_batches()[0]


def to_records(batch: pa.RecordBatch) -> list[common_pb2.Record]:
    """The rows as Record messages, for the per-record validator (NULL = absent; a NULL list item is an
    item whose fields are all absent, which the validator then rejects by name)."""
    out = []
    for row in batch.to_pylist():
        dims = [d or {} for d in row["Dimensions"] or ()]
        values = [m or {} for m in row["MeasureValues"] or ()]
        rec = common_pb2.Record(
            dimensions=[common_pb2.Dimension(name=d.get("Name") or "", value=d.get("Value") or "",
                                             dimension_value_type=d.get("DimensionValueType") or "") for d in dims],
            measure_values=[common_pb2.MeasureValue(name=m.get("Name") or "", value=m.get("Value") or "",
                                                    type=m.get("Type") or "") for m in values],
            measure_name=row["MeasureName"] or "", measure_value=row["MeasureValue"] or "",
            measure_value_type=row["MeasureValueType"] or "", time=row["Time"] or "", time_unit=row["TimeUnit"] or "")
        if row["Version"] is not None:
            rec.version = row["Version"]
        out.append(rec)
    return out


def list_parts(column: pa.Array) -> tuple[npt.NDArray[np.int64], dict[str, pa.Array]]:
    """Offsets (n + 1, from 0) and, by field, the flattened items of a list-of-struct column; a NULL list
    has no items and a NULL item has NULL fields."""
    lengths = pc.list_value_length(column).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    offsets = np.zeros(len(column) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    items = pc.list_flatten(column)
    return offsets, {f.name: a for f, a in zip(items.type, items.flatten())}


def routing_hashes(batch: pa.RecordBatch, common: common_pb2.Record | None,
                   key: partition_key.PartitionKey | None = None) -> npt.NDArray[np.uint64]:
    """Per record, ``layout.dimension_hash`` of its dimensions plus the common ones, column-wise; with a
    partition key, the key's range hash instead (equal to ``records.routing_hash`` record by record)."""
    offsets, dims = list_parts(batch.column("Dimensions"))
    if key is not None:
        return partition_key.record_hashes(key, offsets, dims["Name"], dims["Value"], batch.column("MeasureName"),
                                           common)
    pairs = pc.binary_join_element_wise(dims["Name"], dims["Value"], "\x00")
    pair_hash = layout.hash_each(pairs, b"p")
    with np.errstate(over="ignore"):
        running = np.zeros(len(pair_hash) + 1, dtype=np.uint64)
        np.cumsum(pair_hash, out=running[1:])
        sums = running[offsets[1:]] - running[offsets[:-1]]  # wrapping sums, per record
        if common is not None and common.dimensions:
            sums += np.uint64(layout.pair_sum((d.name, d.value) for d in common.dimensions))
    return layout.mix_dimension_sums(sums)
