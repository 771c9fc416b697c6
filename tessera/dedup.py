"""The one dedup rule, applied at write, merge, compaction, repair and query time.

A stored value is identified by its key: the series (``ts_series``, a hash of the dimensions and the
measure name) and the ``time``. Among rows that share a key:

1. the row with the highest ``ts_version`` wins (Timestream: a higher version updates the value);
2. any remaining tie (same version, different values, which the write path rejects but a merge of
   replicas that each accepted a different value first may still meet) is broken by the highest
   ``ts_vhash`` (the unsigned 64-bit hash of the measure values). The rule needs no clock and no node
   identity, so every replica and the coordinator pick the same row.

Rows with the same key, version and value hash are exact duplicates; which one is kept is irrelevant.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tessera import layout


def _column_numpy(table: pa.Table, name: str, as_type: pa.DataType) -> np.ndarray:
    column = table.column(name)
    if column.type != as_type:
        column = column.cast(as_type)
    values: np.ndarray = column.to_numpy()
    return values


def winner_indices(
    series: np.ndarray, time_ns: np.ndarray, version: np.ndarray, vhash: np.ndarray
) -> np.ndarray:
    """Row indices of the winners under the dedup rule, in (series, time) order."""
    n = len(series)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    # np.lexsort sorts by its last key first: series, time, version, vhash, all ascending; the winner of
    # each key is then the last row of its run.
    order = np.lexsort((vhash, version, time_ns, series))
    s = series[order]
    t = time_ns[order]
    last = np.ones(n, dtype=bool)
    last[:-1] = (s[1:] != s[:-1]) | (t[1:] != t[:-1])
    return order[last]


def latest_versions(table: pa.Table) -> pa.Table:
    """Keep, per key (ts_series, time), the row with the highest ts_version, ties to the highest ts_vhash.

    The result is sorted by series, then time. Tables of zero or one row are returned unchanged.
    """
    if table.num_rows <= 1:
        return table
    winners = winner_indices(
        _column_numpy(table, layout.SERIES, pa.uint64()),
        _column_numpy(table, layout.TIME, pa.int64()),
        _column_numpy(table, layout.VERSION, pa.int64()),
        _column_numpy(table, layout.VALUE_HASH, pa.uint64()),
    )
    return table.take(pa.array(winners))
