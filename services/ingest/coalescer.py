"""Concurrent writes to one tile become one quorum append.

While a tile's append is in flight, later writes to it queue; when it finishes, everything queued goes out
as the next append. Nothing waits on a timer: a lone write is sent at once, and under load many small
writes (100-record WriteRecords requests, many devices) share one append on every replica instead of
paying its fixed cost each. Rows keep their order (queue order, then row order), so the dedup rule sees
exactly what it would see were the writes appended one after another.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from services.ingest.replication import QuorumWriter
from tessera import arrowipc
from tessera.v1 import common_pb2, storage_pb2

MAX_ROWS_PER_APPEND = 100_000  # bounds one append's size; the rest waits for the next


@dataclass
class _Waiting:
    rows: pa.Table
    done: asyncio.Future[dict[int, common_pb2.RejectedRecord]]


@dataclass
class _TileQueue:
    waiting: list[_Waiting] = field(default_factory=list)
    busy: bool = False


class AppendCoalescer:
    """Per-tile queues in front of the quorum writer."""

    def __init__(self, quorum: QuorumWriter) -> None:
        self._quorum = quorum
        self._tiles: dict[tuple[str, int, int], _TileQueue] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def append(self, tile: storage_pb2.TileId, replicas: Sequence[common_pb2.NodeInfo], rows: pa.Table
                     ) -> dict[int, common_pb2.RejectedRecord]:
        """Rows rejected by the replicas, by row index of ``rows``; raises what the quorum write raised."""
        key = (tile.table_id, tile.range_lo, tile.bucket)
        queue = self._tiles.setdefault(key, _TileQueue())
        waiting = _Waiting(rows, asyncio.get_running_loop().create_future())
        queue.waiting.append(waiting)
        if not queue.busy:
            queue.busy = True
            task = asyncio.create_task(self._drain(key, queue, tile, list(replicas)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await waiting.done

    async def _drain(self, key: tuple[str, int, int], queue: _TileQueue, tile: storage_pb2.TileId,
                     replicas: list[common_pb2.NodeInfo]) -> None:
        try:
            while queue.waiting:
                batch: list[_Waiting] = []
                total = 0
                while queue.waiting and (not batch or total + queue.waiting[0].rows.num_rows <= MAX_ROWS_PER_APPEND):
                    batch.append(queue.waiting.pop(0))
                    total += batch[-1].rows.num_rows
                await self._send(tile, replicas, batch)
        except asyncio.CancelledError:  # shutting down: nobody may wait forever
            for w in queue.waiting:
                w.done.cancel()
            queue.waiting.clear()
            raise
        finally:
            queue.busy = False
            if not queue.waiting:
                self._tiles.pop(key, None)

    async def _send(self, tile: storage_pb2.TileId, replicas: list[common_pb2.NodeInfo], batch: list[_Waiting]
                    ) -> None:
        rows = batch[0].rows if len(batch) == 1 else pa.concat_tables([w.rows for w in batch],
                                                                      promote_options="default")
        request = storage_pb2.AppendRequest(tile=tile, arrow_ipc=arrowipc.for_storage(rows))
        try:
            rejected = await self._quorum.write(replicas, request)
        except asyncio.CancelledError:
            for w in batch:
                w.done.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - the append's writers share its fate: each gets the error
            for w in batch:
                if not w.done.done():
                    w.done.set_exception(exc)
            return
        start = 0
        for w in batch:
            end = start + w.rows.num_rows
            mine = {i - start: rec for i, rec in rejected.items() if start <= i < end}
            for i, rec in mine.items():
                rec.record_index = i
            if not w.done.done():
                w.done.set_result(mine)
            start = end
