"""Write-time dedup against segments answers the same from the key cache as from the files, and the cache keeps
within its budget."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pytest

from services.storage import partition as partition_module
from services.storage.config import StorageConfig
from services.storage.segment_keys import SegmentKeys
from services.storage.tilekey import TileKey
from services.storage.tilestore import TileStore
from tessera import layout
from tests.unit.storage import BASE_NS, Rec, make_rows

KEY = TileKey("t1", 0, layout.bucket_of(BASE_NS))


Outcome = tuple[int, list[tuple[int, str, int]]]


def outcomes(config: StorageConfig) -> tuple[list[Outcome], int]:
    """Write 200 keys, flush them, then write retries, conflicts and upserts of some of them and new keys;
    return each later append's outcome and the bytes the key cache held."""
    async def go() -> tuple[list[Outcome], int]:
        store = TileStore(config)
        await store.open()
        first = [Rec(BASE_NS + i * 10**9, dims={"host": f"h{i % 7}"}, value=float(i)) for i in range(200)]
        await store.append(KEY, make_rows(first))
        await store.maintain(flush_all=True, compact=False, expire=False)
        later = [Rec(BASE_NS + i * 10**9, dims={"host": f"h{i % 7}"}, value=float(i)) for i in range(0, 200, 9)]
        later += [Rec(BASE_NS + i * 10**9, dims={"host": f"h{i % 7}"}, value=-1.0) for i in range(1, 200, 13)]
        later += [Rec(BASE_NS + i * 10**9, dims={"host": f"h{i % 7}"}, value=-2.0, version=5) for i in range(2, 200, 17)]
        later += [Rec(BASE_NS + i * 10**9 + 1, dims={"host": "new"}) for i in range(20)]
        got = []
        for lo in range(0, len(later), 10):
            result = await store.append(KEY, make_rows(later[lo:lo + 10]))
            got.append((result.accepted, [(r.index, r.reason, r.existing_version) for r in result.rejected]))
        held = store.segment_keys.nbytes
        await store.close()
        return got, held

    return asyncio.run(go())


def test_dedup_against_a_flushed_segment_is_the_same_with_and_without_its_keys_in_memory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = StorageConfig(data_dir=tmp_path / "cached", tier_interval_s=0)

    def no_file_reads(*args: object) -> None:
        raise AssertionError("a segment held in the key cache was read from its file")

    with monkeypatch.context() as patched:
        patched.setattr(partition_module, "lookup_keys", no_file_reads)
        with_cache, held = outcomes(config)
    assert held == 200 * 40, "the flushed segment's keys are held"
    assert any(rejected for _, rejected in with_cache), "the conflicting writes must be refused"
    monkeypatch.setattr(SegmentKeys, "remember", lambda *args: None)  # every lookup reads the file
    from_files, held = outcomes(replace(config, data_dir=tmp_path / "files"))
    assert held == 0 and with_cache == from_files


def test_a_segment_too_big_for_the_budget_is_not_held(tmp_path: Path) -> None:
    rows = make_rows([Rec(BASE_NS + i, dims={"host": "h"}) for i in range(1000)])
    keys = SegmentKeys(budget_bytes=4 * 40 * 1000 - 1)  # an index may take a quarter of the budget
    keys.remember("t1/0", "seg-1", rows)
    assert keys.get("t1/0", "seg-1") is None and keys.nbytes == 0


def test_the_least_recently_used_index_goes_first_and_forget_drops_a_table(tmp_path: Path) -> None:
    rows = make_rows([Rec(BASE_NS + i, dims={"host": "h"}) for i in range(100)])
    keys = SegmentKeys(budget_bytes=40 * 400)  # four indexes of 100 keys
    for n in range(1, 5):
        keys.remember("t1/0", f"seg-{n}", rows)
    assert keys.get("t1/0", "seg-1") is not None  # seg-1 is now the most recently used
    keys.remember("t10/0", "seg-5", rows)
    assert keys.get("t1/0", "seg-2") is None and keys.get("t1/0", "seg-1") is not None
    assert keys.nbytes == 4 * 40 * 100
    keys.forget("t1/0", ["seg-3"])
    assert keys.get("t1/0", "seg-3") is None and keys.get("t1/0", "seg-4") is not None
    keys.forget_table("t1")
    assert keys.get("t1/0", "seg-1") is None and keys.get("t10/0", "seg-5") is not None
    found = keys.get("t10/0", "seg-5").lookup(rows.column(layout.SERIES).to_numpy(),
                                             rows.column(layout.TIME).cast(pa.int64()).to_numpy())
    assert found.held.all()
