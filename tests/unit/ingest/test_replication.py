"""The quorum writer over a ring of fake replicas that can be told to fail."""

from __future__ import annotations

import asyncio

import pytest

from services.ingest.replication import QuorumWriter, merge_rejections
from tessera import errors
from tessera.v1 import common_pb2, storage_pb2


class FakeReplicas:
    """prepare(n, happy): n replicas, the first `happy` succeed, the rest fail (or hang)."""

    def __init__(self, n: int, happy: int, hang: bool = False, throttled: int = 0) -> None:
        self.nodes = [common_pb2.NodeInfo(node_id=f"s{i}", zone="abc"[i], address=f"h:{i}") for i in range(n)]
        self.happy = {f"s{i}" for i in range(happy)}
        self.throttled = {f"s{i}" for i in range(happy, happy + throttled)}
        self.hang = hang
        self.calls: list[str] = []

    async def append(self, node: common_pb2.NodeInfo, payload: bytes, timeout_s: float) -> storage_pb2.AppendResponse:
        storage_pb2.AppendRequest.FromString(payload)  # what a replica receives: a serialised request
        self.calls.append(node.node_id)
        if node.node_id in self.happy:
            return storage_pb2.AppendResponse(accepted=1)
        if node.node_id in self.throttled:
            raise errors.Throttled(f"{node.node_id} memory full", retry_after_ms=400 + len(self.calls))
        if self.hang:
            await asyncio.sleep(3600)
        raise errors.Unavailable(f"{node.node_id} is down")


def _write(replicas: FakeReplicas) -> list[storage_pb2.AppendResponse]:
    async def run() -> list[storage_pb2.AppendResponse]:
        writer = QuorumWriter(replicas)
        try:
            return await writer.write(replicas.nodes, storage_pb2.AppendRequest())
        finally:
            await writer.drain(0.1)

    return asyncio.run(run())


def test_a_write_is_acknowledged_when_two_of_three_replicas_are_durable() -> None:
    replicas = FakeReplicas(3, happy=2)
    assert len(_write(replicas)) == 2
    assert sorted(replicas.calls) == ["s0", "s1", "s2"]


def test_a_write_is_acknowledged_without_waiting_for_a_hanging_replica() -> None:
    assert len(_write(FakeReplicas(3, happy=2, hang=True))) == 2


def test_a_write_with_only_one_durable_replica_is_not_acknowledged() -> None:
    with pytest.raises(errors.Unavailable, match="1 of 3 replicas .* are durable, 2 are needed"):
        _write(FakeReplicas(3, happy=1))


def test_rejections_from_the_quorum_are_merged_by_row() -> None:
    a = storage_pb2.AppendResponse(rejected=[common_pb2.RejectedRecord(record_index=1, reason="r1")])
    b = storage_pb2.AppendResponse(rejected=[common_pb2.RejectedRecord(record_index=1, reason="other"),
                                             common_pb2.RejectedRecord(record_index=4, reason="r4")])
    merged = merge_rejections([a, b])
    assert sorted(merged) == [1, 4] and merged[1].reason == "r1"


def test_replicas_over_their_memory_limit_make_the_write_throttled_with_their_retry_hint() -> None:
    with pytest.raises(errors.Throttled, match="over their memory limit") as info:
        _write(FakeReplicas(3, happy=1, throttled=2))
    assert info.value.retry_after_ms >= 400


def test_one_throttled_replica_with_another_down_is_unavailable_not_back_pressure() -> None:
    with pytest.raises(errors.Unavailable):
        _write(FakeReplicas(3, happy=0, throttled=1))
