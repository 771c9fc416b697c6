"""One tile on one storage replica: its WAL, its memory store and its key index.

A tile holds the rows of one (table, dimension-hash range, time bucket). Every append is classified row
by row against the index of stored keys (rows earlier in the same batch count as stored), in the order
the batch lists them, with Timestream's rules:

- key absent: stored;
- same version and same value hash: an exact duplicate, accepted and not stored again (retries are safe);
- higher version: stored, superseding the old row;
- lower version, or same version with a different value: rejected with the reason and the existing
  version, in Timestream's words.

The rows to store go to the WAL as one entry (an Arrow IPC stream) and into the memory store; the append
returns only after the WAL entry is fsynced (group-committed with concurrent appends of the tile).

The memory store is the list of appended tables; ``snapshot`` turns it into one deduplicated table
(``tessera.dedup.latest_versions``), caches it and keeps it as the new memory store. Appends may bring
different column sets (a table's schema grows); they are concatenated with missing columns as NULL.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from services.storage.wal import WriteAheadLog, fsync_dir
from tessera import dedup, layout
from tessera.errors import ValidationError

WAL_FILE = "wal.log"
INLINE_ROWS = 2048
"""Batches up to this many rows are classified on the event loop; bigger ones in a worker thread."""
_MAX_CHUNKS = 64  # a snapshot with more chunks than this is compacted into one

REASON_LOWER_VERSION = (
    "The record version {version} is lower than the existing version {existing}. "
    "A higher version is required to update the measure value."
)
REASON_SAME_VERSION = (
    "A record already exists with the same time, dimensions, measure name, and record version. "
    "A higher record version must be specified in order to update the measure value."
)


@dataclass(frozen=True)
class TileKey:
    """Identity of a tile: table, lower bound of its dimension-hash range, and time bucket."""

    table_id: str
    range_lo: int
    bucket: int

    def __post_init__(self) -> None:
        bad = (
            not self.table_id or self.table_id in (".", "..") or "/" in self.table_id or "\0" in self.table_id
        )
        if bad:
            raise ValidationError(f"tile table_id {self.table_id!r} is not usable as a directory name")
        if not 0 <= self.range_lo < layout.HASH_SPACE:
            raise ValidationError(f"tile range_lo {self.range_lo} is outside the 64-bit hash space")

    def dir_name(self) -> str:
        """Relative directory of the tile: ``{table_id}/{range_lo:016x}_{bucket}``."""
        return f"{self.table_id}/{self.range_lo:016x}_{self.bucket}"

    @classmethod
    def from_dir_name(cls, name: str) -> TileKey:
        """Inverse of ``dir_name``; raises ValueError for a name that is not a tile directory."""
        table_id, sep, leaf = name.rpartition("/")
        lo_hex, sep2, bucket = leaf.partition("_")
        if not sep or not sep2 or len(lo_hex) != 16:
            raise ValueError(f"{name!r} is not a tile directory name")
        try:
            return cls(table_id, int(lo_hex, 16), int(bucket))
        except ValidationError as exc:
            raise ValueError(f"{name!r} is not a tile directory name: {exc.message}") from exc


@dataclass(frozen=True)
class RejectedRow:
    """A row of an append that was not stored: its index in the batch, why, and the version it met."""

    index: int
    reason: str
    existing_version: int


@dataclass
class AppendResult:
    """Outcome of an append: rows accepted (stored or exact duplicates) and rows rejected."""

    accepted: int
    rejected: list[RejectedRow] = field(default_factory=list)


def empty_table() -> pa.Table:
    """A tile with no rows: just the fixed columns."""
    return pa.schema(layout.FIXED_COLUMNS).empty_table()


def check_rows(rows: pa.Table) -> None:
    """Raise ValidationError unless rows carry the fixed layout columns, typed and without NULL keys."""
    for name, arrow_type in layout.FIXED_COLUMNS.items():
        if name not in rows.column_names:
            raise ValidationError(f"rows for a tile lack the column {name!r}")
        column = rows.column(name)
        if column.type != arrow_type:
            raise ValidationError(
                f"rows for a tile have column {name!r} of type {column.type}, want {arrow_type}"
            )
        if name != layout.MEASURE_NAME and column.null_count:
            raise ValidationError(f"rows for a tile have NULL in key column {name!r}")


def _to_ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    payload: bytes = sink.getvalue().to_pybytes()
    return payload


def _from_ipc(payload: bytes) -> pa.Table:
    with pa.ipc.open_stream(pa.py_buffer(payload)) as reader:
        return reader.read_all()


def _concat(tables: list[pa.Table]) -> pa.Table:
    if not tables:
        return empty_table()
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables, promote_options="default")


def _fingerprints(table: pa.Table) -> npt.NDArray[np.uint64]:
    """A 64-bit fingerprint of each row's key (series, time)."""
    series = table.column(layout.SERIES).to_numpy().astype(np.uint64)
    times = table.column(layout.TIME).cast(pa.int64()).to_numpy().astype(np.uint64)
    return layout.mix64(series ^ layout.mix64(times))


def _key_lists(table: pa.Table) -> tuple[list[int], list[int], list[int], list[int]]:
    def as_list(name: str, as_type: pa.DataType) -> list[int]:
        column = table.column(name)
        if column.type != as_type:
            column = column.cast(as_type)
        values: list[int] = column.to_numpy().tolist()
        return values

    return (
        as_list(layout.SERIES, pa.uint64()),
        as_list(layout.TIME, pa.int64()),
        as_list(layout.VERSION, pa.int64()),
        as_list(layout.VALUE_HASH, pa.uint64()),
    )


class Tile:
    """The WAL, memory store and key index of one tile on this replica."""

    def __init__(self, key: TileKey, directory: Path, wal: WriteAheadLog) -> None:
        self.key = key
        self.directory = directory
        self._wal = wal
        self._lock = asyncio.Lock()  # serialises classification + WAL write + index update
        self._mem_lock = threading.Lock()  # guards the memory store against snapshots in worker threads
        # (series, time) -> (version, vhash) of every stored key: exact, but ~100 bytes and a Python insert
        # per row, so it is built only when a batch touches stored keys (retries, upserts, conflicts).
        self._index: dict[tuple[int, int], tuple[int, int]] | None = None
        self._tables: list[pa.Table] = []
        self._needs_dedup = False
        self._generation = 0
        self._snapshot: pa.Table | None = None
        self._types: dict[str, pa.DataType] = {}  # every column stored so far: an append may not retype one
        # Sorted fingerprints of every stored key. Equal keys have equal fingerprints, so a batch none of
        # whose fingerprints is here (nor repeated within it) is all new: the common case, classified in
        # numpy. The dict index stays the source of truth for every other batch.
        self._fingerprints: npt.NDArray[np.uint64] = np.empty(0, dtype=np.uint64)

    def _check_types(self, rows: pa.Table) -> None:
        # Checked before the WAL write: a mistyped batch in the log would make the tile unreadable for good.
        for col in rows.schema:
            known = self._types.get(col.name)
            if known is not None and known != col.type and not pa.types.is_null(col.type):
                raise ValidationError(f"tile {self.key.dir_name()}: column {col.name!r} is stored as {known}; "
                                      f"the append has {col.type}")

    def _remember_types(self, rows: pa.Table) -> None:
        for col in rows.schema:
            if not pa.types.is_null(col.type):
                self._types.setdefault(col.name, col.type)

    @classmethod
    def open(cls, directory: Path, key: TileKey | None = None) -> Tile:
        """Open (creating if needed) the tile in ``directory`` and recover it from its WAL. Blocking."""
        if key is None:
            key = TileKey.from_dir_name(f"{directory.parent.name}/{directory.name}")
        _make_dirs(directory)
        wal = WriteAheadLog(directory / WAL_FILE)
        tile = cls(key, directory, wal)
        tables = [_from_ipc(payload) for payload in wal.replay()]
        if tables:
            stored = dedup.latest_versions(_concat(tables))
            tile._tables = [stored.combine_chunks()]
            tile._remember_types(stored)
            tile._fingerprints = np.sort(_fingerprints(stored))
        return tile

    @property
    def wal(self) -> WriteAheadLog:
        """The tile's write-ahead log."""
        return self._wal

    def _known(self) -> dict[tuple[int, int], tuple[int, int]]:
        """The exact key index, built from the stored rows the first time it is needed."""
        if self._index is None:
            with self._mem_lock:
                tables = list(self._tables)
            index: dict[tuple[int, int], tuple[int, int]] = {}
            if tables:
                series, times, versions, vhashes = _key_lists(dedup.latest_versions(_concat(tables)))
                index = dict(zip(zip(series, times), zip(versions, vhashes)))
            self._index = index
        return self._index

    def existing(self, series: int, time_ns: int) -> tuple[int, int] | None:
        """(version, value hash) stored for a key, or None."""
        return self._known().get((series, time_ns))

    def __len__(self) -> int:
        """Number of distinct keys stored."""
        return len(self._known())

    async def append(self, rows: pa.Table, ipc: bytes | None = None) -> AppendResult:
        """Classify, store and fsync a batch of layout rows; return what was accepted and rejected.

        ``ipc`` is ``rows`` as Arrow IPC bytes, if the caller has them: written to the WAL as they are when
        every row is stored, which saves serialising the batch again.
        """
        check_rows(rows)
        if rows.num_rows == 0:
            return AppendResult(0)
        if rows.num_rows <= INLINE_ROWS:
            async with self._lock:
                result, seq = self._apply(rows, ipc)
        else:
            # Shielded so that a cancelled caller cannot release the lock while the worker still runs.
            result, seq = await asyncio.shield(asyncio.ensure_future(self._apply_in_thread(rows, ipc)))
        # Also when nothing new was stored: an exact duplicate of a row another append is still syncing
        # must not be acknowledged before that row is durable.
        await self._wal.sync(seq)
        return result

    async def _apply_in_thread(self, rows: pa.Table, ipc: bytes | None) -> tuple[AppendResult, int]:
        async with self._lock:
            return await asyncio.to_thread(self._apply, rows, ipc)

    def _apply(self, rows: pa.Table, ipc: bytes | None = None) -> tuple[AppendResult, int]:
        """Classify rows, write the stored ones to the WAL, update memory; return (result, WAL seq)."""
        self._check_types(rows)  # under the tile lock, before the WAL write
        fingerprints = _fingerprints(rows)
        if self._all_new(fingerprints):
            return self._store_all(rows, ipc, fingerprints)
        series, times, versions, vhashes = _key_lists(rows)
        pending: dict[tuple[int, int], tuple[int, int]] = {}
        to_store: list[int] = []
        rejected: list[RejectedRow] = []
        duplicates = 0
        superseded = False
        index = self._known()
        for i, key in enumerate(zip(series, times)):
            version, vhash = versions[i], vhashes[i]
            existing = pending.get(key)
            if existing is None:
                existing = index.get(key)
            if existing is None or version > existing[0]:
                superseded = superseded or existing is not None
                pending[key] = (version, vhash)
                to_store.append(i)
            elif version < existing[0]:
                reason = REASON_LOWER_VERSION.format(version=version, existing=existing[0])
                rejected.append(RejectedRow(i, reason, existing[0]))
            elif vhash == existing[1]:
                duplicates += 1
            else:
                rejected.append(RejectedRow(i, REASON_SAME_VERSION, existing[0]))
        result = AppendResult(len(to_store) + duplicates, rejected)
        if not to_store:
            return result, self._wal.last_seq
        everything = len(to_store) == rows.num_rows
        stored = rows if everything else rows.take(pa.array(to_store, pa.int64()))
        payload = ipc if everything and ipc is not None else _to_ipc(stored)
        seq = self._wal.append(payload)  # raises before any state changes if the write fails
        index.update(pending)
        self._add_fingerprints(fingerprints[np.asarray(to_store, dtype=np.int64)])
        with self._mem_lock:
            self._tables.append(stored)
            self._remember_types(stored)
            self._needs_dedup = self._needs_dedup or superseded
            self._generation += 1
            self._snapshot = None
        return result, seq

    def _all_new(self, fingerprints: npt.NDArray[np.uint64]) -> bool:
        ordered = np.sort(fingerprints)
        if ordered.size > 1 and bool(np.any(ordered[1:] == ordered[:-1])):
            return False  # a key repeats within the batch
        known = self._fingerprints
        if known.size == 0:
            return True
        pos = np.minimum(np.searchsorted(known, ordered), known.size - 1)
        return not bool(np.any(known[pos] == ordered))

    def _add_fingerprints(self, fingerprints: npt.NDArray[np.uint64]) -> None:
        new = np.sort(fingerprints)
        self._fingerprints = np.insert(self._fingerprints, np.searchsorted(self._fingerprints, new), new)

    def _store_all(self, rows: pa.Table, ipc: bytes | None, fingerprints: npt.NDArray[np.uint64]
                   ) -> tuple[AppendResult, int]:
        """Store a batch whose keys are all new: no per-row classification."""
        seq = self._wal.append(ipc if ipc is not None else _to_ipc(rows))
        if self._index is not None:  # once built, the exact index is kept up to date
            series, times, versions, vhashes = _key_lists(rows)
            self._index.update(zip(zip(series, times), zip(versions, vhashes)))
        self._add_fingerprints(fingerprints)
        with self._mem_lock:
            self._tables.append(rows)
            self._remember_types(rows)
            self._generation += 1
            self._snapshot = None
        return AppendResult(rows.num_rows), seq

    def snapshot(self) -> pa.Table:
        """The tile's rows, deduplicated; cached until the next append. Safe to call from a worker thread."""
        with self._mem_lock:
            if self._snapshot is not None:
                return self._snapshot
            tables = list(self._tables)
            needs_dedup = self._needs_dedup
            generation = self._generation
        table = _concat(tables)
        if needs_dedup:
            table = dedup.latest_versions(table)
        if any(column.num_chunks > _MAX_CHUNKS for column in table.columns):
            table = table.combine_chunks()
        with self._mem_lock:
            if self._generation == generation:  # no append meanwhile: keep it as the compacted store
                self._snapshot = table
                self._tables = [table] if table.num_rows else []
                self._needs_dedup = False
        return table

    async def close(self) -> None:
        """Wait for pending syncs and close the WAL; safe to call twice."""
        async with self._lock:
            try:
                await self._wal.drain()
            finally:
                self._wal.close()


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
