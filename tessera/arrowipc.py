"""Arrow IPC stream bytes: the wire form of every batch of rows.

An append travels from ingest to the storage replicas, and lies in their WAL, as one zstd frame around the
IPC stream (``for_storage``): ``[4s b"TSZ1"][u64 LE size of the stream][zstd frame of the stream]``. One
frame over the whole stream, not Arrow's per-buffer compression: a 100-row TSBS append costs ~80 µs and
~7.7 bytes a value that way against ~740 µs and ~10.5 with per-buffer compression (which compresses each of
the ~50 small buffers apart), and ~25 bytes a value uncompressed. ``from_ipc`` reads every form: plain
streams, streams with compressed buffers (WAL entries of earlier versions) and frames. A plain stream cannot
be taken for a frame: it starts with the continuation marker 0xFFFFFFFF (or, before Arrow 0.15, with a
metadata length, which would have to be 827 MB to spell ``TSZ1``).

Upgrades: ingest nodes send frames only to storage nodes that read them, so storage nodes are upgraded
before ingest nodes; a storage node whose WAL holds frames cannot go back to a version without them.
"""

from __future__ import annotations

import struct

import pyarrow as pa

from tessera import errors

_FRAME_MAGIC = b"TSZ1"
_FRAME_SIZE = struct.Struct("<Q")
_FRAME_HEADER = len(_FRAME_MAGIC) + _FRAME_SIZE.size
_ZSTD = pa.Codec("zstd", compression_level=1)
_MAX_STREAM = 1 << 30
_MAX_RATIO = 256
"""A frame may claim at most _MAX_STREAM bytes, and at most _MAX_RATIO times its own size plus 16 MiB: a few
KiB that claim a GiB (a decompression bomb) are refused before any allocation. Real appends compress 3-10
times; ``for_storage`` sends the rare ones that compress further as plain streams."""


def for_storage(table: pa.Table) -> bytes:
    """An append as it travels to the storage replicas and lies in their WAL: the IPC stream in one zstd
    frame."""
    stream = to_ipc(table)
    framed = b"".join((_FRAME_MAGIC, _FRAME_SIZE.pack(len(stream)), _ZSTD.compress(stream, asbytes=True)))
    # Rows that compress beyond what a reader accepts from a frame (a constant column of millions of rows)
    # travel plain: bigger, never refused.
    return framed if len(stream) <= _frame_limit(len(framed)) else stream


def _frame_limit(frame_bytes: int) -> int:
    """The most stream bytes a frame of ``frame_bytes`` may claim."""
    return min(_MAX_STREAM, _MAX_RATIO * frame_bytes + (16 << 20))


def to_ipc(table: pa.Table) -> bytes:
    """Serialise a table as one plain Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def read_stream(data: bytes | memoryview) -> pa.Table:
    """The table of a plain or framed IPC stream; pyarrow's errors (ArrowException, ValueError, OSError)
    when the bytes are neither."""
    view = memoryview(data)
    if bytes(view[: len(_FRAME_MAGIC)]) == _FRAME_MAGIC:
        if len(view) < _FRAME_HEADER:
            raise ValueError(f"a compressed stream of {len(view)} bytes is shorter than its header")
        (size,) = _FRAME_SIZE.unpack_from(view, len(_FRAME_MAGIC))
        limit = _frame_limit(len(view))
        if size > limit:
            raise ValueError(f"a compressed stream of {len(view)} bytes claims {size} bytes, above the limit of "
                             f"{limit} ({_MAX_RATIO} times its size plus 16 MiB, at most {_MAX_STREAM})")
        stream = _ZSTD.decompress(view[_FRAME_HEADER:], decompressed_size=size)
        return pa.ipc.open_stream(stream).read_all()
    return pa.ipc.open_stream(pa.py_buffer(view)).read_all()


def from_ipc(data: bytes, field: str = "arrow_ipc") -> pa.Table:
    """Read one Arrow IPC stream, plain or framed; ValidationError naming ``field`` if it is not one."""
    try:
        return read_stream(data)
    except (pa.ArrowException, ValueError, OSError) as exc:
        raise errors.ValidationError(f"{field} is not a valid Arrow IPC stream: {exc}") from exc
