"""Appends travel as one zstd frame around their IPC stream; every form, old WAL entries' included, reads
back identical, and damaged frames are refused, never read as other rows."""

from __future__ import annotations

import struct

import numpy as np
import pyarrow as pa
import pytest

from tessera import arrowipc, errors


def _rows(n: int) -> pa.Table:
    return pa.table({"host": pa.array([f"host_{i % 7}" for i in range(n)]), "v": pa.array(range(n), pa.int64())})


@pytest.mark.parametrize("n", [0, 1, 100, 5_000])
def test_appends_are_compressed_and_read_back_identical(n: int) -> None:
    table = _rows(n)
    framed = arrowipc.for_storage(table)
    if n >= 100:
        assert len(framed) < len(arrowipc.to_ipc(table)) / 2
    assert arrowipc.from_ipc(framed).equals(table)
    assert arrowipc.read_stream(memoryview(framed)).equals(table)


def test_plain_and_buffer_compressed_streams_still_read() -> None:
    """WAL entries written before the frame: plain streams and streams with zstd-compressed buffers."""
    table = _rows(1_000)
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression=pa.Codec("zstd", compression_level=1))
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    assert arrowipc.from_ipc(sink.getvalue().to_pybytes()).equals(table)
    assert arrowipc.from_ipc(arrowipc.to_ipc(table)).equals(table)


def test_damaged_frames_are_refused() -> None:
    framed = arrowipc.for_storage(_rows(1_000))
    (size,) = struct.unpack_from("<Q", framed, 4)
    damaged = {
        "truncated": framed[:-5],
        "header cut": framed[:6],
        "size too small": framed[:4] + struct.pack("<Q", size - 1) + framed[12:],
        "size too large": framed[:4] + struct.pack("<Q", size + 100) + framed[12:],
        "size absurd": framed[:4] + struct.pack("<Q", 2**40) + framed[12:],
        "not zstd": framed[:12] + b"garbage" * 10,
    }
    for data in damaged.values():
        with pytest.raises(errors.ValidationError, match="arrow_field is not a valid Arrow IPC stream"):
            arrowipc.from_ipc(data, field="arrow_field")


def test_a_frame_claiming_far_more_than_it_holds_is_refused_before_allocating() -> None:
    framed = arrowipc.for_storage(_rows(1_000))
    bomb = framed[:4] + struct.pack("<Q", 512 << 20) + framed[12:]
    with pytest.raises(errors.ValidationError, match="claims 536870912 bytes, above the limit"):
        arrowipc.from_ipc(bomb)


def test_rows_that_compress_beyond_the_frame_limit_travel_plain_and_read_back() -> None:
    constant = pa.table({"z": pa.array(np.zeros(5_000_000, np.int64))})
    sent = arrowipc.for_storage(constant)
    assert not sent.startswith(b"TSZ1")
    assert arrowipc.from_ipc(sent).equals(constant)
