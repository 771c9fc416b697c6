"""Races between appends, flushes, compactions, checkpoints and restarts in the storage engine, each forced by
widening the window with a slowed step: none may lose, duplicate or resurrect an acknowledged row."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from services.storage import partition as partition_module
from services.storage import tilestore as tilestore_module
from services.storage.config import StorageConfig
from services.storage.memstore import MemStore
from services.storage.tilekey import TileKey
from services.storage.tilestore import TileStore
from tessera import layout
from tessera.errors import InternalError, ValidationError
from tests.unit.storage import BASE_NS, Rec, ints, make_rows

KEY = TileKey("t1", 0, layout.bucket_of(BASE_NS))
OTHER = TileKey("t1", 1 << 60, layout.bucket_of(BASE_NS))


def cfg(tmp_path: Path) -> StorageConfig:
    return StorageConfig(data_dir=tmp_path / "data", tier_interval_s=0)


def versions(table: pa.Table) -> list[tuple[int, int, float]]:
    return sorted(zip(ints(table.column(layout.TIME)), ints(table.column(layout.VERSION)),
                      table.column("measure_value::double").to_pylist()))


def slowed(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, seconds: float) -> None:
    real = getattr(module, name)

    def slow(*args: Any, **kw: Any) -> Any:
        time.sleep(seconds)
        return real(*args, **kw)

    monkeypatch.setattr(module, name, slow)


def test_an_upsert_while_a_flush_holds_the_old_version_leaves_only_the_new_one_visible(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def go() -> None:
        store = TileStore(cfg(tmp_path))
        await store.open()
        await store.append(KEY, make_rows([Rec(BASE_NS, value=1.0, version=1)]))
        slowed(monkeypatch, partition_module, "encode_segment", 0.3)
        flush = asyncio.create_task(store.maintain(flush_all=True, compact=False, expire=False))
        await asyncio.sleep(0.05)  # the flush has frozen version 1 and is encoding it
        await store.append(KEY, make_rows([Rec(BASE_NS, value=2.0, version=2)]))
        await flush
        assert versions(store.tile_rows(KEY)) == [(BASE_NS, 2, 2.0)]
        await store.close()
        store = TileStore(cfg(tmp_path))
        await store.open()
        assert versions(store.tile_rows(KEY)) == [(BASE_NS, 2, 2.0)]  # and after replay
        await store.maintain(flush_all=True, compact=False, expire=False)
        assert versions(store.tile_rows(KEY)) == [(BASE_NS, 2, 2.0)]  # and with both in segments
        await store.close()

    asyncio.run(go())


def test_the_checkpoint_never_passes_an_append_still_between_its_wal_write_and_its_memory_store(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tilestore_module, "INLINE_ROWS", 4)  # a bulk batch: classified in a worker thread
    real = MemStore.add

    def slow(self: MemStore, rows: pa.Table, *args: Any, **kw: Any) -> None:
        if rows.num_rows > 4:
            time.sleep(0.2)
        real(self, rows, *args, **kw)

    monkeypatch.setattr(MemStore, "add", slow)

    async def go() -> None:
        store = TileStore(cfg(tmp_path))
        await store.open()
        bulk = asyncio.create_task(store.append(KEY, make_rows([Rec(BASE_NS + i, value=float(i)) for i in range(10)])))
        await asyncio.sleep(0.05)  # its WAL entry (LSN 1) is written; its rows are not in memory yet
        await store.append(OTHER, make_rows([Rec(BASE_NS, dims={"host": "x"})]))  # LSN 2
        report = await store.maintain(compact=False, expire=False)
        assert report.checkpoint_lsn <= 1
        assert (await bulk).accepted == 10
        await store.close()  # a close keeps memory stores in the WAL only: the same as a crash here
        store = TileStore(cfg(tmp_path))
        await store.open()
        assert store.tile_rows(KEY).num_rows == 10
        await store.close()

    asyncio.run(go())


def test_a_retry_classified_in_a_worker_thread_while_a_flush_commits_is_not_stored_twice(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tilestore_module, "INLINE_ROWS", 4)

    async def go() -> None:
        store = TileStore(cfg(tmp_path))
        await store.open()
        await store.append(KEY, make_rows([Rec(BASE_NS - 10**9, value=0.0)]))
        await store.maintain(flush_all=True, compact=False, expire=False)  # a segment: lookups happen
        batch = make_rows([Rec(BASE_NS + i, value=float(i)) for i in range(10)])
        assert (await store.append(KEY, batch)).accepted == 10
        slowed(monkeypatch, partition_module, "may_contain", 0.3)
        slowed(monkeypatch, partition_module, "encode_segment", 0.1)
        flush = asyncio.create_task(store.maintain(flush_all=True, compact=False, expire=False))
        await asyncio.sleep(0.02)  # the flush has frozen the 10 rows
        retry = asyncio.create_task(store.append(KEY, batch))  # the SDK's retry of the acknowledged batch
        await flush
        assert (await retry).accepted == 10
        rows = store.tile_rows(KEY)
        assert rows.num_rows == 11 and len(set(ints(rows.column(layout.TIME)))) == 11
        await store.close()

    asyncio.run(go())


def test_a_second_process_on_the_same_data_directory_changes_nothing_before_it_fails(tmp_path: Path) -> None:
    async def go() -> None:
        first = TileStore(cfg(tmp_path))
        await first.open()
        await first.append(KEY, make_rows([Rec(BASE_NS + i) for i in range(5)]))
        orphan_like = tmp_path / "data" / "magnetic" / "t1" / f"{0:016x}" / "seg-000000000009.parquet"
        orphan_like.parent.mkdir(parents=True)
        orphan_like.write_bytes(b"a flush in progress in the first process")
        second = TileStore(cfg(tmp_path))
        with pytest.raises(InternalError, match="another"):
            await second.open()
        assert orphan_like.exists()  # not swept: the second process never got that far
        assert first.tile_rows(KEY).num_rows == 5
        await first.close()

    asyncio.run(go())


def test_an_append_reads_segment_key_summaries_that_a_compaction_is_replacing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def go() -> None:
        store = TileStore(StorageConfig(data_dir=tmp_path / "data", tier_interval_s=0, compact_min_segments=2))
        await store.open()
        for i in range(2):
            await store.append(KEY, make_rows([Rec(BASE_NS + i)]))
            await store.maintain(flush_all=True, compact=False, expire=False)
        slowed(monkeypatch, partition_module, "lookup_keys", 0.3)
        retry = asyncio.create_task(store.append(KEY, make_rows([Rec(BASE_NS), Rec(BASE_NS + 1)])))
        await asyncio.sleep(0.1)  # the retry is reading a segment the compaction below replaces
        await store.maintain(compact=True, expire=False)
        assert (await retry).accepted == 2
        assert store.tile_rows(KEY).num_rows == 2
        await store.close()

    asyncio.run(go())


def test_a_column_retyped_after_its_rows_went_to_the_magnetic_store_is_refused(tmp_path: Path) -> None:
    async def go() -> None:
        store = TileStore(cfg(tmp_path))
        await store.open()
        await store.append(KEY, make_rows([Rec(BASE_NS, measure="m", measures={"n": 7})], {"n": pa.int64()}))
        await store.maintain(flush_all=True)
        await store.close()
        store = TileStore(cfg(tmp_path))
        await store.open()
        with pytest.raises(ValidationError, match="'n' is stored as int64"):
            await store.append(KEY, make_rows([Rec(BASE_NS + 1, measure="m", measures={"n": "x"})], {"n": pa.string()}))
        with pytest.raises(ValidationError, match="'f' of type float"):
            await store.append(KEY, make_rows([Rec(BASE_NS + 2, measure="m", measures={"f": 1.5})], {"f": pa.float32()}))
        await store.close()

    asyncio.run(go())


def test_a_partition_whose_flush_keeps_failing_does_not_stop_the_others_or_the_checkpoint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = partition_module.encode_segment

    def fails_for_t2(rows: pa.Table, measures: Any, **kw: Any) -> Any:
        if "bad" in rows.column_names:
            raise OSError("disk full for this one")
        return real(rows, measures, **kw)

    monkeypatch.setattr(partition_module, "encode_segment", fails_for_t2)

    async def go() -> None:
        store = TileStore(cfg(tmp_path))
        await store.open()
        poisoned = TileKey("t2", 0, KEY.bucket)
        await store.append(poisoned, make_rows([Rec(BASE_NS, measure="m", measures={"bad": 1.0})]))
        await store.append(KEY, make_rows([Rec(BASE_NS + i) for i in range(5)]))
        report = await store.maintain(flush_all=True)
        assert report.flushed_rows == 5 and report.checkpoint_lsn == 1  # t2's entry (LSN 1) is still needed
        assert store.tile_rows(poisoned).num_rows == 1 and store.tile_rows(KEY).num_rows == 5
        monkeypatch.setattr(partition_module, "encode_segment", real)
        assert (await store.maintain(flush_all=True)).flushed_rows == 1  # the next round succeeds
        await store.close()

    asyncio.run(go())


def test_a_scan_snapshot_racing_a_flush_freeze_loses_no_later_append(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from services.storage import memstore as memstore_module

    real_concat = memstore_module.concat

    def slow_concat(tables: Any) -> Any:
        if threading.current_thread() is not threading.main_thread():
            time.sleep(0.3)  # widens the gap between the snapshot's two locked sections (scan worker only)
        return real_concat(tables)

    monkeypatch.setattr(memstore_module, "concat", slow_concat)
    slowed(monkeypatch, partition_module, "encode_segment", 0.5)

    async def go() -> None:
        store = TileStore(cfg(tmp_path))
        await store.open()
        await store.append(KEY, make_rows([Rec(BASE_NS + 1, value=1.0)]))
        await store.append(KEY, make_rows([Rec(BASE_NS + 2, value=2.0)]))
        schema = [("host", "VARCHAR"), ("measure_value::double", "DOUBLE")]
        scan = asyncio.create_task(store.scan([KEY], schema, [], "", 0, 2**62, False))
        await asyncio.sleep(0.05)  # the scan's snapshot has read the chunks
        flush = asyncio.create_task(store.maintain(flush_all=True, compact=False, expire=False))
        await asyncio.sleep(0.4)  # the flush froze them while the snapshot was still computing
        assert (await store.append(KEY, make_rows([Rec(BASE_NS + 3, value=3.0)]))).accepted == 1
        await scan
        await flush
        assert ints(store.tile_rows(KEY).column(layout.TIME)) == [BASE_NS + 1, BASE_NS + 2, BASE_NS + 3]
        await store.maintain(compact=False, expire=False)
        await store.close()
        store = TileStore(cfg(tmp_path))
        await store.open()
        assert sorted(ints(store.tile_rows(KEY).column(layout.TIME))) == [BASE_NS + 1, BASE_NS + 2, BASE_NS + 3]
        await store.close()

    asyncio.run(go())


def test_a_manifest_save_that_fails_after_reaching_the_disk_shows_each_row_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_save = partition_module.manifests.save
    fail = {"on": False}

    def save(store: Any, directory: str, manifest: Any) -> None:
        real_save(store, directory, manifest)
        if fail["on"]:
            fail["on"] = False
            raise OSError(5, "fsync of the directory failed")

    monkeypatch.setattr(partition_module.manifests, "save", save)

    async def go() -> None:
        store = TileStore(cfg(tmp_path))
        await store.open()
        await store.append(KEY, make_rows([Rec(BASE_NS + i, value=float(i)) for i in range(3)]))
        fail["on"] = True
        await store.maintain(flush_all=True, compact=False, expire=False)  # logged; the rows stay in memory
        assert store.tile_rows(KEY).num_rows == 3
        await store.maintain(flush_all=True, compact=False, expire=False)
        assert store.tile_rows(KEY).num_rows == 3
        names = [s.name for s in store._partitions[("t1", 0)].manifest.segments]
        assert names == ["seg-000000000002.parquet"]  # the name the failed save may have made durable: not reused
        await store.close()
        store = TileStore(cfg(tmp_path))
        await store.open()
        assert store.tile_rows(KEY).num_rows == 3
        await store.close()

    asyncio.run(go())


def test_two_versions_in_one_append_during_a_flush_stay_deduplicated_when_filters_skip_the_segments(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    slowed(monkeypatch, partition_module, "encode_segment", 0.3)

    async def go() -> None:
        store = TileStore(cfg(tmp_path))
        await store.open()
        await store.append(KEY, make_rows([Rec(BASE_NS + 5, dims={"host": "h2"}, value=5.0)]))
        flush = asyncio.create_task(store.maintain(flush_all=True, compact=False, expire=False))
        await asyncio.sleep(0.05)
        await store.append(KEY, make_rows([Rec(BASE_NS, dims={"host": "h1"}, value=1.0, version=1),
                                           Rec(BASE_NS, dims={"host": "h1"}, value=2.0, version=2)]))
        await flush
        schema = [("host", "VARCHAR"), ("measure_value::double", "DOUBLE")]
        for pushed in (None, {"host": ["h1"]}):
            got = await store.scan([KEY], schema, [], "host = 'h1'", 0, 2**62, False, predicate_columns=["host"],
                                   dimension_in=pushed)
            assert got.table is not None and got.table.column("measure_value::double").to_pylist() == [2.0]
        await store.close()

    asyncio.run(go())
