"""Hinted repair: hints are sent until taken, and those of a node removed from the cell are dropped."""

from __future__ import annotations

import asyncio
from typing import Any

from services.ingest.hints import RepairHints
from tessera.v1 import common_pb2, storage_pb2


class _Replica:
    def __init__(self, sent: list[str], address: str) -> None:
        self._sent, self._address = sent, address

    async def repair_tiles(self, request: storage_pb2.RepairTilesRequest, timeout_s: float
                           ) -> storage_pb2.RepairTilesResponse:
        self._sent.append(self._address)
        return storage_pb2.RepairTilesResponse(undecided=0)


class _Pool:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def get(self, address: str) -> _Replica:
        return _Replica(self.sent, address)


def test_hints_are_sent_until_taken_and_a_removed_nodes_hints_are_dropped() -> None:
    pool = _Pool()
    members = ["a"]
    hints = RepairHints(pool, members=lambda: members)  # type: ignore[arg-type]
    tile = storage_pb2.TileId(table_id="t", range_lo=0, bucket=5)
    for name in ("a", "b"):
        hints.add(common_pb2.NodeInfo(node_id=name, address=f"{name}:1"), tile)
    assert hints.pending() == 2

    async def run() -> Any:
        await hints.send_once()

    asyncio.run(run())
    assert pool.sent == ["a:1"] and hints.pending() == 0  # b is no longer a member: its hint went unsent
