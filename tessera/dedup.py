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


def _key_order(series: np.ndarray, time_ns: np.ndarray) -> tuple[np.ndarray, bool]:
    """Row indices in (series, time) order, and whether some key is held by more than one row."""
    order = np.lexsort((time_ns, series))  # np.lexsort sorts by its last key first
    s, t = series[order], time_ns[order]
    return order, bool(((s[1:] == s[:-1]) & (t[1:] == t[:-1])).any())


def winner_indices(
    series: np.ndarray, time_ns: np.ndarray, version: np.ndarray, vhash: np.ndarray
) -> np.ndarray:
    """Row indices of the winners under the dedup rule, in (series, time) order."""
    n = len(series)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    # Most inputs hold each key once (a flush of write-time deduplicated memory stores, a merge of segments
    # that do not overlap): sorting by the key alone then decides everything, at a third of the cost of
    # sorting by all four columns.
    order, repeats = _key_order(series, time_ns)
    if not repeats:
        return order
    # Series, time, version, vhash, all ascending: the winner of each key is then the last row of its run.
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
    winners = latest_version_order(table)
    return table if winners is None else table.take(pa.array(winners))


def latest_version_order(table: pa.Table) -> np.ndarray | None:
    """The indices of ``latest_versions``'s rows, in its order (sorted by series, then time), without taking
    them; None when that is the table itself (already one row per key, in key order)."""
    if table.num_rows <= 1:
        return None
    winners = winner_indices(
        _column_numpy(table, layout.SERIES, pa.uint64()),
        _column_numpy(table, layout.TIME, pa.int64()),
        _column_numpy(table, layout.VERSION, pa.int64()),
        _column_numpy(table, layout.VALUE_HASH, pa.uint64()),
    )
    if len(winners) == table.num_rows and (winners[1:] > winners[:-1]).all():
        return None
    return winners


def one_row_per_key(table: pa.Table) -> pa.Table:
    """The rows with each key once: the table itself, in its own order, when no key repeats (checked with one
    sort by key, no copy), else ``latest_versions`` (sorted by key)."""
    if table.num_rows <= 1:
        return table
    _, repeats = _key_order(_column_numpy(table, layout.SERIES, pa.uint64()),
                            _column_numpy(table, layout.TIME, pa.int64()))
    return latest_versions(table) if repeats else table


class ReplicasDisagree(Exception):
    """Replicas hold different values for one key at its newest version and no majority of them decides."""


def resolve_replicas(tables: list[pa.Table], all_answered: bool) -> pa.Table:
    """One row per key from the rows several replicas returned (each at most one row per key; at least one
    table, possibly empty).

    The newest version wins, as in ``latest_versions``. When replicas hold different values at that version
    (one that missed an acknowledged write stored a conflicting one), the value held by the most replicas
    wins: an acknowledged value is on a majority of the complete replicas, a rejected one only where the
    acknowledged one was missing. A tie is decided by the value hash only when ``all_answered`` (every
    replica of the tiles: then no tied value can have been acknowledged); with one silent, the silent one
    could decide, so ReplicasDisagree is raised rather than an answer that may be wrong. Sorted by series,
    then time.
    """
    filled = [t for t in tables if t.num_rows]
    if not filled:
        return tables[0]
    table = filled[0] if len(filled) == 1 else pa.concat_tables(filled, promote_options="default")
    series = _column_numpy(table, layout.SERIES, pa.uint64())
    time_ns = _column_numpy(table, layout.TIME, pa.int64())
    version = _column_numpy(table, layout.VERSION, pa.int64())
    vhash = _column_numpy(table, layout.VALUE_HASH, pa.uint64())
    order = np.lexsort((vhash, version, time_ns, series))
    s, t, v, h = series[order], time_ns[order], version[order], vhash[order]
    n = len(order)
    key_end = np.ones(n, dtype=bool)
    key_end[:-1] = (s[1:] != s[:-1]) | (t[1:] != t[:-1])
    # Rows of a key at its newest version: from the key's last row back while the version stays the same.
    key_id = np.cumsum(np.r_[True, key_end[:-1]]) - 1
    newest = v == np.maximum.reduceat(v, np.flatnonzero(np.r_[True, key_end[:-1]]))[key_id]
    value_end = np.ones(n, dtype=bool)
    value_end[:-1] = key_end[:-1] | (h[1:] != h[:-1]) | (v[1:] != v[:-1])
    winners = order[key_end]
    contested = np.flatnonzero(np.bincount(key_id[newest & value_end], minlength=int(key_id[-1]) + 1) > 1)
    if contested.size:
        winners = winners.copy()
        starts = np.flatnonzero(np.r_[True, key_end[:-1]])
        ends = np.flatnonzero(key_end)
        for k in contested.tolist():
            lo, hi = int(starts[k]), int(ends[k]) + 1
            rows = [i for i in range(lo, hi) if newest[i]]
            counts: dict[int, list[int]] = {}
            for i in rows:
                counts.setdefault(int(h[i]), []).append(i)
            ranked = sorted(counts.items(), key=lambda kv: (len(kv[1]), kv[0]))
            if len(ranked[-1][1]) == len(ranked[-2][1]) and not all_answered:
                raise ReplicasDisagree(
                    f"replicas hold {len(ranked)} different values for one key (series {int(s[lo])}, time "
                    f"{int(t[lo])} ns, version {int(v[lo])}) and the replica that would decide did not answer")
            winners[k] = order[ranked[-1][1][0]]
    return table.take(pa.array(winners))
