"""What one WAL entry holds: the stored rows of one append to one tile.

``[u16 LE length of the tile name][tile name, UTF-8][u8 flags][the rows]``, the rows in
``arrowipc.for_storage``'s form (or, in entries of earlier versions, a plain or buffer-compressed Arrow IPC
stream). The flags say whether the rows supersede rows of the magnetic store or of the memory store, so
that a replayed memory store deduplicates exactly as the live one did, and whether they are a repair that
replaces held rows at the same version.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import pyarrow as pa

from services.storage.tilekey import TileKey
from tessera import arrowipc
from tessera.errors import InternalError

_NAME_LEN = struct.Struct("<H")
_SUPERSEDES_MAGNETIC = 1
_SUPERSEDES_MEMORY = 2
_REPLACES = 4


@dataclass(frozen=True)
class Flags:
    """How the rows of an entry relate to rows stored before them."""

    supersedes_magnetic: bool
    supersedes_memory: bool
    replaces: bool = False
    """A repair: the rows replace held rows at the same key and version (``MemStore.add``'s ``replaces``)."""


def encode(key: TileKey, flags: Flags, rows: pa.Table, ipc: bytes | None = None) -> bytes:
    """One entry; ``ipc``, when given, is ``rows`` already serialised (saves serialising them again)."""
    name = key.dir_name().encode()
    bits = (_SUPERSEDES_MAGNETIC if flags.supersedes_magnetic else 0) | (
        _SUPERSEDES_MEMORY if flags.supersedes_memory else 0) | (_REPLACES if flags.replaces else 0)
    body = ipc if ipc is not None else arrowipc.for_storage(rows)
    return b"".join((_NAME_LEN.pack(len(name)), name, bytes((bits,)), body))


def decode(payload: bytes) -> tuple[TileKey, Flags, pa.Table]:
    """Inverse of ``encode``; InternalError when the entry is not one (its checksum passed: a bug)."""
    try:
        (length,) = _NAME_LEN.unpack_from(payload)
        name = payload[2 : 2 + length].decode()
        bits = payload[2 + length]
        rows = arrowipc.read_stream(memoryview(payload)[3 + length :])
        flags = Flags(bool(bits & _SUPERSEDES_MAGNETIC), bool(bits & _SUPERSEDES_MEMORY), bool(bits & _REPLACES))
        return TileKey.from_dir_name(name), flags, rows
    except (struct.error, IndexError, UnicodeDecodeError, ValueError, OSError, pa.ArrowException) as exc:
        raise InternalError(f"cannot decode a WAL entry of {len(payload)} bytes: {exc}") from exc
