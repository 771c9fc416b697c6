"""Coordinator forwarding: a query over tables of one other cell goes there with the route epochs it was
planned with, and the receiver plans with routes at least that new."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pyarrow as pa

from services.query.coordinator import Coordinator
from services.query.fanout import CellRead, ScanSpec
from tessera.v1 import common_pb2


class Routes:
    def __init__(self, cell: str, epoch: int) -> None:
        self.route = common_pb2.TableRoute(
            database_name="db1", table_name="tbl", table_id="t1", epoch=epoch,
            ranges=[common_pb2.HashRange(lo=0, hi=0, cell=cell)],
            cells=[common_pb2.CellInfo(cell=cell, nodes=[common_pb2.NodeInfo(node_id="q", cell=cell, role="query")])])
        self.asked: list[tuple[str, str, int, str]] = []
        self.after_lookup: common_pb2.TableRoute | None = None

    async def get(self, db: str, table: str, min_epoch: int = 0, table_id: str = "") -> common_pb2.TableRoute:
        self.asked.append((db, table, min_epoch, table_id))
        if table_id and table_id != self.route.table_id and self.after_lookup is not None:
            self.route = self.after_lookup  # the route cache looks up a route the caller knows to be outdated
        return self.route

    def invalidate(self, db: str, table: str) -> None:
        pass


class Members:
    cell = "cell-a"

    def by_role(self, role: str) -> list[common_pb2.NodeInfo]:
        return []


class Reader:
    async def read(self, spec: ScanSpec, nodes: Sequence[common_pb2.NodeInfo], allow_partial: bool) -> CellRead:
        return CellRead()


class Remote:
    def __init__(self) -> None:
        self.forwarded: list[tuple[str, Sequence[tuple[str, str, int, str]]]] = []

    async def cell_scan(self, nodes: Sequence[common_pb2.NodeInfo], spec: ScanSpec, allow_partial: bool) -> CellRead:
        raise AssertionError("a one-cell query is forwarded, not scanned across cells")

    async def cell_query(self, nodes: Sequence[common_pb2.NodeInfo], query_id: str, sql: str, allow_partial: bool,
                         epochs: Sequence[tuple[str, str, int, str]]) -> CellRead:
        self.forwarded.append((nodes[0].cell, list(epochs)))
        return CellRead(tables=[pa.table({"n": pa.array([3], pa.int64())})], bytes_scanned=9)


SQL = 'SELECT count(*) AS n FROM "db1"."tbl"'


def test_a_query_on_another_cells_table_is_forwarded_with_its_route_epoch() -> None:
    remote = Remote()
    coordinator = Coordinator(Routes("cell-b", epoch=7), Members(), Reader(), remote)  # type: ignore[arg-type]
    result = asyncio.run(coordinator.execute("q1", SQL, allow_partial=False))
    assert result.table.to_pylist() == [{"n": 3}] and result.bytes_scanned == 9
    assert remote.forwarded == [("cell-b", [("db1", "tbl", 7, "t1")])]


def test_a_forwarded_query_is_planned_with_routes_at_least_as_new_as_the_senders() -> None:
    routes, remote = Routes("cell-a", epoch=7), Remote()
    coordinator = Coordinator(routes, Members(), Reader(), remote)  # type: ignore[arg-type]
    result = asyncio.run(coordinator.execute("q2", SQL, allow_partial=False, forward=False,
                                             min_epochs=[("db1", "tbl", 7, "t1")]))
    assert result.table.to_pylist() == [{"n": 0}]
    assert routes.asked[0] == ("db1", "tbl", 7, "t1") and remote.forwarded == []


def test_a_forwarded_query_naming_another_table_than_the_receivers_cached_route_looks_it_up_again() -> None:
    """The sender planned with the table created again under the name; the receiver's cached route (even at
    a higher epoch) names the deleted one: the receiver hands the sender's table id to its route cache, which
    looks the route up rather than serve it (tests/unit/discovery/test_route_cache.py), before planning."""
    routes, remote = Routes("cell-a", epoch=9), Remote()
    routes.after_lookup = common_pb2.TableRoute()
    routes.after_lookup.CopyFrom(routes.route)
    routes.after_lookup.table_id, routes.after_lookup.epoch = "t2", 1
    coordinator = Coordinator(routes, Members(), Reader(), remote)  # type: ignore[arg-type]
    asyncio.run(coordinator.execute("q3", SQL, allow_partial=False, forward=False,
                                    min_epochs=[("db1", "tbl", 1, "t2")]))
    assert routes.asked[0] == ("db1", "tbl", 1, "t2") and routes.route.table_id == "t2"
