"""The node write-ahead log's files: their names, the entry framing, the checkpoint and the lock.

In ``{data_dir}/wal/``::

    00000000000000000001.seg   segments named by the LSN of their first entry (20 digits), oldest first;
    00000000000000004711.seg   the newest is the active one, the only one appended to
    checkpoint                 [8s b"TSWALCK1"][u64 lsn][u32 crc32 of the 16 bytes before it]
    lock                       flock-ed while the log is open: one process per directory

A segment holds entries and nothing else, integers little-endian::

    [u32 magic 0xD3C7A91E][u32 payload length][u64 lsn][u32 crc32(payload ‖ length ‖ lsn)][payload]

LSNs are consecutive integers from 1: entry n is followed by entry n + 1, in the same segment or first in
the next one, so any loss shows up as a gap.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from services.storage.durable import fsync_dir
from tessera.errors import InternalError

MAGIC = 0xD3C7A91E
HEADER = struct.Struct("<IIQI")  # magic, payload length, lsn, crc
HEADER_SIZE = HEADER.size
MAX_PAYLOAD = 2**32 - 1
_CRC_FIELDS = struct.Struct("<IQ")  # payload length, lsn: the header fields the checksum covers
_MAGIC_BYTES = struct.pack("<I", MAGIC)
_CHECKPOINT = struct.Struct("<8sQI")
_CHECKPOINT_MAGIC = b"TSWALCK1"
CHECKPOINT_FILE = "checkpoint"
LOCK_FILE = "lock"
_SEGMENT_NAME = re.compile(r"^(\d{20})\.seg$")


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One entry handed back by ``replay``."""

    lsn: int
    payload: bytes


@dataclass
class Segment:
    """A segment file: the LSN of its first entry, its path and its size in bytes."""

    first_lsn: int
    path: Path
    size: int


class Found(NamedTuple):
    """A valid entry: its LSN and the offset just past it."""

    lsn: int
    end: int


def segment_name(first_lsn: int) -> str:
    """File name of the segment whose first entry has LSN ``first_lsn``."""
    return f"{first_lsn:020d}.seg"


def entry_header(lsn: int, length: int, payload_crc: int) -> bytes:
    """The header of an entry whose payload has ``length`` bytes and crc32 ``payload_crc``."""
    fields = _CRC_FIELDS.pack(length, lsn)
    return HEADER.pack(MAGIC, length, lsn, zlib.crc32(fields, payload_crc))


def parse_entry(buf: mmap.mmap, pos: int) -> Found | str:
    """The entry at ``pos`` if it is whole and its checksum matches, else why not."""
    if pos + HEADER_SIZE > len(buf):
        return "short header"
    magic, length, lsn, crc = HEADER.unpack_from(buf, pos)
    if magic != MAGIC:
        return "bad magic"
    end = pos + HEADER_SIZE + length
    if end > len(buf):
        return f"entry of {length} bytes runs past the end of the segment"
    payload_crc = zlib.crc32(buf[pos + HEADER_SIZE:end])
    if zlib.crc32(_CRC_FIELDS.pack(length, lsn), payload_crc) != crc:
        return "checksum mismatch"
    return Found(lsn, end)


def resync(buf: mmap.mmap, start: int, expected: int) -> int:
    """Offset of the next valid entry with LSN >= ``expected`` at or after ``start``, else the end."""
    pos = buf.find(_MAGIC_BYTES, start)
    while pos != -1:
        found = parse_entry(buf, pos)
        if isinstance(found, Found) and found.lsn >= expected:
            return pos
        pos = buf.find(_MAGIC_BYTES, pos + 1)
    return len(buf)


def list_segments(directory: Path) -> list[Segment]:
    """The segment files in ``directory``, oldest first."""
    segments = []
    for path in directory.iterdir():
        match = _SEGMENT_NAME.match(path.name)
        if match:
            segments.append(Segment(int(match.group(1)), path, path.stat().st_size))
    return sorted(segments, key=lambda s: s.first_lsn)


def covered_count(segments: list[Segment], checkpoint: int) -> int:
    """How many leading segments hold only entries below ``checkpoint`` (never the last one)."""
    n = 0
    while n + 1 < len(segments) and segments[n + 1].first_lsn <= checkpoint:
        n += 1
    return n


def read_checkpoint(directory: Path) -> int:
    """The checkpointed LSN (1 when there is no checkpoint file); InternalError if the file is corrupt."""
    path = directory / CHECKPOINT_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 1
    if len(data) == _CHECKPOINT.size:
        magic, lsn, crc = _CHECKPOINT.unpack(data)
        if magic == _CHECKPOINT_MAGIC and zlib.crc32(data[:16]) == crc and lsn >= 1:
            return int(lsn)
    # Written by rename after an fsync, it cannot be torn: damage here is a failing disk, and guessing
    # could reissue LSNs, so the operator has to look.
    raise InternalError(f"cannot open WAL {directory}: checkpoint file {path} is corrupt ({len(data)} bytes)")


def write_checkpoint(directory: Path, lsn: int) -> None:
    """Replace the checkpoint file, atomically and durably, by one recording ``lsn``."""
    path = directory / CHECKPOINT_FILE
    tmp = directory / f"{CHECKPOINT_FILE}.tmp"
    head = _CHECKPOINT_MAGIC + struct.pack("<Q", lsn)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, head + struct.pack("<I", zlib.crc32(head)))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fsync_dir(directory)
    except OSError as exc:
        raise InternalError(f"cannot write WAL checkpoint {path}: {exc}") from exc


def lock_directory(directory: Path) -> int:
    """The fd of the directory's lock file, flock-ed; InternalError if another log holds it."""
    path = directory / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise InternalError(f"cannot open WAL {directory}: another NodeLog holds {path}") from None
    return fd
