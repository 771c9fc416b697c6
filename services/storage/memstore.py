"""The memory store of one tile: recent rows in Arrow, classified with the dedup rule as they arrive.

Every append is classified row by row against the keys already stored (in memory, in the magnetic store
through a lookup the caller passes in, and earlier rows of the same batch), in the order the batch lists
them, with Timestream's rules:

- key absent: stored;
- same version and same value hash: an exact duplicate, accepted and not stored again (retries are safe);
- higher version: stored, superseding the old row;
- lower version, or same version with a different value: rejected with the reason and the existing
  version, in Timestream's words.

Rows live in chunks (the appended tables). ``snapshot`` concatenates and deduplicates them once and keeps
the result as the single chunk until the next append. A flush ``freeze``s the chunks present at that moment:
they stay readable and keep counting for classification until ``release_frozen`` drops them once they are
committed to the magnetic store, so no reader ever sees a key in neither tier, nor in both.

No I/O and no asyncio here: the tile serialises appends and holds the WAL; readers in worker threads take a
consistent view under this store's lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from services.storage.keyindex import KeyIndex, key_fingerprints
from tessera import dedup, layout
from tessera.errors import ValidationError

REASON_LOWER_VERSION = (
    "The record version {version} is lower than the existing version {existing}. "
    "A higher version is required to update the measure value."
)
REASON_SAME_VERSION = (
    "A record already exists with the same time, dimensions, measure name, and record version. "
    "A higher record version must be specified in order to update the measure value."
)
_MAX_CHUNKS = 64  # a snapshot with more chunks than this is compacted into one

Key = tuple[int, int]  # (series, time_ns)
Stored = tuple[int, int]  # (version, value hash)
MagneticLookup = Callable[[npt.NDArray[np.uint64], npt.NDArray[np.int64]], dict[Key, Stored]]
"""Given the keys of a batch, the (version, value hash) the magnetic store holds for those it has."""


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


@dataclass(frozen=True)
class Classified:
    """What to do with a batch: the rows to store (None: nothing), the result, and whether a stored row
    supersedes a row of the magnetic store (reads must then deduplicate across the tiers)."""

    to_store: pa.Table | None
    result: AppendResult
    supersedes_magnetic: bool
    supersedes_memory: bool = False
    replaced_magnetic: tuple[tuple[int, int, int, int], ...] = ()
    """Repair only: (series, time, version, value hash) of segment rows a stored row replaces at the same
    version (they must leave the segments before the replacement is logged)."""


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
            raise ValidationError(f"rows for a tile have column {name!r} of type {column.type}, want {arrow_type}")
        if name != layout.MEASURE_NAME and column.null_count:
            raise ValidationError(f"rows for a tile have NULL in key column {name!r}")


_STORABLE = {*layout.ARROW_TYPES.values(), pa.null()}


def check_column_types(rows: pa.Table) -> None:
    """Raise ValidationError unless every non-key column has one of the layout's types (or is all NULL)."""
    for f in rows.schema:
        if f.name not in layout.FIXED_COLUMNS and f.type not in _STORABLE:
            raise ValidationError(f"rows for a tile have column {f.name!r} of type {f.type}; the layout stores "
                                  f"{', '.join(sorted(str(t) for t in layout.ARROW_TYPES.values()))}")


def concat(tables: list[pa.Table]) -> pa.Table:
    """Tables with possibly different column sets as one (missing columns NULL)."""
    if not tables:
        return empty_table()
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables, promote_options="default")


def fingerprints(table: pa.Table) -> npt.NDArray[np.uint64]:
    """A 64-bit fingerprint of each row's key (series, time)."""
    return key_fingerprints(*key_arrays(table))


def key_arrays(table: pa.Table) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64]]:
    """(series, time_ns) of every row, as numpy arrays."""
    series = table.column(layout.SERIES).to_numpy().astype(np.uint64)
    times = table.column(layout.TIME).cast(pa.int64()).to_numpy().astype(np.int64)
    return series, times


def _column(table: pa.Table, name: str, as_type: pa.DataType) -> npt.NDArray[Any]:
    column = table.column(name)
    if column.type != as_type:
        column = column.cast(as_type)
    values: npt.NDArray[Any] = column.to_numpy()
    return values


def _key_lists(table: pa.Table) -> tuple[list[int], list[int], list[int], list[int]]:
    def as_list(name: str, as_type: pa.DataType) -> list[int]:
        column = table.column(name)
        if column.type != as_type:
            column = column.cast(as_type)
        values: list[int] = column.to_numpy().tolist()
        return values

    return (as_list(layout.SERIES, pa.uint64()), as_list(layout.TIME, pa.int64()),
            as_list(layout.VERSION, pa.int64()), as_list(layout.VALUE_HASH, pa.uint64()))


class MemStore:
    """The rows of one tile not yet in the magnetic store, with the index that classifies appends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards chunks and snapshot against readers in worker threads
        self._chunks: list[pa.Table] = []
        self._chunk_lsns: list[int] = []  # per chunk, the oldest WAL entry whose rows it holds
        self._frozen = 0  # the first _frozen chunks belong to a flush in progress
        self._needs_dedup = False
        self._generation = 0
        self._layout_generation = 0
        """Changes when the chunk list changes other than by appends at its end (flush, expiry, repair,
        compaction by a snapshot): a snapshot may replace the chunks it read only if this held still."""
        self._snapshot: pa.Table | None = None
        self._supersedes_magnetic = False
        self._keys = KeyIndex()  # every key held here (frozen chunks included), with its versions
        self._types: dict[str, pa.DataType] = {}
        self.last_lsn = 0
        """LSN of the newest WAL entry applied here."""
        self.nbytes = 0
        """Bytes held: Arrow data (frozen chunks included) and the key index."""
        self.last_append_monotonic = 0.0

    # -- classification and appends (the tile serialises these) ---------------------------------------------

    def check_types(self, rows: pa.Table, label: str, stored: Mapping[str, pa.DataType] | None = None) -> None:
        """Refuse a batch that retypes a column held here or in ``stored`` (the partition's segments)."""
        for col in rows.schema:
            known = self._types.get(col.name)
            if known is None and stored is not None:
                known = stored.get(col.name)
            if known is not None and known != col.type and not pa.types.is_null(col.type):
                raise ValidationError(f"tile {label}: column {col.name!r} is stored as {known}; "
                                      f"the append has {col.type}")

    def classify(self, rows: pa.Table, magnetic: MagneticLookup | None, replace: bool = False,
                 expected: Mapping[Key, Stored] | None = None) -> Classified:
        """Apply the dedup rule to a batch against everything stored; changes nothing.

        ``replace`` (repair): the rows are what the replicas decided; one at the same version as a stored
        row with another value replaces it (``add(..., replaces=True)`` drops the old one), and rows at a
        lower version are skipped, not rejected. ``expected`` (repair): what this replica held for each key
        when the replicas voted; a row whose key holds something else now is skipped (compare-and-swap: a
        write acknowledged since the vote is never overwritten by it)."""
        series_arr, times_arr = key_arrays(rows)
        in_magnetic = magnetic(series_arr, times_arr) if magnetic is not None else {}
        if not in_magnetic and self._all_new(key_fingerprints(series_arr, times_arr)):
            return Classified(rows, AppendResult(rows.num_rows), False)
        found = self._keys.lookup(series_arr, times_arr)
        held = found.held.tolist()
        held_version, held_vhash = found.version.tolist(), found.vhash.tolist()
        series, times, versions, vhashes = _key_lists(rows)
        pending: dict[Key, Stored] = {}
        to_store: list[int] = []
        rejected: list[RejectedRow] = []
        duplicates = 0
        superseded = supersedes_magnetic = False
        replaced_magnetic: list[tuple[int, int, int, int]] = []
        # While a flush holds chunks, a row they hold may be in a segment by the time this batch is read:
        # superseding any held row then counts as superseding the magnetic store.
        flushing = self._frozen > 0
        for i, key in enumerate(zip(series, times)):
            version, vhash = versions[i], vhashes[i]
            existing = pending.get(key)
            if existing is None and held[i]:
                existing = (held_version[i], held_vhash[i])
            from_magnetic = False
            if existing is None:
                existing = in_magnetic.get(key)
                from_magnetic = existing is not None
            if expected is not None and existing != expected.get(key):
                continue  # changed since the vote: the next repair round looks again
            if existing is None or version > existing[0]:
                superseded = superseded or existing is not None
                supersedes_magnetic = supersedes_magnetic or from_magnetic or (flushing and existing is not None)
                pending[key] = (version, vhash)
                to_store.append(i)
            elif version < existing[0]:
                reason = REASON_LOWER_VERSION.format(version=version, existing=existing[0])
                rejected.append(RejectedRow(i, reason, existing[0]))
            elif vhash == existing[1]:
                duplicates += 1
            elif replace:
                superseded = True
                if from_magnetic:
                    replaced_magnetic.append((key[0], key[1], version, existing[1]))
                pending[key] = (version, vhash)
                to_store.append(i)
            else:
                rejected.append(RejectedRow(i, REASON_SAME_VERSION, existing[0]))
        result = AppendResult(len(to_store) + duplicates, rejected)
        if not to_store:
            return Classified(None, result, False)
        if len(to_store) == rows.num_rows:
            stored = rows
        else:
            stored = rows.take(pa.array(to_store, pa.int64()))
        return Classified(stored, result, supersedes_magnetic, superseded, tuple(replaced_magnetic))

    def add(self, rows: pa.Table, lsn: int, supersedes_magnetic: bool, supersedes_memory: bool = True,
            now_monotonic: float = 0.0, replaces: bool = False) -> None:
        """Hold rows that the WAL entry ``lsn`` made durable (or will: the caller syncs after).

        ``replaces`` (repair): first drop held rows at the same key and version as a new row but with
        another value, so that the new row is the only one left at that version."""
        if replaces:
            self._drop_replaced(rows)
        series, times = key_arrays(rows)
        index_before = self._keys.nbytes
        self._keys.add(series, times, _column(rows, layout.VERSION, pa.int64()),
                       _column(rows, layout.VALUE_HASH, pa.uint64()))
        with self._lock:
            self._chunks.append(rows)
            self._chunk_lsns.append(lsn)
            self._needs_dedup = self._needs_dedup or supersedes_memory
            for col in rows.schema:
                if not pa.types.is_null(col.type):
                    self._types.setdefault(col.name, col.type)
            self._supersedes_magnetic = self._supersedes_magnetic or supersedes_magnetic
            self._generation += 1
            self._snapshot = None
            self.nbytes += rows.nbytes + self._keys.nbytes - index_before
            self.last_lsn = max(self.last_lsn, lsn)
            self.last_append_monotonic = now_monotonic

    def _drop_replaced(self, rows: pa.Table) -> None:
        prints = np.unique(fingerprints(rows))
        if not self._keys.might_hold_any(prints):
            return  # none of these keys is held: nothing to replace
        new = dict(zip(zip(*_key_lists(rows)[:3]), _key_lists(rows)[3]))  # (series, time, version) -> vhash
        with self._lock:
            # One membership test over every chunk's keys at once: a tile written in small batches holds
            # thousands of chunks (one per append until a read folds them), and a test per chunk made each
            # repair install, and the WAL replay of one, cost seconds.
            chunk_prints = [fingerprints(c) for c in self._chunks]
            hit = np.isin(np.concatenate(chunk_prints), prints) if chunk_prints else np.zeros(0, dtype=bool)
            if not hit.any():
                return
            offsets = np.cumsum([0, *(len(p) for p in chunk_prints)])
            kept = list(self._chunks)
            changed = False
            for i in np.unique(np.searchsorted(offsets, np.flatnonzero(hit), side="right") - 1):
                chunk = kept[i]
                maybe = np.flatnonzero(hit[offsets[i]:offsets[i + 1]])
                series, times, versions, vhashes = _key_lists(chunk.take(pa.array(maybe)))
                drop = [int(j) for j, s, t, v, h in zip(maybe, series, times, versions, vhashes)
                        if new.get((s, t, v), h) != h]
                if drop:
                    mask = np.ones(chunk.num_rows, dtype=bool)
                    mask[drop] = False
                    kept[i] = chunk.filter(pa.array(mask))
                    changed = True
            if changed:
                self._chunks = kept
                self._generation += 1
                self._layout_generation += 1
                self._snapshot = None
                self._rebuild_keys(list(self._chunks))

    def _all_new(self, prints: npt.NDArray[np.uint64]) -> bool:
        ordered = np.sort(prints)
        if ordered.size > 1 and bool(np.any(ordered[1:] == ordered[:-1])):
            return False  # a key repeats within the batch
        return not self._keys.might_hold_any(ordered)

    def _rebuild_keys(self, remaining: list[pa.Table]) -> None:
        """The key index of what is left after a flush or an expiry (caller holds the lock)."""
        self._keys = KeyIndex()
        if remaining:
            # The key columns of each chunk, not one table of the chunks: concatenating thousands of small
            # chunks with differing columns costs far more than their four key columns.
            keys = [(*key_arrays(c), _column(c, layout.VERSION, pa.int64()), _column(c, layout.VALUE_HASH, pa.uint64()))
                    for c in remaining]
            self._keys.add(*(np.concatenate([k[i] for k in keys]) for i in range(4)))
        self.nbytes = sum(c.nbytes for c in remaining) + self._keys.nbytes

    # -- reads ---------------------------------------------------------------------------------------------

    @property
    def generation(self) -> int:
        """Changes whenever what this store holds changes (appends, flushes, expiry, repair)."""
        return self._generation

    @property
    def first_lsn(self) -> int | None:
        """LSN of the oldest WAL entry whose rows are held here (None when empty): the WAL must keep it."""
        with self._lock:
            return min(self._chunk_lsns) if self._chunk_lsns else None

    def fold(self) -> None:
        """Concatenate the newest chunks of comparable size into one (rows as they are, not deduplicated):
        size tiers, so a row is copied O(log n) times however small the appends. Safe from a worker thread;
        appends go on meanwhile."""
        with self._lock:
            first = self._frozen  # chunks a flush holds stay as they are
            sizes = [c.num_rows for c in self._chunks[first:]]
            start, rows = len(sizes), 0
            while start > 0 and (start == len(sizes) or sizes[start - 1] <= 2 * rows):
                start -= 1
                rows += sizes[start]
            if len(sizes) - start < 2:
                return
            start += first
            end = first + len(sizes)
            chunks = self._chunks[start:end]
            layout_generation = self._layout_generation
        table = concat(chunks).combine_chunks()  # one contiguous chunk, or every later walk pays per piece
        freed = sum(c.nbytes for c in chunks) - table.nbytes
        with self._lock:
            if self._layout_generation != layout_generation or self._frozen > start:
                return  # flushed, expired or repaired meanwhile: the next round folds what is left
            self._chunks[start:end] = [table]
            self._chunk_lsns[start:end] = [min(self._chunk_lsns[start:end])]
            self.nbytes -= freed
            self._generation += 1
            self._layout_generation += 1

    @property
    def chunk_count(self) -> int:
        """Chunks held: one per append since the last fold (a snapshot folds them into one)."""
        return len(self._chunks)

    @property
    def rows(self) -> int:
        """Rows held (before deduplication of superseded versions)."""
        with self._lock:
            return sum(c.num_rows for c in self._chunks)

    @property
    def supersedes_magnetic(self) -> bool:
        """Whether a held row replaces a row of the magnetic store (reads must deduplicate across tiers)."""
        return self._supersedes_magnetic

    def snapshot(self) -> pa.Table:
        """The held rows, deduplicated; cached until the next append. Safe from a worker thread."""
        with self._lock:
            if self._snapshot is not None:
                return self._snapshot
            chunks = list(self._chunks)
            needs_dedup = self._needs_dedup
            generation = self._generation
            layout_generation = self._layout_generation
        table = concat(chunks)
        if needs_dedup:
            table = dedup.one_row_per_key(table)
        if any(column.num_chunks > _MAX_CHUNKS for column in table.columns):
            table = table.combine_chunks()
        with self._lock:
            # Kept as the single chunk only when nothing changed meanwhile (freeze, release and expiry change
            # the generation too) and no flush holds a prefix of the chunks right now.
            if self._generation == generation:
                self._snapshot = table
                if self._frozen == 0 and self._chunks:
                    self._chunks = [table]
                    self._chunk_lsns = [min(self._chunk_lsns)]
                    self._needs_dedup = False
                    self.nbytes = table.nbytes + self._keys.nbytes
                    self._generation += 1  # a retention pass that read the old chunks must not write them back
                    self._layout_generation += 1
            elif (chunks and self._layout_generation == layout_generation and self._frozen == 0
                  and len(self._chunks) > len(chunks)):
                # Only appends came meanwhile (a tile under steady writes: the usual case). The deduplicated
                # table still replaces the chunks it was made from, or under constant appends the chunk list
                # would only grow until a flush, and every read would concatenate all of it again.
                n = len(chunks)
                self._chunks = [table, *self._chunks[n:]]
                self._chunk_lsns = [min(self._chunk_lsns[:n]), *self._chunk_lsns[n:]]
                self.nbytes -= sum(c.nbytes for c in chunks) - table.nbytes
                self._generation += 1
                self._layout_generation += 1
        return table

    # -- flushing ------------------------------------------------------------------------------------------

    def freeze(self, max_bytes: int | None = None) -> tuple[list[pa.Table], int]:
        """Mark the chunks held now as being flushed (only the oldest ones, up to ``max_bytes``, but at least
        one); return those chunks and the newest LSN the flush covers.

        Chunks are in LSN order (a tile's appends hold its lock from their WAL write to their add), so a
        prefix covers every entry of this tile below the first chunk it leaves: replay skips those and
        replays the rest. Cheap, under the tile's append lock on the event loop: the caller concatenates
        and deduplicates the chunks on a worker thread (for a million-row tile that takes most of a second).
        """
        with self._lock:
            if self._frozen:
                raise RuntimeError("a flush of this memory store is already in progress")
            count = len(self._chunks)
            if max_bytes is not None:
                held = 0
                for i, chunk in enumerate(self._chunks):
                    held += chunk.nbytes
                    if held > max_bytes and i > 0:
                        count = i
                        break
            if count < len(self._chunks) and self._needs_dedup:
                # A chunk left in memory may hold a newer version of a key in the frozen prefix, which is about
                # to become a segment: reads must then deduplicate across the tiers.
                self._supersedes_magnetic = True
            self._frozen = count
            self._generation += 1  # a snapshot computed before the freeze must not replace the chunks
            self._layout_generation += 1
            chunks = self._chunks[:count]
            last_lsn = self.last_lsn if count == len(self._chunks) else self._chunk_lsns[count] - 1
        return chunks, last_lsn

    def release_frozen(self) -> None:
        """Drop the frozen chunks: they are committed to the magnetic store (which now answers for them).

        The caller holds the tile's append lock, so no classification or add runs meanwhile."""
        with self._lock:
            self._chunks = self._chunks[self._frozen :]
            self._chunk_lsns = self._chunk_lsns[self._frozen :]
            self._frozen = 0
            self._generation += 1
            self._layout_generation += 1
            self._snapshot = None
            remaining = list(self._chunks)
            self._rebuild_keys(remaining)
            # A remaining chunk may itself hold two versions of a key (one append can): keep deduplicating.
            self._needs_dedup = bool(remaining) and (self._needs_dedup or len(remaining) > 1)
            self._supersedes_magnetic = bool(remaining) and self._supersedes_magnetic

    def abort_freeze(self) -> None:
        """A flush failed: the frozen chunks are ordinary memory-store chunks again."""
        with self._lock:
            self._frozen = 0
            self._generation += 1
            self._layout_generation += 1

    @property
    def types(self) -> dict[str, pa.DataType]:
        """Every column held so far, with its type."""
        with self._lock:
            return dict(self._types)

    def drop_before(self, cutoff_ns: int) -> int:
        """Forget rows older than ``cutoff_ns`` (retention); return how many were dropped."""
        with self._lock:
            if self._frozen:
                return 0  # a flush holds the chunks; retention comes back next round
            chunks = list(self._chunks)
            lsns = list(self._chunk_lsns)
            generation = self._generation
        kept: list[pa.Table] = []
        dropped = 0
        for chunk in chunks:
            times = chunk.column(layout.TIME).cast(pa.int64()).to_numpy()
            keep = times >= cutoff_ns
            dropped += int((~keep).sum())
            kept.append(chunk if keep.all() else chunk.filter(pa.array(keep)))
        if not dropped:
            return 0
        with self._lock:
            if self._generation != generation or self._frozen:
                return 0  # changed meanwhile; retention comes back next round
            pairs = [(c, lsn) for c, lsn in zip(kept, lsns) if c.num_rows]
            self._chunks = [c for c, _ in pairs]
            self._chunk_lsns = [lsn for _, lsn in pairs]
            self._generation += 1
            self._layout_generation += 1
            self._snapshot = None
            self._rebuild_keys(list(self._chunks))
        return dropped
