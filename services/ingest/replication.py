"""Quorum append: send a tile's rows to its three replicas, acknowledge once two have fsynced."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from typing import Protocol

import structlog

from services.ingest.hints import RepairHints
from tessera import errors
from tessera.fanout import FanOut
from tessera.v1 import common_pb2, storage_pb2

log = structlog.get_logger()
QUORUM = 2


class Appender(Protocol):
    """Sends one serialised AppendRequest to one replica."""

    async def append(self, node: common_pb2.NodeInfo, payload: bytes, timeout_s: float
                     ) -> storage_pb2.AppendResponse: ...


class QuorumWriter:
    """Writes to every replica in parallel; returns when QUORUM replicas acknowledged a durable append and
    agree on every row's outcome.

    Replicas classify rows independently, so they can disagree: one that missed an acknowledged write
    stores a conflicting same-version row the others reject, or rejects an exact retry of that write that
    the others accept. A row's outcome is therefore what a majority of the replicas that answered decided:
    when the first two disagree on a row, the third is waited for (up to the append deadline); if it cannot
    answer, the append fails with Unavailable (retryable: nothing the client sees was decided by one vote).
    The remaining replica's append keeps running in the background; if it fails, the replica has missed
    the write and repair must bring it back.
    """

    def __init__(self, appender: Appender, timeout_s: float = 10.0, hints: RepairHints | None = None) -> None:
        self._appender = appender
        self._timeout = timeout_s
        self._hints = hints
        """Replicas that missed the append or disagreed with the majority get a repair hint for the tile."""
        self._background: set[asyncio.Task[storage_pb2.AppendResponse]] = set()

    async def write(self, replicas: Sequence[common_pb2.NodeInfo], request: storage_pb2.AppendRequest
                    ) -> dict[int, common_pb2.RejectedRecord]:
        """The rows a majority of the answering replicas rejected, by row index; Unavailable (or Throttled)
        if fewer than QUORUM replicas made the append durable or the answering ones tie on a row."""
        payload = request.SerializeToString()  # once for every replica: it is most of a megabyte
        calls = FanOut[storage_pb2.AppendResponse](keep_late=True, background=self._background)
        for n in replicas:
            calls.start(n, self._appender.append(n, payload, self._timeout))
        acks: list[storage_pb2.AppendResponse] = []
        answered: dict[str, tuple[common_pb2.NodeInfo, storage_pb2.AppendResponse | BaseException | None]] = {}
        throttled: list[errors.Throttled] = []
        gone: list[errors.NotFound] = []  # replicas whose catalog says the tile's table was deleted
        try:
            while calls.running and (len(acks) < QUORUM or (not _agree(acks) and len(acks) < len(replicas))):
                for a in await calls.next():
                    answered[a.node.node_id] = (a.node, a.result if a.error is None else a.error)
                    if a.error is None and a.value.incomplete:
                        # It stored the rows but is rebuilding (or lost WAL entries): not a vote.
                        calls.fail(a.node, "stored the rows but is rebuilding from its peers, so its answer "
                                           "does not count")
                    elif a.error is None:
                        acks.append(a.value)
                    else:
                        if isinstance(a.error, errors.Throttled):
                            throttled.append(a.error)
                        if isinstance(a.error, errors.NotFound):
                            gone.append(a.error)
                        calls.fail(a.node, a.error)
                if len(acks) < QUORUM and len(calls.failures) > len(replicas) - QUORUM:
                    break
        finally:
            late = calls.close()  # still running: their outcome decides their repair hints
        failures = calls.failures
        tile = f"{request.tile.table_id}/{request.tile.range_lo:016x}/{request.tile.bucket}"
        if len(acks) < QUORUM and len(gone) >= QUORUM:
            # The table was deleted (perhaps created again under its name): the caller's route is stale. No
            # repair hint: there is nothing to repair in a deleted table.
            raise errors.NotFound(f"write not acknowledged: the replicas of tile {tile} say its table was deleted: "
                                  f"{gone[0]}")
        rejected, tied = majority_rejections(acks) if len(acks) >= QUORUM else ({}, [])
        decided = None if tied or len(acks) < QUORUM else set(rejected)
        for node, response in answered.values():
            self._hint_unless_agreeing(node, request.tile, response, decided)
        for node, t in late:
            t.add_done_callback(functools.partial(self._finished, node, request.tile, decided))
        if len(acks) < QUORUM and len(acks) + len(throttled) >= QUORUM:
            # Replicas are up but over their memory limit: back-pressure, which the SDK waits out and retries.
            raise errors.Throttled(
                f"write not acknowledged: {len(throttled)} replicas of tile {tile} are over their memory limit; "
                f"{throttled[0].message}", max(t.retry_after_ms for t in throttled))
        if len(acks) < QUORUM:
            raise errors.Unavailable(
                f"write not acknowledged: {len(acks)} of {len(replicas)} replicas of tile {tile} are durable, "
                f"{QUORUM} are needed; failed: {'; '.join(failures)}")
        if tied:
            raise errors.Unavailable(
                f"write not acknowledged: the replicas of tile {tile} that answered disagree on {len(tied)} rows "
                f"(row {tied[0]} first: one holds a conflicting value the other does not) and the replica that "
                f"would decide did not answer ({'; '.join(failures) or 'no answer'}); retry once it is back")
        return rejected

    def _hint_unless_agreeing(self, node: common_pb2.NodeInfo, tile: storage_pb2.TileId,
                              outcome: storage_pb2.AppendResponse | BaseException | None,
                              decided: set[int] | None) -> None:
        """A replica that failed the append, is rebuilding, or rejected other rows than the majority (or,
        with no decision, any answer at all) gets a repair hint for the tile. Not one that refused it at
        its memory limit: it is up, and repairing a tile under write load would take the memory and the
        partition lock its flushes need (anti-entropy copies the rows once the tile is quiet)."""
        if self._hints is None or isinstance(outcome, errors.Throttled):
            return
        agreed = (isinstance(outcome, storage_pb2.AppendResponse) and not outcome.incomplete
                  and decided is not None and {r.record_index for r in outcome.rejected} == decided)
        if not agreed:
            self._hints.add(node, tile)

    def _finished(self, node: common_pb2.NodeInfo, tile: storage_pb2.TileId, decided: set[int] | None,
                  task: asyncio.Task[storage_pb2.AppendResponse]) -> None:
        if task.cancelled():
            self._hint_unless_agreeing(node, tile, None, decided)
            return
        if task.exception() is not None:
            log.warning("replica_append_failed", error=str(task.exception()))
        self._hint_unless_agreeing(node, tile, task.result() if task.exception() is None else task.exception(),
                                   decided)

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Wait for background appends (at shutdown), at most ``timeout_s``."""
        if self._background:
            await asyncio.wait(list(self._background), timeout=timeout_s)


def _agree(acks: Sequence[storage_pb2.AppendResponse]) -> bool:
    """Whether these replicas rejected exactly the same rows."""
    first = {r.record_index for r in acks[0].rejected} if acks else set()
    return all({r.record_index for r in a.rejected} == first for a in acks[1:])


def majority_rejections(acks: Sequence[storage_pb2.AppendResponse]
                        ) -> tuple[dict[int, common_pb2.RejectedRecord], list[int]]:
    """Rows more than half of the acknowledging replicas rejected (with the first reason given), and rows on
    which they tie."""
    votes: dict[int, list[common_pb2.RejectedRecord]] = {}
    for ack in acks:
        for r in ack.rejected:
            votes.setdefault(r.record_index, []).append(r)
    rejected = {i: rs[0] for i, rs in votes.items() if 2 * len(rs) > len(acks)}
    tied = sorted(i for i, rs in votes.items() if 2 * len(rs) == len(acks))
    return rejected, tied
