"""Appends travel compressed from COMPRESS_MIN_ROWS rows, and every form reads back identical."""

from __future__ import annotations

import pyarrow as pa

from tessera import arrowipc


def _rows(n: int) -> pa.Table:
    return pa.table({"host": pa.array([f"host_{i % 7}" for i in range(n)]), "v": pa.array(range(n), pa.int64())})


def test_large_appends_are_compressed_small_ones_are_not_and_both_read_back_identical() -> None:
    big, small = _rows(arrowipc.COMPRESS_MIN_ROWS * 4), _rows(arrowipc.COMPRESS_MIN_ROWS - 1)
    assert len(arrowipc.for_storage(big)) < len(arrowipc.to_ipc(big)) / 2
    assert arrowipc.for_storage(small) == arrowipc.to_ipc(small)
    for table in (big, small):
        assert arrowipc.from_ipc(arrowipc.for_storage(table)).equals(table)
