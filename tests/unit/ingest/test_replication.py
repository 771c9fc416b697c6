"""The quorum writer over a ring of fake replicas that can be told to fail."""

from __future__ import annotations

import asyncio

import pytest

from services.ingest.replication import QuorumWriter, majority_rejections
from tessera import errors
from tessera.v1 import common_pb2, storage_pb2


class FakeReplicas:
    """prepare(n, happy): n replicas, the first `happy` succeed, the rest fail (or hang)."""

    def __init__(self, n: int, happy: int, hang: bool = False, throttled: int = 0,
                 rejects: dict[str, list[int]] | None = None, deleted: int = 0) -> None:
        self.nodes = [common_pb2.NodeInfo(node_id=f"s{i}", zone="abc"[i], address=f"h:{i}") for i in range(n)]
        self.happy = {f"s{i}" for i in range(happy)}
        self.throttled = {f"s{i}" for i in range(happy, happy + throttled)}
        self.deleted = {f"s{i}" for i in range(happy + throttled, happy + throttled + deleted)}
        self.hang = hang
        self.rejects = rejects or {}  # node id -> rows it rejects
        self.calls: list[str] = []

    async def append(self, node: common_pb2.NodeInfo, payload: bytes, timeout_s: float) -> storage_pb2.AppendResponse:
        storage_pb2.AppendRequest.FromString(payload)  # what a replica receives: a serialised request
        self.calls.append(node.node_id)
        if node.node_id in self.happy:
            rejected = [common_pb2.RejectedRecord(record_index=i, reason=f"{node.node_id} holds another value")
                        for i in self.rejects.get(node.node_id, [])]
            return storage_pb2.AppendResponse(accepted=1, rejected=rejected)
        if node.node_id in self.throttled:
            raise errors.Throttled(f"{node.node_id} memory full", retry_after_ms=400 + len(self.calls))
        if node.node_id in self.deleted:
            raise errors.NotFound(f"cannot append to tile: table was deleted (said {node.node_id})")
        if self.hang:
            await asyncio.sleep(3600)
        raise errors.Unavailable(f"{node.node_id} is down")


def _write(replicas: FakeReplicas) -> dict[int, common_pb2.RejectedRecord]:
    async def run() -> dict[int, common_pb2.RejectedRecord]:
        writer = QuorumWriter(replicas)
        try:
            return await writer.write(replicas.nodes, storage_pb2.AppendRequest())
        finally:
            await writer.drain(0.1)

    return asyncio.run(run())


def test_a_write_is_acknowledged_when_two_of_three_replicas_are_durable() -> None:
    replicas = FakeReplicas(3, happy=2)
    assert _write(replicas) == {}
    assert sorted(replicas.calls) == ["s0", "s1", "s2"]


def test_a_write_is_acknowledged_without_waiting_for_a_hanging_replica() -> None:
    assert _write(FakeReplicas(3, happy=2, hang=True)) == {}


def test_a_write_with_only_one_durable_replica_is_not_acknowledged() -> None:
    with pytest.raises(errors.Unavailable, match="1 of 3 replicas .* are durable, 2 are needed"):
        _write(FakeReplicas(3, happy=1))


def test_a_row_is_rejected_only_when_most_answering_replicas_reject_it() -> None:
    a = storage_pb2.AppendResponse(rejected=[common_pb2.RejectedRecord(record_index=1, reason="r1")])
    b = storage_pb2.AppendResponse(rejected=[common_pb2.RejectedRecord(record_index=1, reason="other"),
                                             common_pb2.RejectedRecord(record_index=4, reason="r4")])
    c = storage_pb2.AppendResponse()
    rejected, tied = majority_rejections([a, b, c])
    assert sorted(rejected) == [1] and rejected[1].reason == "r1" and tied == []
    assert majority_rejections([a, b]) == ({1: a.rejected[0]}, [4])


def test_when_two_replicas_disagree_on_a_row_the_third_decides() -> None:
    # s0 missed an acknowledged write: it rejects the client's exact retry (it stored a conflicting value
    # meanwhile) while s1 and s2 accept it as a duplicate. The retry is acknowledged, not rejected.
    replicas = FakeReplicas(3, happy=3, rejects={"s0": [2]})
    assert _write(replicas) == {}
    # And a conflicting write that only the lagging replica accepts is rejected.
    replicas = FakeReplicas(3, happy=3, rejects={"s1": [0], "s2": [0]})
    assert sorted(_write(replicas)) == [0]


def test_a_tie_between_the_only_two_answering_replicas_is_unavailable_not_decided_by_one_vote() -> None:
    with pytest.raises(errors.Unavailable, match="disagree on 1 rows"):
        _write(FakeReplicas(3, happy=2, rejects={"s0": [5]}))


def test_replicas_over_their_memory_limit_make_the_write_throttled_with_their_retry_hint() -> None:
    with pytest.raises(errors.Throttled, match="over their memory limit") as info:
        _write(FakeReplicas(3, happy=1, throttled=2))
    assert info.value.retry_after_ms >= 400


def test_one_throttled_replica_with_another_down_is_unavailable_not_back_pressure() -> None:
    with pytest.raises(errors.Unavailable):
        _write(FakeReplicas(3, happy=0, throttled=1))


class Hints:
    def __init__(self) -> None:
        self.nodes: list[str] = []

    def add(self, node: common_pb2.NodeInfo, tile: storage_pb2.TileId) -> None:
        self.nodes.append(node.node_id)


def _write_hinted(replicas: FakeReplicas) -> tuple[dict[int, common_pb2.RejectedRecord], list[str]]:
    hints = Hints()

    async def run() -> dict[int, common_pb2.RejectedRecord]:
        writer = QuorumWriter(replicas, hints=hints)  # type: ignore[arg-type]
        try:
            return await writer.write(replicas.nodes, storage_pb2.AppendRequest())
        finally:
            await writer.drain(0.5)

    return asyncio.run(run()), sorted(hints.nodes)


def test_replicas_that_missed_the_append_or_disagreed_with_the_majority_get_a_repair_hint() -> None:
    assert _write_hinted(FakeReplicas(3, happy=3)) == ({}, [])
    assert _write_hinted(FakeReplicas(3, happy=2)) == ({}, ["s2"])  # down: repairs once it answers
    rejected, hinted = _write_hinted(FakeReplicas(3, happy=3, rejects={"s1": [0], "s2": [0]}))
    assert sorted(rejected) == [0] and hinted == ["s0"]  # it stored a value the others refused
    assert _write_hinted(FakeReplicas(3, happy=2, throttled=1)) == ({}, [])  # up, at its memory limit


def test_replicas_that_say_the_table_was_deleted_make_the_write_not_found_without_repair_hints() -> None:
    """The writer's route named a deleted table (its name now names a new one): NotFound tells the ingest
    node to look the route up again, and nothing in a deleted table is repaired."""
    with pytest.raises(errors.NotFound, match="table was deleted"):
        _write_hinted(FakeReplicas(3, happy=0, deleted=3))
    with pytest.raises(errors.NotFound):
        _write_hinted(FakeReplicas(3, happy=1, deleted=2))
    assert _write_hinted(FakeReplicas(3, happy=2, deleted=1))[0] == {}  # a quorum stored it: acknowledged
