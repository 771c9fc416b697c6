"""The storage engine end to end in one process: the dedup rule at write over both tiers, the node WAL and its
replay, flushes into segments, compaction, retention, deleted tables and back-pressure."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pytest

from services.storage import tilestore as tilestore_module
from services.storage.config import StorageConfig
from services.storage.memstore import REASON_SAME_VERSION, AppendResult
from services.storage.tilekey import TileKey
from services.storage.tilestore import TileStore
from tessera import layout
from tessera.errors import InternalError, NotFound, Throttled, ValidationError
from tests.unit.storage import BASE_NS, Rec, ints, make_rows

T = TypeVar("T")
HOUR = layout.TILE_BUCKET_NS
KEY = TileKey("t1", 0, layout.bucket_of(BASE_NS))
NEXT = TileKey("t1", 0, KEY.bucket + 1)
SAME_VERSION_REASON = (
    "A record already exists with the same time, dimensions, measure name, and record version. "
    "A higher record version must be specified in order to update the measure value."
)


@dataclass
class Facts:
    memory_retention_ns: int = 10**18
    magnetic_retention_ns: int = 10**18
    measures: tuple[str, ...] = ("measure_value::double",)

    def measure_columns(self) -> list[str]:
        return list(self.measures)


@dataclass
class Tables:
    facts: dict[str, Facts]
    gone: set[str]
    fetched: list[str] = field(default_factory=list)

    def get(self, table_id: str) -> Facts | None:
        return self.facts.get(table_id)

    def deleted(self, table_id: str) -> bool:
        return table_id in self.gone

    async def fetch(self, table_id: str) -> Facts | None:
        self.fetched.append(table_id)
        return self.facts.get(table_id)


def config(tmp_path: Path, **kw: Any) -> StorageConfig:
    return StorageConfig(data_dir=tmp_path / "data", tier_interval_s=0, **kw)


@asynccontextmanager
async def opened(cfg: StorageConfig, tables: Tables | None = None) -> AsyncIterator[TileStore]:
    store = TileStore(cfg, tables)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def run(body: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(body())


def values(table: pa.Table) -> list[tuple[int, float]]:
    pairs = zip(ints(table.column(layout.TIME)), table.column("measure_value::double").to_pylist())
    return sorted((t - BASE_NS, v) for t, v in pairs)


def recs(*pairs: tuple[int, float], version: int = 1) -> pa.Table:
    return make_rows([Rec(BASE_NS + t, value=v, version=version) for t, v in pairs])


# --- the dedup rule at write -------------------------------------------------------------------------------


def test_new_keys_are_stored_and_an_exact_duplicate_is_accepted_but_not_stored_again(tmp_path: Path) -> None:
    async def go() -> None:
        async with opened(config(tmp_path)) as store:
            assert await store.append(KEY, recs((0, 1.0), (1, 2.0))) == AppendResult(2, [])
            lsn = store.wal.last_lsn
            assert await store.append(KEY, recs((0, 1.0))) == AppendResult(1, [])
            assert store.wal.last_lsn == lsn  # nothing new written
            assert values(store.tile_rows(KEY)) == [(0, 1.0), (1, 2.0)]

    run(go)


def test_higher_versions_supersede_and_lower_or_conflicting_ones_are_rejected_with_the_existing_version(
        tmp_path: Path) -> None:
    async def go() -> None:
        async with opened(config(tmp_path)) as store:
            await store.append(KEY, recs((0, 1.0), version=4))
            lower = await store.append(KEY, make_rows([Rec(BASE_NS + 1, value=7.0), Rec(BASE_NS, value=2.0, version=2)]))
            assert lower.accepted == 1 and [(r.index, r.existing_version) for r in lower.rejected] == [(1, 4)]
            assert lower.rejected[0].reason == ("The record version 2 is lower than the existing version 4. "
                                                "A higher version is required to update the measure value.")
            same = await store.append(KEY, recs((0, 1.5), version=4))
            assert (same.accepted, same.rejected[0].reason, same.rejected[0].existing_version) == (
                0, SAME_VERSION_REASON, 4)
            assert REASON_SAME_VERSION == SAME_VERSION_REASON
            assert await store.append(KEY, recs((0, 3.0), version=9)) == AppendResult(1, [])
            assert values(store.tile_rows(KEY)) == [(0, 3.0), (1, 7.0)]

    run(go)


def test_rows_earlier_in_the_same_batch_count_as_existing(tmp_path: Path) -> None:
    async def go() -> None:
        async with opened(config(tmp_path)) as store:
            batch = make_rows([Rec(BASE_NS, value=1.0), Rec(BASE_NS, value=1.0), Rec(BASE_NS, value=2.0),
                               Rec(BASE_NS, value=3.0, version=5), Rec(BASE_NS, value=4.0, version=4)])
            result = await store.append(KEY, batch)
            assert result.accepted == 3
            assert [(r.index, r.existing_version) for r in result.rejected] == [(2, 1), (4, 5)]
            assert values(store.tile_rows(KEY)) == [(0, 3.0)]

    run(go)


def test_the_dedup_rule_holds_against_rows_already_in_the_magnetic_store(tmp_path: Path) -> None:
    async def go() -> None:
        async with opened(config(tmp_path)) as store:
            await store.append(KEY, recs((0, 1.0), (1, 2.0), version=2))
            report = await store.maintain(flush_all=True)
            assert report.flushed_rows == 2 and store.tile_rows(KEY).num_rows == 2
            assert await store.append(KEY, recs((0, 1.0), version=2)) == AppendResult(1, [])  # exact retry
            conflict = await store.append(KEY, recs((0, 9.0), version=2))
            assert conflict.rejected[0].reason == SAME_VERSION_REASON and conflict.rejected[0].existing_version == 2
            lower = await store.append(KEY, recs((1, 9.0), version=1))
            assert lower.rejected[0].existing_version == 2
            assert await store.append(KEY, recs((1, 5.0), version=3)) == AppendResult(1, [])
            assert values(store.tile_rows(KEY)) == [(0, 1.0), (1, 5.0)]  # the upsert wins across the tiers
            await store.maintain(flush_all=True)
            assert values(store.tile_rows(KEY)) == [(0, 1.0), (1, 5.0)]  # and across two segments

    run(go)


def test_appends_with_different_columns_are_merged_with_nulls_and_a_retyped_column_is_refused(
        tmp_path: Path) -> None:
    async def go() -> None:
        async with opened(config(tmp_path)) as store:
            await store.append(KEY, make_rows([Rec(BASE_NS, measure="m", measures={"cpu": 1.0})]))
            await store.append(KEY, make_rows([Rec(BASE_NS + 1, dims={"host": "a", "az": "z1"}, measure="m",
                                                   measures={"cpu": 2.0, "n": 7})], measure_types={"n": pa.int64()}))
            rows = store.tile_rows(KEY)
            assert rows.num_rows == 2 and rows.schema.field("n").type == pa.int64()
            lsn = store.wal.last_lsn
            with pytest.raises(ValidationError, match="'n' is stored as int64"):
                await store.append(KEY, make_rows([Rec(BASE_NS + 2, measure="m", measures={"n": "x"})],
                                                  measure_types={"n": pa.string()}))
            assert store.wal.last_lsn == lsn

    run(go)


def test_rows_without_the_layout_columns_are_refused(tmp_path: Path) -> None:
    async def go() -> None:
        async with opened(config(tmp_path)) as store:
            with pytest.raises(ValidationError, match="ts_vhash"):
                await store.append(KEY, recs((0, 1.0)).drop_columns([layout.VALUE_HASH]))

    run(go)


def test_a_large_batch_is_classified_in_a_worker_thread_with_the_same_rules(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tilestore_module, "INLINE_ROWS", 4)

    async def go() -> None:
        async with opened(config(tmp_path)) as store:
            await store.append(KEY, make_rows([Rec(BASE_NS + i, value=float(i)) for i in range(10)]))
            result = await store.append(KEY, make_rows([Rec(BASE_NS + i, value=float(i) + (i % 2)) for i in range(10)]))
            assert result.accepted == 5 and [r.index for r in result.rejected] == [1, 3, 5, 7, 9]

    run(go)


# --- the WAL -----------------------------------------------------------------------------------------------


def test_concurrent_appends_to_many_tiles_share_fsyncs_of_one_log(tmp_path: Path) -> None:
    async def go() -> None:
        async with opened(config(tmp_path)) as store:
            keys = [TileKey("t1", i << 56, KEY.bucket + j) for i in range(4) for j in range(3)]
            await asyncio.gather(*(store.append(k, recs((n, float(n)))) for n in range(10) for k in keys))
            assert store.wal.last_lsn == 120
            assert store.wal.fsync_count < 120

    run(go)


def test_a_reopened_store_replays_its_wal_to_the_same_rows_and_classifies_retries_alike(tmp_path: Path) -> None:
    async def go() -> None:
        async with opened(config(tmp_path)) as store:
            await store.append(KEY, recs((0, 1.0), (1, 2.0)))
            await store.append(KEY, recs((0, 5.0), version=2))
        async with opened(config(tmp_path)) as store:
            assert store.replayed_entries == 2
            assert values(store.tile_rows(KEY)) == [(0, 5.0), (1, 2.0)]
            result = await store.append(KEY, make_rows([Rec(BASE_NS, value=1.0), Rec(BASE_NS + 1, value=2.0)]))
            assert result.accepted == 1 and [(r.index, r.existing_version) for r in result.rejected] == [(0, 2)]

    run(go)


def test_restart_replays_only_what_is_not_yet_in_the_magnetic_store(tmp_path: Path) -> None:
    async def go() -> None:
        async with opened(config(tmp_path)) as store:
            for i in range(50):
                await store.append(KEY, recs((i, float(i))))
            await store.maintain(flush_all=True)
            await store.append(NEXT, make_rows([Rec(BASE_NS + HOUR, value=1.0)]))
            assert store.wal.checkpoint_lsn == 51
        async with opened(config(tmp_path)) as store:
            assert store.replayed_entries == 1
            assert len(values(store.tile_rows(KEY))) == 50 and store.tile_rows(NEXT).num_rows == 1
            assert store.list_tiles("t1", 0, 10**9) == [KEY, NEXT]

    run(go)


def test_wal_entries_already_flushed_are_not_replayed_twice_when_the_checkpoint_lags(tmp_path: Path) -> None:
    async def go() -> None:
        async with opened(config(tmp_path)) as store:
            await store.append(NEXT, make_rows([Rec(BASE_NS + HOUR, value=1.0)]))  # held back: the checkpoint stays
            await store.append(KEY, recs((0, 1.0)))
            await store.maintain(flush_all=False)  # nothing due
            partition = store._partitions[("t1", 0)]
            await partition.flush([KEY.bucket], lambda rows: ["measure_value::double"], store.wal.sync)
            assert store.wal.checkpoint_lsn <= 1
        async with opened(config(tmp_path)) as store:
            assert store.replayed_entries == 1  # only NEXT's entry; KEY's is in the segment
            assert values(store.tile_rows(KEY)) == [(0, 1.0)]

    run(go)


def test_a_failed_wal_write_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def go() -> None:
        async with opened(config(tmp_path)) as store:
            await store.append(KEY, recs((0, 1.0)))
            lsn = store.wal.last_lsn

            def no_space(fd: int, data: object) -> int:
                raise OSError(28, "No space left on device")

            with monkeypatch.context() as m:
                m.setattr(os, "write", no_space)
                with pytest.raises(InternalError, match="No space left"):
                    await store.append(KEY, make_rows([Rec(BASE_NS, value=2.0, version=2), Rec(BASE_NS + 1)]))
            assert store.wal.last_lsn == lsn and values(store.tile_rows(KEY)) == [(0, 1.0)]
            assert await store.append(KEY, recs((0, 2.0), version=2)) == AppendResult(1, [])

    run(go)


# --- tiers, compaction, retention --------------------------------------------------------------------------


def test_a_flush_moves_rows_to_a_segment_and_reads_are_unchanged(tmp_path: Path) -> None:
    async def go() -> None:
        async with opened(config(tmp_path)) as store:
            await store.append(KEY, recs(*[(i, i * 0.25) for i in range(100)]))
            await store.append(KEY, recs((0, 7.0), version=2))  # two chunks, merged by the snapshot below
            await store.append(NEXT, make_rows([Rec(BASE_NS + HOUR + i, value=float(i)) for i in range(10)]))
            before = values(store.tile_rows(KEY))
            report = await store.maintain(flush_all=True)
            assert (report.flushed_rows, report.flushed_segments) == (110, 1)  # one segment over both hours
            assert store.memory_bytes() == 0
            assert store.memory_bytes() == 0
            assert values(store.tile_rows(KEY)) == before and store.tile_rows(NEXT).num_rows == 10
            assert list((tmp_path / "data" / "magnetic" / "t1" / f"{0:016x}").glob("*.parquet"))

    run(go)


def test_a_tile_of_the_current_hour_is_flushed_once_idle_and_keeps_taking_appends(tmp_path: Path) -> None:
    async def go() -> None:
        async with opened(config(tmp_path, open_idle_flush_s=60.0)) as store:
            store.clock.offset_ns = BASE_NS + HOUR // 2 - store.clock.now_ns()  # "now": inside KEY's hour
            await store.append(KEY, recs(*[(i, float(i)) for i in range(50)]))
            partition = store._partitions[("t1", 0)]
            assert (await store.maintain()).flushed_rows == 0  # it just took an append
            partition.tiles[KEY.bucket].mem.last_append_monotonic -= 61  # a minute without appends
            report = await store.maintain()
            assert (report.flushed_rows, store.memory_bytes()) == (50, 0)
            assert await store.append(KEY, recs((0, 7.0), version=2)) == AppendResult(1, [])  # an upsert
            older = await store.append(KEY, recs((0, 1.0)))  # version 1, below the upsert's 2: refused
            assert [(r.index, r.existing_version) for r in older.rejected] == [(0, 2)]
            assert values(store.tile_rows(KEY))[:2] == [(0, 7.0), (1, 1.0)]
            assert (await store.maintain()).flushed_rows == 0

    run(go)


def test_compaction_merges_segments_and_keeps_only_the_newest_version(tmp_path: Path) -> None:
    async def go() -> None:
        async with opened(config(tmp_path, compact_min_segments=3)) as store:
            for version in (1, 2, 3, 4):
                await store.append(KEY, recs((0, float(version)), (version, 1.0), version=version))
                await store.maintain(flush_all=True, compact=False)
            partition = store._partitions[("t1", 0)]
            assert len(partition.manifest.segments) == 4
            report = await store.maintain(compact=True)
            assert report.compacted_segments == 4 and len(partition.manifest.segments) == 1
            assert values(store.tile_rows(KEY)) == [(0, 4.0), (1, 1.0), (2, 1.0), (3, 1.0), (4, 1.0)]
            assert partition.manifest.segments[0].info.rows == 5
            files = sorted(p.name for p in (tmp_path / "data" / "magnetic" / "t1" / f"{0:016x}").glob("*.parquet"))
            assert files == [partition.manifest.segments[0].name]

    run(go)


def test_a_reader_keeps_its_segments_while_a_compaction_replaces_them(tmp_path: Path) -> None:
    async def go() -> None:
        async with opened(config(tmp_path, compact_min_segments=2)) as store:
            for i in range(3):
                await store.append(KEY, recs((i, float(i))))
                await store.maintain(flush_all=True, compact=False)
            partition = store._partitions[("t1", 0)]
            view = partition.view([KEY.bucket])
            await store.maintain(compact=True)
            from services.storage.tileview import ReadFilter
            assert values(view.read(ReadFilter(BASE_NS, BASE_NS + HOUR)).table) == [(0, 0.0), (1, 1.0), (2, 2.0)]
            view.release()
            directory = tmp_path / "data" / "magnetic" / "t1" / f"{0:016x}"
            assert len(list(directory.glob("*.parquet"))) == 1

    run(go)


def test_retention_deletes_old_rows_from_both_tiers_and_follows_a_live_change(tmp_path: Path) -> None:
    tables = Tables({"t1": Facts()}, set())

    async def go() -> None:
        async with opened(config(tmp_path), tables) as store:
            await store.append(KEY, recs(*[(i * 60 * 10**9, float(i)) for i in range(40)]))  # one a minute, one hour
            await store.maintain(flush_all=True)
            await store.append(NEXT, make_rows([Rec(BASE_NS + HOUR + i * 60 * 10**9, value=1.0) for i in range(40)]))
            store.clock.offset_ns = BASE_NS + 2 * HOUR - 10**9 - store.clock.now_ns()  # "now": ~2 h after BASE_NS
            assert (await store.maintain()).expired_rows == 0
            tables.facts["t1"] = replace(tables.facts["t1"], memory_retention_ns=HOUR // 2,
                                         magnetic_retention_ns=HOUR)  # keep 90 minutes: from BASE_NS + 30 min
            report = await store.maintain()
            assert report.expired_rows == 30
            assert [t for t, _ in values(store.tile_rows(KEY))] == [i * 60 * 10**9 for i in range(30, 40)]
            assert store.tile_rows(NEXT).num_rows == 40

    run(go)


def test_a_deleted_tables_data_is_removed_and_not_replayed(tmp_path: Path) -> None:
    tables = Tables({"t1": Facts(), "t2": Facts()}, set())
    other = TileKey("t2", 0, KEY.bucket)

    async def go() -> None:
        async with opened(config(tmp_path), tables) as store:
            await store.append(KEY, recs((0, 1.0)))
            await store.maintain(flush_all=True)
            await store.append(KEY, recs((1, 1.0)))
            await store.append(other, recs((0, 1.0)))
            tables.gone.add("t1")
            assert (await store.maintain()).dropped_tables == 1
            assert store.list_tiles("t1", 0, 10**9) == [] and store.tile_rows(KEY).num_rows == 0
            with pytest.raises(NotFound, match="was deleted"):
                await store.append(KEY, recs((2, 1.0)))
        assert not list((tmp_path / "data" / "magnetic" / "t1").glob("*/*"))
        async with opened(config(tmp_path), Tables({"t2": Facts()}, set())) as store:
            assert store.tile_rows(KEY).num_rows == 0 and store.tile_rows(other).num_rows == 1

    run(go)


def test_an_append_to_a_table_id_the_node_never_heard_of_asks_the_catalog_once(tmp_path: Path) -> None:
    """A table deleted before this node ever knew it (its id came from a stale route): the catalog says it is
    gone, so the rows are refused rather than acknowledged into a table nobody can read."""

    class Catalog(Tables):
        async def fetch(self, table_id: str) -> Facts | None:
            self.fetched.append(table_id)
            if table_id in known:
                self.facts[table_id] = known[table_id]  # cached, as the real catalog does
            else:
                self.gone.add(table_id)  # NotFound: gone for good
            return self.facts.get(table_id)

    known = {"t1": Facts()}  # in the catalog, not yet brought by the watch
    tables = Catalog({}, set())
    gone = TileKey("t9", 0, KEY.bucket)

    async def go() -> None:
        async with opened(config(tmp_path), tables) as store:
            with pytest.raises(NotFound, match="was deleted"):
                await store.append(gone, recs((0, 1.0)))
            await store.append(KEY, recs((0, 1.0)))
            await store.append(KEY, recs((1, 1.0)))
            assert tables.fetched == ["t9", "t1"]  # once per id
            assert store.tile_rows(KEY).num_rows == 2

    run(go)


def test_appends_beyond_the_memory_limit_are_throttled_until_a_flush_frees_memory(tmp_path: Path) -> None:
    async def go() -> None:
        cfg = config(tmp_path, memory_limit_bytes=16 << 20)
        async with opened(cfg) as store:
            n = 400_000
            table = pa.table({layout.TIME: pa.array(range(BASE_NS, BASE_NS + n), pa.int64()).cast(layout.TIME_TYPE),
                              layout.MEASURE_NAME: pa.array(["cpu"] * n), "host": pa.array(["h1"] * n),
                              "measure_value::double": pa.array(range(n), pa.float64())})
            big, _ = layout.with_key_columns(table, ["host"], ["measure_value::double"], pa.array([1] * n))
            assert big.nbytes > cfg.memstore_limit_bytes
            await store.append(KEY, big)
            with pytest.raises(Throttled, match="retry after"):
                await store.append(NEXT, make_rows([Rec(BASE_NS + HOUR, value=1.0)]))
            await store.maintain()  # above the flush mark: the biggest memory store goes first
            assert store.memory_bytes() < cfg.memstore_limit_bytes
            assert (await store.append(NEXT, make_rows([Rec(BASE_NS + HOUR, value=1.0)]))).accepted == 1

    run(go)


def test_a_corrupt_wal_entry_in_the_middle_makes_every_scan_incomplete_and_later_entries_survive(
        tmp_path: Path) -> None:
    schema = [("host", "VARCHAR"), ("measure_value::double", "DOUBLE")]

    async def go() -> None:
        async with opened(config(tmp_path)) as store:
            await store.append(KEY, recs((0, 1.0)))
            first_entry_end = store.wal.bytes_on_disk
            await store.append(NEXT, make_rows([Rec(BASE_NS + HOUR, value=2.0)]))
            await store.append(KEY, recs((1, 3.0)))
        [segment] = sorted((tmp_path / "data" / "wal").glob("*.seg"))
        data = bytearray(segment.read_bytes())
        data[first_entry_end + 40] ^= 0x10  # a bit flipped inside the second entry's payload
        segment.write_bytes(bytes(data))
        async with opened(config(tmp_path)) as store:
            assert values(store.tile_rows(KEY)) == [(0, 1.0), (1, 3.0)]  # the entry after the damage is kept
            assert store.tile_rows(NEXT).num_rows == 0  # the damaged one is lost, and its tile with it...
            result = await store.scan([KEY, NEXT], schema, [], "", BASE_NS, BASE_NS + 2 * HOUR, False)
            assert set(result.incomplete) == {KEY.dir_name(), NEXT.dir_name()}  # ...so no tile here counts
            await store.maintain(flush_all=True)  # the damaged WAL segment goes with the checkpoint
        async with opened(config(tmp_path)) as store:  # the mark outlives the damaged segment
            result = await store.scan([NEXT], schema, [], "", BASE_NS, BASE_NS + 2 * HOUR, False)
            assert result.incomplete == (NEXT.dir_name(),)
            nothing = await store.scan([], schema, [], "", BASE_NS, BASE_NS + 2 * HOUR, False)
            assert nothing.incomplete

    run(go)


def test_compaction_merges_segments_of_comparable_size_and_leaves_a_small_one_beside_a_big_one() -> None:
    from services.storage.compaction import plan_runs
    from services.storage.manifest import SegmentEntry
    from services.storage.segment_info import KeySummary, SegmentInfo

    def seg(name: str, start: int, rows: int) -> SegmentEntry:
        keys = KeySummary.of(np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64))
        info = SegmentInfo(rows=rows, bytes=rows, min_time_ns=start, max_time_ns=start + 1, columns=(), measures=(),
                           measure_names=(), keys=keys)
        return SegmentEntry(name, info)

    equal = [seg("a", 0, 100), seg("b", 10, 100), seg("c", 20, 100)]
    assert [[s.name for s in r] for r in plan_runs(equal, 2, 1000)] == [["a", "b", "c"]]
    lopsided = [seg("big", 0, 900), seg("tiny", 10, 10)]
    assert plan_runs(lopsided, 2, 1000) == []  # rewriting 900 rows to absorb 10 is not worth it yet
    grown = [seg("big", 0, 400), seg("s1", 10, 50), seg("s2", 20, 60)]
    assert [[s.name for s in r] for r in plan_runs(grown, 2, 1000)] == [["big", "s1", "s2"]]
    assert plan_runs([seg("x", 0, 5000), seg("y", 10, 10)], 2, 1000) == []  # at the target already


def test_a_flush_of_many_hours_is_split_so_none_holds_more_than_flush_max_rows(tmp_path: Path) -> None:
    async def go() -> None:
        async with opened(config(tmp_path, flush_max_rows=1000, compact_min_segments=10)) as store:
            for hour in range(3):
                key = TileKey("t1", 0, KEY.bucket + hour)
                await store.append(key, make_rows([Rec(BASE_NS + hour * HOUR + i, value=1.0) for i in range(600)]))
            report = await store.maintain(flush_all=True, compact=False)
            assert (report.flushed_rows, report.flushed_segments) == (1800, 3)
            assert all(s.info.rows == 600 for s in store._partitions[("t1", 0)].manifest.segments)

    run(go)


def test_a_tile_larger_than_a_flush_may_take_is_flushed_oldest_chunks_first_and_replay_keeps_the_rest(
        tmp_path: Path) -> None:
    async def go() -> None:
        cfg = config(tmp_path, memory_limit_bytes=160 << 20, compact_min_segments=10)
        chunk = 200_000  # ~11 MB of memory-store rows an append; one flush may take ~13 MB (a quarter of 160, /3)
        async with opened(cfg) as store:
            for i in range(4):
                await store.append(KEY, make_rows([Rec(BASE_NS + i * chunk + t, value=float(i)) for t in range(chunk)]))
            partition = store._partitions[("t1", 0)]
            assert partition.tiles[KEY.bucket].mem.nbytes > 2 * (cfg.work_bytes // 3)
            first = await store.maintain(flush_all=True, compact=False)
            assert 0 < first.flushed_rows < 4 * chunk and first.flushed_rows % chunk == 0  # whole chunks, oldest first
            held = partition.tiles[KEY.bucket].mem.rows
            assert held == 4 * chunk - first.flushed_rows
            assert store.tile_rows(KEY).num_rows == 4 * chunk
        async with opened(cfg) as store:  # replay skips what the prefix flush covered and restores the rest
            partition = store._partitions[("t1", 0)]
            assert partition.tiles[KEY.bucket].mem.rows == held
            rows = store.tile_rows(KEY)
            assert rows.num_rows == 4 * chunk
            assert sorted(set(rows.column("measure_value::double").to_pylist())) == [0.0, 1.0, 2.0, 3.0]
            while (await store.maintain(flush_all=True, compact=False)).flushed_rows:
                pass
            assert store.memory_bytes() == 0 and store.tile_rows(KEY).num_rows == 4 * chunk

    run(go)


def test_compaction_merges_no_more_rows_than_the_working_memory_share_allows(tmp_path: Path) -> None:
    from services.storage import compaction

    async def go() -> None:
        cfg = config(tmp_path, compact_min_segments=100)
        async with opened(cfg) as store:
            for hour in range(6):
                key = TileKey("t1", 0, KEY.bucket + hour)
                await store.append(key, make_rows([Rec(BASE_NS + hour * HOUR + i, value=1.0) for i in range(5000)]))
                await store.maintain(flush_all=True, compact=False)
            partition = store._partitions[("t1", 0)]
            assert partition.row_bytes > 1
            work = 12_000 * compaction.WORK_PER_ROW_BYTE * partition.row_bytes  # room for 12,000 rows at a time
            replaced = await compaction.compact(partition, lambda rows: ["measure_value::double"], 2, 10**6, work)
            assert replaced == 6
            assert sorted(s.info.rows for s in partition.manifest.segments) == [10_000, 10_000, 10_000]
            assert sum(store.tile_rows(TileKey("t1", 0, KEY.bucket + h)).num_rows for h in range(6)) == 30_000

    run(go)


@pytest.mark.parametrize("flushed", [False, True], ids=["in-memory", "in-a-segment"])
def test_repair_install_replaces_a_same_version_value_and_survives_a_restart(tmp_path: Path, flushed: bool) -> None:
    async def go() -> None:
        async with opened(config(tmp_path)) as store:
            await store.append(KEY, recs((0, 1.0), (1, 5.0), version=3))
            if flushed:
                await store.maintain(flush_all=True)
            # The replicas decided: key 0 holds 2.0 at version 3; an older version of key 1 changes nothing.
            assert await store.install(KEY, make_rows([Rec(BASE_NS, value=2.0, version=3),
                                                       Rec(BASE_NS + 1, value=9.0, version=2)])) == 1
            assert values(store.tile_rows(KEY)) == [(0, 2.0), (1, 5.0)]
            assert await store.install(KEY, recs((0, 2.0), version=3)) == 0  # already so: nothing stored
            # Appends keep the dedup rule against the repaired value: the old value is now the conflict.
            again = await store.append(KEY, recs((0, 1.0), version=3))
            assert again.accepted == 0 and again.rejected[0].reason == SAME_VERSION_REASON
        async with opened(config(tmp_path)) as store:  # replay applies the replacement again
            assert values(store.tile_rows(KEY)) == [(0, 2.0), (1, 5.0)]
            await store.maintain(flush_all=True)
            assert values(store.tile_rows(KEY)) == [(0, 2.0), (1, 5.0)]

    run(go)


def test_flushes_write_a_fast_zstd_level_and_compaction_rewrites_a_lone_quiet_segment_at_the_final_one(
        tmp_path: Path) -> None:
    async def go() -> None:
        cfg = config(tmp_path, flush_zstd_level=1, segment_zstd_level=9, idle_flush_s=0)
        async with opened(cfg) as store:
            await store.append(KEY, recs((0, 1.0), (1, 2.0)))
            await store.maintain(flush_all=True, compact=False)
            [flushed] = store._partitions[("t1", 0)].manifest.segments
            assert flushed.level == 1
            await store.maintain(compact=True)  # its hour ended long ago: rewritten alone
            [final] = store._partitions[("t1", 0)].manifest.segments
            assert final.level == 9 and final.name != flushed.name
            assert values(store.tile_rows(KEY)) == [(0, 1.0), (1, 2.0)]
            assert (await store.maintain(compact=True)).compacted_segments == 0  # once only
        async with opened(cfg) as store:  # the level survives in the manifest
            assert store._partitions[("t1", 0)].manifest.segments[0].level == 9

    run(go)


def test_an_upsert_left_in_memory_by_a_prefix_flush_still_hides_the_old_version_flushed(tmp_path: Path) -> None:
    async def go() -> None:
        cfg = config(tmp_path, memory_limit_bytes=128 << 20, compact_min_segments=10)
        chunk = 200_000
        async with opened(cfg) as store:
            for i in range(3):
                await store.append(KEY, make_rows([Rec(BASE_NS + i * chunk + t, value=2.0) for t in range(chunk)]))
                if i == 1:
                    await store.append(KEY, recs((5, 99.0), version=2))  # an upsert, after the prefix a flush takes
            first = await store.maintain(flush_all=True, compact=False)
            assert first.flushed_rows == chunk  # only the first chunk: version 1 of key 5 is now in a segment
            rows = store.tile_rows(KEY)
            assert rows.num_rows == 3 * chunk
            times = rows.column(layout.TIME).cast(pa.int64()).to_numpy() - BASE_NS
            assert rows.column("measure_value::double").to_numpy()[times == 5].tolist() == [99.0]

    run(go)


def test_repair_install_is_a_compare_and_swap_against_what_the_replica_held_when_it_voted(tmp_path: Path) -> None:
    async def go() -> None:
        async with opened(config(tmp_path)) as store:
            await store.append(KEY, recs((0, 1.0), version=1))
            held = store.tile_rows(KEY)
            key = (held.column(layout.SERIES)[0].as_py(), BASE_NS)
            now = (1, held.column(layout.VALUE_HASH)[0].as_py())
            outvoted = recs((0, 2.0), version=1)
            # The vote saw the key absent here; it was written since (acknowledged meanwhile): left alone.
            assert await store.install(KEY, outvoted, expected={}) == 0
            assert await store.install(KEY, outvoted, expected={key: (1, 12345)}) == 0
            assert values(store.tile_rows(KEY)) == [(0, 1.0)]
            assert await store.install(KEY, outvoted, expected={key: now}) == 1  # as voted: replaced
            assert values(store.tile_rows(KEY)) == [(0, 2.0)]

    run(go)


def test_tile_digests_from_cached_segment_parts_equal_the_digests_of_the_tiles_rows(tmp_path: Path) -> None:
    from tessera import digest

    async def go() -> None:
        async with opened(config(tmp_path)) as store:
            await store.append(KEY, recs(*[(i * 7_000_000_000, float(i)) for i in range(100)]))
            await store.maintain(flush_all=True, compact=False)
            await store.append(KEY, recs(*[(i * 7_000_000_000 + 1, float(i)) for i in range(50)]))
            start = KEY.bucket * HOUR
            for _ in range(2):  # the second time from the caches
                [(key, slices)], active = await store.tile_digests("t1", KEY.bucket, KEY.bucket, 60 * 10**9)
                assert key == KEY and active == []
                assert slices == digest.slice_digests(store.tile_rows(KEY), start, 60 * 10**9)
                assert sum(n for _, n, _ in slices) == 150
            await store.append(KEY, recs((0, 5.0), version=2))  # crosses the tiers: the full read
            [(_, slices)], _ = await store.tile_digests("t1", KEY.bucket, KEY.bucket, 60 * 10**9)
            assert slices == digest.slice_digests(store.tile_rows(KEY), start, 60 * 10**9)

    run(go)
