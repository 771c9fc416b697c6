"""One write-ahead log per storage node: segmented, checksummed, group-committed, checkpointed.

Every tile of a replica appends to this one log, so concurrent writes to any tiles share one fsync, and a
restart replays only what is not yet persisted elsewhere, however long the node has run.

The files in ``{data_dir}/wal/`` and the framing of an entry are in ``walformat``; recovery at open is in
``walrecovery``. A segment is rolled before an entry would take it past ``segment_bytes``; a single larger
entry gets a segment of its own.

Writes and syncs are split (group commit): ``append`` writes an entry and returns its LSN at once;
``await sync(lsn)`` returns once an fsync that started after the entry was written has completed. One fsync
runs at a time, on the log's own thread, and covers everything written before it started; a roll leaves
the previous segment open until a flush has fsynced it and the directory, so an entry never counts as
synced before every file that holds it, or precedes it, is on disk. A failed fsync poisons the log: the
kernel may have dropped the dirty pages, so what the file holds is no longer known.

``checkpoint(lsn)`` records, atomically, that entries below ``lsn`` are persisted elsewhere, and deletes
every segment whose entries are all below it (the next segment starts at or below ``lsn``). Opening skips
such segments unread, so restart reads the unpersisted tail plus at most one segment of older entries.

Opening cuts a torn tail (written, never synced, never acknowledged) and reports corruption before valid
entries, with the LSNs it lost (``recovery.lost``), so the caller can mark the tiles concerned incomplete.

The next LSN after opening is the greater of (last valid LSN + 1) and the checkpoint; persisting the
checkpoint is what keeps LSNs rising after every segment is gone. The LSNs of a torn tail are issued again:
they never reached the disk, and by the write-ahead rule nothing else may refer to them. That rule is the
caller's: data carrying LSN n is persisted elsewhere (a flush, a manifest recording "flushed up to n") only
after ``sync(n)`` has returned, as a database writes a page only once its log is flushed up to the page's
LSN. Without it, a power cut between that write and the fsync could let a new entry take an LSN that the
manifest already claims.
"""

from __future__ import annotations

import asyncio
import os
import threading
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import structlog

from services.storage.durable import fsync_dir, make_dirs
from services.storage.walformat import (
    CHECKPOINT_FILE,
    HEADER,
    HEADER_SIZE,
    LOCK_FILE,
    MAGIC,
    MAX_PAYLOAD,
    LogEntry,
    Segment,
    covered_count,
    entry_header,
    lock_directory,
    segment_name,
    write_checkpoint,
)
from services.storage.walrecovery import Corruption, Recovered, Recovery, TornTail, read_run, recover
from tessera.errors import InternalError

__all__ = ["CHECKPOINT_FILE", "DEFAULT_SEGMENT_BYTES", "HEADER", "HEADER_SIZE", "LOCK_FILE", "MAGIC",
           "MAX_PAYLOAD", "Corruption", "LogEntry", "NodeLog", "Recovery", "TornTail", "fsync_dir", "segment_name"]

DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024

_log = structlog.get_logger()


@dataclass
class _Rolled:
    """A segment no longer appended to whose fd stays open until a flush has fsynced it."""

    fd: int
    path: Path


class NodeLog:
    """The write-ahead log of one storage node, shared by all its tiles.

    ``append`` and ``checkpoint`` may be called from any thread; ``sync``, ``drain`` and ``close`` are
    awaited on the event loop that serves the node.
    """

    def __init__(self, directory: Path, segment_bytes: int, lock_fd: int, active_fd: int,
                 recovered: Recovered) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self.recovery = recovered.report
        self.fsync_count = 0
        """Group commits completed: each fsyncs the active segment (and rolled ones and the directory)."""
        self._lock_fd = lock_fd
        self._lock = threading.Lock()  # guards segments, fds, next LSN and the failure/closing state
        self._checkpoint_lock = threading.Lock()
        self._segments = recovered.segments
        self._active_fd: int | None = active_fd
        self._rolled: list[_Rolled] = []
        self._dir_dirty = False
        self._next_lsn = recovered.report.next_lsn
        self._synced_lsn = self._next_lsn - 1
        self._checkpoint_lsn = recovered.report.checkpoint_lsn
        self._runs = recovered.runs
        self._failed: str | None = None
        self._closing = False
        self._closed = False
        self._flush: asyncio.Task[None] | None = None
        self._close_task: asyncio.Task[None] | None = None
        # Never the default executor: scans share it, and an fsync must not queue behind them.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nodewal-fsync")

    @classmethod
    def open(cls, directory: Path, segment_bytes: int = DEFAULT_SEGMENT_BYTES) -> NodeLog:
        """Open (creating if needed) the log in ``directory`` and recover it; blocking, before serving."""
        if segment_bytes < 1:
            raise ValueError(f"WAL segment_bytes must be positive, not {segment_bytes}")
        try:
            make_dirs(directory)
            lock_fd = lock_directory(directory)
        except OSError as exc:
            raise InternalError(f"cannot open WAL {directory}: {exc}") from exc
        try:
            recovered = recover(directory)
            active_fd = _open_active(directory, recovered)
        except OSError as exc:
            os.close(lock_fd)
            raise InternalError(f"cannot open WAL {directory}: {exc}") from exc
        except BaseException:
            os.close(lock_fd)
            raise
        log = cls(directory, segment_bytes, lock_fd, active_fd, recovered)
        try:
            log._delete_covered()
        except BaseException:
            log._release()
            raise
        return log

    @property
    def next_lsn(self) -> int:
        """The LSN the next append gets."""
        return self._next_lsn

    @property
    def last_lsn(self) -> int:
        """LSN of the last entry written (0 when none ever was)."""
        return self._next_lsn - 1

    @property
    def synced_lsn(self) -> int:
        """Every entry up to this LSN is covered by a completed fsync."""
        return self._synced_lsn

    @property
    def checkpoint_lsn(self) -> int:
        """Entries below this LSN are no longer needed for recovery."""
        return self._checkpoint_lsn

    @property
    def segment_count(self) -> int:
        """Segment files on disk, the active one included."""
        with self._lock:
            return len(self._segments)

    @property
    def bytes_on_disk(self) -> int:
        """Bytes of all segment files."""
        with self._lock:
            return sum(s.size for s in self._segments)

    def append(self, payload: bytes) -> int:
        """Write one entry (no fsync) and return its LSN for ``sync``; thread-safe."""
        if len(payload) > MAX_PAYLOAD:
            raise ValueError(f"a WAL entry holds at most {MAX_PAYLOAD} bytes, not {len(payload)}")
        payload_crc = zlib.crc32(payload)  # outside the lock: the costly part of the checksum
        with self._lock:
            fd = self._writable_fd("append to")
            lsn = self._next_lsn
            header = entry_header(lsn, len(payload), payload_crc)
            segment = self._segments[-1]
            if segment.size > 0 and segment.size + len(header) + len(payload) > self.segment_bytes:
                segment, fd = self._roll(lsn)
            self._write(fd, segment, header, payload)
            # Published only once the bytes are in the file, so a flush that reads it covers the entry.
            self._next_lsn = lsn + 1
            return lsn

    async def sync(self, lsn: int) -> None:
        """Return once an fsync covering entry ``lsn`` has completed; concurrent callers share fsyncs."""
        if lsn >= self._next_lsn:
            raise ValueError(f"cannot sync WAL {self.directory} to LSN {lsn}: the last written is "
                             f"{self._next_lsn - 1}")
        self._raise_if_unusable("sync")
        while self._synced_lsn < lsn:
            if self._flush is None:
                self._flush = asyncio.get_running_loop().create_task(self._run_flush())
                self._flush.add_done_callback(_consume_exception)
            # Shielded: a cancelled caller must not cancel the fsync other callers are waiting for.
            await asyncio.shield(self._flush)
            self._raise_if_unusable("sync")

    async def drain(self) -> None:
        """Wait until every entry written so far is synced."""
        await self.sync(self._next_lsn - 1)

    def checkpoint(self, lsn: int) -> None:
        """Declare entries below ``lsn`` persisted elsewhere; delete segments holding only such entries.

        Blocking (two fsyncs and a rename): a serving node calls it from a worker thread.
        """
        with self._checkpoint_lock:
            if self._closed:
                raise InternalError(f"cannot checkpoint WAL {self.directory}: the log is closed")
            if lsn <= self._checkpoint_lsn:
                return
            if lsn > self._next_lsn:
                raise ValueError(f"cannot checkpoint WAL {self.directory} at LSN {lsn}: the next LSN is "
                                 f"{self._next_lsn}")
            write_checkpoint(self.directory, lsn)
            self._checkpoint_lsn = lsn
            with self._lock:
                # Everything written is covered: start an empty segment so the full one can go now, rather
                # than holding a whole segment of flushed data until the next roll.
                if lsn == self._next_lsn and self._segments[-1].size > 0 and self._failed is None \
                        and not self._closing and self._active_fd is not None:
                    self._roll(lsn)
            self._delete_covered()

    def replay(self) -> Iterator[LogEntry]:
        """Yield every good entry at or above the checkpoint, in LSN order, as found by ``open``."""
        for run in self._runs:
            try:
                yield from read_run(run)
            except OSError as exc:
                raise InternalError(f"cannot read WAL segment {run.path}: {exc}") from exc

    async def close(self) -> None:
        """Drain, then close every file; safe to call twice. Raises if the drain fails (on the first call)."""
        if self._close_task is None:
            self._close_task = asyncio.get_running_loop().create_task(self._close())
            await asyncio.shield(self._close_task)
        else:
            await asyncio.wait([self._close_task])

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def _close(self) -> None:
        with self._lock:
            self._closing = True  # refuse appends: the drain below is the last
        try:
            if self._failed is None:
                await self.drain()
        finally:
            self._release()

    def _release(self) -> None:
        self._executor.shutdown(wait=True)  # an fsync still running must finish before its fd is closed
        with self._lock:
            self._closed = True
            fds = [r.fd for r in self._rolled] + ([self._active_fd] if self._active_fd is not None else [])
            self._rolled, self._active_fd = [], None
        for fd in fds:
            os.close(fd)
        os.close(self._lock_fd)

    def _writable_fd(self, action: str) -> int:
        self._check_usable(action)
        if self._closing or self._active_fd is None:
            raise InternalError(f"cannot {action} WAL segment {self._segments[-1].path}: the log is closed")
        return self._active_fd

    def _check_usable(self, action: str) -> None:
        """Raise unless the log is open and not poisoned; callers hold the lock."""
        if self._failed is not None:
            raise InternalError(f"cannot {action} WAL segment {self._segments[-1].path}: {self._failed}")
        if self._closed:
            raise InternalError(f"cannot {action} WAL segment {self._segments[-1].path}: the log is closed")

    def _raise_if_unusable(self, action: str) -> None:
        with self._lock:
            self._check_usable(action)

    def _roll(self, lsn: int) -> tuple[Segment, int]:
        """Start the segment of entry ``lsn``; the caller holds the lock.

        The full segment is fsynced first: otherwise a power cut could keep entries of the new segment
        while unsynced pages of the old one are lost, which recovery would have to report as corruption in
        the middle of the log although nothing lost was ever acknowledged.
        """
        old = self._segments[-1].path
        assert self._active_fd is not None  # checked by _writable_fd under the same lock
        try:
            os.fsync(self._active_fd)
        except OSError as exc:
            self._failed = f"fsync of {old} failed ({exc}); the log can no longer be trusted"
            raise InternalError(f"cannot sync WAL segment {old} before starting the next: {exc}") from exc
        path = self.directory / segment_name(lsn)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise InternalError(f"cannot create WAL segment {path}: {exc}") from exc
        assert self._active_fd is not None  # checked by _writable_fd under the same lock
        self._rolled.append(_Rolled(self._active_fd, self._segments[-1].path))
        self._active_fd = fd
        segment = Segment(lsn, path, 0)
        self._segments.append(segment)
        self._dir_dirty = True  # the new name is durable only after the directory is fsynced
        return segment, fd

    def _write(self, fd: int, segment: Segment, header: bytes, payload: bytes) -> None:
        start = segment.size
        try:
            _write_all(fd, header, payload)
        except OSError as exc:
            self._undo_partial_write(fd, segment.path, start, exc)
            raise InternalError(f"cannot append to WAL segment {segment.path}: {exc}") from exc
        segment.size = start + len(header) + len(payload)

    def _undo_partial_write(self, fd: int, path: Path, start: int, exc: OSError) -> None:
        # A half-written entry before later ones would be reported as corruption at every open.
        try:
            os.ftruncate(fd, start)
        except OSError as again:
            self._failed = f"write to {path} failed ({exc}) and the partial entry could not be removed ({again})"

    async def _run_flush(self) -> None:
        try:
            target = await asyncio.get_running_loop().run_in_executor(self._executor, self._fsync_written)
            self.fsync_count += 1
            self._synced_lsn = max(self._synced_lsn, target)
        finally:
            self._flush = None

    def _fsync_written(self) -> int:
        """fsync every file holding entries written so far (on the log's thread); return the last LSN."""
        with self._lock:
            self._check_usable("sync")
            target = self._next_lsn - 1
            rolled = list(self._rolled)
            active_fd, active_path = self._active_fd, self._segments[-1].path
            dir_dirty, self._dir_dirty = self._dir_dirty, False
        assert active_fd is not None
        for r in rolled:
            self._fsync(r.path, r.fd)
        if dir_dirty:
            self._fsync(self.directory)
        self._fsync(active_path, active_fd)
        with self._lock:
            for r in rolled:
                self._rolled.remove(r)
                os.close(r.fd)
        return target

    def _fsync(self, path: Path, fd: int | None = None) -> None:
        """fsync the file open as ``fd`` (the directory ``path`` when None); a failure poisons the log."""
        try:
            if fd is None:
                fsync_dir(path)
            else:
                os.fsync(fd)
        except OSError as exc:
            with self._lock:
                # The kernel may have dropped the dirty pages: the files no longer hold what was written.
                self._failed = f"fsync of {path} failed ({exc}); the log can no longer be trusted"
            what = "directory" if fd is None else "segment"
            raise InternalError(f"cannot sync WAL {what} {path}: {exc}") from exc

    def _delete_covered(self) -> None:
        with self._lock:
            n = covered_count(self._segments, self._checkpoint_lsn)
            doomed, self._segments = self._segments[:n], self._segments[n:]
        for segment in doomed:
            try:
                segment.path.unlink(missing_ok=True)
            except OSError as exc:
                raise InternalError(f"cannot delete WAL segment {segment.path}: {exc}") from exc
        if doomed:
            _log.info("wal segments deleted", directory=str(self.directory), count=len(doomed),
                      checkpoint_lsn=self._checkpoint_lsn)


def _consume_exception(task: asyncio.Task[None]) -> None:
    # Every waiter sees the failure through shield; this only keeps asyncio from logging it when none is left.
    if not task.cancelled():
        task.exception()


def _write_all(fd: int, header: bytes, payload: bytes) -> None:
    # One buffer, one write in the common case: the copy costs microseconds, next to the fsync it waits for.
    rest = memoryview(header + payload)
    while rest:
        rest = rest[os.write(fd, rest):]


def _open_active(directory: Path, recovered: Recovered) -> int:
    """The fd appends go to: the last segment if it may be continued, else a fresh one."""
    if recovered.continue_last:
        return os.open(recovered.segments[-1].path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
    first = recovered.report.next_lsn
    path = directory / segment_name(first)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o644)
    try:
        fsync_dir(directory)
    except BaseException:
        os.close(fd)
        raise
    recovered.segments.append(Segment(first, path, 0))
    return fd
