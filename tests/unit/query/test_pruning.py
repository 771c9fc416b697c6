"""Partition-key pruning: which predicates pin the key, which ranges, cells and tiles a scan then reads, and
that the coordinator and the tile reader read only those."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pyarrow as pa
import pytest

from services.query.coordinator import Coordinator
from services.query.fanout import CellRead, ScanSpec, TileReader
from services.query.pruning import pinned_values, plan
from services.query.translate import TableScan, translate
from tessera import arrowipc, layout
from tessera.layout import HASH_SPACE
from tessera.partition_key import PartitionKey
from tessera.v1 import common_pb2, storage_pb2

NOW_NS = 1_795_341_600_123_456_789
QUARTER = HASH_SPACE // 4
CELLS = ("cell-a", "cell-b", "cell-c", "cell-d")
HOST = PartitionKey("DIMENSION", "host", "REQUIRED")


# --- which predicates pin the key ---------------------------------------------------------------------------


@pytest.mark.parametrize(("predicate", "values"), [
    ("host = 'a'", {"a"}),
    ("'a' = host", {"a"}),
    ("host IN ('a', 'b')", {"a", "b"}),
    ("host = 'a' AND cpu > 1", {"a"}),
    ("cpu > 1 AND (host IN ('a', 'b') AND region = 'eu')", {"a", "b"}),
    ("host IN ('a', 'b') AND host = 'b'", {"b"}),
    ("host = 'a' AND host = 'b'", set()),
    ("host = 'it''s'", {"it's"}),
], ids=["equality", "equality written backwards", "IN list", "among other conjuncts", "nested AND",
        "conjuncts intersect", "contradictory conjuncts pin nothing at all", "quoted quote"])
def test_plain_equalities_and_in_lists_of_string_literals_pin_the_key(predicate: str, values: set[str]) -> None:
    assert pinned_values(predicate, "host") == frozenset(values)


@pytest.mark.parametrize("predicate", [
    "", "host = 'a' OR host = 'b'", "(host = 'a' OR cpu > 1)", "NOT host = 'a'", "NOT host IN ('a')",
    "host <> 'a'", "upper(host) = 'A'", "host LIKE 'a%'", "host = 1", "host IN ('a', 1)", "host = region",
    "host IS NULL", "region = 'a'", "host = 'a' || 'b'",
], ids=["no predicate", "OR", "OR with another column", "NOT equality", "NOT IN", "inequality", "function of the key",
        "LIKE", "number literal", "IN with a number", "another column", "IS NULL", "another column pinned",
        "an expression, not a literal"])
def test_anything_but_a_plain_equality_or_in_list_on_the_key_pins_nothing(predicate: str) -> None:
    assert pinned_values(predicate, "host") is None


# --- which ranges, cells and tiles ---------------------------------------------------------------------------


def _route(key: PartitionKey | None = HOST, epoch: int = 1, registered: bool = True,
           readers: Sequence[Sequence[str]] = ()) -> common_pb2.TableRoute:
    """Four equal ranges owned by cell-a..cell-d."""
    ranges = [common_pb2.HashRange(lo=i * QUARTER, hi=0 if i == 3 else (i + 1) * QUARTER, cell=c,
                                   readers=list(readers[i]) if readers else [c]) for i, c in enumerate(CELLS)]
    columns = [common_pb2.Column(name="host", kind="DIMENSION", type="VARCHAR")] if registered else []
    return common_pb2.TableRoute(database_name="db", table_name="t", table_id="t1", epoch=epoch, ranges=ranges,
                                 columns=columns, partition_key=key.to_proto() if key is not None else None)


def _quarter(h: int) -> int:
    return h // QUARTER


def _scan(where: str) -> TableScan:
    (scan,) = translate(f'SELECT * FROM "db"."t" WHERE {where}', NOW_NS).scans
    return scan


def test_an_equality_on_the_key_reads_the_one_range_its_value_hashes_to_and_that_cells_tiles_of_it() -> None:
    ranges = plan(_route(), _scan("host = 'h1' AND time > ago(1h)"))
    i = _quarter(HOST.hash_of("h1"))
    assert ranges.pruned and ranges.values == ("h1",) and ranges.total == 4
    assert [r.lo for r in ranges.ranges] == [i * QUARTER]
    assert ranges.cells == [CELLS[i]] and not ranges.merge_cells
    assert ranges.range_los(CELLS[i]) == (i * QUARTER,)


def test_an_in_list_reads_the_ranges_of_its_values() -> None:
    values = [f"h{i}" for i in range(12)]
    ranges = plan(_route(), _scan(f"host IN ({', '.join(repr(v) for v in values)})"))
    quarters = sorted({_quarter(HOST.hash_of(v)) for v in values})
    assert [r.lo // QUARTER for r in ranges.ranges] == quarters
    assert ranges.cells == [CELLS[q] for q in quarters]


@pytest.mark.parametrize("where", ["host = 'h1' OR host = 'h2'", "upper(host) = 'H1'", "NOT host = 'h1'",
                                   "region = 'eu'", "time > ago(1h)"])
def test_a_predicate_that_does_not_pin_the_key_reads_every_range_and_cell(where: str) -> None:
    ranges = plan(_route(), _scan(where))
    assert not ranges.pruned and len(ranges.ranges) == 4 and ranges.cells == sorted(CELLS)
    assert all(ranges.range_los(c) == () for c in CELLS)


def test_a_key_inside_a_join_or_subquery_prunes_nothing_because_nothing_is_pushed_down() -> None:
    query = 'SELECT * FROM "db"."t" a JOIN "db"."u" b ON a.host = b.host WHERE a.host = \'h1\''
    for scan in translate(query, NOW_NS).scans:
        assert not plan(_route(), scan).pruned


def test_without_a_partition_key_the_table_reads_every_range() -> None:
    assert not plan(_route(key=None), _scan("host = 'h1'")).pruned


def test_before_any_row_carries_the_key_column_nothing_is_pruned() -> None:
    # The WHERE could name a SELECT alias instead (DuckDB resolves it so when no such column exists).
    assert not plan(_route(registered=False), _scan("host = 'h1'")).pruned


def test_contradictory_values_read_no_range_at_all() -> None:
    ranges = plan(_route(), _scan("host = 'h1' AND host = 'h2'"))
    assert ranges.pruned and ranges.ranges == () and ranges.cells == []


def test_a_measure_key_is_pinned_by_measure_name() -> None:
    key = PartitionKey("MEASURE")
    ranges = plan(_route(key=key, registered=False), _scan("measure_name = 'cpu'"))
    assert [r.lo for r in ranges.ranges] == [_quarter(key.hash_of("cpu")) * QUARTER]


def test_after_a_split_the_chosen_ranges_former_owners_are_read_whole() -> None:
    # Epoch 2: former owners keep tiles that start at old range boundaries, so tiles cannot be picked by range.
    readers = [["cell-a"], ["cell-b", "cell-a"], ["cell-c"], ["cell-d", "cell-c"]]
    value = next(f"h{i}" for i in range(100) if _quarter(HOST.hash_of(f"h{i}")) == 1)
    ranges = plan(_route(epoch=2, readers=readers), _scan(f"host = '{value}'"))
    assert ranges.cells == ["cell-a", "cell-b"] and ranges.merge_cells
    assert ranges.range_los("cell-a") == ranges.range_los("cell-b") == ()


def test_after_a_split_a_pruned_range_with_one_reader_still_merges_when_its_cell_is_read_whole() -> None:
    # The chosen range has one reader, but its cell is read whole and also holds another range that moved
    # away from it: a key's old version may sit there while its upsert sits in the chosen range's tiles.
    readers = [["cell-a"], ["cell-b", "cell-a"], ["cell-c"], ["cell-d", "cell-c"]]
    value = next(f"h{i}" for i in range(100) if _quarter(HOST.hash_of(f"h{i}")) == 0)
    ranges = plan(_route(epoch=2, readers=readers), _scan(f"host = '{value}'"))
    assert ranges.cells == ["cell-a"] and ranges.range_los("cell-a") == ()
    assert ranges.merge_cells


def test_a_key_whose_name_differs_from_another_column_only_in_case_prunes_nothing() -> None:
    route = _route()
    route.columns.append(common_pb2.Column(name="HOST", kind="DIMENSION", type="VARCHAR"))
    assert not plan(route, _scan("host = 'h1'")).pruned


# --- the coordinator reads only the pruned cells --------------------------------------------------------------


class Routes:
    def __init__(self, route: common_pb2.TableRoute) -> None:
        self.route = route

    async def get(self, db: str, table: str, min_epoch: int = 0) -> common_pb2.TableRoute:
        return self.route

    def invalidate(self, db: str, table: str) -> None:
        pass


class Members:
    cell = "cell-a"

    def by_role(self, role: str) -> list[common_pb2.NodeInfo]:
        return []


class Cells:
    """Every cell's reader and remote coordinator: records which cell was read with which spec."""

    def __init__(self) -> None:
        self.read: dict[str, ScanSpec] = {}
        self.forwarded: list[str] = []

    async def read_local(self, spec: ScanSpec, nodes: Sequence[common_pb2.NodeInfo], allow_partial: bool
                         ) -> CellRead:
        self.read["cell-a"] = spec
        return CellRead()

    async def cell_scan(self, nodes: Sequence[common_pb2.NodeInfo], spec: ScanSpec, allow_partial: bool) -> CellRead:
        self.read[nodes[0].cell] = spec
        return CellRead()

    async def cell_query(self, nodes: Sequence[common_pb2.NodeInfo], query_id: str, sql: str, allow_partial: bool,
                         epochs: Sequence[tuple[str, str, int, str]]) -> CellRead:
        self.forwarded.append(nodes[0].cell)
        return CellRead(tables=[pa.table({"host": pa.array([], pa.string())})])


def _coordinator() -> tuple[Coordinator, Cells]:
    route = _route()
    route.cells.extend(common_pb2.CellInfo(cell=c, nodes=[common_pb2.NodeInfo(node_id=f"{c}-q", cell=c, role="query")])
                       for c in CELLS)
    cells = Cells()

    class Reader:
        read = cells.read_local

    return Coordinator(Routes(route), Members(), Reader(), cells), cells  # type: ignore[arg-type]


def _value_owned_by(cell: str) -> str:
    return next(f"h{i}" for i in range(1000) if CELLS[_quarter(HOST.hash_of(f"h{i}"))] == cell)


def test_the_coordinator_reads_only_the_cells_and_ranges_the_key_values_hash_to() -> None:
    coordinator, cells = _coordinator()
    values = [_value_owned_by("cell-a"), _value_owned_by("cell-c")]
    sql = f'SELECT host FROM "db"."t" WHERE host IN (\'{values[0]}\', \'{values[1]}\')'
    asyncio.run(coordinator.execute("q", sql, allow_partial=False))
    assert sorted(cells.read) == ["cell-a", "cell-c"]
    assert cells.read["cell-a"].range_los == (0,) and cells.read["cell-c"].range_los == (2 * QUARTER,)


def test_a_query_pinned_to_one_other_cell_is_forwarded_there() -> None:
    coordinator, cells = _coordinator()
    sql = f'SELECT host FROM "db"."t" WHERE host = \'{_value_owned_by("cell-d")}\''
    asyncio.run(coordinator.execute("q", sql, allow_partial=False))
    assert cells.forwarded == ["cell-d"] and cells.read == {}


def test_an_unpinned_query_reads_every_cell_and_every_tile() -> None:
    coordinator, cells = _coordinator()
    asyncio.run(coordinator.execute("q", 'SELECT host FROM "db"."t" WHERE host LIKE \'h%\'', allow_partial=False))
    assert sorted(cells.read) == list(CELLS) and all(s.range_los == () for s in cells.read.values())


# --- the tile reader asks storage for the pruned tiles only ----------------------------------------------------


class FakeReplica:
    def __init__(self, tiles: list[storage_pb2.TileId], requests: list[storage_pb2.ScanRequest]) -> None:
        self.tiles = tiles
        self.requests = requests

    async def list_tiles(self, request: storage_pb2.ListTilesRequest, timeout_s: float
                         ) -> storage_pb2.ListTilesResponse:
        return storage_pb2.ListTilesResponse(tiles=self.tiles)

    async def scan(self, request: storage_pb2.ScanRequest, timeout_s: float) -> AsyncIterator[storage_pb2.ScanChunk]:
        self.requests.append(request)
        empty = arrowipc.to_ipc(pa.table({"time": pa.array([], layout.TIME_TYPE)}))
        yield storage_pb2.ScanChunk(digest=1, last=True, arrow_ipc=empty)


class FakePool:
    def __init__(self, tiles: list[storage_pb2.TileId]) -> None:
        self.requests: list[storage_pb2.ScanRequest] = []
        self.tiles = tiles

    def get(self, address: str) -> FakeReplica:
        return FakeReplica(self.tiles, self.requests)


def _nodes(count: int) -> list[common_pb2.NodeInfo]:
    return [common_pb2.NodeInfo(node_id=f"s{i}", address=f"s{i}", zone="abc"[i % 3], role="storage")
            for i in range(count)]


def _spec(hours: int | None, range_los: tuple[int, ...]) -> ScanSpec:
    start = 0 if hours is None else 10 * layout.TILE_BUCKET_NS
    end = (1 << 63) - 1 if hours is None else start + hours * layout.TILE_BUCKET_NS
    return ScanSpec(table_id="t1", schema=(), columns=("time",), predicate="", start_ns=start, end_ns=end,
                    range_los=range_los)


def _read(pool: FakePool, spec: ScanSpec, nodes: int) -> set[tuple[int, int]]:
    asyncio.run(TileReader(pool).read(spec, _nodes(nodes), allow_partial=False))  # type: ignore[arg-type]
    return {(t.range_lo, t.bucket) for r in pool.requests for t in r.tiles}


def test_a_pruned_read_names_the_tiles_of_its_ranges_and_hours() -> None:
    pool = FakePool([])
    assert _read(pool, _spec(2, (QUARTER,)), nodes=3) == {(QUARTER, 10), (QUARTER, 11)}


def test_an_unpruned_read_of_a_three_node_cell_asks_for_every_local_tile() -> None:
    pool = FakePool([])
    assert _read(pool, _spec(2, ()), nodes=3) == set() and pool.requests[0].table_id == "t1"


def test_a_pruned_read_over_unbounded_time_lists_tiles_and_keeps_its_ranges_only() -> None:
    listed = [storage_pb2.TileId(table_id="t1", range_lo=lo, bucket=b) for lo in (0, QUARTER, 2 * QUARTER)
              for b in (3, 4)]
    pool = FakePool(listed)
    assert _read(pool, _spec(None, (QUARTER,)), nodes=3) == {(QUARTER, 3), (QUARTER, 4)}
    pool = FakePool(listed)
    assert _read(pool, _spec(None, (QUARTER,)), nodes=4) == {(QUARTER, 3), (QUARTER, 4)}


def test_a_pruned_read_of_an_empty_time_range_asks_nothing() -> None:
    pool = FakePool([])
    hour = layout.TILE_BUCKET_NS
    spec = ScanSpec(table_id="t1", schema=(), columns=("time",), predicate="", start_ns=10 * hour, end_ns=10 * hour,
                    range_los=(0,))
    assert _read(pool, spec, nodes=3) == set() and pool.requests == []


def test_only_dimension_and_measure_name_filters_are_pushed_to_replicas_as_key_filters() -> None:
    from services.query.coordinator import _key_filters

    route = common_pb2.TableRoute(table_id="t", columns=[
        common_pb2.Column(name="host", kind="DIMENSION", type="VARCHAR"),
        common_pb2.Column(name="region", kind="DIMENSION", type="VARCHAR"),
        common_pb2.Column(name="state", kind="MULTI", type="VARCHAR")])
    predicate = "host IN ('b', 'a') AND state = 'up' AND measure_name = 'cpu' AND (region = 'x' OR region = 'y')"
    # A measure's value filter may not run before deduplication (an older version could pass), an OR pins nothing.
    assert _key_filters(predicate, route) == ((("host", ("a", "b")),), ("cpu",))
    assert _key_filters("", route) == ((), ())


def test_a_predicate_of_time_literals_and_key_filters_needs_no_duckdb_pass_on_the_replicas() -> None:
    from services.query.pruning import covered_by_key_filters
    from services.query.translate import translate

    keys = frozenset({"host", "measure_name"})

    def covered(where: str) -> bool:
        return covered_by_key_filters(translate(f"SELECT * FROM db.t WHERE {where}", 1_795_341_600 * 10**9)
                                      .scans[0].predicate, keys)

    assert covered("host = 'a' AND time > ago(1h)")
    assert covered("host IN ('a', 'b') AND measure_name = 'cpu' AND time BETWEEN from_milliseconds(1) "
                   "AND from_milliseconds(2)")
    assert covered("time >= from_milliseconds(1) AND time < from_milliseconds(9)")
    assert not covered("host = 'a' AND cpu > 5")  # a value: replicas must filter it
    assert not covered("region = 'eu'")  # not sent as a key filter
    assert not covered("host LIKE 'a%'") and not covered("host = 'a' OR host = 'b'")
    assert not covered_by_key_filters("", keys)
