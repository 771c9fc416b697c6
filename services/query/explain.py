"""``EXPLAIN <query>`` (the distributed plan: one fragment per table read, then the coordinator's final
stage) and ``EXPLAIN ANALYZE <query>`` (the same, run, with rows, bytes and milliseconds per fragment).
The answer is one VARCHAR column ``Query Plan``, a row per line, as Trino's is a single text column."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from services.query.pruning import RangePlan
from services.query.translate import TableScan, Translation

_EXPLAIN = re.compile(r"^\s*EXPLAIN(\s+ANALYZE)?\s+(?=\S)", re.IGNORECASE)
COLUMN = "Query Plan"


@dataclass(frozen=True)
class Request:
    query: str
    analyze: bool


@dataclass(frozen=True)
class ScanStats:
    """What reading one table took (EXPLAIN ANALYZE)."""

    rows: int
    bytes_scanned: int
    ms: float


def parse(sql: str) -> Request | None:
    """The statement under EXPLAIN [ANALYZE], or None for any other statement."""
    found = _EXPLAIN.match(sql)
    return Request(sql[found.end():], bool(found.group(1))) if found else None


def _instant(ns: int | None, unbounded: str) -> str:
    if ns is None:
        return unbounded
    seconds, fraction = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds)) + f".{fraction:09d}"


def lines(translation: Translation, plans: Sequence[RangePlan], pushed: Sequence[str],
          stats: Sequence[ScanStats] = (), final: tuple[int, float] | None = None) -> list[str]:
    """The plan as text lines: ``pushed`` is the filter each table's replicas apply (the coordinator may
    keep a filter back, e.g. when several cells hold versions of a key); with ``stats`` and ``final``
    (rows out, ms) the measured figures too."""
    out = ["Fragment 0 [coordinator]: final stage (DuckDB) over the fragments' rows"
           + (f": {final[0]:,} row(s) out, {final[1]:.1f} ms" if final else ""),
           f"    {translation.sql}"]
    for i, (scan, plan, filter_sql) in enumerate(zip(translation.scans, plans, pushed), start=1):
        out += _scan_lines(i, scan, plan, filter_sql, stats[i - 1] if i <= len(stats) else None)
    return out


def _scan_lines(i: int, scan: TableScan, plan: RangePlan, filter_sql: str, stat: ScanStats | None) -> list[str]:
    measured = f": {stat.rows:,} rows, {stat.bytes_scanned:,} bytes scanned, {stat.ms:.1f} ms" if stat else ""
    ranges = f"{len(plan.ranges)} of {plan.total} hash ranges"
    if plan.pruned:
        ranges += f" (partition key = {', '.join(plan.values or ())})"
    return [(f"Fragment {i} [cells {', '.join(plan.cells) or 'none'}]: read {scan.database}.{scan.table} as "
            f"{scan.view}{measured}"),
            f"    {ranges}; time [{_instant(scan.start_ns, '-inf')}, {_instant(scan.end_ns, '+inf')})",
            f"    columns: {', '.join(scan.columns) if scan.columns is not None else 'all'}",
            f"    filter on the replicas: {filter_sql or 'none'}",
            ("    reads: one replica of each tile returns rows, another a digest of them; a mismatch reads "
            "both and merges by the dedup rule")]


def replica_filter(predicate: str, dimension_in: Sequence[tuple[str, Sequence[str]]],
                   measure_names: Sequence[str], latest_per_series: int = 0) -> str:
    """What a table's replicas filter by: the key filters their reads apply, then the predicate DuckDB runs,
    then the last-point pushdown (each series' newest rows)."""
    keys = [f"{name} IN ({', '.join(repr(v) for v in values)})" for name, values in dimension_in]
    if measure_names:
        keys.append(f"measure_name IN ({', '.join(repr(v) for v in measure_names)})")
    parts = ([f"keys {' AND '.join(keys)}"] if keys else []) + ([f"rows {predicate}"] if predicate else [])
    if latest_per_series:
        parts.append(f"then each series' newest {latest_per_series} row{'s' if latest_per_series > 1 else ''}")
    return "; ".join(parts)


def as_table(text: Sequence[str]) -> pa.Table:
    return pa.table({COLUMN: pa.array(list(text), pa.string())})
