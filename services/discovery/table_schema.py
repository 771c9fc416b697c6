"""A table's Schema (Timestream's ``Schema.CompositePartitionKey``): validation, storage and echo.

The key is kept in the table document as ``"partition_key": {"type", "name", "enforcement"}``, exactly as
sent, and only for tables created with one (documents of other tables are unchanged). Its type and name are
fixed at creation, because they decide which range every stored row is in; UpdateTable may change only
``EnforcementInRecord``, as in Timestream, which leaves every stored row where it is.
"""

from __future__ import annotations

from typing import Any

from tessera import errors, limits, partition_key, validation
from tessera.v1 import catalog_pb2

FIELD = "Schema.CompositePartitionKey"


def validated(schema: catalog_pb2.Schema) -> dict[str, str]:
    """The stored form of a Schema's partition key, validated as Timestream does: exactly one entry, a
    DIMENSION key naming a valid dimension or a MEASURE key naming nothing, enforcement REQUIRED or OPTIONAL."""
    entries = schema.composite_partition_key
    if len(entries) != 1:
        raise errors.ValidationError(
            f"{FIELD} must hold exactly 1 partition key; it has {len(entries)} (a table is partitioned by one "
            "dimension or by measure_name)")
    key = entries[0]
    field = f"{FIELD}[0]"
    if key.type not in partition_key.TYPES:
        raise errors.ValidationError(f"{field}.Type '{key.type}' is invalid: expected one of "
                                     f"{', '.join(partition_key.TYPES)}")
    if key.type == partition_key.DIMENSION:
        if not key.name:
            raise errors.ValidationError(f"{field}.Name is required for a DIMENSION partition key")
        problem = validation.name_problem(key.name, limits.DIMENSION_NAME_MAX_BYTES)
        if problem:
            raise errors.ValidationError(f"{field}.Name '{key.name}' is not a valid dimension name: {problem}")
    elif key.name:
        raise errors.ValidationError(f"{field}.Name '{key.name}' must be empty for a MEASURE partition key: it "
                                     "partitions by measure_name")
    if key.enforcement_in_record and key.enforcement_in_record not in partition_key.ENFORCEMENTS:
        raise errors.ValidationError(f"{field}.EnforcementInRecord '{key.enforcement_in_record}' is invalid: "
                                     f"expected one of {', '.join(partition_key.ENFORCEMENTS)}")
    return {"type": key.type, "name": key.name, "enforcement": key.enforcement_in_record}


def changed_enforcement(current: dict[str, str] | None, schema: catalog_pb2.Schema, table: str) -> dict[str, str]:
    """The stored partition key after an UpdateTable Schema: only its EnforcementInRecord may change."""
    if current is None:
        raise errors.ValidationError(
            f"{FIELD}: table {table} was created without a partition key and one cannot be added later (its "
            "rows are already placed by all their dimensions)")
    wanted = validated(schema)
    if (wanted["type"], wanted["name"]) != (current["type"], current["name"]):
        raise errors.ValidationError(
            f"{FIELD}[0]: the Type and Name of table {table}'s partition key cannot change (it is "
            f"{current['type']} '{current['name']}'); only EnforcementInRecord can")
    return wanted


def stored(doc: dict[str, Any]) -> partition_key.PartitionKey | None:
    """The partition key of a stored table document, or None."""
    key = doc.get("partition_key")
    return None if key is None else partition_key.PartitionKey(key["type"], key["name"], key["enforcement"])


def message(doc: dict[str, Any]) -> catalog_pb2.Schema | None:
    """The Schema a description echoes: the key as it was sent, or None (no Schema) without one."""
    key = stored(doc)
    return None if key is None else catalog_pb2.Schema(composite_partition_key=[key.to_proto()])
