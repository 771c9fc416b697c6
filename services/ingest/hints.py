"""Hinted repair: a replica that missed an append (down, paused, throttled, rebuilding) or disagreed with
the majority on one is told which tiles to repair (``RepairTiles``) as soon as it answers, instead of
waiting for anti-entropy to find the difference. The replica pulls the rows from its peers and resolves
them with the one rule, so a hint carries no data and is safe to repeat; hints live in this ingest node's
memory only (a restart loses them and anti-entropy remains the backstop)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable

import structlog

from services.storage.client import StoragePool
from tessera import errors
from tessera.v1 import common_pb2, storage_pb2

log = structlog.get_logger()
MAX_TILES_PER_NODE = 10_000
"""Hints kept per replica; beyond, the oldest go (anti-entropy covers them)."""


class RepairHints:
    """Pending hints by replica, sent every ``interval_s`` until the replica takes them."""

    def __init__(self, pool: StoragePool, interval_s: float = 1.0, timeout_s: float = 20.0,
                 members: Callable[[], Iterable[str]] | None = None) -> None:
        self._pool = pool
        self._members = members
        """The cell's storage node ids: hints for a node no longer among them (removed) are dropped."""
        self._interval = interval_s
        self._timeout = timeout_s
        self._pending: dict[str, tuple[common_pb2.NodeInfo, dict[tuple[str, int, int], None]]] = {}
        self._task: asyncio.Task[None] | None = None

    def add(self, node: common_pb2.NodeInfo, tile: storage_pb2.TileId) -> None:
        """Remember that ``node`` should repair ``tile``."""
        _, tiles = self._pending.setdefault(node.node_id, (node, {}))
        tiles[(tile.table_id, tile.range_lo, tile.bucket)] = None
        while len(tiles) > MAX_TILES_PER_NODE:
            del tiles[next(iter(tiles))]

    def pending(self) -> int:
        """Tiles waiting to be repaired, over every replica."""
        return sum(len(t) for _, t in self._pending.values())

    def start(self) -> None:
        self._task = asyncio.create_task(self._forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.send_once()

    async def send_once(self) -> None:
        """Send every replica its hints (replicas in parallel, one request per table); keep what a replica
        could not take or left undecided; drop those of nodes removed from the cell."""
        members = set(self._members()) if self._members is not None else set()
        for node_id in [n for n in self._pending if members and n not in members]:
            del self._pending[node_id]
        await asyncio.gather(*(self._send(node_id) for node_id in list(self._pending)))

    async def _send(self, node_id: str) -> None:
        node, tiles = self._pending[node_id]
        by_table: dict[str, list[storage_pb2.TileId]] = {}
        for table_id, range_lo, bucket in list(tiles):
            by_table.setdefault(table_id, []).append(
                storage_pb2.TileId(table_id=table_id, range_lo=range_lo, bucket=bucket))
        for table_id, ids in by_table.items():
            try:
                got = await self._pool.get(node.address).repair_tiles(
                    storage_pb2.RepairTilesRequest(table_id=table_id, tiles=ids), self._timeout)
            except errors.TesseraError as exc:
                log.debug("repair_hint_not_taken", node=node.node_id, tiles=len(ids), error=exc.message[:200])
                return  # down or stuck: the rest waits too
            if got.undecided == 0:
                for t in ids:
                    tiles.pop((t.table_id, t.range_lo, t.bucket), None)
        if not tiles:
            self._pending.pop(node_id, None)
