"""Order-independent digest over the key and version of a set of stored rows.

Two replicas that return equal digests for the same scan read the same input rows (DESIGN.md, "How reads
see every acknowledged write"). The digest covers series, time, version and value hash of each row.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from tessera import layout

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    # splitmix64 finaliser: a cheap, well-spread 64-bit mix.
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def rows_digest(table: pa.Table) -> int:
    """Digest of a table that has the time column and the key columns; 0 for no rows."""
    if table.num_rows == 0:
        return 0
    with np.errstate(over="ignore"):
        series = table.column(layout.SERIES).to_numpy().astype(np.uint64)
        time = table.column(layout.TIME).cast(pa.int64()).to_numpy().astype(np.uint64)
        version = table.column(layout.VERSION).to_numpy().astype(np.uint64)
        vhash = table.column(layout.VALUE_HASH).to_numpy().astype(np.uint64)
        h = _mix(series ^ _mix(time ^ _mix(version ^ _mix(vhash))))
        return int(h.sum(dtype=np.uint64))


def combine(a: int, b: int) -> int:
    """Digest of the union of two disjoint row sets."""
    return (a + b) % layout.HASH_SPACE
