"""Concurrent appends to one tile share one quorum write; results and errors go back to each writer."""

from __future__ import annotations

import asyncio

import pyarrow as pa
import pytest

from services.ingest.coalescer import AppendCoalescer
from services.ingest.replication import QuorumWriter
from tessera import arrowipc, errors
from tessera.v1 import common_pb2, storage_pb2

TILE = storage_pb2.TileId(table_id="t", range_lo=0, bucket=1)
NODES = [common_pb2.NodeInfo(node_id=f"s{i}", zone="abc"[i]) for i in range(3)]


class Replicas:
    """Fake replicas: record each append's rows; reject every row whose value is negative; or fail."""

    def __init__(self, fail: bool = False) -> None:
        self.appends: list[list[int]] = []
        self.fail = fail
        self.gate = asyncio.Event()

    async def append(self, node: common_pb2.NodeInfo, payload: bytes, timeout_s: float) -> storage_pb2.AppendResponse:
        request = storage_pb2.AppendRequest.FromString(payload)
        await self.gate.wait()
        if self.fail:
            raise errors.Unavailable("down")
        values = arrowipc.from_ipc(request.arrow_ipc).column("v").to_pylist()
        if node.node_id == "s0":
            self.appends.append(values)
        return storage_pb2.AppendResponse(rejected=[common_pb2.RejectedRecord(record_index=i, reason=f"bad {v}")
                                                    for i, v in enumerate(values) if v < 0])


def _rows(*values: int) -> pa.Table:
    return pa.table({"v": list(values)})


def test_writes_queued_behind_an_append_go_out_together_and_get_their_own_rejections() -> None:
    async def run() -> tuple[list[list[int]], list[dict[int, common_pb2.RejectedRecord]]]:
        replicas = Replicas()
        coalescer = AppendCoalescer(QuorumWriter(replicas))
        first = asyncio.create_task(coalescer.append(TILE, NODES, _rows(1, 2)))
        await asyncio.sleep(0)  # the first append is in flight (held at the gate)
        later = [asyncio.create_task(coalescer.append(TILE, NODES, _rows(*vals))) for vals in ((3, -4), (-5, 6))]
        await asyncio.sleep(0)
        replicas.gate.set()
        results = await asyncio.gather(first, *later)
        return replicas.appends, list(results)

    appends, results = asyncio.run(run())
    assert appends == [[1, 2], [3, -4, -5, 6]]  # the two queued writes shared one append
    assert results[0] == {}
    assert {i: r.reason for i, r in results[1].items()} == {1: "bad -4"}
    assert {i: r.reason for i, r in results[2].items()} == {0: "bad -5"}


def test_a_failed_append_fails_every_write_in_it() -> None:
    async def run() -> None:
        replicas = Replicas(fail=True)
        coalescer = AppendCoalescer(QuorumWriter(replicas))
        tasks = [asyncio.create_task(coalescer.append(TILE, NODES, _rows(i))) for i in range(3)]
        await asyncio.sleep(0)
        replicas.gate.set()
        for t in tasks:
            with pytest.raises(errors.Unavailable):
                await t

    asyncio.run(run())
