"""A query reads at most --query-read-limit-mb of rows into its coordinator; past it, a clear error."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pyarrow as pa
import pytest

from services.query import budget
from services.query.fanout import TileReader
from tessera import arrowipc, errors
from tessera.v1 import common_pb2, storage_pb2

ROWS = pa.table({"time": pa.array(range(10_000), pa.int64()), "value": pa.array([0.5] * 10_000)})


class _Node:
    async def scan(self, request: storage_pb2.ScanRequest, timeout: float) -> AsyncIterator[storage_pb2.ScanChunk]:
        for _ in range(4):
            yield storage_pb2.ScanChunk(arrow_ipc=arrowipc.to_ipc(ROWS))
        yield storage_pb2.ScanChunk(last=True, bytes_scanned=1)


class _Pool:
    def get(self, address: str) -> Any:
        return _Node()


def _scan_twice(limit_bytes: int) -> int:
    reader = TileReader(_Pool())  # type: ignore[arg-type]
    node = common_pb2.NodeInfo(node_id="s1", address="a")

    async def go() -> int:
        with budget.reading(limit_bytes) as spent:  # two concurrent reads of one query share its budget
            await asyncio.gather(*(reader._scan(node, storage_pb2.ScanRequest()) for _ in range(2)))
            return spent.used

    return asyncio.run(go())


def test_the_reads_of_one_query_are_charged_together_and_refused_past_the_limit() -> None:
    chunk = len(arrowipc.to_ipc(ROWS))
    assert _scan_twice(8 * chunk) == 8 * chunk
    with pytest.raises(errors.Throttled, match=r"reads more than \d+ MiB .*--query-read-limit-mb.*narrow its time range"):
        _scan_twice(8 * chunk - 1)


def test_reads_outside_a_query_are_not_charged() -> None:
    budget.charge(10**15)  # e.g. repair or a metadata probe: no budget in force
