"""The magnetic store's file format: one immutable Parquet file per segment, small on disk, exact on read.

A segment holds deduplicated layout rows (``tessera.layout``: one row per key) of one tile, sorted by
(ts_series, time). ``encode_segment`` turns rows into the file's bytes plus a ``SegmentInfo`` for the
tile's manifest; ``read_segment`` gives back exactly those rows, every value bit for bit (NULLs, NaN
payloads, -0.0, integers near 2**63), filtered by time range, dimension IN-lists and measure names;
``may_contain`` and ``lookup_keys`` serve write-time dedup.

This module is the format's public entry and its writer; the other parts have modules of their own:

- ``segment_codecs``: how each column is stored (dictionaries, zigzag differences per series, scaled
  decimals), and why, and the ``tessera.segment`` metadata that names every column's codec.
- ``segment_info``: what a manifest keeps (``SegmentInfo``, its key summary) and ``may_contain``.
- ``segment_reader``: ``read_segment``, ``lookup_keys`` and ``read_info``, which prune row groups by
  statistics and read the filter columns first.

The file is cut into row groups of ``SegmentOptions.row_group_rows`` rows, each decodable on its own, and
every page is zstd-compressed (level in ``SegmentOptions``). Row groups carry statistics (time, ts_series,
measure_name, dimensions and the untransformed measures; none for transformed columns, whose statistics
would mislead) and a page index.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from services.storage.segment_codecs import (
    COMPUTED,
    DECIMAL,
    DECIMAL_X,
    DELTA,
    DICT,
    FLOAT,
    FLOAT_BITS,
    FORMAT_VERSION,
    INT,
    METADATA_KEY,
    NULL_TYPE,
    PLAIN,
    TIME,
    Column,
    Plan,
    combined,
    encode_group,
    file_format,
    plan_column,
    plan_reads_values,
    plan_series,
    run_starts,
)
from services.storage.segment_info import KeySummary, SegmentInfo, may_contain
from services.storage.segment_reader import SegmentRead, lookup_keys, read_info, read_segment
from tessera import layout
from tessera.errors import ValidationError

__all__ = [
    "DEFAULT_OPTIONS",
    "FORMAT_VERSION",
    "METADATA_KEY",
    "NULL_TYPE",
    "EncodedSegment",
    "KeySummary",
    "SegmentInfo",
    "SegmentOptions",
    "SegmentRead",
    "encode_segment",
    "lookup_keys",
    "may_contain",
    "read_info",
    "read_segment",
]


@dataclass(frozen=True)
class SegmentOptions:
    """How segments are written."""

    compression_level: int = 1
    """zstd level of every page. 1 is fast (whole encode ~1 M TSBS rows/s) and, on byte-split differences,
    smaller than 3..12; 15 saves ~13% more on TSBS at ~40% of the speed (a choice for compaction)."""
    row_group_rows: int = 131_072
    """Rows per row group: the unit a reader skips or reads. Each costs ~150 bytes of footer a column."""

    def __post_init__(self) -> None:
        if not 1 <= self.compression_level <= 22:
            raise ValidationError(f"segment compression_level {self.compression_level} is outside zstd's 1..22")
        if self.row_group_rows < 1024:
            raise ValidationError(f"segment row_group_rows {self.row_group_rows} is below 1024")


DEFAULT_OPTIONS = SegmentOptions()


@dataclass(frozen=True)
class EncodedSegment:
    """A segment file's bytes and its info."""

    data: bytes
    info: SegmentInfo


def _check_rows(rows: pa.Table) -> None:
    """ValidationError unless the rows are layout rows this format stores exactly."""
    if rows.num_rows == 0:
        raise ValidationError("cannot encode a segment of no rows")
    if len(set(rows.column_names)) != rows.num_columns:
        raise ValidationError("rows for a segment name a column twice")
    for name, arrow_type in layout.FIXED_COLUMNS.items():
        if name not in rows.column_names:
            raise ValidationError(f"rows for a segment lack the column {name!r}")
        if rows.schema.field(name).type != arrow_type:
            raise ValidationError(f"rows for a segment have column {name!r} of type "
                                  f"{rows.schema.field(name).type}, want {arrow_type}")
        if name != layout.MEASURE_NAME and rows.column(name).null_count:
            raise ValidationError(f"rows for a segment have NULL in key column {name!r}")
    for f in rows.schema:
        if f.name in layout.FIXED_COLUMNS or pa.types.is_null(f.type):
            continue
        try:
            exact = layout.ARROW_TYPES[layout.type_name_of(f.type)] == f.type
        except KeyError:
            exact = False
        if not exact:
            raise ValidationError(f"rows for a segment have column {f.name!r} of type {f.type}, which is not "
                                  f"one of {', '.join(str(t) for t in layout.ARROW_TYPES.values())}")


def _sort_order(series: np.ndarray, times: np.ndarray) -> np.ndarray | None:
    """The indices that sort rows by (ts_series, time); None when they are sorted already (a snapshot often
    is)."""
    same = series[1:] == series[:-1]
    if ((series[1:] > series[:-1]) | (same & (times[1:] > times[:-1]))).all():
        return None
    return np.lexsort((times, series))


def encode_segment(rows: pa.Table, measure_columns: Sequence[str], *, options: SegmentOptions = DEFAULT_OPTIONS,
                   order: np.ndarray | None = None) -> EncodedSegment:
    """A segment file holding ``rows`` (deduplicated layout rows, any order) and its info.

    ``order``, when given, selects and orders the rows to store (``dedup.latest_version_order``: one row per
    key, sorted by series then time), so that a flush never materialises a sorted copy of its rows: the first
    row group (to choose codecs) and then each row group in turn is taken from ``rows``. ``measure_columns`` names the
    measures; every other non-fixed column is a dimension. Names absent from the rows are ignored (such a
    measure is NULL in every row and adds nothing to the value hash). Raises ValidationError for rows this
    format cannot store exactly, or two rows with the same key.
    """
    _check_rows(rows)
    series = rows.column(layout.SERIES).to_numpy()
    times = rows.column(layout.TIME).cast(pa.int64()).to_numpy()
    if order is None:
        order = _sort_order(series, times)
    if order is not None:
        series, times = series[order], times[order]
    same = (series[1:] == series[:-1]) & (times[1:] == times[:-1])
    if same.any():
        i = int(np.flatnonzero(same)[0])
        raise ValidationError(f"rows for a segment hold the key (ts_series {series[i]}, time {times[i]}) twice; "
                              "deduplicate them first")
    measures = [m for m in dict.fromkeys(measure_columns) if m in rows.column_names and m not in layout.FIXED_COLUMNS]
    n = len(series)
    group_rows = [min(options.row_group_rows, n - lo) for lo in range(0, n, options.row_group_rows)]
    starts = run_starts(series, group_rows)

    # Codecs are chosen over every value (units, scales, widths) and, for the order of differences, over
    # the first row group in written order; then the row groups are taken, encoded and written one by one.
    first = rows.slice(0, group_rows[0]) if order is None else rows.take(order[:group_rows[0]])
    plans: dict[str, Plan] = {}
    for name in rows.column_names:  # one column at a time: a column's working memory is freed before the next
        column = rows.column(name)
        if name == layout.VALUE_HASH:  # compared over every given row: no order needed
            same_hash = np.array_equal(layout.value_hashes(rows, measures), column.to_numpy())
            plans[name] = Plan(Column(name, str(column.type), COMPUTED if same_hash else PLAIN), column.type)
        elif name == layout.SERIES:
            plans[name] = plan_series(series)
        else:
            arr = combined(column) if plan_reads_values(name, column.type) else column
            plans[name] = plan_column(name, arr, combined(first.column(name)), starts[:group_rows[0]])
            del arr
    del first

    columns = [p.column for p in plans.values()]
    metadata = {"format": file_format(columns), "columns": [c.to_json() for c in columns], "measures": measures}
    data = _write_parquet(rows, order, plans, starts, group_rows, json.dumps(metadata, separators=(",", ":")),
                          options)

    kinds = {c.name: c for c in columns}
    measure_names = rows.column(layout.MEASURE_NAME)
    names = pc.unique((measure_names if order is None else measure_names.take(order)).drop_null()).to_pylist()
    info = SegmentInfo(
        rows=n, bytes=len(data), min_time_ns=int(times.min()), max_time_ns=int(times.max()),
        columns=tuple((c, kinds[c].type_name) for c in rows.column_names if c not in layout.FIXED_COLUMNS),
        measures=tuple(measures), measure_names=tuple(sorted(names)), keys=KeySummary.of(series, times))
    return EncodedSegment(data, info)


def _write_parquet(rows: pa.Table, order: np.ndarray | None, plans: dict[str, Plan], starts: np.ndarray,
                   group_rows: Sequence[int], metadata: str, options: SegmentOptions) -> bytes:
    """The file's bytes, encoded and written one row group at a time, so that the encoded form of only one
    row group is in memory at once (next to the rows themselves)."""
    in_file = [p for p in plans.values() if p.column.codec != COMPUTED]
    schema = pa.schema([f for p in in_file for f in p.stored()])
    encodings = {p.column.name: "DELTA_BINARY_PACKED" for p in in_file if p.column.codec in (TIME, DELTA)}
    encodings |= {name: "BYTE_STREAM_SPLIT" for p in in_file if p.column.codec in (INT, DECIMAL, DECIMAL_X, FLOAT_BITS)
                  or (p.column.codec == FLOAT and not p.dictionary) for name, _ in p.stored()}
    dictionary = [p.column.name for p in in_file if p.column.codec == DICT or p.dictionary]
    transformed = (INT, DECIMAL, DECIMAL_X, FLOAT_BITS)  # statistics of their stored values would mislead
    sink = pa.BufferOutputStream()
    with pq.ParquetWriter(
        sink, schema, compression="zstd", compression_level=options.compression_level,
        use_dictionary=dictionary, column_encoding=encodings,
        write_statistics=[p.column.name for p in in_file if p.column.codec not in transformed],
        write_page_index=True, store_schema=False,
        sorting_columns=[pq.SortingColumn(schema.names.index(layout.SERIES)),
                         pq.SortingColumn(schema.names.index(layout.TIME))],
    ) as writer:
        lo = 0
        for count in group_rows:  # one call a row group, so the groups end where the differences restart
            group = rows.slice(lo, count) if order is None else rows.take(order[lo:lo + count])
            arrays = [a for p in in_file for a in encode_group(p, combined(group.column(p.column.name)),
                                                                starts[lo:lo + count])]
            writer.write_table(pa.table(arrays, schema=schema), row_group_size=count)
            del group, arrays
            pa.default_memory_pool().release_unused()
            lo += count
        writer.add_key_value_metadata({METADATA_KEY: metadata})
    data: bytes = sink.getvalue().to_pybytes()
    return data
