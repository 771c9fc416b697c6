"""Tessera errors as AWS errors: the class's own name and status, changed only where the operation does."""

from __future__ import annotations

import pytest

from services.gateway import model
from services.gateway.protocol import api_error
from tessera import errors
from tessera.v1 import common_pb2


@pytest.mark.parametrize("operation, error, status, name", [
    ("CreateTable", errors.ValidationError("bad"), 400, "ValidationException"),
    ("DescribeTable", errors.NotFound("gone"), 400, "ResourceNotFoundException"),
    ("Query", errors.NotFound("gone"), 400, "ValidationException"),
    ("CreateDatabase", errors.Conflict("exists"), 400, "ConflictException"),
    ("DeleteDatabase", errors.FailedPrecondition("has tables"), 400, "ValidationException"),
    ("WriteRecords", errors.StaleRoute("moved", 3), 500, "InternalServerException"),
    ("WriteRecords", errors.Throttled("memory", retry_after_ms=200), 400, "ThrottlingException"),
    ("CreateDatabase", errors.Throttled("500 databases"), 400, "ServiceQuotaExceededException"),
    ("Query", errors.Throttled("query memory"), 400, "QueryExecutionException"),
    ("WriteRecords", errors.Unavailable("cell down"), 500, "InternalServerException"),
    ("WriteRecords", errors.DeadlineExceeded("slow"), 500, "InternalServerException"),
    ("Query", errors.DeadlineExceeded("60 s"), 400, "QueryExecutionException"),
    ("Query", errors.Cancelled("cancelled"), 400, "QueryExecutionException"),
    ("ListDatabases", errors.InternalError("bug"), 500, "InternalServerException"),
    ("ListDatabases", model.SerializationError("not a number"), 400, "SerializationException"),
])
def test_each_error_maps_to_its_aws_exception(operation: str, error: errors.TesseraError, status: int,
                                              name: str) -> None:
    mapped = api_error(operation, error)
    assert (mapped.status, mapped.code, mapped.message) == (status, name, error.message)


def test_rejected_records_carry_their_members_at_the_top_level() -> None:
    rejected = [common_pb2.RejectedRecord(record_index=2, reason="dup", existing_version=4),
                common_pb2.RejectedRecord(record_index=5, reason="bad value")]
    mapped = api_error("WriteRecords", errors.RejectedRecords("some rejected", rejected))
    assert (mapped.status, mapped.code) == (419, "RejectedRecordsException")
    assert mapped.members == {"RejectedRecords": [{"RecordIndex": 2, "Reason": "dup", "ExistingVersion": 4},
                                                  {"RecordIndex": 5, "Reason": "bad value"}]}
