"""Timestream-shaped records: boto3-style dicts to protobuf, and the routing hash of a record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tessera import errors, layout, partition_key
from tessera.v1 import common_pb2

RecordLike = Mapping[str, Any] | common_pb2.Record


def to_record(item: RecordLike, where: str = "Records") -> common_pb2.Record:
    """A Record from a boto3-shaped dict (Dimensions, MeasureName, MeasureValue, MeasureValueType,
    MeasureValues, Time, TimeUnit, Version) or a Record message as is."""
    if isinstance(item, common_pb2.Record):
        return item
    known = {"Dimensions", "MeasureName", "MeasureValue", "MeasureValueType", "MeasureValues", "Time", "TimeUnit",
             "Version"}
    unknown = set(item) - known
    if unknown:
        raise errors.ValidationError(f"{where} has unknown fields {sorted(unknown)}; expected {sorted(known)}")
    rec = common_pb2.Record(
        dimensions=[common_pb2.Dimension(name=d["Name"], value=d["Value"],
                                         dimension_value_type=d.get("DimensionValueType", ""))
                    for d in item.get("Dimensions", [])],
        measure_name=item.get("MeasureName", ""), measure_value=item.get("MeasureValue", ""),
        measure_value_type=item.get("MeasureValueType", ""), time=str(item.get("Time", "")),
        time_unit=item.get("TimeUnit", ""),
        measure_values=[common_pb2.MeasureValue(name=m["Name"], value=m["Value"], type=m["Type"])
                        for m in item.get("MeasureValues", [])])
    if "Version" in item:
        rec.version = int(item["Version"])
    return rec


def routing_hash(record: common_pb2.Record, common: common_pb2.Record | None,
                 key: partition_key.PartitionKey | None = None) -> int:
    """The range hash the record is routed by: over its own dimensions plus the common ones, or, when the
    table has a partition key, over that key only (``tessera.partition_key``)."""
    if key is not None:
        return partition_key.record_hash(key, record, common)
    dims = [(d.name, d.value) for d in record.dimensions]
    if common is not None:
        dims += [(d.name, d.value) for d in common.dimensions]
    return layout.dimension_hash(dims)
