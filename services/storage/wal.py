"""The write-ahead log of one tile: checksummed entries, group-committed fsync, torn tail recovered.

File format: a sequence of entries, each ``[u32 LE payload length][u32 LE crc32(payload)][payload]``.
There is no file header; an empty file is an empty log.

Writes and syncs are split so that many writers share one fsync (group commit): ``append`` writes the
entry with ``os.write`` and returns its sequence number at once; ``await sync(seq)`` returns when an fsync
that started after that entry was written has completed. At most one fsync runs at a time, in a worker
thread; callers that arrive while it runs wait for it and, if it does not cover them, for the next one,
which then covers everything written meanwhile.

Recovery: ``replay`` yields payloads from the start and stops at the first short header, short payload or
checksum mismatch, truncating the file there, so later appends follow good data. An entry is only torn if
the process or machine died while writing it, and such an entry was never acknowledged.
"""

from __future__ import annotations

import asyncio
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import structlog

from tessera.errors import InternalError

_HEADER = struct.Struct("<II")
_log = structlog.get_logger()


def fsync_dir(path: Path) -> None:
    """fsync a directory so that entries created in it (files, subdirectories) survive a crash."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class WriteAheadLog:
    """An append-only, checksummed log file with group-committed fsync.

    ``append`` may be called from any one thread at a time (callers serialise per tile); ``sync`` must be
    awaited on the event loop that owns the log.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        created = not path.exists()
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        if created:
            fsync_dir(path.parent)
        self._size = os.fstat(self._fd).st_size
        self._write_lock = threading.Lock()
        self._written_seq = 0  # sequence number of the last entry fully written
        self._synced_seq = 0  # every entry up to this one is covered by a completed fsync
        self._flush: asyncio.Future[None] | None = None
        self._failed: str | None = None
        self.fsync_count = 0
        """How many fsyncs of the log file have completed (for tests and metrics)."""

    @property
    def last_seq(self) -> int:
        """Sequence number of the last entry written (0 when none since opening)."""
        return self._written_seq

    @property
    def size(self) -> int:
        """Bytes of good entries in the file."""
        return self._size

    def append(self, payload: bytes) -> int:
        """Write one entry (no fsync) and return its sequence number for ``sync``."""
        entry = _HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        with self._write_lock:
            fd = self._writable_fd()
            start = self._size
            try:
                view = memoryview(entry)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
            except OSError as exc:
                self._undo_partial_write(fd, start, exc)
                raise InternalError(f"cannot append to WAL {self.path}: {exc}") from exc
            self._size = start + len(entry)
            # Published only after the bytes are in the file, so a flush that reads it covers the entry.
            self._written_seq += 1
            return self._written_seq

    async def sync(self, seq: int) -> None:
        """Return once an fsync covering entry ``seq`` has completed; concurrent callers share fsyncs."""
        if seq > self._written_seq:
            raise ValueError(f"cannot sync WAL {self.path} to entry {seq}: only {self._written_seq} written")
        while self._synced_seq < seq:
            if self._failed is not None:
                raise InternalError(f"cannot sync WAL {self.path}: {self._failed}")
            if self._flush is None:
                self._flush = asyncio.ensure_future(self._run_flush())
            # Shielded: a cancelled caller must not cancel the fsync other callers are waiting for.
            await asyncio.shield(self._flush)

    async def _run_flush(self) -> None:
        try:
            target = self._written_seq
            fd = self._writable_fd()
            try:
                await asyncio.to_thread(os.fsync, fd)
            except OSError as exc:
                # After a failed fsync the kernel may have dropped dirty pages: the file can no longer
                # be trusted to hold what was written, so the log refuses further work.
                self._failed = f"fsync failed: {exc}"
                raise InternalError(f"cannot sync WAL {self.path}: {exc}") from exc
            self.fsync_count += 1
            self._synced_seq = max(self._synced_seq, target)
        finally:
            self._flush = None

    async def drain(self) -> None:
        """Wait for every entry written so far to be synced."""
        await self.sync(self._written_seq)

    def replay(self) -> Iterator[bytes]:
        """Yield every good payload from the start; truncate a torn or corrupt tail when reached."""
        good = 0
        with open(self.path, "rb") as f:
            while True:
                header = f.read(_HEADER.size)
                if not header:
                    return
                problem = None
                if len(header) < _HEADER.size:
                    problem = "short header"
                else:
                    length, crc = _HEADER.unpack(header)
                    payload = f.read(length)
                    if len(payload) < length:
                        problem = "short payload"
                    elif zlib.crc32(payload) != crc:
                        problem = "checksum mismatch"
                if problem is not None:
                    self._truncate(good, problem)
                    return
                good += _HEADER.size + length
                yield payload

    def _truncate(self, good: int, problem: str) -> None:
        size = os.path.getsize(self.path)
        _log.warning(
            "wal torn tail truncated",
            path=str(self.path),
            problem=problem,
            kept_bytes=good,
            dropped_bytes=size - good,
        )
        with self._write_lock:
            fd = self._writable_fd()
            os.ftruncate(fd, good)
            os.fsync(fd)
            self._size = good

    def _undo_partial_write(self, fd: int, start: int, exc: OSError) -> None:
        # A half-written entry in the middle of the log would end every later replay there.
        try:
            os.ftruncate(fd, start)
        except OSError as again:
            self._failed = f"write failed ({exc}) and the partial entry could not be removed ({again})"

    def _writable_fd(self) -> int:
        if self._fd is None:
            raise InternalError(f"cannot use WAL {self.path}: it is closed")
        if self._failed is not None:
            raise InternalError(f"cannot use WAL {self.path}: {self._failed}")
        return self._fd

    def close(self) -> None:
        """Close the file; safe to call twice. Await ``drain`` first to keep unsynced entries."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
