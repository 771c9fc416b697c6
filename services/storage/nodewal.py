"""One write-ahead log per storage node: segmented, checksummed, group-committed, checkpointed.

Every tile of a replica appends to this one log, so concurrent writes to any tiles share one fsync, and a
restart replays only what is not yet persisted elsewhere, however long the node has run.

On disk, in ``{data_dir}/wal/``::

    00000000000000000001.seg   segments named by the LSN of their first entry (20 digits), oldest first;
    00000000000000004711.seg   the newest is the active one, the only one appended to
    checkpoint                 [8s b"TSWALCK1"][u64 lsn][u32 crc32 of the 16 bytes before it]
    lock                       flock-ed while the log is open: one process per directory

A segment holds entries and nothing else, integers little-endian::

    [u32 magic 0xD3C7A91E][u32 payload length][u64 lsn][u32 crc32(payload ‖ length ‖ lsn)][payload]

LSNs are consecutive integers from 1: entry n is followed by entry n + 1, in the same segment or first in
the next one, so any loss shows up as a gap. A segment is rolled before an entry would take it past
``segment_bytes``; a single larger entry gets a segment of its own.

Writes and syncs are split (group commit): ``append`` writes an entry and returns its LSN at once;
``await sync(lsn)`` returns once an fsync that started after the entry was written has completed. One fsync
runs at a time, on the log's own thread, and covers everything written before it started; a roll leaves
the previous segment open until a flush has fsynced it and the directory, so an entry never counts as
synced before every file that holds it, or precedes it, is on disk. A failed fsync poisons the log: the
kernel may have dropped the dirty pages, so what the file holds is no longer known.

``checkpoint(lsn)`` records, atomically, that entries below ``lsn`` are persisted elsewhere, and deletes
every segment whose entries are all below it (the next segment starts at or below ``lsn``). Opening skips
such segments unread, so restart reads the unpersisted tail plus at most one segment of older entries.

Recovery (``NodeLog.open``) checks each entry's magic, bounds, checksum and LSN (no lower than the next
one expected). On bad bytes it resynchronises: it scans forward for the next magic whose entry validates
with an LSN at least the next one expected. Then:

- Bad bytes with no valid entry anywhere after them are a **torn tail**: an entry counts as synced only
  once its segment and all earlier ones are fsynced, so nothing after the last valid entry was ever
  acknowledged (a bit flip in the newest entry looks the same, and is treated the same, as in any WAL).
  The bytes are truncated (segments left with no valid entry removed) and a warning names each file and
  the bytes cut.
- Bad bytes followed by valid entries are **corruption** of data that may have been acknowledged. The
  valid entries after them are kept; the LSN gap is reported as lost (``recovery.lost``) and logged as an
  error naming the file and offset, so the caller can mark the tiles concerned incomplete and repair them.
  Bad bytes without a gap (junk after the last entry of a segment) are still reported, with no range. The
  damaged segment is left as it is (the same report comes back on every open until a checkpoint passes
  it) and new entries go to a fresh segment, never after damaged bytes.
- A gap with no bad bytes (a segment file missing from the sequence) is reported as lost too. A missing
  newest segment cannot be told from a log that ended earlier.
- Lost ranges are clipped at the checkpoint: what lies below it is persisted elsewhere.

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
import fcntl
import mmap
import os
import re
import struct
import threading
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import NamedTuple, Self

import structlog

from tessera.errors import InternalError

DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
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

_log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One entry handed back by ``replay``."""

    lsn: int
    payload: bytes


@dataclass(frozen=True)
class TornTail:
    """Bytes cut from the end of the log at open: written, never synced, never acknowledged."""

    segment: Path
    offset: int
    """Where the cut began (0 when the whole segment was removed)."""
    bytes_cut: int


@dataclass(frozen=True)
class Corruption:
    """Damage found before valid entries: bad bytes skipped by resynchronising, or entries missing."""

    segment: Path
    """The file holding the bad bytes, or the one whose entry revealed the gap (``length`` 0)."""
    offset: int
    length: int
    """Bad bytes skipped; 0 when entries are missing with no bad bytes (a missing segment)."""
    reason: str
    lost: tuple[int, int] | None
    """First and last LSN lost (inclusive) at or above the checkpoint; None when no LSN is missing."""


@dataclass(frozen=True)
class Recovery:
    """What opening the log found."""

    checkpoint_lsn: int
    next_lsn: int
    entries: int
    """Entries ``replay`` yields (LSN at or above the checkpoint)."""
    bytes_scanned: int
    """Bytes of segments read to recover: the tail, not the checkpointed history."""
    torn_tail: tuple[TornTail, ...] = ()
    corruption: tuple[Corruption, ...] = ()

    @property
    def lost(self) -> list[tuple[int, int]]:
        """Inclusive LSN ranges whose entries are gone; the tiles they held are incomplete."""
        return [c.lost for c in self.corruption if c.lost is not None]


@dataclass
class _Segment:
    first_lsn: int
    path: Path
    size: int


@dataclass
class _Rolled:
    """A segment no longer appended to whose fd stays open until a flush has fsynced it."""

    fd: int
    path: Path


@dataclass
class _Run:
    """Contiguous good entries of one segment, all at or above the checkpoint: what replay reads."""

    path: Path
    start: int
    end: int


@dataclass
class _Bad:
    segment: Path
    offset: int
    length: int
    reason: str


class _Found(NamedTuple):
    lsn: int
    end: int


@dataclass
class _Recovered:
    segments: list[_Segment]
    runs: list[_Run]
    report: Recovery
    continue_last: bool
    """Append to the last segment: it is clean, ends at the next LSN and holds entries still needed."""


def segment_name(first_lsn: int) -> str:
    """File name of the segment whose first entry has LSN ``first_lsn``."""
    return f"{first_lsn:020d}.seg"


def fsync_dir(path: Path) -> None:
    """fsync a directory so that entries created in or removed from it survive a crash."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class NodeLog:
    """The write-ahead log of one storage node, shared by all its tiles.

    ``append`` and ``checkpoint`` may be called from any thread; ``sync``, ``drain`` and ``close`` are
    awaited on the event loop that serves the node.
    """

    def __init__(self, directory: Path, segment_bytes: int, lock_fd: int, active_fd: int,
                 recovered: _Recovered) -> None:
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
            _make_dirs(directory)
            lock_fd = _lock_directory(directory)
        except OSError as exc:
            raise InternalError(f"cannot open WAL {directory}: {exc}") from exc
        try:
            recovered = _recover(directory)
            active_fd = _open_active(directory, recovered)
        except OSError as exc:
            os.close(lock_fd)
            raise InternalError(f"cannot open WAL {directory}: {exc}") from exc
        except BaseException:
            os.close(lock_fd)
            raise
        log = cls(directory, segment_bytes, lock_fd, active_fd, recovered)
        log._delete_covered()
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
            header = _header(lsn, len(payload), payload_crc)
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
            _write_checkpoint(self.directory, lsn)
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
                yield from _read_run(run)
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

    def _roll(self, lsn: int) -> tuple[_Segment, int]:
        path = self.directory / segment_name(lsn)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise InternalError(f"cannot create WAL segment {path}: {exc}") from exc
        assert self._active_fd is not None  # checked by _writable_fd under the same lock
        self._rolled.append(_Rolled(self._active_fd, self._segments[-1].path))
        self._active_fd = fd
        segment = _Segment(lsn, path, 0)
        self._segments.append(segment)
        self._dir_dirty = True  # the new name is durable only after the directory is fsynced
        return segment, fd

    def _write(self, fd: int, segment: _Segment, header: bytes, payload: bytes) -> None:
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
            n = _covered_count(self._segments, self._checkpoint_lsn)
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


def _header(lsn: int, length: int, payload_crc: int) -> bytes:
    fields = _CRC_FIELDS.pack(length, lsn)
    return HEADER.pack(MAGIC, length, lsn, zlib.crc32(fields, payload_crc))


def _write_all(fd: int, header: bytes, payload: bytes) -> None:
    # One buffer, one write in the common case: the copy costs microseconds, next to the fsync it waits for.
    rest = memoryview(header + payload)
    while rest:
        rest = rest[os.write(fd, rest):]


def _covered_count(segments: list[_Segment], checkpoint: int) -> int:
    """How many leading segments hold only entries below ``checkpoint`` (never the last one)."""
    n = 0
    while n + 1 < len(segments) and segments[n + 1].first_lsn <= checkpoint:
        n += 1
    return n


# --- Recovery -------------------------------------------------------------------------------------------


def _recover(directory: Path) -> _Recovered:
    (directory / f"{CHECKPOINT_FILE}.tmp").unlink(missing_ok=True)
    checkpoint = _read_checkpoint(directory)
    segments = _list_segments(directory)
    covered = _covered_count(segments, checkpoint)
    for segment in segments[:covered]:  # a checkpoint whose deletions a crash interrupted
        segment.path.unlink()
    segments = segments[covered:]
    scan = _Scanner(checkpoint, min(checkpoint, segments[0].first_lsn) if segments else checkpoint)
    for segment in segments:
        scan.scan(segment)
    segments, torn = _cut_tail(directory, segments, scan)
    for segment in segments:  # read back from the page cache perhaps: on disk before it counts as synced
        _fsync_file(segment.path)
    next_lsn = max(scan.expected, checkpoint)
    report = Recovery(checkpoint, next_lsn, scan.entries, scan.bytes_scanned, tuple(torn), tuple(scan.found))
    last = segments[-1].path if segments else None
    continue_last = (last is not None and last not in scan.damaged and scan.expected == next_lsn
                     and bool(scan.runs) and scan.runs[-1].path == last)
    return _Recovered(segments, scan.runs, report, continue_last)


def _open_active(directory: Path, recovered: _Recovered) -> int:
    """The fd appends go to: the last segment if it may be continued, else a fresh one."""
    if recovered.continue_last:
        return os.open(recovered.segments[-1].path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
    first = recovered.report.next_lsn
    path = directory / segment_name(first)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o644)
    fsync_dir(directory)
    recovered.segments.append(_Segment(first, path, 0))
    return fd


class _Scanner:
    """Walks the segments once, oldest first, sorting their bytes into good entries, damage and tail."""

    def __init__(self, checkpoint: int, expected: int) -> None:
        self.checkpoint = checkpoint
        self.expected = expected  # the lowest LSN the next valid entry may carry
        self.pending: list[_Bad] = []  # bad stretches not (yet) followed by a valid entry
        self.found: list[Corruption] = []
        self.damaged: set[Path] = set()
        self.runs: list[_Run] = []
        self.entries = 0
        self.bytes_scanned = 0
        self.last_valid: Path | None = None  # the segment holding the last valid entry

    def scan(self, segment: _Segment) -> None:
        if segment.size == 0:
            return
        try:
            with open(segment.path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                self.bytes_scanned += len(buf)
                pos = 0
                while pos < len(buf):
                    pos = self._step(segment.path, buf, pos)
        except OSError as exc:
            raise InternalError(f"cannot read WAL segment {segment.path}: {exc}") from exc

    def _step(self, path: Path, buf: mmap.mmap, pos: int) -> int:
        found = _parse(buf, pos)
        if isinstance(found, _Found) and found.lsn >= self.expected:
            self._accept(path, pos, found)
            return found.end
        reason = found if isinstance(found, str) else f"LSN {found.lsn} below the {self.expected} expected"
        end = _resync(buf, pos + 1, self.expected)
        self.pending.append(_Bad(path, pos, end - pos, reason))
        return end

    def _accept(self, path: Path, pos: int, found: _Found) -> None:
        if found.lsn > self.expected or self.pending:
            self._report_loss(path, pos, found.lsn)
        self.expected = found.lsn + 1
        self.last_valid = path
        if found.lsn < self.checkpoint:
            return
        self.entries += 1
        if self.runs and self.runs[-1].path == path and self.runs[-1].end == pos:
            self.runs[-1].end = found.end
        else:
            self.runs.append(_Run(path, pos, found.end))

    def _report_loss(self, path: Path, pos: int, next_lsn: int) -> None:
        lost = _clip(self.expected, next_lsn - 1, self.checkpoint)
        if not self.pending:
            if lost is not None:  # a gap wholly below the checkpoint is persisted elsewhere
                self._report(Corruption(path, pos, 0, "missing segment" if pos == 0 else "entries missing", lost))
            return
        for i, bad in enumerate(self.pending):
            self._report(Corruption(bad.segment, bad.offset, bad.length, bad.reason, lost if i == 0 else None))
            self.damaged.add(bad.segment)
        self.pending.clear()

    def _report(self, c: Corruption) -> None:
        self.found.append(c)
        _log.error("wal corruption: entries after it are kept", segment=str(c.segment), offset=c.offset,
                   bad_bytes=c.length, reason=c.reason, lost_first_lsn=c.lost[0] if c.lost else None,
                   lost_last_lsn=c.lost[1] if c.lost else None)


def _parse(buf: mmap.mmap, pos: int) -> _Found | str:
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
    return _Found(lsn, end)


def _resync(buf: mmap.mmap, start: int, expected: int) -> int:
    """Offset of the next valid entry with LSN >= ``expected`` at or after ``start``, else the end."""
    pos = buf.find(_MAGIC_BYTES, start)
    while pos != -1:
        found = _parse(buf, pos)
        if isinstance(found, _Found) and found.lsn >= expected:
            return pos
        pos = buf.find(_MAGIC_BYTES, pos + 1)
    return len(buf)


def _clip(first: int, last: int, checkpoint: int) -> tuple[int, int] | None:
    first = max(first, checkpoint)
    return (first, last) if first <= last else None


def _cut_tail(directory: Path, segments: list[_Segment], scan: _Scanner) -> tuple[list[_Segment], list[TornTail]]:
    """Truncate what follows the last valid entry; remove the segments that hold no valid entry."""
    keep = next((i + 1 for i in range(len(segments) - 1, -1, -1) if segments[i].path == scan.last_valid), 0)
    torn: list[TornTail] = []
    for bad in scan.pending:
        if keep and bad.segment == segments[keep - 1].path:
            _truncate(bad.segment, bad.offset)
            torn.append(TornTail(bad.segment, bad.offset, bad.length))
    for segment in segments[keep:]:
        segment.path.unlink()
        if segment.size:
            torn.append(TornTail(segment.path, 0, segment.size))
    if len(segments) > keep:
        fsync_dir(directory)
    for t in torn:
        _log.warning("wal torn tail cut: never synced, so never acknowledged", segment=str(t.segment),
                     offset=t.offset, bytes_cut=t.bytes_cut)
    kept = segments[:keep]
    if kept:
        kept[-1].size = kept[-1].path.stat().st_size
    return kept, torn


def _truncate(path: Path, size: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_run(run: _Run) -> Iterator[LogEntry]:
    with open(run.path, "rb") as f:
        f.seek(run.start)
        pos = run.start
        while pos < run.end:
            _, length, lsn, _ = HEADER.unpack(f.read(HEADER_SIZE))
            payload = f.read(length)
            if len(payload) != length:
                raise InternalError(f"cannot read WAL segment {run.path}: it shrank under replay at {pos}")
            pos += HEADER_SIZE + length
            yield LogEntry(lsn, payload)


def _list_segments(directory: Path) -> list[_Segment]:
    segments = []
    for path in directory.iterdir():
        match = _SEGMENT_NAME.match(path.name)
        if match:
            segments.append(_Segment(int(match.group(1)), path, path.stat().st_size))
    return sorted(segments, key=lambda s: s.first_lsn)


def _read_checkpoint(directory: Path) -> int:
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


def _write_checkpoint(directory: Path, lsn: int) -> None:
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


def _lock_directory(directory: Path) -> int:
    path = directory / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise InternalError(f"cannot open WAL {directory}: another NodeLog holds {path}") from None
    return fd


def _make_dirs(directory: Path) -> None:
    """Create directory and missing parents, fsyncing each parent so the new entries are durable."""
    missing: list[Path] = []
    path = directory
    while not path.exists():
        missing.append(path)
        path = path.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
        fsync_dir(path.parent)
