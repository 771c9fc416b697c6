"""Order-independent digest over the key and version of a set of stored rows.

Two replicas that return equal digests for the same scan read the same input rows (DESIGN.md, "How reads
see every acknowledged write"). The digest covers series, time, version and value hash of each row.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tessera import layout


def row_hashes(table: pa.Table) -> np.ndarray:
    """Each row's 64-bit hash of its series, time, version and value hash (what digests add up)."""
    with np.errstate(over="ignore"):
        series = table.column(layout.SERIES).to_numpy().astype(np.uint64)
        time = table.column(layout.TIME).cast(pa.int64()).to_numpy().astype(np.uint64)
        version = table.column(layout.VERSION).to_numpy().astype(np.uint64)
        vhash = table.column(layout.VALUE_HASH).to_numpy().astype(np.uint64)
        hashes: np.ndarray = layout.mix64(series ^ layout.mix64(time ^ layout.mix64(version ^ layout.mix64(vhash))))
        return hashes


def rows_digest(table: pa.Table) -> int:
    """Digest of a table that has the time column and the key columns; 0 for no rows."""
    if table.num_rows == 0:
        return 0
    return int(row_hashes(table).sum(dtype=np.uint64))


def slice_digests(table: pa.Table, start_ns: int, slice_ns: int) -> list[tuple[int, int, int]]:
    """(slice start, rows, digest) of every time slice [start_ns + k * slice_ns, +slice_ns) holding rows."""
    if table.num_rows == 0:
        return []
    return hashed_slice_digests(table.column(layout.TIME).cast(pa.int64()).to_numpy(), row_hashes(table),
                                start_ns, slice_ns)


def hashed_slice_digests(time_ns: np.ndarray, hashes: np.ndarray, start_ns: int,
                         slice_ns: int) -> list[tuple[int, int, int]]:
    """``slice_digests`` of rows given as their times and ``row_hashes``."""
    if len(time_ns) == 0:
        return []
    slots, inverse = np.unique((time_ns - start_ns) // slice_ns, return_inverse=True)
    sums = np.zeros(len(slots), dtype=np.uint64)
    with np.errstate(over="ignore"):
        np.add.at(sums, inverse, hashes)
    counts = np.bincount(inverse, minlength=len(slots))
    return [(start_ns + int(k) * slice_ns, int(c), int(d)) for k, c, d in zip(slots, counts, sums)]


def add_slices(parts: list[list[tuple[int, int, int]]]) -> list[tuple[int, int, int]]:
    """Slice digests of disjoint row sets added up, slice by slice (sorted by slice start)."""
    total: dict[int, tuple[int, int]] = {}
    for part in parts:
        for start, rows, d in part:
            n, h = total.get(start, (0, 0))
            total[start] = (n + rows, (h + d) % layout.HASH_SPACE)
    return [(start, n, h) for start, (n, h) in sorted(total.items())]


def combine(a: int, b: int) -> int:
    """Digest of the union of two disjoint row sets."""
    return (a + b) % layout.HASH_SPACE
