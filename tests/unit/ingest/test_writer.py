"""Grouping rows into tiles and refusing rows of another cell's range."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pyarrow as pa
import pytest

from services.ingest.replication import QuorumWriter
from services.ingest.writer import Writer
from tessera import errors, layout
from tessera.layout import HASH_SPACE
from tessera.v1 import common_pb2, ingest_pb2
from tessera.validation import validate_write_records

HALF = HASH_SPACE // 2
ROUTE = common_pb2.TableRoute(table_id="t1", epoch=3, ranges=[
    common_pb2.HashRange(lo=0, hi=HALF, cell="mine"), common_pb2.HashRange(lo=HALF, hi=0, cell="mine")])


def _writer(cell: str = "mine") -> Writer:
    return Writer(cell, routes=None, new_columns=None, members=None, quorum=QuorumWriter(None))  # type: ignore[arg-type]


def test_rows_are_grouped_by_range_and_hour_keeping_their_order() -> None:
    hour = layout.TILE_BUCKET_NS
    times = [5 * hour + 1, 6 * hour + 2, 5 * hour + 3, 5 * hour + 4]
    dim_hash = np.array([1, 2, HALF + 1, 3], dtype=np.uint64)
    rows = pa.table({layout.TIME: pa.array(times, layout.TIME_TYPE)})
    groups = dict(_writer()._tiles(ROUTE, rows, dim_hash))
    assert {k: v.tolist() for k, v in groups.items()} == {(0, 5): [0, 3], (0, 6): [1], (HALF, 5): [2]}


def test_a_row_of_a_range_this_cell_does_not_own_is_a_stale_route_with_the_epoch() -> None:
    rows = pa.table({layout.TIME: pa.array([1], layout.TIME_TYPE)})
    with pytest.raises(errors.StaleRoute) as info:
        _writer("other")._tiles(ROUTE, rows, np.array([7], dtype=np.uint64))
    assert info.value.epoch == 3 and "owned by cell mine" in info.value.message


class Routes:
    """Routes whose table changes id once invalidated (deleted and created again), or not (just deleted)."""

    def __init__(self, recreated: bool) -> None:
        self.table_id, self.recreated, self.invalidated, self.looked_up = "old", recreated, 0, False

    async def get(self, db: str, table: str, min_epoch: int = 0, table_id: str = "") -> common_pb2.TableRoute:
        if table_id and table_id != self.table_id:  # the caller knows better: looked up in the catalog
            self.looked_up = True
            if self.recreated:
                self.table_id = "new"
        return common_pb2.TableRoute(table_id=self.table_id, epoch=1)

    def invalidate(self, db: str, table: str) -> None:
        self.invalidated += 1
        if self.recreated:
            self.table_id = "new"


@pytest.mark.parametrize("recreated", [True, False])
def test_a_write_whose_table_was_deleted_is_tried_again_only_if_the_name_now_names_another_table(
        recreated: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    routes = Routes(recreated)
    writer = Writer("mine", routes=routes, new_columns=None, members=None, quorum=QuorumWriter(None))  # type: ignore[arg-type]
    tried: list[str] = []

    async def write_once(db: str, table: str, epoch: int, validate: object, table_id: str = "") -> str:
        tried.append(routes.table_id)
        if routes.table_id == "old":
            raise errors.NotFound("cannot append: table old was deleted")
        return "stored"

    monkeypatch.setattr(writer, "_write", write_once)
    if recreated:
        assert asyncio.run(writer.write("db", "tbl", 0, lambda ctx: None)) == "stored"  # type: ignore[arg-type,return-value]
        assert tried == ["old", "new"]
    else:
        with pytest.raises(errors.NotFound):
            asyncio.run(writer.write("db", "tbl", 0, lambda ctx: None))  # type: ignore[arg-type,return-value]
        assert tried == ["old"]
    assert routes.invalidated == 1


def test_a_caller_whose_route_names_another_table_makes_the_node_confirm_its_own_first() -> None:
    """The gateway already knows the table created again; this node's cached route (its watch behind) names
    the deleted one: the write goes to the table the catalog names now, without a failed attempt."""
    routes = Routes(recreated=True)
    writer = Writer("mine", routes=routes, new_columns=None, members=None, quorum=QuorumWriter(None))  # type: ignore[arg-type]
    tried: list[str] = []

    async def write_once(db: str, table: str, epoch: int, validate: object, table_id: str = "") -> str:
        tried.append((await routes.get(db, table, epoch, table_id)).table_id)
        return "stored"

    writer._write = write_once  # type: ignore[method-assign,assignment]
    assert asyncio.run(writer.write("db", "tbl", 0, lambda ctx: None, table_id="new")) == "stored"  # type: ignore[arg-type,comparison-overlap]
    assert tried == ["new"] and routes.looked_up and routes.invalidated == 0


class _SchemaRoutes:
    """One table whose route starts with no columns and takes what registration returns."""

    def __init__(self) -> None:
        self.route = common_pb2.TableRoute(table_id="t1", epoch=1, memory_retention_hours=6,
                                           ranges=[common_pb2.HashRange(lo=0, hi=0, cell="mine")])

    async def get(self, db: str, table: str, min_epoch: int = 0, table_id: str = "") -> common_pb2.TableRoute:
        return self.route

    def update_columns(self, db: str, table: str, columns: list[common_pb2.Column]) -> None:
        route = common_pb2.TableRoute()
        route.CopyFrom(self.route)
        del route.columns[:]
        route.columns.extend(columns)
        self.route = route


class _SilentCatalog:
    """A catalog that answers with the schema it has, without the columns asked for (an entry of an older
    version blocked their key, say)."""

    async def add(self, route: common_pb2.TableRoute, columns: list[common_pb2.Column]) -> list[common_pb2.Column]:
        return list(route.columns)


class _NoAppends:
    async def append(self, *args: object, **kwargs: object) -> object:
        raise AssertionError("rows were sent although their column is not in the table's schema")


def test_rows_whose_new_column_the_catalog_did_not_take_are_not_written() -> None:
    record = common_pb2.Record(measure_name="cpu", measure_value="1.5", measure_value_type="DOUBLE",
                               time=str(time.time_ns() // 1_000_000),
                               dimensions=[common_pb2.Dimension(name="host", value="a")])
    request = ingest_pb2.WriteRecordsRequest(database_name="db", table_name="tbl", records=[record])
    writer = Writer("mine", routes=_SchemaRoutes(), new_columns=_SilentCatalog(), members=None,  # type: ignore[arg-type]
                    quorum=_NoAppends())  # type: ignore[arg-type]
    with pytest.raises(errors.Unavailable, match="could not be added to its schema now; retry"):
        asyncio.run(writer.write("db", "tbl", 0, lambda ctx: validate_write_records(request, ctx)))
