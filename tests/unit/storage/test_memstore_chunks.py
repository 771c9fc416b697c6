"""A memory store read while appends keep arriving still folds what it read into one chunk, so reads of a
tile under steady writes do not concatenate every append since the last flush again and again."""

from __future__ import annotations

from typing import Any

import pytest

from services.storage import memstore as memstore_module
from services.storage.memstore import MemStore
from tests.unit.storage import BASE_NS, Rec, make_rows


def _add(store: MemStore, lsn: int, t: int, value: float, version: int = 1) -> None:
    store.add(make_rows([Rec(BASE_NS + t, value=value, version=version)]), lsn, supersedes_magnetic=False)


def _values(store: MemStore) -> list[tuple[int, float]]:
    table = store.snapshot()
    times = [int(v) - BASE_NS for v in table.column("time").cast("int64").to_pylist()]
    return sorted(zip(times, table.column("measure_value::double").to_pylist()))


def test_a_snapshot_folds_its_chunks_even_when_appends_arrive_while_it_is_computed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemStore()
    for i in range(50):
        _add(store, i + 1, i, float(i))
    _add(store, 51, 0, 100.0, version=2)  # supersedes a held row: the snapshot must deduplicate
    real_concat = memstore_module.concat
    arrived = []

    def concat_then_append(tables: list[Any]) -> Any:
        out = real_concat(tables)
        if not arrived:  # one append lands while the snapshot is being computed
            arrived.append(True)
            _add(store, 52, 60, 60.0)
        return out

    monkeypatch.setattr(memstore_module, "concat", concat_then_append)
    first = store.snapshot()
    assert first.num_rows == 50  # what was held when it started, deduplicated
    assert len(store._chunks) == 2  # the 51 chunks it read became one; the late append follows it
    assert store.first_lsn == 1
    monkeypatch.setattr(memstore_module, "concat", real_concat)
    assert _values(store) == sorted([(0, 100.0), *((i, float(i)) for i in range(1, 50)), (60, 60.0)])
    assert len(store._chunks) == 1


def test_a_snapshot_does_not_fold_chunks_a_flush_froze_meanwhile(monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemStore()
    for i in range(5):
        _add(store, i + 1, i, float(i))
    real_concat = memstore_module.concat
    frozen: list[int] = []

    def concat_then_freeze(tables: list[Any]) -> Any:
        out = real_concat(tables)
        if not frozen:
            frozen.append(len(store.freeze()[0]))
            _add(store, 6, 10, 10.0)
        return out

    monkeypatch.setattr(memstore_module, "concat", concat_then_freeze)
    store.snapshot()
    assert frozen == [5] and len(store._chunks) == 6  # untouched: the flush owns the first five
    store.release_frozen()
    monkeypatch.setattr(memstore_module, "concat", real_concat)
    assert _values(store) == [(10, 10.0)]


def test_fold_merges_the_newest_chunks_by_size_tiers_and_keeps_every_row() -> None:
    store = MemStore()
    for i in range(300):
        _add(store, i + 1, i, float(i))
    _add(store, 301, 5, 50.0, version=2)  # an upsert: folding must not deduplicate it away, nor lose it
    store.fold()
    assert store.chunk_count == 1 and store.first_lsn == 1
    for i in range(300, 340):
        _add(store, i + 2, i, float(i))
    store.fold()
    assert store.chunk_count == 2  # 40 small appends became one chunk beside the big one, not merged into it
    assert store.rows == 341
    expected = sorted([(5, 50.0), *((i, float(i)) for i in range(340) if i != 5)])
    assert _values(store) == expected  # the read still applies the dedup rule
    assert store.nbytes > 0


def test_fold_leaves_a_flush_s_chunks_alone() -> None:
    store = MemStore()
    for i in range(10):
        _add(store, i + 1, i, float(i))
    chunks, _ = store.freeze()
    assert len(chunks) == 10
    for i in range(10, 20):
        _add(store, i + 1, i, float(i))
    store.fold()
    assert store.chunk_count == 11  # the ten frozen ones, then the ten new ones as one
    store.release_frozen()
    assert _values(store) == [(i, float(i)) for i in range(10, 20)]


@pytest.mark.parametrize("meanwhile", ["expiry", "release", "fold"])
def test_a_snapshot_or_fold_leaves_the_chunks_alone_when_they_changed_other_than_by_appends(
        monkeypatch: pytest.MonkeyPatch, meanwhile: str) -> None:
    """Expiry, a flush's release and another fold rewrite the chunk list: a snapshot computed from the old
    chunks must not replace the new ones (it would bring back expired or flushed rows)."""
    store = MemStore()
    for i in range(6):
        _add(store, i + 1, i, float(i))
    if meanwhile == "release":
        store.freeze(max_bytes=1)  # the first chunk belongs to a flush
    real_concat = memstore_module.concat
    done: list[str] = []

    def concat_then_change(tables: list[Any]) -> Any:
        out = real_concat(tables)
        if not done:
            done.append(meanwhile)
            if meanwhile == "expiry":
                assert store.drop_before(BASE_NS + 3) == 3
            elif meanwhile == "release":
                store.release_frozen()
            else:
                _add(store, 7, 10, 10.0)
                store.fold()
        return out

    monkeypatch.setattr(memstore_module, "concat", concat_then_change)
    store.snapshot()
    monkeypatch.setattr(memstore_module, "concat", real_concat)
    expected = {"expiry": [(i, float(i)) for i in range(3, 6)],
                "release": [(i, float(i)) for i in range(1, 6)],
                "fold": [*((i, float(i)) for i in range(6)), (10, 10.0)]}[meanwhile]
    assert _values(store) == expected
