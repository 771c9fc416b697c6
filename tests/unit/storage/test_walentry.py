"""WAL entries of every version replay: the current one (rows as one zstd frame) and those written before it
(a plain Arrow IPC stream, or one with zstd-compressed buffers), each with its tile and flags."""

from __future__ import annotations

import struct

import pyarrow as pa
import pytest

from services.storage import walentry
from services.storage.tilekey import TileKey
from tessera import arrowipc
from tessera.errors import InternalError

KEY = TileKey("t1", 0x1234, 7)
FLAGS = walentry.Flags(supersedes_magnetic=True, supersedes_memory=False, replaces=True)
ROWS = pa.table({"host": [f"h{i % 5}" for i in range(700)], "v": pa.array(range(700), pa.int64())})


def _old_entry(body: bytes) -> bytes:
    """An entry as versions before the frame wrote it: the same header, the rows' IPC stream as it was."""
    name = KEY.dir_name().encode()
    return b"".join((struct.pack("<H", len(name)), name, bytes((1 | 4,)), body))


def _buffer_compressed(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression=pa.Codec("zstd", compression_level=1))
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


@pytest.mark.parametrize("payload", [
    walentry.encode(KEY, FLAGS, ROWS),
    _old_entry(arrowipc.to_ipc(ROWS)),
    _old_entry(_buffer_compressed(ROWS)),
], ids=["frame", "plain stream", "compressed buffers"])
def test_entries_of_every_version_decode_to_their_tile_flags_and_rows(payload: bytes) -> None:
    key, flags, rows = walentry.decode(payload)
    assert (key, flags) == (KEY, FLAGS)
    assert rows.equals(ROWS)


def test_a_damaged_frame_is_an_internal_error_not_other_rows() -> None:
    payload = walentry.encode(KEY, FLAGS, ROWS)
    with pytest.raises(InternalError, match="cannot decode a WAL entry"):
        walentry.decode(payload[:-7])
