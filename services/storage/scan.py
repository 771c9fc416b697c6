"""A replica's scan: rows of some tiles through their TileViews, filtered, projected and digested.

Each view is read with what is safe to push down (time range, buckets, projection); the rows are conformed to
the table schema the caller sends (columns a tile never saw become typed NULL columns); DuckDB evaluates the
SQL predicate and returns row numbers only; the projected rows come back together with a digest over the key
and version of every row that passed (``tessera.digest``), which lets the coordinator compare two replicas
without shipping rows twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from services.storage.memstore import empty_table
from services.storage.tileview import ReadFilter, TileView
from tessera import digest, layout, sqlsession
from tessera.errors import ValidationError

_DIGEST_COLUMNS = (layout.TIME, *layout.KEY_COLUMNS)


@dataclass(frozen=True)
class ScanResult:
    """Rows of a scan (None in digest-only mode), digest and count of the rows that passed, bytes read."""

    table: pa.Table | None
    digest: int
    rows: int
    bytes_scanned: int
    incomplete: tuple[str, ...] = ()
    """Tiles of the scan that lost rows and await repair: this replica's answer is not complete for them."""


def conform(table: pa.Table, schema: Sequence[tuple[str, str]]) -> pa.Table:
    """The fixed columns, then each schema column, typed as declared; missing columns are typed NULLs."""
    fields: dict[str, pa.DataType] = dict(layout.FIXED_COLUMNS)
    for name, type_name in schema:
        if name in fields:
            continue
        try:
            fields[name] = layout.ARROW_TYPES[type_name]
        except KeyError:
            raise ValidationError(
                f"scan schema column {name!r} has type {type_name!r}; want one of {sorted(layout.ARROW_TYPES)}"
            ) from None
    n = table.num_rows
    present = set(table.column_names)
    columns = []
    for name, arrow_type in fields.items():
        if name not in present:
            columns.append(pa.nulls(n, arrow_type))
            continue
        column = table.column(name)
        if column.type != arrow_type:
            try:
                column = column.cast(arrow_type)
            except pa.ArrowInvalid as exc:
                raise ValidationError(
                    f"scan schema column {name!r} is {arrow_type} but the tile stores {column.type}: {exc}"
                ) from exc
        columns.append(column)
    return pa.table(columns, schema=pa.schema(fields))


def output_columns(schema: Sequence[tuple[str, str]], columns: Sequence[str], with_keys: bool) -> list[str]:
    """Names of the columns a scan returns: requested (or all) known columns, time always, keys if asked."""
    known = [layout.TIME, layout.MEASURE_NAME] + [n for n, _ in schema if n not in layout.FIXED_COLUMNS]
    if columns:
        allowed = set(known) | set(layout.FIXED_COLUMNS)
        wanted = [c for c in dict.fromkeys(columns) if c in allowed]
    else:
        wanted = known
    if layout.TIME not in wanted:
        wanted.insert(0, layout.TIME)
    if with_keys:
        wanted += [c for c in layout.KEY_COLUMNS if c not in wanted]
    return wanted


def scan_views(cursor: duckdb.DuckDBPyConnection, views: Sequence[TileView], schema: Sequence[tuple[str, str]],
               columns: Sequence[str], predicate: str, start_ns: int, end_ns: int, with_keys: bool,
               want_rows: bool, predicate_columns: Sequence[str] = (), incomplete: Sequence[str] = (),
               dimension_in: Mapping[str, Sequence[str]] | None = None,
               measure_names: Sequence[str] | None = None, latest_per_series: int = 0) -> ScanResult:
    """The blocking body of a scan, run in a worker thread.

    Only the columns the output, the digest and the predicate need are read, and DuckDB sees column names
    only through the predicate: it evaluates it over the rows and returns row numbers. (DuckDB matches names
    regardless of case, Tessera does not: "Cpu" and "cpu" are two columns.) ``latest_per_series``: return
    only the newest that many rows of each series of the passing rows (0: all); the digest covers them all.
    """
    wanted = output_columns(schema, columns, with_keys) if want_rows else [layout.TIME]
    has_predicate = bool(predicate.strip())
    # A predicate whose columns the caller did not name makes every column needed.
    read_columns: list[str] | None = [c for c in dict.fromkeys([*wanted, *predicate_columns])
                                      if c not in layout.FIXED_COLUMNS]
    if has_predicate and not predicate_columns:
        read_columns = None
    bytes_scanned = 0
    parts = []
    for view in views:
        got = view.read(ReadFilter(start_ns, end_ns, view.buckets, read_columns, dimension_in or {}, measure_names))
        bytes_scanned += got.bytes_read
        if got.table.num_rows:
            parts.append(conform(got.table, schema))
    table = pa.concat_tables(parts) if parts else conform(empty_table(), schema)
    read = table.select(list(dict.fromkeys([*wanted, *_DIGEST_COLUMNS])))
    if has_predicate:  # evaluated on empty input too, so a bad predicate fails whatever the data
        try:
            read = read.take(sqlsession.passing_rows(cursor, table, predicate, predicate_columns))
        except duckdb.Error as exc:
            raise sqlsession.sql_error(exc, f"cannot evaluate scan predicate {predicate!r}") from exc
    rows_digest, passing = digest.rows_digest(read), read.num_rows
    if latest_per_series and want_rows:
        read = newest_per_series(read, latest_per_series)
    out = read.select(wanted) if want_rows else None
    return ScanResult(out, rows_digest, passing, bytes_scanned, tuple(incomplete))


def newest_per_series(table: pa.Table, count: int) -> pa.Table:
    """The newest ``count`` rows of each series (``ts_series``) by time, in (series, time) order: every row
    a query for the latest rows per dimension set or measure name can pick (a series' dimensions and
    measure name are constant, and a series has one row a time)."""
    if table.num_rows <= count:
        return table
    series = table.column(layout.SERIES).to_numpy()
    times = table.column(layout.TIME).cast(pa.int64()).to_numpy()
    order = np.lexsort((times, series))
    ordered = series[order]
    last = np.flatnonzero(np.append(ordered[1:] != ordered[:-1], True))  # each series' last position
    run_last = np.repeat(last, np.diff(np.append(-1, last)))  # for every position, its series' last one
    keep = order[run_last - np.arange(len(order)) < count]
    return table.take(pa.array(keep))
