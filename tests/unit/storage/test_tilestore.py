"""TileStore: recovery, appends, scans with filters, projection and digests, over the memory store and,
parametrised, after every row was flushed to the magnetic store (the answers must not change)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pytest

from services.storage.config import StorageConfig
from services.storage.scan import ScanResult
from services.storage.tilekey import TileKey
from services.storage.tilestore import TileStore
from tessera import digest, layout
from tessera.errors import ValidationError
from tests.unit.storage import BASE_NS, Rec, ints, make_rows

T = TypeVar("T")
BUCKET = layout.bucket_of(BASE_NS)
TILE_A = TileKey("t1", 0, BUCKET)
TILE_B = TileKey("t1", 1 << 63, BUCKET)
TILE_LATER = TileKey("t1", 0, BUCKET + 1)
SCHEMA = [("host", "VARCHAR"), ("measure_value::double", "DOUBLE")]


FLUSH_BEFORE_SCAN = {"on": False}


@pytest.fixture(autouse=True, params=["memory", "magnetic"])
def tier(request: pytest.FixtureRequest) -> None:
    """Every test runs twice: scanning the memory store, and scanning after a flush of everything."""
    FLUSH_BEFORE_SCAN["on"] = request.param == "magnetic"


def run(store_dir: Path, body: Callable[[TileStore], Awaitable[T]]) -> T:
    async def go() -> T:
        store = TileStore(StorageConfig(data_dir=store_dir, tier_interval_s=0))
        await store.open()
        try:
            return await body(store)
        finally:
            await store.close()

    return asyncio.run(go())


async def load(store: TileStore) -> None:
    await store.append(
        TILE_A,
        make_rows(
            [Rec(BASE_NS + i * 1_000_000_000, dims={"host": f"h{i % 2}"}, value=float(i)) for i in range(6)]
        ),
    )
    await store.append(TILE_B, make_rows([Rec(BASE_NS + 7, dims={"host": "h9"}, value=99.0)]))


async def scan(store: TileStore, **kwargs: object) -> ScanResult:
    args: dict[str, object] = {
        "tiles": [TILE_A, TILE_B],
        "schema": SCHEMA,
        "columns": [],
        "predicate": "",
        "start_ns": BASE_NS,
        "end_ns": BASE_NS + layout.TILE_BUCKET_NS,
        "with_keys": False,
    }
    args.update(kwargs)
    if FLUSH_BEFORE_SCAN["on"]:
        await store.maintain(flush_all=True)
    return await store.scan(**args)  # type: ignore[arg-type]


def test_a_reopened_store_recovers_every_tile_with_its_rows_and_index(tmp_path: Path) -> None:
    async def write(store: TileStore) -> ScanResult:
        await load(store)
        await store.append(TILE_LATER, make_rows([Rec(BASE_NS + layout.TILE_BUCKET_NS)]))
        return await scan(store, with_keys=True)

    before = run(tmp_path, write)

    async def reread(store: TileStore) -> tuple[ScanResult, list[TileKey], int]:
        after = await scan(store, with_keys=True)
        result = await store.append(TILE_A, make_rows([Rec(BASE_NS, dims={"host": "h0"}, value=5.0)]))
        return after, store.list_tiles("t1", BUCKET, BUCKET + 1), len(result.rejected)

    after, tiles, rejected = run(tmp_path, reread)
    assert after.table is not None and before.table is not None
    assert after.table.sort_by("time").equals(before.table.sort_by("time"))
    assert after.digest == before.digest
    assert tiles == [TILE_A, TILE_LATER, TILE_B]
    assert rejected == 1  # same version 1, another value: the recovered index still knows the row


def test_list_tiles_filters_by_table_and_bucket_range(tmp_path: Path) -> None:
    async def body(store: TileStore) -> list[list[TileKey]]:
        await load(store)
        await store.append(TILE_LATER, make_rows([Rec(BASE_NS + layout.TILE_BUCKET_NS)]))
        await store.append(TileKey("t2", 0, BUCKET), make_rows([Rec(BASE_NS)]))
        return [
            store.list_tiles("t1", BUCKET, BUCKET),
            store.list_tiles("t1", BUCKET + 1, BUCKET + 9),
            store.list_tiles("t3", 0, BUCKET * 2),
        ]

    assert run(tmp_path, body) == [[TILE_A, TILE_B], [TILE_LATER], []]


def test_a_scan_keeps_rows_in_the_half_open_time_range_at_nanosecond_precision(tmp_path: Path) -> None:
    async def body(store: TileStore) -> ScanResult:
        await load(store)
        return await scan(store, start_ns=BASE_NS + 7, end_ns=BASE_NS + 2_000_000_000)

    result = run(tmp_path, body)
    assert result.table is not None
    assert sorted(ints(result.table.column("time"))) == [BASE_NS + 7, BASE_NS + 1_000_000_000]
    assert result.rows == 2


def test_a_scan_applies_the_sql_predicate_and_keeps_nanoseconds(tmp_path: Path) -> None:
    async def body(store: TileStore) -> ScanResult:
        await load(store)
        return await scan(store, predicate="host IN ('h1', 'h9') AND \"measure_value::double\" > 1")

    result = run(tmp_path, body)
    assert result.table is not None
    assert result.table.schema.field("time").type == pa.timestamp("ns")
    assert sorted(ints(result.table.column("time"))) == [
        BASE_NS + 7,
        BASE_NS + 3_000_000_000,
        BASE_NS + 5_000_000_000,
    ]


def test_a_scan_projects_the_requested_columns_and_always_time(tmp_path: Path) -> None:
    async def body(store: TileStore) -> list[list[str]]:
        await load(store)
        projected = await scan(store, columns=["measure_value::double", "no_such_column"])
        everything = await scan(store)
        keyed = await scan(store, columns=["host"], with_keys=True)
        return [r.table.column_names for r in (projected, everything, keyed) if r.table is not None]

    assert run(tmp_path, body) == [
        ["time", "measure_value::double"],
        ["time", "measure_name", "host", "measure_value::double"],
        ["time", "host", "ts_series", "ts_version", "ts_vhash"],
    ]


def test_columns_a_tile_never_stored_are_typed_nulls(tmp_path: Path) -> None:
    async def body(store: TileStore) -> ScanResult:
        await load(store)
        schema = SCHEMA + [("region", "VARCHAR"), ("count", "BIGINT"), ("ok", "BOOLEAN"), ("at", "TIMESTAMP")]
        return await scan(store, schema=schema, predicate="region IS NULL AND count IS NULL")

    result = run(tmp_path, body)
    assert result.table is not None and result.rows == 7
    schema = result.table.schema
    assert [str(schema.field(c).type) for c in ("region", "count", "ok", "at")] == [
        "string",
        "int64",
        "bool",
        "timestamp[ns]",
    ]
    assert result.table.column("count").null_count == 7


def test_missing_tiles_contribute_nothing(tmp_path: Path) -> None:
    async def body(store: TileStore) -> ScanResult:
        return await scan(store, tiles=[TileKey("t1", 5, BUCKET)], predicate="host = 'x'")

    result = run(tmp_path, body)
    assert result.table is not None
    assert (result.table.num_rows, result.rows, result.digest, result.bytes_scanned) == (0, 0, 0, 0)
    assert result.table.column_names == ["time", "measure_name", "host", "measure_value::double"]


def test_digest_only_mode_returns_no_rows_but_the_same_digest(tmp_path: Path) -> None:
    async def body(store: TileStore) -> tuple[ScanResult, ScanResult]:
        await load(store)
        return await scan(store, columns=["host"]), await scan(store, want_rows=False)

    full, digest_only = run(tmp_path, body)
    assert digest_only.table is None
    assert (digest_only.digest, digest_only.rows) == (full.digest, full.rows) == (full.digest, 7)
    assert 0 < digest_only.bytes_scanned <= full.bytes_scanned  # a segment read skips unneeded columns


def test_the_digest_is_the_combination_of_per_tile_digests(tmp_path: Path) -> None:
    async def body(store: TileStore) -> list[int]:
        await load(store)
        return [(await scan(store, tiles=tiles)).digest for tiles in ([TILE_A, TILE_B], [TILE_A], [TILE_B])]

    both, a, b = run(tmp_path, body)
    assert both == digest.combine(a, b) != 0


def test_replicas_with_equal_rows_have_equal_digests_and_a_lagging_one_differs(tmp_path: Path) -> None:
    async def full_replica(store: TileStore) -> int:
        await load(store)
        await store.append(TILE_A, make_rows([Rec(BASE_NS, dims={"host": "h0"}, value=8.0, version=2)]))
        return (await scan(store)).digest

    async def same_rows_other_order(store: TileStore) -> int:
        await store.append(TILE_B, make_rows([Rec(BASE_NS + 7, dims={"host": "h9"}, value=99.0)]))
        await store.append(TILE_A, make_rows([Rec(BASE_NS, dims={"host": "h0"}, value=8.0, version=2)]))
        await load(store)  # the version-1 row of BASE_NS is rejected here; every other row matches
        return (await scan(store)).digest

    async def lagging(store: TileStore) -> int:
        await load(store)  # missed the version-2 update
        return (await scan(store)).digest

    first = run(tmp_path / "a", full_replica)
    assert run(tmp_path / "b", same_rows_other_order) == first
    assert run(tmp_path / "c", lagging) != first


def test_a_bad_predicate_is_a_validation_error(tmp_path: Path) -> None:
    async def body(store: TileStore) -> None:
        await load(store)
        with pytest.raises(ValidationError, match="no_such_column"):
            await scan(store, predicate="no_such_column = 1")
        with pytest.raises(ValidationError):
            await scan(store, predicate="true) OR (true")

    run(tmp_path, body)


def test_scans_run_concurrently_with_appends(tmp_path: Path) -> None:
    async def body(store: TileStore) -> list[int]:
        async def writer(i: int) -> None:
            await store.append(TILE_A, make_rows([Rec(BASE_NS + i, dims={"host": "w"})]))

        async def reader() -> int:
            return (await scan(store, predicate="host = 'w'")).rows

        results = await asyncio.gather(*(writer(i) for i in range(30)), *(reader() for _ in range(10)))
        return [r for r in results if r is not None] + [await reader()]

    counts = run(tmp_path, body)
    assert counts[-1] == 30
    assert all(0 <= c <= 30 for c in counts)


def test_close_is_safe_to_call_twice(tmp_path: Path) -> None:
    async def go() -> None:
        store = TileStore(StorageConfig(data_dir=tmp_path, tier_interval_s=0))
        await store.open()
        await store.append(TILE_A, make_rows([Rec(BASE_NS)]))
        await store.close()
        await store.close()

    asyncio.run(go())


def test_concurrent_first_appends_to_a_new_tile_create_it_once(tmp_path: Path) -> None:
    async def body(store: TileStore) -> tuple[int, int]:
        rows = [make_rows([Rec(BASE_NS + i)]) for i in range(10)]
        await asyncio.gather(*(store.append(TILE_A, r) for r in rows))
        return store.wal.last_lsn, (await scan(store)).rows

    assert run(tmp_path, body) == (10, 10)


def test_scan_predicates_divide_integers_as_timestream_does(tmp_path: Path) -> None:
    async def body(store: TileStore) -> ScanResult:
        await store.append(TILE_A, make_rows([Rec(BASE_NS, measures={"n": 7})], {"n": pa.int64()}))
        return await scan(store, tiles=[TILE_A], schema=[("n", "BIGINT")], predicate="n / 2 = 3")

    assert run(tmp_path, body).rows == 1  # 7 / 2 = 3 in Timestream SQL, not 3.5


def test_columns_whose_names_differ_only_in_case_are_scanned_apart(tmp_path: Path) -> None:
    # Tessera names are case-sensitive ("Time" is a valid dimension; "Host" and "host" are two columns);
    # DuckDB's are not, so it may only see them through a predicate.
    schema = [("host", "VARCHAR"), ("Host", "VARCHAR"), ("Time", "VARCHAR"), ("measure_value::double", "DOUBLE")]

    async def body(store: TileStore) -> tuple[ScanResult, ScanResult]:
        rows = [Rec(BASE_NS + i * 1_000_000_000, dims={"host": f"h{i}", "Host": f"H{i}", "Time": f"t{i}"},
                    value=float(i)) for i in range(4)]
        await store.append(TILE_A, make_rows(rows))
        narrow = await scan(store, tiles=[TILE_A], schema=schema, columns=["Host", "Time"],
                            start_ns=BASE_NS + 1_000_000_000, end_ns=BASE_NS + 3_000_000_000)
        filtered = await scan(store, tiles=[TILE_A], schema=schema, columns=["host"],
                              predicate="\"measure_value::double\" >= 1")
        return narrow, filtered

    narrow, filtered = run(tmp_path, body)
    assert narrow.table is not None and narrow.table.column_names == ["time", "Host", "Time"]
    assert narrow.table.column("Host").to_pylist() == ["H1", "H2"] and narrow.table.column("Time").to_pylist() == [
        "t1", "t2"]
    assert filtered.table is not None and sorted(filtered.table.column("host").to_pylist()) == ["h1", "h2", "h3"]


def test_key_filters_pushed_down_with_the_predicate_select_exactly_the_same_rows(tmp_path: Path) -> None:
    async def body(store: TileStore) -> tuple[ScanResult, ScanResult, ScanResult]:
        await load(store)
        await store.append(TILE_A, make_rows([Rec(BASE_NS + 9, dims={"host": "h1"}, measure="mem", value=5.0)]))
        predicate = "host IN ('h1', 'h9') AND measure_name = 'cpu'"
        plain = await scan(store, predicate=predicate, with_keys=True)
        pushed = await scan(store, predicate=predicate, with_keys=True, predicate_columns=["host", "measure_name"],
                            dimension_in={"host": ["h1", "h9"]}, measure_names=["cpu"])
        alone = await scan(store, dimension_in={"host": ["h0"]}, measure_names=["cpu", "mem"])
        return plain, pushed, alone

    plain, pushed, alone = run(tmp_path, body)
    assert plain.table is not None and pushed.table is not None and alone.table is not None
    assert pushed.table.sort_by("time").equals(plain.table.sort_by("time")) and pushed.digest == plain.digest
    assert sorted(ints(plain.table.column("time"))) == [BASE_NS + 7, BASE_NS + 1_000_000_000,
                                                        BASE_NS + 3_000_000_000, BASE_NS + 5_000_000_000]
    assert set(alone.table.column("host").to_pylist()) == {"h0"} and alone.rows == 3


def test_dropping_a_tile_removes_its_rows_from_both_tiers_and_keeps_its_neighbours(tmp_path: Path) -> None:
    async def body(store: TileStore) -> tuple[int, int, int, list[TileKey]]:
        await load(store)
        await store.append(TILE_LATER, make_rows([Rec(BASE_NS + layout.TILE_BUCKET_NS + i, value=float(i))
                                                  for i in range(3)]))
        if FLUSH_BEFORE_SCAN["on"]:  # one segment holding both buckets of range 0: it is rewritten
            await store.maintain(flush_all=True)
        dropped = await store.drop_tiles([TILE_A])
        gone = await store.scan([TILE_A], SCHEMA, [], "", BASE_NS, BASE_NS + layout.TILE_BUCKET_NS, False)
        later = await store.scan([TILE_LATER], SCHEMA, [], "", BASE_NS, BASE_NS + 2 * layout.TILE_BUCKET_NS, False)
        other = await store.scan([TILE_B], SCHEMA, [], "", BASE_NS, BASE_NS + layout.TILE_BUCKET_NS, False)
        return dropped, gone.rows, later.rows + 10 * other.rows, store.list_tiles("t1", 0, BUCKET + 5)

    dropped, gone, kept, tiles = run(tmp_path, body)
    assert (dropped, gone, kept) == (6, 0, 3 + 10)
    assert TILE_A not in tiles and TILE_LATER in tiles and TILE_B in tiles


def test_a_last_point_scan_returns_each_series_newest_rows_of_those_passing_and_digests_them_all(
        tmp_path: Path) -> None:
    async def body(store: TileStore) -> list[ScanResult]:
        await load(store)
        await store.append(TILE_LATER, make_rows([Rec(BASE_NS + layout.TILE_BUCKET_NS, dims={"host": "h0"},
                                                      value=50.0)]))
        tiles = [TILE_A, TILE_B, TILE_LATER]
        end = BASE_NS + 2 * layout.TILE_BUCKET_NS
        return [await scan(store, tiles=tiles, end_ns=end, **kw) for kw in (
            {}, {"latest_per_series": 1}, {"latest_per_series": 2},
            {"latest_per_series": 1, "predicate": '"measure_value::double" < 4'})]

    every, newest, two, passing = run(tmp_path, body)
    assert every.table is not None and newest.table is not None and two.table is not None
    assert passing.table is not None

    def values(result: ScanResult) -> list[tuple[str, float]]:
        assert result.table is not None
        return sorted(zip(result.table.column("host").to_pylist(),
                          result.table.column("measure_value::double").to_pylist()))

    assert values(newest) == [("h0", 50.0), ("h1", 5.0), ("h9", 99.0)]
    assert values(two) == [("h0", 4.0), ("h0", 50.0), ("h1", 3.0), ("h1", 5.0), ("h9", 99.0)]
    assert values(passing) == [("h0", 2.0), ("h1", 3.0)]  # the newest of the rows that pass
    assert newest.digest == two.digest == every.digest and newest.rows == every.rows == 8
