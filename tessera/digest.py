"""Order-independent digest over the key and version of a set of stored rows.

Two replicas that return equal digests for the same scan read the same input rows (DESIGN.md, "How reads
see every acknowledged write"). The digest covers series, time, version and value hash of each row.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tessera import layout


def rows_digest(table: pa.Table) -> int:
    """Digest of a table that has the time column and the key columns; 0 for no rows."""
    if table.num_rows == 0:
        return 0
    with np.errstate(over="ignore"):
        series = table.column(layout.SERIES).to_numpy().astype(np.uint64)
        time = table.column(layout.TIME).cast(pa.int64()).to_numpy().astype(np.uint64)
        version = table.column(layout.VERSION).to_numpy().astype(np.uint64)
        vhash = table.column(layout.VALUE_HASH).to_numpy().astype(np.uint64)
        h = layout.mix64(series ^ layout.mix64(time ^ layout.mix64(version ^ layout.mix64(vhash))))
        return int(h.sum(dtype=np.uint64))


def combine(a: int, b: int) -> int:
    """Digest of the union of two disjoint row sets."""
    return (a + b) % layout.HASH_SPACE
