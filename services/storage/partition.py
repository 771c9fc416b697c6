"""One partition of a replica: the tiles (memory stores) of a (table, hash range) and its magnetic segments.

Every change to what a partition holds goes through here, so that memory stores, the manifest and readers'
views move together:

- ``tile(bucket)``: the memory store of one time bucket, with the lock that serialises its appends;
- ``view(buckets)``: a consistent TileView (memory snapshots + pinned segments) for reads;
- ``flush(buckets)``: memory → a new segment; commit = the manifest naming it, then the memory store lets go;
- ``replace_segments``: the commit of a compaction or a retention rewrite (old files deleted once unpinned);
- ``magnetic_lookup``: what the segments hold for a batch's keys (write-time dedup), reading a segment only
  when its key summary says it may hold one.

The generation counter changes, under ``_state``, whenever the set of rows visible in one tier moves to the
other; a view retries until it has taken every snapshot within one generation.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import structlog

from services.storage import manifest as manifests
from services.storage.blobstore import BlobStore
from services.storage.manifest import Manifest, SegmentEntry
from services.storage.memstore import Key, MemStore, Stored, concat
from services.storage.segment_keys import SegmentKeys
from services.storage.segments import SegmentOptions, encode_segment, lookup_keys, may_contain
from services.storage.tileview import TileView
from tessera import dedup, layout

_log = structlog.get_logger()


@dataclass
class Tile:
    """The memory store of one (table, range, bucket) and the lock that serialises its appends."""

    bucket: int
    mem: MemStore = field(default_factory=MemStore)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(frozen=True)
class FlushResult:
    """What a flush moved: rows and the segment written (None when nothing was held)."""

    rows: int
    segment: SegmentEntry | None


DEFAULT_ROW_BYTES = 256
"""A row's bytes in memory until a flush or merge of the partition has measured them (TSBS: ~220)."""


class Partition:
    """Tiles and segments of one (table, range) on this replica."""

    def __init__(self, table_id: str, range_lo: int, store: BlobStore, manifest: Manifest,
                 options: SegmentOptions | None = None, flush_options: SegmentOptions | None = None) -> None:
        self.table_id = table_id
        self.range_lo = range_lo
        self.directory = f"{table_id}/{range_lo:016x}"
        self.store = store
        self.manifest = manifest
        self.options = options or SegmentOptions()
        self.flush_options = flush_options or self.options
        """How flushes write (a lower zstd level: most flushed segments are merged, hence rewritten, later)."""
        """How this partition's segments are written (zstd level, row group size)."""
        self.tiles: dict[int, Tile] = {}
        self._state = threading.Lock()
        self._generation = 0
        self._pins: Counter[str] = Counter()
        self._doomed: set[str] = set()
        self.maintenance = asyncio.Lock()
        """Held by flush, compaction and retention: one manifest change in flight per partition."""
        self.on_segment: Callable[[str, str, pa.Table], None] | None = None
        """Told (directory, segment name, rows) of every segment this partition writes, before it is listed
        (the tile store derives anti-entropy digests from the rows while they are in memory)."""
        self.segment_keys: SegmentKeys | None = None
        """Key indexes of recently written segments (write-time dedup without reading them back)."""
        self.row_bytes = DEFAULT_ROW_BYTES
        """Bytes a row of this partition takes in memory, as last measured (sizes flushes and merges)."""

    @classmethod
    def open(cls, table_id: str, range_lo: int, store: BlobStore, options: SegmentOptions | None = None,
             flush_options: SegmentOptions | None = None) -> Partition:
        """Load the manifest and sweep segment files it does not list (interrupted flushes). Blocking."""
        directory = f"{table_id}/{range_lo:016x}"
        manifest = manifests.load(store, directory)
        for path in manifests.orphans(store, directory, manifest):
            _log.info("removing a segment file no manifest lists (an interrupted flush or compaction)", path=path)
            store.delete(path)
        return cls(table_id, range_lo, store, manifest, options, flush_options)

    # -- tiles ---------------------------------------------------------------------------------------------

    def tile(self, bucket: int) -> Tile:
        """The tile of a bucket, created empty on first use."""
        tile = self.tiles.get(bucket)
        if tile is None:
            tile = self.tiles[bucket] = Tile(bucket)
        return tile

    def buckets(self) -> set[int]:
        """Buckets with rows in memory or in segments."""
        with self._state:
            held = {b for b, t in self.tiles.items() if t.mem.rows}
            return held | self.manifest.buckets()

    def column_types(self) -> dict[str, pa.DataType]:
        """Columns the partition stores (segments and every memory store), with their Arrow types."""
        with self._state:
            segments = list(self.manifest.segments)
        out: dict[str, pa.DataType] = {}
        for s in segments:
            for name, type_name in s.info.columns:
                if type_name in layout.ARROW_TYPES:
                    out.setdefault(name, layout.ARROW_TYPES[type_name])
        for tile in list(self.tiles.values()):  # sibling hours flush into one segment: one type per column
            for name, arrow_type in tile.mem.types.items():
                out.setdefault(name, arrow_type)
        return out

    def memory_bytes(self) -> int:
        """Bytes held by this partition's memory stores."""
        return sum(t.mem.nbytes for t in self.tiles.values())

    def first_lsn(self) -> int | None:
        """The oldest WAL entry a memory store of this partition still needs (None: none)."""
        lsns = [lsn for t in self.tiles.values() if (lsn := t.mem.first_lsn) is not None]
        return min(lsns) if lsns else None

    def flushed_lsn(self, bucket: int) -> int:
        """WAL entries of this bucket up to this LSN are in segments (replay skips them)."""
        return self.manifest.flushed_lsn.get(bucket, 0)

    # -- reads ---------------------------------------------------------------------------------------------

    def view(self, buckets: Iterable[int]) -> TileView:
        """A consistent view of the given buckets; release it (or use ``with``) when done."""
        wanted = frozenset(buckets)
        while True:
            with self._state:
                generation = self._generation
                manifest = self.manifest
            tiles = [self.tiles[b] for b in wanted if b in self.tiles]
            memory = [t.mem.snapshot() for t in tiles]
            with self._state:
                if generation != self._generation:
                    continue  # a flush committed meanwhile: take the pictures again
                segments = [s for s in manifest.segments if s.overlaps(wanted)]
                for s in segments:
                    self._pins[s.name] += 1
            dedup_across = any(s.supersedes for s in segments) or any(t.mem.supersedes_magnetic for t in tiles)
            names = [s.name for s in segments]
            return TileView(self.directory, self.store, wanted, memory, segments, dedup_across,
                            functools.partial(self._unpin, names))

    def _unpin(self, names: Sequence[str]) -> None:
        doomed = []
        with self._state:
            for name in names:
                self._pins[name] -= 1
                if self._pins[name] <= 0:
                    del self._pins[name]
                    if name in self._doomed:
                        self._doomed.discard(name)
                        doomed.append(name)
        self._delete_files(doomed)

    def _delete_files(self, names: Iterable[str]) -> None:
        names = list(names)
        if self.segment_keys is not None and names:
            self.segment_keys.forget(self.directory, names)
        for name in names:
            try:
                self.store.delete(f"{self.directory}/{name}")
            except Exception as exc:  # noqa: BLE001 - an undeleted file is swept at the next start
                _log.warning("cannot delete a replaced segment file", path=f"{self.directory}/{name}",
                             error=str(exc))

    def magnetic_lookup(self, series: npt.NDArray[np.uint64], times: npt.NDArray[np.int64]) -> dict[Key, Stored]:
        """(version, value hash) the segments hold for those of the given keys they have, newest version."""
        with self._state:
            segments = list(self.manifest.segments)
            for s in segments:
                self._pins[s.name] += 1  # a compaction committing meanwhile must not delete them under us
        try:
            return self._lookup(segments, series, times)
        finally:
            self._unpin([s.name for s in segments])

    def _lookup(self, segments: Sequence[SegmentEntry], series: npt.NDArray[np.uint64],
                times: npt.NDArray[np.int64]) -> dict[Key, Stored]:
        found: dict[Key, Stored] = {}
        if len(times) == 0:
            return found
        first, last = int(times.min()), int(times.max())
        for entry in segments:
            if last < entry.info.min_time_ns or first > entry.info.max_time_ns:
                continue  # the usual case for data arriving in time order: no per-key search
            maybe = may_contain(entry.info, series, times)
            if not maybe.any():
                continue
            index = self.segment_keys.get(self.directory, entry.name) if self.segment_keys is not None else None
            if index is not None:
                known = index.lookup(series[maybe], times[maybe])
                at = np.flatnonzero(known.held)
                _keep_newest(found, zip(series[maybe][at].tolist(), times[maybe][at].tolist()),
                             zip(known.version[at].tolist(), known.vhash[at].tolist()))
                continue
            rows = lookup_keys(self.store, f"{self.directory}/{entry.name}", series[maybe], times[maybe],
                               entry.identity)
            if rows.num_rows:
                _keep_newest(found, zip(rows.column(layout.SERIES).to_pylist(),
                                        rows.column(layout.TIME).cast(pa.int64()).to_pylist()),
                             zip(rows.column(layout.VERSION).to_pylist(), rows.column(layout.VALUE_HASH).to_pylist()))
        return found

    # -- moves between tiers -------------------------------------------------------------------------------

    async def flush(self, buckets: Iterable[int], measure_columns: Callable[[pa.Table], list[str]],
                    wal_synced: Callable[[int], Awaitable[None]], max_bytes: int | None = None) -> FlushResult:
        """Move the memory stores of the buckets into one new segment. Holds ``maintenance``.

        ``max_bytes`` bounds what one tile gives: a larger memory store flushes its oldest chunks up to it
        (at least one), the rest goes next round, so the flush's working memory stays bounded.

        ``wal_synced(lsn)`` returns once the WAL is durable up to ``lsn``: the manifest may record a
        flushed LSN only then (write-ahead rule), or a power cut could cut that entry from the WAL and its
        LSN be issued again to a new write that replay would then skip as already flushed.
        """
        async with self.maintenance:
            frozen: list[tuple[Tile, list[pa.Table], int]] = []
            for bucket in sorted(set(buckets)):
                tile = self.tiles.get(bucket)
                if tile is None or not tile.mem.rows:
                    continue
                async with tile.lock:
                    chunks, last_lsn = tile.mem.freeze(max_bytes)
                frozen.append((tile, chunks, last_lsn))
            if not frozen:
                return FlushResult(0, None)
            committed = False
            name, reserved = self.manifest.segment_name()
            try:
                rows, order = await asyncio.to_thread(_flush_rows, [c for _, chunks, _ in frozen for c in chunks])
                self.note_row_bytes(rows)
                supersedes = any(t.mem.supersedes_magnetic for t, _, _ in frozen)
                encoded = await asyncio.to_thread(encode_segment, rows, measure_columns(rows),
                                                  options=self.flush_options, order=order)
                await asyncio.to_thread(self.store.put, f"{self.directory}/{name}", encoded.data)
                await self._told(name, rows if order is None else _key_columns(rows, order))
                entry = SegmentEntry(name, encoded.info, supersedes, self.flush_options.compression_level)
                await wal_synced(max(lsn for _, _, lsn in frozen))
                updated = reserved.with_flush(entry, {t.bucket: lsn for t, _, lsn in frozen})
                await asyncio.to_thread(manifests.save, self.store, self.directory, updated)
                committed = True
                # Shielded: once the manifest is on disk the memory stores must let go, or rows show twice.
                await asyncio.shield(self._swap([t for t, _, _ in frozen], updated))
            except BaseException:
                if not committed:
                    for tile, _, _ in frozen:
                        tile.mem.abort_freeze()
                    # The save may have reached the disk or not (a failed directory fsync leaves it unknown):
                    # keep the rows in memory and the manifest in memory as before, so readers see each row
                    # once, but never hand this file name out again (a durable manifest may list it). The next
                    # save drops it from the disk manifest, and the start sweeps it.
                    with self._state:
                        self.manifest = replace(self.manifest, next_segment=max(self.manifest.next_segment,
                                                                                 reserved.next_segment))
                raise
            return FlushResult(rows.num_rows, entry)

    async def _swap(self, tiles: Sequence[Tile], updated: Manifest) -> None:
        """Install a committed manifest and release the flushed memory. It waits for appends in flight to
        these tiles (a worker thread may be classifying against the frozen rows), so none sees the rows in
        neither tier or its index half updated."""
        async with contextlib.AsyncExitStack() as held:
            for tile in tiles:  # in bucket order; appends hold one tile lock at a time
                await held.enter_async_context(tile.lock)
            with self._state:
                self.manifest = updated
                for tile in tiles:
                    tile.mem.release_frozen()
                self._generation += 1

    async def replace_segments(self, old: Sequence[SegmentEntry], new: Sequence[SegmentEntry]) -> None:
        """Commit a compaction or retention rewrite; the caller holds ``maintenance`` and wrote ``new``."""
        updated = self.manifest.with_replaced([s.name for s in old], new)
        await asyncio.to_thread(manifests.save, self.store, self.directory, updated)
        deletable = []
        with self._state:
            self.manifest = updated
            self._generation += 1
            for s in old:
                if self._pins.get(s.name, 0) > 0:
                    self._doomed.add(s.name)
                else:
                    deletable.append(s.name)
        await asyncio.to_thread(self._delete_files, deletable)

    async def write_segment(self, rows: pa.Table, measure_columns: list[str], supersedes: bool,
                            order: np.ndarray | None = None) -> SegmentEntry:
        """Encode rows (those ``order`` selects, when given: see ``encode_segment``) into a new segment file,
        durable but not yet listed (the caller holds ``maintenance`` and commits it with
        ``replace_segments``)."""
        name, reserved = self.manifest.segment_name()
        with self._state:
            self.manifest = reserved
        encoded = await asyncio.to_thread(encode_segment, rows, measure_columns, options=self.options, order=order)
        await asyncio.to_thread(self.store.put, f"{self.directory}/{name}", encoded.data)
        await self._told(name, rows if order is None else _key_columns(rows, order))
        return SegmentEntry(name, encoded.info, supersedes, self.options.compression_level)

    async def _told(self, name: str, rows: pa.Table) -> None:
        if self.on_segment is not None:
            await asyncio.to_thread(self.on_segment, self.directory, name, rows)

    def state_of(self, bucket: int) -> tuple[object, ...]:
        """A stamp that changes whenever the rows of this bucket may have changed (in either tier): the
        segments holding rows of it (immutable, uniquely named) and its memory store's generation."""
        tile = self.tiles.get(bucket)
        with self._state:
            names = tuple(s.name for s in self.manifest.segments if s.overlaps((bucket,)))
        return names, tile.mem.generation if tile is not None else -1

    def note_row_bytes(self, rows: pa.Table) -> None:
        """Learn how many bytes a row of this partition takes in memory (sizes flushes and merges)."""
        if rows.num_rows:
            self.row_bytes = max(1, rows.nbytes // rows.num_rows)

    def idle_seconds(self, bucket: int) -> float:
        """Seconds since the tile of a bucket last took an append."""
        tile = self.tiles.get(bucket)
        if tile is None or not tile.mem.last_append_monotonic:
            return float("inf")
        return time.monotonic() - tile.mem.last_append_monotonic


def _keep_newest(found: dict[Key, Stored], keys: Iterable[Key], stored: Iterable[Stored]) -> None:
    """Record what a segment holds for these keys where it is newer than what another segment held."""
    for key, value in zip(keys, stored):
        old = found.get(key)
        if old is None or value > old:
            found[key] = value


def _flush_rows(chunks: list[pa.Table]) -> tuple[pa.Table, np.ndarray | None]:
    """The rows a flush writes: every frozen chunk, and the order that keeps one row per key (None: all, as
    they are); blocking, run on a worker thread. The rows are not taken in that order here: the encoder
    takes them a column and a row group at a time."""
    rows = concat(chunks)
    return rows, dedup.latest_version_order(rows)


def _key_columns(rows: pa.Table, order: np.ndarray) -> pa.Table:
    """The key columns (what ``on_segment`` indexes and digests) of the selected rows, in order: a segment's
    keys without a copy of its values."""
    return rows.select([layout.SERIES, layout.TIME, layout.VERSION, layout.VALUE_HASH]).take(pa.array(order))
