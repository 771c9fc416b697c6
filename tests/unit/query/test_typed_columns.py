"""What the routes' schemas tell the translator: a multi-measure DOUBLE column divided by zero gives Infinity
and NaN as in Timestream (without the schema its type is unknown and DuckDB's division raises)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pyarrow as pa

from services.query.coordinator import Coordinator
from services.query.fanout import CellRead, ScanSpec
from tessera.v1 import common_pb2
from tests.unit.query.test_pruning import CELLS, Members, Routes, _route


def test_a_double_column_of_the_routes_divided_by_zero_gives_infinity_and_nan() -> None:
    route = _route()
    route.columns.append(common_pb2.Column(name="load", kind="MULTI", type="DOUBLE"))
    route.cells.extend(common_pb2.CellInfo(cell=c, nodes=[common_pb2.NodeInfo(node_id=f"{c}-q", cell=c, role="query")])
                       for c in CELLS)
    rows = pa.table({"time": pa.array([1, 2, 3], pa.timestamp("ns")), "host": pa.array(["h1"] * 3),
                     "load": pa.array([2.0, 0.0, None])})

    class OneCell:
        async def read(self, spec: ScanSpec, nodes: Sequence[common_pb2.NodeInfo], allow_partial: bool) -> CellRead:
            return CellRead(tables=[rows])

        async def cell_scan(self, nodes: Sequence[common_pb2.NodeInfo], spec: ScanSpec,
                            allow_partial: bool) -> CellRead:
            return CellRead(tables=[rows.slice(0, 0)])

    cells = OneCell()
    coordinator = Coordinator(Routes(route), Members(), cells, cells)  # type: ignore[arg-type]
    result = asyncio.run(coordinator.execute("q", 'SELECT load / 0 AS r FROM "db"."t" WHERE host LIKE \'h%\' '
                                                  "ORDER BY time", allow_partial=False))
    got = result.table.column("r").to_pylist()
    assert got[0] == float("inf") and got[1] != got[1] and got[2] is None  # Infinity, NaN, NULL
