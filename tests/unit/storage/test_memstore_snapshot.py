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
