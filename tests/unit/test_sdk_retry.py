"""The SDK retries what the servers say is temporary: UNAVAILABLE a few times, RESOURCE_EXHAUSTED (back-pressure)
for as long as a minute and never sooner than the server's retry hint."""

from __future__ import annotations

import time

import pytest

from tessera import client, errors


def flaky(failures: list[errors.TesseraError]) -> tuple[list[float], object]:
    calls: list[float] = []

    def call() -> str:
        calls.append(time.monotonic())
        if failures:
            raise failures.pop(0)
        return "ok"

    return calls, call


def test_a_throttled_call_waits_at_least_the_servers_hint_and_then_succeeds() -> None:
    calls, call = flaky([errors.Throttled("memory full", retry_after_ms=300), errors.Throttled("still", 300)])
    assert client._retrying(2)(call) == "ok"  # two throttles do not use up two Unavailable attempts
    assert len(calls) == 3
    assert calls[1] - calls[0] >= 0.29 and calls[2] - calls[1] >= 0.29


def test_unavailable_is_retried_a_bounded_number_of_times() -> None:
    calls, call = flaky([errors.Unavailable("down")] * 5)
    with pytest.raises(errors.Unavailable):
        client._retrying(3)(call)
    assert len(calls) == 3


def test_the_retry_hint_survives_the_trip_through_grpc_status_details() -> None:
    sent = errors.Throttled("memory full", retry_after_ms=750)
    code, message, metadata = errors.to_status(sent)
    detail = errors.common_pb2.ErrorDetail.FromString(dict(metadata)[errors.DETAIL_METADATA_KEY])
    back = errors.from_detail(code, message, detail)
    assert isinstance(back, errors.Throttled) and back.retry_after_ms == 750


def test_resource_exhausted_without_a_retry_hint_is_not_retried() -> None:
    calls, call = flaky([errors.Throttled("the account may have at most 500 databases")])
    with pytest.raises(errors.Throttled):
        client._retrying(5)(call)
    assert len(calls) == 1


def test_a_conflict_after_a_lost_answer_says_the_create_may_have_been_this_calls_own() -> None:
    answers: list[errors.TesseraError] = [errors.Unavailable("peer stalled"), errors.Conflict("table t exists")]

    def call(fn: object, request: object) -> object:
        raise answers.pop(0)

    with client.Client("127.0.0.1:1") as c:
        c._call = call  # type: ignore[method-assign]
        with pytest.raises(errors.Conflict, match="may have created the table itself"):
            c.create_table("db", "t")
        answers.append(errors.Conflict("table t exists"))
        with pytest.raises(errors.Conflict) as plain:
            c.create_table("db", "t")
        assert "may have created" not in plain.value.message
