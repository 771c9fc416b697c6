"""Every tile of one storage replica: the node's WAL, the partitions' two tiers, and the background mover.

On disk, under ``data_dir``:

- ``wal/``: the node's one write-ahead log (``nodewal.NodeLog``); each entry is one append of stored rows of
  one tile (``walentry``). Replay starts at the log's checkpoint: the oldest entry a memory store still needs.
- ``magnetic/{table_id}/{range_lo:016x}/``: a partition's ``manifest.json`` and its Parquet segments.
- ``magnetic/{table_id}/deleted``: the table was deleted; its data goes and WAL replay skips it.

An append classifies rows with the dedup rule against both tiers (``MemStore.classify`` with the partition's
magnetic lookup), writes the stored rows to the WAL, adds them to the tile's memory store and returns once
the entry is fsynced (group-committed with every concurrent append of any tile). The background mover
(``run_maintenance``) flushes memory stores by the tiering policy, advances the WAL checkpoint, compacts and
expires by retention; tests drive the same steps through the Maintain hooks.

A scan reads each requested tile through a TileView (memory + segments, one row per key), conforms it to the
table schema the caller sends, keeps the rows with ``start_ns <= time < end_ns`` that pass the SQL predicate
(DuckDB), and returns the projected rows with a digest over the key and version of every row that passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pyarrow as pa
import structlog

from services.storage import compaction, retention, tiering, walentry
from services.storage.blobstore import LocalBlobStore
from services.storage.config import StorageConfig
from services.storage.manifest import Manifest
from services.storage.memstore import AppendResult, check_column_types, check_rows, empty_table
from services.storage.nodewal import NodeLog
from services.storage.partition import Partition, Tile
from services.storage.scan import ScanResult, scan_views
from services.storage.segment_keys import SegmentKeys
from services.storage.segments import SegmentOptions, read_segment
from services.storage.tilekey import TileKey
from services.storage.tileview import ReadFilter, TileView
from tessera import digest, layout, memory
from tessera.errors import InternalError, NotFound, TesseraError, Throttled
from tessera.sqlsession import Sessions

_log = structlog.get_logger()
INLINE_ROWS = 2048
"""Batches up to this many rows are classified on the event loop; bigger ones in a worker thread."""
SEGMENT_DIGESTS_KEPT = 200_000
"""Per-segment slice digests cached (segment, bucket, slice width); beyond, the cache starts again."""
MEMORY_LOG_INTERVAL_S = 30.0
"""How often the node logs where its memory is (the "memory" line)."""
DELETED_MARKER = "deleted"
LOST_WAL_MARKER = "wal-lost.json"
"""In the magnetic store's root: WAL ranges lost to corruption; while present, no tile here counts as complete."""
REPLICA_MARKER = "replica.json"
"""In the magnetic store's root: this replica has been compared with its peers and holds its share. A data
directory without it is new or was wiped: the node rebuilds from its peers before it counts as a replica."""
FOLD_CHUNKS = 256
"""A memory store holding more chunks than this (small appends not yet read) is folded into one."""


class TableFacts(Protocol):
    """What the engine needs to know of a table (the catalog, through storage's table cache)."""

    @property
    def memory_retention_ns(self) -> int: ...

    @property
    def magnetic_retention_ns(self) -> int: ...

    def measure_columns(self) -> Sequence[str]: ...


class TableSource(Protocol):
    """Tables by id: None when unknown (never known, or the catalog is unreachable and nothing is cached)."""

    def get(self, table_id: str) -> TableFacts | None: ...

    def deleted(self, table_id: str) -> bool: ...

    async def fetch(self, table_id: str) -> TableFacts | None: ...


CONFIRM_WAIT_S = 0.5
"""How long an append waits for the catalog to confirm a table id its watch has not brought."""
CONFIRM_RETRY_S = 10.0
"""After the catalog failed to answer about a table id, how long its appends go on without asking."""


@dataclass(frozen=True)
class MaintenanceReport:
    """What one round of the background mover did."""

    flushed_rows: int = 0
    flushed_segments: int = 0
    compacted_segments: int = 0
    expired_rows: int = 0
    dropped_tables: int = 0
    checkpoint_lsn: int = 0


def release_free_memory() -> None:
    """Return free memory of Arrow's pool and of the C heap to the kernel."""
    pa.default_memory_pool().release_unused()
    memory.release_free_heap()


def guess_measure_columns(rows: pa.Table) -> list[str]:
    """Measure columns when the catalog is not at hand: every non-string column plus single-measure values.

    Only a hint to the segment writer, which verifies that the value hashes recompute from it and stores
    them otherwise, so a wrong guess costs bytes, never correctness.
    """
    out = []
    for f in rows.schema:
        if f.name in layout.FIXED_COLUMNS:
            continue
        if f.name.startswith("measure_value::") or not pa.types.is_string(f.type):
            out.append(f.name)
    return out


class TileStore:
    """The tiles of one storage replica."""

    def __init__(self, config: StorageConfig, tables: TableSource | None = None,
                 clock: tiering.Clock | None = None) -> None:
        self.config = config
        self.tables = tables
        self.clock = clock or tiering.Clock()
        self.store = LocalBlobStore(config.data_dir / "magnetic")
        self._segment_options = SegmentOptions(compression_level=config.segment_zstd_level)
        self._flush_options = SegmentOptions(compression_level=min(config.flush_zstd_level, config.segment_zstd_level))
        self._log: NodeLog | None = None
        self._partitions: dict[tuple[str, int], Partition] = {}
        self._deleted: set[str] = set()
        self._unconfirmed: dict[str, float] = {}  # table id -> when the catalog last failed to answer about it
        self._lost_wal = False
        self._membership_unchecked = False
        self._rebuilding = False
        self._digests: dict[TileKey, tuple[tuple[object, ...], list[tuple[int, int, int]]]] = {}
        self._segment_digests: dict[tuple[str, str, int, int], list[tuple[int, int, int]]] = {}
        self.segment_keys = SegmentKeys(config.segment_keys_bytes)
        self.peaks = memory.PeakWatch()
        """Resident memory's peak between two ``memory`` log lines, and the work running at it."""
        self.throttled_appends = 0
        """Appends refused at the memory limit since start (each is retried by its writer)."""
        self._throttle_logged = 0.0
        self._duck: Sessions | None = None
        self._closed = False
        self._maintainer: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._maintenance_lock = asyncio.Lock()
        self.replayed_entries = 0
        """WAL entries replayed at open (what restart time depends on)."""
        # Appends between their WAL write and their memory-store add (a worker thread may be in between):
        # token -> a lower bound of the LSN they get. The checkpoint never passes them.
        self._unapplied: dict[int, int] = {}
        self._unapplied_lock = threading.Lock()
        self._tokens = itertools.count()

    # -- lifecycle -----------------------------------------------------------------------------------------

    async def open(self) -> None:
        """Load every partition's manifest, replay the WAL from its checkpoint, start the background mover."""
        started = time.monotonic()
        # The WAL first: opening it takes the data directory's lock, so a second process on the same
        # directory fails here, before it sweeps another's uncommitted segment files as orphans.
        self._log = await asyncio.to_thread(NodeLog.open, self.config.data_dir / "wal",
                                            segment_bytes=self.config.wal_segment_bytes)
        await asyncio.to_thread(self._load_partitions)
        await asyncio.to_thread(self._replay)
        await self._mark_lost_entries()
        self._rebuilding = self.config.rebuild_when_new and not await asyncio.to_thread(self.store.exists,
                                                                                         REPLICA_MARKER)
        if self._rebuilding:
            _log.warning("this replica has no record of holding its data (a new node, or its data directory was "
                         "wiped): it stores writes but counts as no replica until anti-entropy has compared it "
                         "with its peers and copied what they hold", marker=REPLICA_MARKER)
        self._duck = Sessions(threads=1)
        if self.config.tier_interval_s > 0:
            self._maintainer = asyncio.create_task(self._maintain_forever())
            self.peaks.start()
        _log.info("tile store opened", data_dir=str(self.config.data_dir), partitions=len(self._partitions),
                  replayed_entries=self.replayed_entries, seconds=round(time.monotonic() - started, 3))
        cfg = self.config
        left = int(cfg.memory_limit_bytes * (1 - cfg.memstore_fraction - cfg.work_fraction))
        process_alone = memory.resident_bytes() - self.memory_bytes()
        if process_alone > left:
            _log.warning("--memory-limit-mb is too small to be kept: the process alone uses more than the part "
                         "of the limit its memory stores and flushes leave it", limit_mib=cfg.memory_limit_bytes >> 20,
                         resident_mib=process_alone >> 20, left_mib=left >> 20)

    def _load_partitions(self) -> None:
        self.store.sweep_temporary()
        paths = self.store.list("")
        self._deleted.update(p.split("/")[0] for p in paths if p.count("/") == 1 and p.endswith(f"/{DELETED_MARKER}"))
        for path in paths:
            parts = path.split("/")
            if parts[0] in self._deleted:
                continue  # a deletion interrupted by a crash: finished below, never loaded
            if len(parts) == 3 and parts[2] == "manifest.json":
                table_id, lo_hex = parts[0], parts[1]
                try:
                    range_lo = int(lo_hex, 16)
                except ValueError:
                    _log.warning("skipping a directory that is not a partition", path=path)
                    continue
                partition = Partition.open(table_id, range_lo, self.store, self._segment_options,
                                           self._flush_options)
                self._adopt(partition)
                self._partitions[(table_id, range_lo)] = partition
        for table_id in self._deleted:
            self._remove_table_files(table_id)

    def _replay(self) -> None:
        assert self._log is not None
        now = time.monotonic()
        for entry in self._log.replay():
            key, flags, rows = walentry.decode(entry.payload)
            if key.table_id in self._deleted:
                continue
            partition = self._partition(key)
            if entry.lsn <= partition.flushed_lsn(key.bucket):
                continue  # already in a segment
            tile = partition.tile(key.bucket)
            # Either flag means the rows may replace rows that are now in a segment: deduplicate across tiers.
            across = flags.supersedes_magnetic or flags.supersedes_memory
            tile.mem.add(rows, entry.lsn, across, flags.supersedes_memory, now, replaces=flags.replaces)
            if tile.mem.chunk_count > FOLD_CHUNKS:
                tile.mem.fold()  # a log of small appends must not leave thousands of chunks per tile
            self.replayed_entries += 1

    async def _mark_lost_entries(self) -> None:
        """A WAL that lost entries in the middle leaves this replica unable to vouch for any tile.

        Which tiles the lost entries held cannot be known (their bytes are what was lost), so until repair
        refills this replica from its peers every scan reports its tiles incomplete and the coordinator reads
        the other replicas. The lost ranges are kept in ``magnetic/wal-lost.json``: the WAL segment holding
        the damage is deleted by a later checkpoint, the marker stays until repair removes it.
        """
        assert self._log is not None
        known: list[list[int]] = []
        if await asyncio.to_thread(self.store.exists, LOST_WAL_MARKER):
            known = json.loads(await asyncio.to_thread(self.store.read, LOST_WAL_MARKER))["lost_lsn_ranges"]
        fresh = [[first, last] for first, last in self._log.recovery.lost if [first, last] not in known]
        if fresh:
            known += fresh
            body = json.dumps({"lost_lsn_ranges": known}).encode()
            await asyncio.to_thread(self.store.put, LOST_WAL_MARKER, body)
            _log.error("WAL entries were lost to corruption in the middle of the log; this replica reports every "
                       "tile incomplete until repair refills it from its peers", lost_lsn_ranges=fresh,
                       marker=LOST_WAL_MARKER)
        self._lost_wal = bool(known)

    def await_membership_check(self) -> None:
        """Count as no replica until ``membership_checked``: a storage member removed while this node was down
        may have handed it tiles it never held (the node's service calls this before it serves)."""
        self._membership_unchecked = True

    def membership_checked(self) -> None:
        """The cell's membership was compared with the one last seen (and a rebuild started if need be)."""
        self._membership_unchecked = False

    @property
    def incomplete_reason(self) -> str | None:
        """Why this replica's answers do not count as a complete replica's (None: they do)."""
        if self._membership_unchecked:
            return "it has not yet compared the cell's membership with the one it last saw"
        if self._lost_wal:
            return "it lost WAL entries to corruption and awaits repair"
        if self._rebuilding:
            return "it is rebuilding from its peers"
        return None

    async def drop_tiles(self, keys: Sequence[TileKey]) -> int:
        """Delete these tiles' rows from both tiers (placement no longer names this replica for them and their
        replicas hold the same rows); return how many rows went."""
        removed = 0
        by_partition: dict[tuple[str, int], list[int]] = {}
        for key in keys:
            by_partition.setdefault((key.table_id, key.range_lo), []).append(key.bucket)
        for pkey, buckets in by_partition.items():
            partition = self._partitions.get(pkey)
            if partition is not None:
                removed += await retention.drop_buckets(partition, buckets, self._measure_columns_for(pkey[0]))
        return removed

    async def start_rebuild(self, why: str) -> None:
        """Count as no replica again until anti-entropy has compared every tile with the peers and copied what
        they hold (placement may have handed this replica tiles it never held). The marker goes first, so a
        restart meanwhile is still rebuilding."""
        if await asyncio.to_thread(self.store.exists, REPLICA_MARKER):
            await asyncio.to_thread(self.store.delete, REPLICA_MARKER)
        if not self._rebuilding:
            _log.warning("this replica counts as no replica until it has copied what its peers hold", reason=why)
        self._rebuilding = True

    async def mark_complete(self) -> None:
        """Anti-entropy compared every tile with every peer and copied what they hold: from now on this
        replica counts (the lost-WAL mark, if any, goes too)."""
        body = json.dumps({"complete_since_ns": time.time_ns()}).encode()
        await asyncio.to_thread(self.store.put, REPLICA_MARKER, body)
        if await asyncio.to_thread(self.store.exists, LOST_WAL_MARKER):
            await asyncio.to_thread(self.store.delete, LOST_WAL_MARKER)
        if self._rebuilding or self._lost_wal:
            _log.info("this replica now holds what its peers hold and counts as a replica again")
        self._rebuilding = self._lost_wal = False

    async def close(self) -> None:
        """Stop the mover, sync and close the WAL; safe to call twice. Memory stores stay in the WAL."""
        self.peaks.stop()
        if self._closed:
            return
        self._closed = True
        if self._maintainer is not None:
            self._maintainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintainer
        if self._log is not None:
            try:
                await self._log.close()
            except (OSError, InternalError) as exc:
                _log.error("cannot close the WAL", error=str(exc))
        if self._duck is not None:
            self._duck.close()
            self._duck = None

    # -- partitions ----------------------------------------------------------------------------------------

    def _partition(self, key: TileKey) -> Partition:
        found = self._partitions.get((key.table_id, key.range_lo))
        if found is None:
            found = Partition(key.table_id, key.range_lo, self.store, Manifest(), self._segment_options,
                              self._flush_options)
            self._adopt(found)
            self._partitions[(key.table_id, key.range_lo)] = found
        return found

    def _adopt(self, partition: Partition) -> None:
        """Hook a partition up to the node's digest and key caches."""
        partition.on_segment = self._note_segment
        partition.segment_keys = self.segment_keys

    def memory_bytes(self) -> int:
        """Bytes held by every memory store of this replica."""
        return sum(p.memory_bytes() for p in self._partitions.values())

    def under_pressure(self) -> bool:
        """Whether the memory stores are above the flush mark (flushes have priority over other work)."""
        return self.memory_bytes() > self.config.flush_mark_bytes

    def memory_report(self) -> dict[str, int]:
        """Where this node's memory is, in MiB: resident, the memory stores, and Arrow's allocator."""
        return {"resident_mib": memory.resident_bytes() >> 20, "memory_stores_mib": self.memory_bytes() >> 20,
                "arrow_allocated_mib": pa.total_allocated_bytes() >> 20,
                "segment_keys_mib": self.segment_keys.nbytes >> 20,
                "limit_mib": self.config.memory_limit_bytes >> 20}

    @property
    def wal(self) -> NodeLog:
        """The node's write-ahead log."""
        if self._log is None:
            raise InternalError("the tile store is not open")
        return self._log

    # -- writes --------------------------------------------------------------------------------------------

    def table_deleted(self, table_id: str) -> bool:
        """Whether the table's files are gone or going (the catalog said so, or a marker on disk)."""
        return table_id in self._deleted or (self.tables is not None and self.tables.deleted(table_id))

    async def append(self, key: TileKey, rows: pa.Table, ipc: bytes | None = None) -> AppendResult:
        """Append layout rows to a tile; returns after the WAL fsync. ``ipc``: the rows already serialised."""
        if self._closed or self._log is None:
            raise InternalError(f"cannot append to tile {key.dir_name()}: the tile store is closed")
        check_rows(rows)
        if rows.num_rows == 0:
            return AppendResult(0)
        if self.tables is not None and self.tables.get(key.table_id) is None:
            await self._confirm_table(key.table_id)
        if self.table_deleted(key.table_id):
            raise NotFound(f"cannot append to tile {key.dir_name()}: table {key.table_id} was deleted")
        check_column_types(rows)
        self._check_memory(key)
        partition = self._partition(key)
        tile = partition.tile(key.bucket)
        log = self._log
        if rows.num_rows <= INLINE_ROWS:
            async with tile.lock:
                result, lsn = self._apply(partition, tile, key, rows, ipc)
        else:
            # Shielded so that a cancelled caller cannot release the lock while the worker still runs.
            result, lsn = await asyncio.shield(asyncio.ensure_future(
                self._apply_in_thread(partition, tile, key, rows, ipc)))
        # Also when nothing new was stored: an exact duplicate of a row another append is still syncing must
        # not be acknowledged before that row is durable.
        await log.sync(lsn)
        return result

    async def _confirm_table(self, table_id: str) -> None:
        """A table id this node's watch has not brought: ask the catalog (one shared call per id) before
        storing rows of it. A new table is then cached; one deleted before this node ever knew it is marked
        deleted, so its rows are refused rather than acknowledged into a table nobody can read. When the
        catalog cannot answer within CONFIRM_WAIT_S the rows are accepted (static stability), and the id is
        not asked about again for CONFIRM_RETRY_S."""
        assert self.tables is not None
        failed = self._unconfirmed.get(table_id)
        if failed is not None and time.monotonic() - failed < CONFIRM_RETRY_S:
            return
        try:
            async with asyncio.timeout(CONFIRM_WAIT_S):
                await self.tables.fetch(table_id)
            self._unconfirmed.pop(table_id, None)
        except (TesseraError, TimeoutError) as exc:
            self._unconfirmed[table_id] = time.monotonic()
            _log.info("table_unconfirmed", table_id=table_id, error=str(exc) or type(exc).__name__)

    def _check_memory(self, key: TileKey) -> None:
        used = self.memory_bytes()
        limit = self.config.memstore_limit_bytes
        # Only the memory stores' own count refuses appends, never the process's resident memory: refusing
        # on a flush's or a merge's transient peak left replicas behind their peers, whose repair then took
        # more memory still (a 10-minute run went to 2.4 GB on a 1 GB limit and 36 % of its throughput).
        if used >= limit:
            self._wake.set()
            self.throttled_appends += 1
            now = time.monotonic()
            if now - self._throttle_logged >= 5.0:  # at most one line every 5 s, with the count
                self._throttle_logged = now
                _log.warning("appends refused: memory stores at the limit", used_mib=used >> 20,
                             limit_mib=limit >> 20, refused_so_far=self.throttled_appends)
            raise Throttled(f"cannot append to tile {key.dir_name()}: this storage node's memory stores hold "
                            f"{used >> 20} MiB, their share ({limit >> 20} MiB) of the node's "
                            f"{self.config.memory_limit_bytes >> 20} MiB limit (--memory-limit-mb), while flushes "
                            f"catch up; retry after {self.config.throttle_retry_ms} ms", self.config.throttle_retry_ms)

    async def _apply_in_thread(self, partition: Partition, tile: Tile, key: TileKey, rows: pa.Table,
                               ipc: bytes | None) -> tuple[AppendResult, int]:
        async with tile.lock:
            return await asyncio.to_thread(self._apply, partition, tile, key, rows, ipc)

    def _apply(self, partition: Partition, tile: Tile, key: TileKey, rows: pa.Table,
               ipc: bytes | None) -> tuple[AppendResult, int]:
        """Classify, write the stored rows to the WAL, hold them in memory; return (result, LSN to sync)."""
        assert self._log is not None
        tile.mem.check_types(rows, key.dir_name(), partition.column_types())
        lookup = partition.magnetic_lookup if partition.manifest.segments else None
        classified = tile.mem.classify(rows, lookup)
        if classified.to_store is None:
            return classified.result, self._log.last_lsn
        stored = classified.to_store
        flags = walentry.Flags(classified.supersedes_magnetic, classified.supersedes_memory)
        body = ipc if stored is rows and ipc is not None else None
        payload = walentry.encode(key, flags, stored, body)
        token = next(self._tokens)
        with self._unapplied_lock:
            self._unapplied[token] = self._log.next_lsn  # at most the LSN the append below gets
        try:
            lsn = self._log.append(payload)  # raises before any state changes
            tile.mem.add(stored, lsn, flags.supersedes_magnetic, flags.supersedes_memory, time.monotonic())
        finally:
            with self._unapplied_lock:
                del self._unapplied[token]
        return classified.result, lsn

    async def tile_digests(self, table_id: str, min_bucket: int, max_bucket: int, slice_ns: int,
                           skip_active_s: float = 0.0) -> tuple[list[tuple[TileKey, list[tuple[int, int, int]]]],
                                                                  list[TileKey]]:
        """Per local tile of the table in the bucket range: (slice start, rows, digest) of each time slice
        holding rows. Cached per tile until its rows change, so closed hours cost nothing. Tiles that took
        an append within ``skip_active_s`` are not digested but listed apart (the second list)."""
        keys = self.list_tiles(table_id, min_bucket, max_bucket)
        active = [k for k in keys if skip_active_s > 0 and (p := self._partitions.get((k.table_id, k.range_lo)))
                  is not None and p.idle_seconds(k.bucket) < skip_active_s]
        skipped = set(active)
        keys = [k for k in keys if k not in skipped]

        def blocking() -> list[tuple[TileKey, list[tuple[int, int, int]]]]:
            out = []
            for key in keys:
                partition = self._partitions.get((key.table_id, key.range_lo))
                if partition is None:
                    continue
                stamp = (*partition.state_of(key.bucket), slice_ns)  # taken before the read: never stale
                cached = self._digests.get(key)
                if cached is not None and cached[0] == stamp:
                    out.append((key, cached[1]))
                    continue
                with partition.view([key.bucket]) as view:
                    slices = self._view_digests(view, key.bucket, slice_ns)
                self._digests[key] = (stamp, slices)
                out.append((key, slices))
            return out

        return await asyncio.to_thread(blocking), active

    def _view_digests(self, view: TileView, bucket: int, slice_ns: int) -> list[tuple[int, int, int]]:
        """Slice digests of one tile. Without cross-tier deduplication they add up per part: each segment's
        share is computed once (segments are immutable) and only the memory store is hashed again, so a
        round costs little memory and time once a node's tiles are known."""
        start, end = bucket * layout.TILE_BUCKET_NS, (bucket + 1) * layout.TILE_BUCKET_NS
        if view.dedup_across:
            return digest.slice_digests(view.read(ReadFilter(start, end, columns=())).table, start, slice_ns)
        parts = [digest.slice_digests(m, start, slice_ns) for m in view.memory if m.num_rows]
        for entry in view.segments:
            cache_key = (view.directory, entry.name, bucket, slice_ns)
            got = self._segment_digests.get(cache_key)
            if got is None:
                rows = read_segment(self.store, f"{view.directory}/{entry.name}", columns=(), start_ns=start,
                                    end_ns=end).table
                got = digest.slice_digests(rows, start, slice_ns)
                if len(self._segment_digests) >= SEGMENT_DIGESTS_KEPT:
                    self._segment_digests.clear()
                self._segment_digests[cache_key] = got
            parts.append(got)
        return digest.add_slices(parts)

    def _note_segment(self, directory: str, name: str, rows: pa.Table) -> None:
        """Digest and index a new segment's rows per bucket now, while they are in memory (blocking: a worker
        thread), so neither anti-entropy nor write-time dedup reads the file back for them."""
        if rows.num_rows == 0:
            return
        self.segment_keys.remember(directory, name, rows)
        slice_ns = self.config.repair_slice_s * 1_000_000_000
        times = rows.column(layout.TIME).cast(pa.int64()).to_numpy()
        hashes = digest.row_hashes(rows)
        buckets = times // layout.TILE_BUCKET_NS
        for bucket in np.unique(buckets).tolist():
            mine = buckets == bucket
            if len(self._segment_digests) >= SEGMENT_DIGESTS_KEPT:
                self._segment_digests.clear()
            self._segment_digests[(directory, name, bucket, slice_ns)] = digest.hashed_slice_digests(
                times[mine], hashes[mine], bucket * layout.TILE_BUCKET_NS, slice_ns)

    async def install(self, key: TileKey, rows: pa.Table,
                      expected: Mapping[tuple[int, int], tuple[int, int]] | None = None) -> int:
        """Repair: make these rows (what the replicas decided) this replica's rows of their keys; return how
        many were stored. Newer versions supersede, older ones are skipped, and a row at the same version as
        a held row with another value replaces it, in memory and in segments alike.

        Holds the partition's maintenance lock (no flush, merge or expiry meanwhile) and the tile's lock: a
        segment rewrite (rare: the replaced row was already flushed) commits before the WAL entry that logs
        the replacement, so a crash in between leaves the key absent here (repair comes back), never both.
        ``expected``: (series, time) -> (version, value hash) held here when the replicas voted; a key that
        holds something else now is skipped (see ``MemStore.classify``).
        """
        if self._closed or self._log is None:
            raise InternalError(f"cannot repair tile {key.dir_name()}: the tile store is closed")
        check_rows(rows)
        check_column_types(rows)
        if rows.num_rows == 0 or key.table_id in self._deleted:
            return 0
        partition = self._partition(key)
        tile = partition.tile(key.bucket)
        log = self._log
        async with partition.maintenance, tile.lock:
            tile.mem.check_types(rows, key.dir_name(), partition.column_types())
            lookup = partition.magnetic_lookup if partition.manifest.segments else None
            classified = await asyncio.to_thread(tile.mem.classify, rows, lookup, True, expected)
            if classified.to_store is None:
                return 0
            if classified.replaced_magnetic:
                await retention.drop_exact(partition, classified.replaced_magnetic,
                                           self._measure_columns_for(partition.table_id))
            stored = classified.to_store
            flags = walentry.Flags(classified.supersedes_magnetic, classified.supersedes_memory, replaces=True)
            lsn = log.append(walentry.encode(key, flags, stored))
            tile.mem.add(stored, lsn, flags.supersedes_magnetic, flags.supersedes_memory, time.monotonic(),
                         replaces=True)
        await log.sync(lsn)
        return int(stored.num_rows)

    # -- reads ---------------------------------------------------------------------------------------------

    def list_tiles(self, table_id: str, min_bucket: int, max_bucket: int) -> list[TileKey]:
        """Local tiles of a table with min_bucket <= bucket <= max_bucket, by range then bucket."""
        keys = [TileKey(p.table_id, p.range_lo, b) for p in list(self._partitions.values()) if p.table_id == table_id
                for b in p.buckets() if min_bucket <= b <= max_bucket]
        return sorted(keys, key=lambda k: (k.range_lo, k.bucket))

    def tile_rows(self, key: TileKey) -> pa.Table:
        """Every row of one tile, both tiers, one per key (tests and tools)."""
        partition = self._partitions.get((key.table_id, key.range_lo))
        if partition is None:
            return empty_table()
        with partition.view([key.bucket]) as view:
            start = key.bucket * layout.TILE_BUCKET_NS
            return view.read(ReadFilter(start, start + layout.TILE_BUCKET_NS)).table

    async def scan(self, tiles: Sequence[TileKey], schema: Sequence[tuple[str, str]], columns: Sequence[str],
                   predicate: str, start_ns: int, end_ns: int, with_keys: bool, want_rows: bool = True,
                   predicate_columns: Sequence[str] = (), dimension_in: Mapping[str, Sequence[str]] | None = None,
                   measure_names: Sequence[str] | None = None, latest_per_series: int = 0) -> ScanResult:
        """Filter the requested local tiles; return projected rows (unless digest-only) and the digest.

        ``dimension_in`` and ``measure_names`` select whole keys (the caller found them in the predicate);
        the magnetic store skips row groups with them. The predicate still decides every row.
        """
        if self._duck is None:
            raise InternalError("cannot scan: the tile store is not open")
        by_partition: dict[tuple[str, int], set[int]] = {}
        for key in dict.fromkeys(tiles):
            by_partition.setdefault((key.table_id, key.range_lo), set()).add(key.bucket)
        partitions = [(p, buckets) for pkey, buckets in by_partition.items()
                      if (p := self._partitions.get(pkey)) is not None]
        cursor = self._duck.cursor()  # one open result per session: a configured cursor per scan

        def blocking() -> ScanResult:
            # Views too are taken on the worker thread: a memory store's snapshot (concat + dedup) may take a
            # while after appends, and the event loop must keep acknowledging writes meanwhile.
            views = []
            try:
                views = [p.view(buckets) for p, buckets in partitions]
                incomplete = []
                if reason := self.incomplete_reason:  # even a tile it does not know may have had rows here
                    incomplete = [k.dir_name() for k in dict.fromkeys(tiles)] or [f"every tile: {reason}"]
                return scan_views(cursor, views, schema, columns, predicate, start_ns, end_ns, with_keys, want_rows,
                                  predicate_columns, incomplete, dimension_in or {}, measure_names, latest_per_series)
            finally:
                for view in views:
                    view.release()

        try:
            return await asyncio.to_thread(blocking)
        finally:
            cursor.close()

    # -- the background mover ------------------------------------------------------------------------------

    def _measure_columns_for(self, table_id: str) -> Callable[[pa.Table], list[str]]:
        facts = self.tables.get(table_id) if self.tables is not None else None
        if facts is None:
            return guess_measure_columns
        known = facts.measure_columns()
        return lambda rows: [c for c in known if c in rows.column_names] or guess_measure_columns(rows)

    async def _maintain_forever(self) -> None:
        logged = 0.0
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.tier_interval_s)
            self._wake.clear()
            if time.monotonic() - logged >= MEMORY_LOG_INTERVAL_S:
                logged = time.monotonic()
                peak, during = self.peaks.take()
                _log.info("memory", **self.memory_report(), peak_resident_mib=peak >> 20, peak_during=list(during))
            try:
                # Flushing comes first: while the memory stores are above the flush mark a round only flushes
                # (a merge would hold the partition and the work memory the flush needs); compaction catches up
                # once writes leave room.
                await self.maintain(compact=not self.under_pressure())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the mover must outlive one bad round; it is logged
                _log.error("storage maintenance round failed; retrying next round", error=repr(exc))

    async def _fold_memory_stores(self) -> None:
        """Fold the chunks of memory stores that took many small appends since they were last read (each
        append is a chunk): what every read, repair install and flush of the tile would otherwise have to
        walk one chunk at a time. On a worker thread; appends go on meanwhile."""
        for partition in list(self._partitions.values()):
            for tile in list(partition.tiles.values()):
                if tile.mem.chunk_count > FOLD_CHUNKS:
                    await asyncio.to_thread(tile.mem.fold)

    async def maintain(self, *, flush_all: bool = False, compact: bool = True,
                       expire: bool = True) -> MaintenanceReport:
        """One round: drop deleted tables, tier (or flush everything), checkpoint the WAL, compact, expire.

        A partition whose step fails is logged and skipped: the others, and the checkpoint, go on. Flushing
        and checkpointing run under the node's maintenance lock; compaction and expiry only under each
        partition's own, so memory-pressure flushes of other partitions never wait behind them.
        """
        async with self._maintenance_lock:
            now_ns = self.clock.now_ns()
            flushed_rows = flushed_segments = compacted = expired = 0
            dropped = await self._drop_deleted_tables()
            for plan in self._flush_plans(now_ns, flush_all):
                partition = plan.partition
                try:
                    with self.peaks.activity("flush"):
                        result = await partition.flush(plan.buckets, self._measure_columns_for(partition.table_id),
                                                       self.wal.sync, self._flush_bytes)
                except Exception as exc:  # noqa: BLE001 - one partition must not stop the others
                    _log.error("cannot flush memory stores; they stay in memory and the WAL", error=repr(exc),
                               partition=partition.directory, buckets=list(plan.buckets))
                    continue
                if result.segment is not None:
                    flushed_rows += result.rows
                    flushed_segments += 1
                    _log.info("flushed memory stores to the magnetic store", partition=partition.directory,
                              buckets=list(plan.buckets), rows=result.rows, reason=plan.reason,
                              segment=result.segment.name, bytes=result.segment.info.bytes)
            checkpoint = await self._advance_checkpoint()
        await self._fold_memory_stores()
        if compact:
            for partition in list(self._partitions.values()):
                try:
                    with self.peaks.activity("compaction"):
                        compacted += await compaction.compact(
                            partition, self._measure_columns_for(partition.table_id),
                            self.config.compact_min_segments, self.config.compact_target_rows, self.config.work_bytes,
                            quiet_s=0.0 if flush_all else self.config.idle_flush_s)  # forced: everything final
                except Exception as exc:  # noqa: BLE001 - logged; the segments stay as they were
                    _log.error("cannot compact a partition", partition=partition.directory, error=repr(exc))
        if expire:
            with self.peaks.activity("expiry"):
                expired = await self._expire(now_ns)
        # Every round, not only after a flush or a merge: Arrow's allocator (mimalloc) keeps every page freed
        # since the last release resident (reads, folds, repair and classification free hundreds of MiB
        # between flushes: 0 MiB allocated could sit beside 800 MiB resident), and glibc's heap likewise.
        # Returning them on each free instead (MIMALLOC_PURGE_DELAY=0) made Arrow's work 3x slower.
        await asyncio.to_thread(release_free_memory)
        return MaintenanceReport(flushed_rows, flushed_segments, compacted, expired, dropped, checkpoint)

    def _flush_plans(self, now_ns: int, flush_all: bool) -> list[tiering.FlushPlan]:
        partitions = list(self._partitions.values())
        if flush_all:
            plans = [tiering.FlushPlan(p, tuple(sorted(b for b, t in p.tiles.items() if t.mem.rows)), "forced")
                     for p in partitions]
            return tiering.bounded([p for p in plans if p.buckets], self.config.flush_max_rows, self._flush_bytes)
        plans = []
        for p in partitions:
            facts = self.tables.get(p.table_id) if self.tables is not None else None
            plan = tiering.aged_and_idle(p, now_ns, facts.memory_retention_ns if facts else None,
                                         self.config.idle_flush_s, self.config.open_idle_flush_s)
            if plan is not None:
                plans.append(plan)
        used = self.memory_bytes() - sum(t.mem.nbytes for plan in plans for b in plan.buckets
                                         if (t := plan.partition.tiles.get(b)) is not None)
        mark = self.config.flush_mark_bytes
        if memory.resident_bytes() > self.config.memory_limit_bytes * self.config.high_water_fraction:
            mark //= 2  # the process is near its limit: what the memory stores hold is what can be let go
        if used > mark:
            planned = {(id(p.partition), b) for p in plans for b in p.buckets}
            for extra in tiering.under_pressure(partitions, used, mark):
                buckets = tuple(b for b in extra.buckets if (id(extra.partition), b) not in planned)
                if buckets:
                    plans.append(tiering.FlushPlan(extra.partition, buckets, extra.reason))
        return tiering.bounded(plans, self.config.flush_max_rows, self._flush_bytes)

    @property
    def _flush_bytes(self) -> int:
        """Memory-store bytes one flush takes at most: while it works it holds about three times that again
        (the concatenated rows, their deduplicated copy, the encoder's columns: up to 400 MiB of Arrow
        memory was seen behind a 128 MiB flush)."""
        return self.config.work_bytes // 3

    async def _advance_checkpoint(self) -> int:
        """Move the WAL checkpoint to the oldest entry a memory store (or an append in flight) still needs.

        Read in this order: the next LSN, then the appends in flight, then the memory stores. An entry
        below the next LSN is then either still in flight (its floor counts) or already in a memory store
        (or flushed, hence in a segment), so the checkpoint never passes an entry whose rows are nowhere else.
        """
        log = self.wal
        candidates = [log.next_lsn]
        with self._unapplied_lock:
            candidates += self._unapplied.values()
        candidates += [lsn for p in list(self._partitions.values()) if (lsn := p.first_lsn()) is not None]
        checkpoint = min(candidates)
        if checkpoint > log.checkpoint_lsn:
            await asyncio.to_thread(log.checkpoint, checkpoint)
        return log.checkpoint_lsn

    async def _expire(self, now_ns: int) -> int:
        if self.tables is None:
            return 0
        removed = 0
        for partition in list(self._partitions.values()):
            facts = self.tables.get(partition.table_id)
            if facts is None:
                continue
            cutoff = now_ns - facts.memory_retention_ns - facts.magnetic_retention_ns
            try:
                removed += await retention.expire(partition, cutoff, self._measure_columns_for(partition.table_id))
            except Exception as exc:  # noqa: BLE001 - logged; retried next round
                _log.error("cannot expire a partition", partition=partition.directory, error=repr(exc))
                continue
            for bucket in [b for b, t in partition.tiles.items() if not t.mem.rows
                           and (b + 1) * layout.TILE_BUCKET_NS <= cutoff]:
                del partition.tiles[bucket]
        return removed

    async def _drop_deleted_tables(self) -> int:
        if self.tables is None:
            return 0
        gone = {p.table_id for p in self._partitions.values() if self.tables.deleted(p.table_id)}
        for table_id in gone:
            # The marker first: a crash part-way through still ends in the table's removal at the next start.
            await asyncio.to_thread(self.store.put, f"{table_id}/{DELETED_MARKER}", b"")
            self._deleted.add(table_id)
            for pkey in [k for k in self._partitions if k[0] == table_id]:
                partition = self._partitions.pop(pkey)
                async with partition.maintenance:
                    partition.tiles.clear()
            await asyncio.to_thread(self._remove_table_files, table_id)
            _log.info("removed a deleted table's data", table_id=table_id)
        return len(gone)

    def _remove_table_files(self, table_id: str) -> None:
        self.segment_keys.forget_table(table_id)
        for path in self.store.list(table_id):
            if not path.endswith(f"/{DELETED_MARKER}"):
                self.store.delete(path)
