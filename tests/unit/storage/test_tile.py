"""Tile: classification of appends (the dedup rule at write), memory store, WAL recovery."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pyarrow as pa
import pytest

from services.storage import tile as tile_module
from services.storage.tile import REASON_SAME_VERSION, AppendResult, Tile, TileKey
from tessera import layout
from tessera.errors import InternalError, ValidationError
from tests.unit.storage import BASE_NS, Rec, ints, make_rows

KEY = TileKey("t1", 0, layout.bucket_of(BASE_NS))
SAME_VERSION_REASON = (
    "A record already exists with the same time, dimensions, measure name, and record version. "
    "A higher record version must be specified in order to update the measure value."
)


def open_tile(tmp_path: Path) -> Tile:
    return Tile.open(tmp_path / "tiles" / KEY.dir_name(), KEY)


def append(tile: Tile, rows: pa.Table) -> AppendResult:
    return asyncio.run(tile.append(rows))


def values(table: pa.Table) -> list[tuple[int, float]]:
    pairs = zip(ints(table.column(layout.TIME)), table.column("measure_value::double").to_pylist())
    return sorted((t - BASE_NS, v) for t, v in pairs)


def test_tile_key_round_trips_through_its_directory_name() -> None:
    for key in [TileKey("t1", 0, 0), TileKey("db.t-2", (1 << 64) - 1, -5), TileKey("x", 0xABC, 472222)]:
        assert TileKey.from_dir_name(key.dir_name()) == key
    assert TileKey("t1", 0xABC, -5).dir_name() == "t1/0000000000000abc_-5"


def test_tile_key_refuses_a_table_id_that_is_not_a_directory_name() -> None:
    with pytest.raises(ValidationError):
        TileKey("a/b", 0, 0)
    with pytest.raises(ValueError):
        TileKey.from_dir_name("t1/zz_1")


def test_a_new_key_is_stored(tmp_path: Path) -> None:
    tile = open_tile(tmp_path)
    result = append(tile, make_rows([Rec(BASE_NS, value=1.0), Rec(BASE_NS + 1, value=2.0)]))
    assert result == AppendResult(2, [])
    assert values(tile.snapshot()) == [(0, 1.0), (1, 2.0)]


def test_an_exact_duplicate_is_accepted_but_not_stored_again(tmp_path: Path) -> None:
    tile = open_tile(tmp_path)
    rows = make_rows([Rec(BASE_NS, value=1.0)])
    append(tile, rows)
    size = tile.wal.size
    assert append(tile, rows) == AppendResult(1, [])
    assert tile.wal.size == size
    assert tile.snapshot().num_rows == 1


def test_a_higher_version_supersedes_the_stored_row(tmp_path: Path) -> None:
    tile = open_tile(tmp_path)
    append(tile, make_rows([Rec(BASE_NS, value=1.0, version=1), Rec(BASE_NS + 5, value=9.0)]))
    assert append(tile, make_rows([Rec(BASE_NS, value=2.0, version=3)])) == AppendResult(1, [])
    snapshot = tile.snapshot()
    assert values(snapshot) == [(0, 2.0), (5, 9.0)]
    assert sorted(ints(snapshot.column(layout.VERSION))) == [1, 3]


def test_a_lower_version_is_rejected_with_the_existing_version(tmp_path: Path) -> None:
    tile = open_tile(tmp_path)
    append(tile, make_rows([Rec(BASE_NS, value=1.0, version=4)]))
    result = append(tile, make_rows([Rec(BASE_NS + 1, value=7.0), Rec(BASE_NS, value=2.0, version=2)]))
    assert result.accepted == 1
    [rejected] = result.rejected
    assert rejected.index == 1
    assert rejected.existing_version == 4
    assert rejected.reason == (
        "The record version 2 is lower than the existing version 4. "
        "A higher version is required to update the measure value."
    )
    assert values(tile.snapshot()) == [(0, 1.0), (1, 7.0)]


def test_the_same_version_with_another_value_is_rejected(tmp_path: Path) -> None:
    tile = open_tile(tmp_path)
    append(tile, make_rows([Rec(BASE_NS, value=1.0, version=2)]))
    result = append(tile, make_rows([Rec(BASE_NS, value=1.5, version=2)]))
    assert result.accepted == 0
    [rejected] = result.rejected
    assert (rejected.index, rejected.reason, rejected.existing_version) == (0, SAME_VERSION_REASON, 2)
    assert REASON_SAME_VERSION == SAME_VERSION_REASON
    assert values(tile.snapshot()) == [(0, 1.0)]


def test_rows_earlier_in_the_same_batch_count_as_existing(tmp_path: Path) -> None:
    tile = open_tile(tmp_path)
    batch = make_rows(
        [
            Rec(BASE_NS, value=1.0, version=1),
            Rec(BASE_NS, value=1.0, version=1),  # exact duplicate of row 0
            Rec(BASE_NS, value=2.0, version=1),  # same version, other value
            Rec(BASE_NS, value=3.0, version=5),  # supersedes row 0
            Rec(BASE_NS, value=4.0, version=4),  # lower than row 3
        ]
    )
    result = append(tile, batch)
    assert result.accepted == 3
    assert [(r.index, r.existing_version) for r in result.rejected] == [(2, 1), (4, 5)]
    assert result.rejected[0].reason == SAME_VERSION_REASON
    assert values(tile.snapshot()) == [(0, 3.0)]
    assert tile.existing(ints(batch.column(layout.SERIES))[0], BASE_NS) == (
        5,
        ints(batch.column(layout.VALUE_HASH))[3],
    )


def test_different_series_at_the_same_time_do_not_collide(tmp_path: Path) -> None:
    tile = open_tile(tmp_path)
    rows = make_rows(
        [
            Rec(BASE_NS, dims={"host": "a"}),
            Rec(BASE_NS, dims={"host": "b"}),
            Rec(BASE_NS, measure="mem"),
        ]
    )
    assert append(tile, rows) == AppendResult(3, [])
    assert tile.snapshot().num_rows == 3


def test_a_tile_reopened_from_its_wal_has_the_same_rows_and_index(tmp_path: Path) -> None:
    tile = open_tile(tmp_path)
    append(tile, make_rows([Rec(BASE_NS, value=1.0), Rec(BASE_NS + 1, value=2.0)]))
    append(tile, make_rows([Rec(BASE_NS, value=5.0, version=2)]))
    before = values(tile.snapshot())
    asyncio.run(tile.close())
    asyncio.run(tile.close())

    reopened = open_tile(tmp_path)
    assert values(reopened.snapshot()) == before == [(0, 5.0), (1, 2.0)]
    result = append(reopened, make_rows([Rec(BASE_NS, value=1.0, version=1), Rec(BASE_NS + 1, value=2.0)]))
    assert result.accepted == 1
    assert [(r.index, r.existing_version) for r in result.rejected] == [(0, 2)]


def test_tile_open_derives_the_key_from_the_directory(tmp_path: Path) -> None:
    tile = Tile.open(tmp_path / "tiles" / KEY.dir_name())
    assert tile.key == KEY


def test_appends_with_different_columns_are_merged_with_nulls(tmp_path: Path) -> None:
    tile = open_tile(tmp_path)
    append(tile, make_rows([Rec(BASE_NS, dims={"host": "a"}, measure="m", measures={"cpu": 1.0})]))
    append(
        tile,
        make_rows(
            [Rec(BASE_NS + 1, dims={"host": "a", "az": "z1"}, measure="m", measures={"cpu": 2.0, "n": 7})],
            measure_types={"n": pa.int64()},
        ),
    )
    snapshot = tile.snapshot()
    assert snapshot.num_rows == 2
    assert {"cpu", "n", "az", "host"} <= set(snapshot.column_names)
    assert snapshot.schema.field("n").type == pa.int64()
    by_time = sorted(
        zip(
            ints(snapshot.column(layout.TIME)),
            snapshot.column("n").to_pylist(),
            snapshot.column("az").to_pylist(),
        )
    )
    assert [(n, az) for _, n, az in by_time] == [(None, None), (7, "z1")]


def test_the_snapshot_is_cached_until_the_next_append(tmp_path: Path) -> None:
    tile = open_tile(tmp_path)
    append(tile, make_rows([Rec(BASE_NS)]))
    first = tile.snapshot()
    assert tile.snapshot() is first
    append(tile, make_rows([Rec(BASE_NS + 1)]))
    assert tile.snapshot() is not first
    assert tile.snapshot().num_rows == 2


def test_a_large_batch_is_classified_in_a_worker_thread_with_the_same_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tile_module, "INLINE_ROWS", 4)
    tile = open_tile(tmp_path)
    append(tile, make_rows([Rec(BASE_NS + i, value=float(i)) for i in range(10)]))
    result = append(tile, make_rows([Rec(BASE_NS + i, value=float(i) + (i % 2)) for i in range(10)]))
    assert result.accepted == 5
    assert [r.index for r in result.rejected] == [1, 3, 5, 7, 9]
    assert tile.snapshot().num_rows == 10


def test_an_append_returns_only_after_its_wal_entry_is_synced(tmp_path: Path) -> None:
    tile = open_tile(tmp_path)

    async def go() -> None:
        await asyncio.gather(*(tile.append(make_rows([Rec(BASE_NS + i)])) for i in range(20)))
        assert tile.wal.fsync_count >= 1
        assert tile.wal._synced_seq == tile.wal.last_seq == 20

    asyncio.run(go())


def test_rows_without_the_layout_columns_are_refused(tmp_path: Path) -> None:
    tile = open_tile(tmp_path)
    rows = make_rows([Rec(BASE_NS)]).drop_columns([layout.VALUE_HASH])
    with pytest.raises(ValidationError, match="ts_vhash"):
        append(tile, rows)


def test_a_torn_wal_tail_loses_only_the_torn_append(tmp_path: Path) -> None:
    tile = open_tile(tmp_path)
    append(tile, make_rows([Rec(BASE_NS, value=1.0)]))
    good = tile.wal.size
    append(tile, make_rows([Rec(BASE_NS + 1, value=2.0)]))
    asyncio.run(tile.close())
    os.truncate(tile.wal.path, tile.wal.size - 3)

    reopened = open_tile(tmp_path)
    assert values(reopened.snapshot()) == [(0, 1.0)]
    assert reopened.wal.size == good


def test_a_failed_wal_write_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tile = open_tile(tmp_path)
    append(tile, make_rows([Rec(BASE_NS, value=1.0)]))
    size = tile.wal.size

    def no_space(fd: int, data: object) -> int:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(os, "write", no_space)
        with pytest.raises(InternalError, match="No space left"):
            append(tile, make_rows([Rec(BASE_NS, value=2.0, version=2), Rec(BASE_NS + 1)]))

    assert tile.wal.size == size == os.path.getsize(tile.wal.path)
    assert values(tile.snapshot()) == [(0, 1.0)]
    assert append(tile, make_rows([Rec(BASE_NS, value=2.0, version=2)])) == AppendResult(1, [])
    assert values(tile.snapshot()) == [(0, 2.0)]


def test_an_append_that_retypes_a_stored_column_is_refused_before_the_wal(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    import pyarrow as pa
    import pytest

    from services.storage.tile import Tile
    from tessera import layout
    from tessera.errors import ValidationError

    def rows(value: pa.Array) -> pa.Table:
        t = pa.table({"time": pa.array([1], layout.TIME_TYPE), "measure_name": ["m"], "h": ["a"], "x": value})
        out, _ = layout.with_key_columns(t, ["h"], ["x"], pa.array([1]))
        return out

    async def run() -> None:
        tile = Tile.open(tmp_path / "t" / "0000000000000000_1")
        await tile.append(rows(pa.array([1.5])))
        size = tile.wal.size
        with pytest.raises(ValidationError, match="'x' is stored as double"):
            await tile.append(rows(pa.array(["text"])))
        assert tile.wal.size == size
        await tile.close()
        reopened = Tile.open(tmp_path / "t" / "0000000000000000_1")
        assert reopened.snapshot().num_rows == 1
        await reopened.close()

    asyncio.run(run())


def test_all_new_batches_take_the_fast_path_and_later_duplicates_are_still_caught(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    import pyarrow as pa

    from services.storage.tile import REASON_SAME_VERSION, Tile
    from tessera import layout

    def rows(times: list[int], value: float) -> pa.Table:
        t = pa.table({"time": pa.array(times, layout.TIME_TYPE), "measure_name": ["m"] * len(times),
                      "h": ["a"] * len(times), "x": [value] * len(times)})
        out, _ = layout.with_key_columns(t, ["h"], ["x"], pa.array([1] * len(times)))
        return out

    async def run() -> None:
        tile = Tile.open(tmp_path / "t" / "0000000000000000_1")
        assert (await tile.append(rows(list(range(100)), 1.0))).accepted == 100
        assert (await tile.append(rows(list(range(100, 200)), 1.0))).accepted == 100
        again = await tile.append(rows([5, 150, 300], 2.0))  # two conflicts mixed with one new key
        assert [r.index for r in again.rejected] == [0, 1] and again.rejected[0].reason == REASON_SAME_VERSION
        assert (await tile.append(rows([7, 300], 1.0))).accepted == 1  # an exact duplicate of 7 is accepted
        assert tile.snapshot().num_rows == 201
        await tile.close()
        assert len(Tile.open(tmp_path / "t" / "0000000000000000_1")) == 201

    asyncio.run(run())
