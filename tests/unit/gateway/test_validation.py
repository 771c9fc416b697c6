"""Requests checked against botocore's Timestream models, with AWS's messages."""

from __future__ import annotations

import pytest

from services.gateway import model
from tessera import errors


def _refusal(operation: str, params: dict[str, object]) -> str:
    found = model.operation(operation)
    assert found is not None
    with pytest.raises(errors.ValidationError) as info:
        model.validate(found[1], params)
    return info.value.message


def test_operations_resolve_to_their_service() -> None:
    assert model.operation("WriteRecords")[0] == "timestream-write"  # type: ignore[index]
    assert model.operation("Query")[0] == "timestream-query"  # type: ignore[index]
    assert model.operation("DropEverything") is None


def test_missing_members_ranges_and_list_limits_are_each_reported() -> None:
    message = _refusal("WriteRecords", {"DatabaseName": "db", "Records": [{}] * 101})
    assert message.startswith("2 validation errors detected: ")
    assert "Value null at 'tableName' failed to satisfy constraint: Member must not be null" in message
    assert "at 'records' failed to satisfy constraint: Member must have length less than or equal to 100" in message
    assert _refusal("Query", {"QueryString": "SELECT 1", "MaxRows": 1001}) == (
        "1 validation error detected: Value '1001' at 'maxRows' failed to satisfy constraint: Member must have "
        "value less than or equal to 1000")


def test_nested_members_are_named_by_their_path() -> None:
    message = _refusal("WriteRecords", {"DatabaseName": "db", "TableName": "tbl", "Records": [
        {"MeasureValueType": "NUMBER"}]})
    assert "at 'records.1.member.measureValueType' failed to satisfy constraint: Member must satisfy enum value set" \
        in message


def test_a_member_of_the_wrong_json_type_is_a_serialization_error() -> None:
    found = model.operation("ListDatabases")
    assert found is not None
    with pytest.raises(model.SerializationError, match="maxResults"):
        model.validate(found[1], {"MaxResults": "10"})
    with pytest.raises(model.SerializationError):
        model.validate(found[1], {"MaxResults": True})


def test_valid_requests_and_unknown_members_pass() -> None:
    found = model.operation("CreateTable")
    assert found is not None
    model.validate(found[1], {"DatabaseName": "db", "TableName": "tbl", "SomethingNew": 1,
                              "RetentionProperties": {"MemoryStoreRetentionPeriodInHours": 6,
                                                      "MagneticStoreRetentionPeriodInDays": 73000}})


def test_numbers_beyond_their_model_type_and_sensitive_values_in_messages() -> None:
    found = model.operation("WriteRecords")
    assert found is not None
    with pytest.raises(model.SerializationError, match="does not fit in a long"):
        model.validate(found[1], {"DatabaseName": "db", "TableName": "tbl", "Records": [{"Version": 2**70}]})
    message = _refusal("Query", {"QueryString": "", "ClientToken": "short"})
    assert "Sensitive Data Redacted" in message and "short" not in message
