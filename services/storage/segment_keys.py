"""The keys of recently written segments, held in memory so that write-time dedup need not read them back.

An append whose keys fall inside a segment's per-series time ranges (rows arriving out of order across
writers, a late write, a retry after a flush) must learn what that segment holds for them. Reading the
segment's key and measure columns for every such batch cost a storage node ~8 % of its time under sustained
load (a 10 k-row batch against a 400 k-row segment). The segments that batches meet are almost always the
ones written last, while their tiles still take writes; so each new segment's keys are indexed as it is
written, from the rows already in memory, and kept here while they fit in the budget (least recently used
dropped first). A segment not held here is looked up in its file as before: the cache changes the cost,
never the answer.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import pyarrow as pa

from services.storage.keyindex import BYTES_PER_KEY, KeyIndex
from tessera import layout


class SegmentKeys:
    """Key indexes of segments by (partition directory, segment name), within a byte budget. Thread-safe."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._indexes: OrderedDict[tuple[str, str], KeyIndex] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        """Bytes the held indexes take."""
        return self._bytes

    def remember(self, directory: str, name: str, rows: pa.Table) -> None:
        """Index a new segment's rows (blocking: a worker thread) and hold the index if it takes at most a
        quarter of the budget (a big merge's output would push out the recent flushes this cache is for)."""
        if rows.num_rows == 0 or BYTES_PER_KEY * rows.num_rows > self.budget_bytes // 4:
            return
        index = KeyIndex()
        index.add(rows.column(layout.SERIES).to_numpy().astype(np.uint64, copy=False),
                  rows.column(layout.TIME).cast(pa.int64()).to_numpy(),
                  rows.column(layout.VERSION).to_numpy().astype(np.int64, copy=False),
                  rows.column(layout.VALUE_HASH).to_numpy().astype(np.uint64, copy=False))
        with self._lock:
            old = self._indexes.pop((directory, name), None)
            if old is not None:
                self._bytes -= old.nbytes
            self._indexes[(directory, name)] = index
            self._bytes += index.nbytes
            while self._bytes > self.budget_bytes:
                _, dropped = self._indexes.popitem(last=False)
                self._bytes -= dropped.nbytes

    def get(self, directory: str, name: str) -> KeyIndex | None:
        """The index of a segment, if held (it becomes the most recently used)."""
        with self._lock:
            index = self._indexes.get((directory, name))
            if index is not None:
                self._indexes.move_to_end((directory, name))
            return index

    def forget(self, directory: str, names: list[str]) -> None:
        """Drop the indexes of deleted segments of one partition directory."""
        with self._lock:
            for name in names:
                index = self._indexes.pop((directory, name), None)
                if index is not None:
                    self._bytes -= index.nbytes

    def forget_table(self, table_id: str) -> None:
        """Drop the indexes of every segment of a table (it was deleted)."""
        with self._lock:
            for key in [k for k in self._indexes if k[0].split("/", 1)[0] == table_id]:
                self._bytes -= self._indexes.pop(key).nbytes
