"""A looped data set covers its span like CpuOnly, generating only its first block and repeating it in time."""

from __future__ import annotations

import pyarrow as pa
import pytest

from loadtest.driver import describe, worker_batches
from loadtest.looped import LoopedCpuOnly, shifted
from loadtest.tsbs import DEFAULT_START_NS, CpuOnly

SECOND = 1_000_000_000
DATA = LoopedCpuOnly(scale=4, end_ns=DEFAULT_START_NS + 25 * 10 * SECOND, block_epochs=7)  # 25 epochs, 100 rows


def _rows(tables: list[pa.Table]) -> pa.Table:
    return pa.concat_tables(tables)


def test_the_rows_and_timestamps_are_those_of_the_whole_span() -> None:
    rows = _rows(list(DATA.chunks(3)))
    full = _rows(list(CpuOnly(scale=4, end_ns=DATA.end_ns).chunks(3)))
    assert rows.num_rows == DATA.rows == full.num_rows == 100
    assert rows.column("time").equals(full.column("time"))
    assert rows.column("hostname").equals(full.column("hostname"))


def test_the_first_block_is_tsbs_and_every_later_block_repeats_its_values() -> None:
    rows = _rows(list(DATA.chunks(3)))
    block = 7 * 4
    first = _rows(list(CpuOnly(scale=4, end_ns=DEFAULT_START_NS + 7 * 10 * SECOND).chunks(7)))
    assert rows.slice(0, block).equals(first)
    for k in (1, 2):
        later = rows.slice(k * block, block)
        assert later.column("usage_user").equals(first.column("usage_user"))
        assert later.column("time").cast(pa.int64()).to_pylist() == [
            t + k * 70 * SECOND for t in first.column("time").cast(pa.int64()).to_pylist()]


def test_chunks_hold_whole_epochs_and_never_cross_a_block_boundary() -> None:
    sizes = [c.num_rows // 4 for c in DATA.chunks(3)]
    assert sizes == [3, 3, 1] * 3 + [3, 1]  # blocks of 7 epochs as 3 + 3 + 1; the last block cut to 4 epochs


def test_workers_share_a_looped_data_set_without_overlap() -> None:
    shares = [_rows(list(worker_batches(DATA, 30, 2, i))) for i in range(2)]
    keys = {(t, h) for s in shares for t, h in zip(s.column("time").to_pylist(), s.column("hostname").to_pylist())}
    assert sum(s.num_rows for s in shares) == len(keys) == DATA.rows


def test_the_description_says_the_values_repeat() -> None:
    assert "the first 7 epochs' values repeated" in describe(DATA)


def test_shifting_moves_only_the_time_column() -> None:
    table = next(DATA.chunks(2))
    moved = shifted(table, 5 * SECOND)
    assert moved.schema == table.schema
    assert moved.column("time").cast(pa.int64()).to_pylist() == [
        t + 5 * SECOND for t in table.column("time").cast(pa.int64()).to_pylist()]
    assert moved.drop_columns(["time"]).equals(table.drop_columns(["time"]))


def test_a_block_of_no_epochs_is_refused() -> None:
    with pytest.raises(ValueError, match="block_epochs"):
        LoopedCpuOnly(block_epochs=0)
