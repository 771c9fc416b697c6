"""A query reads at most --query-read-limit-mb of rows into its coordinator; past it, a clear error."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pyarrow as pa
import pytest

from services.query import budget
from services.query.coordinator import Coordinator
from services.query.fanout import CellRead, ScanSpec
from tessera import errors
from tessera.v1 import common_pb2
from tests.unit.query.test_pruning import CELLS, Members, Routes, _route

ROWS = pa.table({"time": pa.array(range(10_000), pa.timestamp("ns")), "host": pa.array(["h1"] * 10_000)})


class _EveryCell:
    """Each cell answers the same rows (the local one through the tile reader, the others as CellScan)."""

    async def read(self, spec: ScanSpec, nodes: Sequence[common_pb2.NodeInfo], allow_partial: bool) -> CellRead:
        return CellRead(tables=[ROWS])

    async def cell_scan(self, nodes: Sequence[common_pb2.NodeInfo], spec: ScanSpec, allow_partial: bool) -> CellRead:
        return CellRead(tables=[ROWS])


def _run(limit_bytes: int) -> int:
    route = _route()
    route.cells.extend(common_pb2.CellInfo(cell=c, nodes=[common_pb2.NodeInfo(node_id=f"{c}-q", cell=c, role="query")])
                       for c in CELLS)
    cells = _EveryCell()
    coordinator = Coordinator(Routes(route), Members(), cells, cells,  # type: ignore[arg-type]
                              read_limit_bytes=limit_bytes)
    result = asyncio.run(coordinator.execute("q", 'SELECT count(*) AS n FROM "db"."t" WHERE host LIKE \'h%\'',
                                             allow_partial=False))
    return int(result.table.column("n")[0].as_py())


def test_the_rows_every_cell_answers_are_charged_to_the_query_and_refused_past_the_limit() -> None:
    assert _run(len(CELLS) * ROWS.nbytes) == len(CELLS) * ROWS.num_rows  # four cells' rows: just within
    with pytest.raises(errors.Throttled, match=r"reads more than \d+ MiB .*--query-read-limit-mb.*narrow its time"):
        _run(len(CELLS) * ROWS.nbytes - 1)


def test_reads_outside_a_query_are_not_charged() -> None:
    budget.charge(10**15)  # e.g. repair or a metadata probe: no budget in force

