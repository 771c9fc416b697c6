"""Arrow IPC stream bytes: the wire form of every batch of rows."""

from __future__ import annotations

import pyarrow as pa

from tessera import errors


def to_ipc(table: pa.Table) -> bytes:
    """Serialise a table as one Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def from_ipc(data: bytes, field: str = "arrow_ipc") -> pa.Table:
    """Read one Arrow IPC stream; ValidationError naming ``field`` if it is not one."""
    try:
        return pa.ipc.open_stream(pa.py_buffer(data)).read_all()
    except (pa.ArrowInvalid, pa.ArrowIOError) as exc:
        raise errors.ValidationError(f"{field} is not a valid Arrow IPC stream: {exc}") from exc
