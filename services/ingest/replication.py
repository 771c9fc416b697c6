"""Quorum append: send a tile's rows to its three replicas, acknowledge once two have fsynced."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

import structlog

from tessera import errors
from tessera.v1 import common_pb2, storage_pb2

log = structlog.get_logger()
QUORUM = 2


class Appender(Protocol):
    """Sends one serialised AppendRequest to one replica."""

    async def append(self, node: common_pb2.NodeInfo, payload: bytes, timeout_s: float
                     ) -> storage_pb2.AppendResponse: ...


class QuorumWriter:
    """Writes to every replica in parallel; returns when QUORUM replicas acknowledged a durable append.

    The remaining replica's append keeps running in the background; if it fails, the replica has missed
    the write and repair (a later capability) must bring it back.
    """

    def __init__(self, appender: Appender, timeout_s: float = 10.0) -> None:
        self._appender = appender
        self._timeout = timeout_s
        self._background: set[asyncio.Task[storage_pb2.AppendResponse]] = set()

    async def write(self, replicas: Sequence[common_pb2.NodeInfo], request: storage_pb2.AppendRequest
                    ) -> list[storage_pb2.AppendResponse]:
        """The QUORUM responses that made the write durable; Unavailable if fewer replicas succeed."""
        payload = request.SerializeToString()  # once for every replica: it is most of a megabyte
        tasks = {asyncio.create_task(self._appender.append(n, payload, self._timeout)): n for n in replicas}
        acks: list[storage_pb2.AppendResponse] = []
        failures: list[str] = []
        throttled: list[errors.Throttled] = []
        pending = set(tasks)
        try:
            while pending and len(acks) < QUORUM:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    node = tasks[t]
                    if t.exception() is None:
                        acks.append(t.result())
                    else:
                        exc = t.exception()
                        if isinstance(exc, errors.Throttled):
                            throttled.append(exc)
                        failures.append(f"{node.node_id} (zone {node.zone}, {node.address}): {exc}")
                if len(failures) > len(replicas) - QUORUM:
                    break
        finally:
            for t in pending:
                self._background.add(t)
                t.add_done_callback(self._finished)
        if len(acks) < QUORUM and len(acks) + len(throttled) >= QUORUM:
            # Replicas are up but over their memory limit: back-pressure, which the SDK waits out and retries.
            raise errors.Throttled(
                f"write not acknowledged: {len(throttled)} replicas of tile {request.tile.table_id}/"
                f"{request.tile.range_lo:016x}/{request.tile.bucket} are over their memory limit; "
                f"{throttled[0].message}", max(t.retry_after_ms for t in throttled))
        if len(acks) < QUORUM:
            raise errors.Unavailable(
                f"write not acknowledged: {len(acks)} of {len(replicas)} replicas of tile "
                f"{request.tile.table_id}/{request.tile.range_lo:016x}/{request.tile.bucket} are durable, "
                f"{QUORUM} are needed; failed: {'; '.join(failures)}")
        return acks

    def _finished(self, task: asyncio.Task[storage_pb2.AppendResponse]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("replica_append_failed", error=str(task.exception()))

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Wait for background appends (at shutdown), at most ``timeout_s``."""
        if self._background:
            await asyncio.wait(list(self._background), timeout=timeout_s)


def merge_rejections(acks: Sequence[storage_pb2.AppendResponse]) -> dict[int, common_pb2.RejectedRecord]:
    """Rows any acknowledging replica rejected, by row index (the first reason seen wins)."""
    out: dict[int, common_pb2.RejectedRecord] = {}
    for ack in acks:
        for r in ack.rejected:
            out.setdefault(r.record_index, r)
    return out
