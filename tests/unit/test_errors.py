"""Domain errors survive the trip through a gRPC status and come back as the same type."""

from __future__ import annotations

import grpc

from tessera import errors
from tessera.v1 import common_pb2


def _round_trip(err: errors.TesseraError) -> errors.TesseraError:
    code, message, metadata = errors.to_status(err)
    detail = common_pb2.ErrorDetail.FromString(metadata[0][1])
    return errors.from_detail(code, message, detail)


def test_each_error_maps_to_its_grpc_code_and_back() -> None:
    cases = [(errors.ValidationError("x"), grpc.StatusCode.INVALID_ARGUMENT),
             (errors.NotFound("x"), grpc.StatusCode.NOT_FOUND), (errors.Conflict("x"), grpc.StatusCode.ALREADY_EXISTS),
             (errors.Throttled("x"), grpc.StatusCode.RESOURCE_EXHAUSTED),
             (errors.Unavailable("x"), grpc.StatusCode.UNAVAILABLE)]
    for err, code in cases:
        assert errors.to_status(err)[0] == code
        back = _round_trip(err)
        assert type(back) is type(err) and back.message == "x"


def test_a_stale_route_carries_the_current_epoch() -> None:
    back = _round_trip(errors.StaleRoute("moved", epoch=7))
    assert isinstance(back, errors.StaleRoute) and back.epoch == 7


def test_rejected_records_carry_index_reason_and_existing_version() -> None:
    rec = common_pb2.RejectedRecord(record_index=3, reason="lower version", existing_version=9)
    back = _round_trip(errors.RejectedRecords("rejected", [rec]))
    assert isinstance(back, errors.RejectedRecords) and back.rejected_records[0].existing_version == 9


def test_a_status_without_detail_still_maps_by_code() -> None:
    assert isinstance(errors.from_detail(grpc.StatusCode.NOT_FOUND, "gone", None), errors.NotFound)
