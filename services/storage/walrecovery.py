"""Recovery of the node write-ahead log at open: what replay yields, what is cut, what is reported lost.

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

The next LSN is the greater of (last valid LSN + 1) and the checkpoint (``nodewal`` says why).
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import structlog

from services.storage.durable import fsync_dir
from services.storage.walformat import (
    CHECKPOINT_FILE,
    HEADER,
    HEADER_SIZE,
    Found,
    LogEntry,
    Segment,
    covered_count,
    list_segments,
    parse_entry,
    read_checkpoint,
    resync,
)
from tessera.errors import InternalError

_log = structlog.get_logger()


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
class Run:
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


@dataclass
class Recovered:
    """What ``recover`` hands the log: the segments kept, the runs to replay and the report."""

    segments: list[Segment]
    runs: list[Run]
    report: Recovery
    continue_last: bool
    """Append to the last segment: it is clean, ends at the next LSN and holds entries still needed."""


def recover(directory: Path) -> Recovered:
    """Delete the segments the checkpoint covers, scan the others, cut the torn tail, report the damage."""
    (directory / f"{CHECKPOINT_FILE}.tmp").unlink(missing_ok=True)
    checkpoint = read_checkpoint(directory)
    segments = list_segments(directory)
    covered = covered_count(segments, checkpoint)
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
    return Recovered(segments, scan.runs, report, continue_last)


class _Scanner:
    """Walks the segments once, oldest first, sorting their bytes into good entries, damage and tail."""

    def __init__(self, checkpoint: int, expected: int) -> None:
        self.checkpoint = checkpoint
        self.expected = expected  # the lowest LSN the next valid entry may carry
        self.pending: list[_Bad] = []  # bad stretches not (yet) followed by a valid entry
        self.found: list[Corruption] = []
        self.damaged: set[Path] = set()
        self.runs: list[Run] = []
        self.entries = 0
        self.bytes_scanned = 0
        self.last_valid: Path | None = None  # the segment holding the last valid entry

    def scan(self, segment: Segment) -> None:
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
        found = parse_entry(buf, pos)
        if isinstance(found, Found) and found.lsn >= self.expected:
            self._accept(path, pos, found)
            return found.end
        reason = found if isinstance(found, str) else f"LSN {found.lsn} below the {self.expected} expected"
        end = resync(buf, pos + 1, self.expected)
        self.pending.append(_Bad(path, pos, end - pos, reason))
        return end

    def _accept(self, path: Path, pos: int, found: Found) -> None:
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
            self.runs.append(Run(path, pos, found.end))

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


def _clip(first: int, last: int, checkpoint: int) -> tuple[int, int] | None:
    first = max(first, checkpoint)
    return (first, last) if first <= last else None


def _cut_tail(directory: Path, segments: list[Segment], scan: _Scanner) -> tuple[list[Segment], list[TornTail]]:
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


def read_run(run: Run) -> Iterator[LogEntry]:
    """The entries of a run, in order."""
    with open(run.path, "rb") as f:
        f.seek(run.start)
        pos = run.start
        while pos < run.end:
            header = f.read(HEADER_SIZE)
            if len(header) != HEADER_SIZE:
                raise InternalError(f"cannot read WAL segment {run.path}: it shrank under replay at {pos}")
            _, length, lsn, _ = HEADER.unpack(header)
            payload = f.read(length)
            if len(payload) != length:
                raise InternalError(f"cannot read WAL segment {run.path}: it shrank under replay at {pos}")
            pos += HEADER_SIZE + length
            yield LogEntry(lsn, payload)
