"""Turning an Arrow result into Timestream's shapes: ColumnInfo types, scalar strings, and pages."""

from __future__ import annotations

import base64
import decimal
import hashlib
import json
import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tessera import errors, limits
from tessera.v1 import query_pb2

PAGE_BYTES = 1 << 20          # Timestream pages are at most 1 MB
ARROW_PAGE_BYTES = 64 << 20   # the SDK's Arrow pages may be larger
RESULT_TTL_S = 3600


def scalar_type(t: pa.DataType) -> str:
    """Timestream's ScalarType for an Arrow type."""
    if pa.types.is_timestamp(t):
        return "TIMESTAMP"
    if pa.types.is_date(t):
        return "DATE"
    if pa.types.is_time(t):
        return "TIME"
    if pa.types.is_duration(t) or pa.types.is_interval(t):
        return "INTERVAL_DAY_TO_SECOND"
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_int32(t) or pa.types.is_int16(t) or pa.types.is_int8(t):
        return "INTEGER"
    if pa.types.is_integer(t):
        return "BIGINT"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "DOUBLE"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "VARCHAR"
    if pa.types.is_null(t):
        return "UNKNOWN"
    return "VARCHAR"


def timeseries_value_type(t: pa.DataType) -> pa.DataType | None:
    """The value type of a timeseries (an array of rows ``(time TIMESTAMP, value T)``, as
    services.query.trino_timeseries builds them), else None."""
    if not (pa.types.is_list(t) or pa.types.is_large_list(t)) or not pa.types.is_struct(t.value_type):
        return None
    fields = list(t.value_type)
    if [f.name for f in fields] == ["time", "value"] and pa.types.is_timestamp(fields[0].type):
        return fields[1].type
    return None


def aws_column_type(t: pa.DataType) -> dict[str, Any]:
    value = timeseries_value_type(t)
    if value is not None:
        return {"TimeSeriesMeasureValueColumnInfo": {"Type": aws_column_type(value)}}
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return {"ArrayColumnInfo": {"Type": aws_column_type(t.value_type)}}
    if pa.types.is_struct(t):
        return {"RowColumnInfo": [{"Name": f.name, "Type": aws_column_type(f.type)} for f in t]}
    return {"ScalarType": scalar_type(t)}


def aws_column_info(schema: pa.Schema) -> list[dict[str, Any]]:
    """ColumnInfo as the Timestream API's JSON (the gateway's Query responses, UNLOAD's metadata file)."""
    return [{"Name": f.name, "Type": aws_column_type(f.type)} for f in schema]


def java_double(v: float) -> str:
    """A DOUBLE as Timestream (Trino, Java's Double.toString) prints it: the shortest round-trip digits, plain
    from 10^-3 up to 10^7 (``0.001``, ``21.5``, ``100.0``), ``1.0E20``/``1.5E-5`` beyond, ``NaN``,
    ``Infinity``, ``-0.0``; Python's own text (``1e+20``, ``nan``, ``inf``) is not what clients parse."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    if v == 0 or 1e-3 <= abs(v) < 1e7:
        return repr(v)  # repr prints this range without an exponent, always with a fraction digit
    sign, digits, exponent = decimal.Decimal(repr(v)).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    power = len(digits) + int(exponent) - 1
    return f"{'-' if sign else ''}{text[0]}.{text[1:] or '0'}E{power}"


NS_PER_DAY = 86_400 * 1_000_000_000


def _clock(ns: int) -> str:
    """``HH:MM:SS.nnnnnnnnn`` of a time of day or the time part of an interval."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{fraction:09d}"


def day_to_second(ns: int) -> str:
    """An INTERVAL DAY TO SECOND as Timestream prints it: ``0 01:00:00.000000000``, ``-1 00:00:00.5…``."""
    days, rest = divmod(abs(ns), NS_PER_DAY)
    return f"{'-' if ns < 0 else ''}{days} {_clock(rest)}"


def _interval(months: int, days: int, ns: int) -> str:
    """DuckDB's intervals: day-to-second ones (no months) as Timestream prints them, else ``Y-M`` plus the
    day-to-second part when there is one."""
    day_second = day_to_second(days * NS_PER_DAY + ns)
    if not months:
        return day_second
    year_month = f"{'-' if months < 0 else ''}{abs(months) // 12}-{abs(months) % 12}"
    return year_month if not (days or ns) else f"{year_month} {day_second}"


def _timestamp_strings(col: pa.ChunkedArray) -> list[str | None]:
    """``YYYY-MM-DD HH:MM:SS.nnnnnnnnn`` (UTC, always nine fractional digits), formatted by numpy in C."""
    ns = pc.fill_null(col.cast(pa.timestamp("ns")), 0).to_numpy()  # filled first: a NaT has no text
    text = [s.replace("T", " ") for s in np.datetime_as_string(ns, unit="ns").tolist()]
    if col.null_count == 0:
        return cast(list[str | None], text)
    return [s if ok else None for s, ok in zip(text, col.is_valid().to_numpy(zero_copy_only=False))]


def scalar_strings(col: pa.ChunkedArray) -> list[str | None]:
    t = col.type
    if pa.types.is_timestamp(t):
        return _timestamp_strings(col)
    if pa.types.is_boolean(t):
        return [None if v is None else ("true" if v else "false") for v in col.to_pylist()]
    if pa.types.is_floating(t):
        return [None if v is None else java_double(float(v)) for v in col.to_pylist()]
    if pa.types.is_duration(t):
        return [None if v is None else day_to_second(v) for v in col.cast(pa.duration("ns")).cast(pa.int64()).to_pylist()]
    if pa.types.is_time(t):
        return [None if v is None else _clock(v) for v in col.cast(pa.time64("ns")).cast(pa.int64()).to_pylist()]
    if t == pa.month_day_nano_interval():
        return [None if v is None else _interval(v.months, v.days, v.nanoseconds) for v in col.to_pylist()]
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return cast(list[str | None], col.to_pylist())  # a string column: str or None per row
    if pa.types.is_nested(t):
        # Arrays and rows (SHOW MEASURES' Dimensions) as JSON text until results carry nested Datum values.
        return [None if v is None else json.dumps(v, default=str, separators=(",", ":")) for v in col.to_pylist()]
    return [None if v is None else str(v) for v in pc.cast(col, pa.string(), safe=False).to_pylist()] \
        if not pa.types.is_interval(t) else [None if v is None else str(v) for v in col.to_pylist()]


def to_rows(table: pa.Table) -> list[query_pb2.Row]:
    """Timestream Rows: every datum a scalar string or NullValue."""
    columns = [scalar_strings(table.column(i)) for i in range(table.num_columns)]
    rows = []
    for r in range(table.num_rows):
        rows.append(query_pb2.Row(data=[query_pb2.Datum(null_value=True) if c[r] is None
                                        else query_pb2.Datum(scalar_value=c[r]) for c in columns]))
    return rows


def column_info(schema: pa.Schema) -> list[query_pb2.ColumnInfo]:
    """ColumnInfo for every result column."""
    return [query_pb2.ColumnInfo(name=f.name, type=scalar_type(f.type)) for f in schema]


def page_rows(table: pa.Table, offset: int, max_rows: int, arrow: bool, max_page_bytes: int = 0) -> int:
    """How many rows the page starting at ``offset`` holds: ``max_rows`` when set, else as many as fit in a
    page (1 MB and QUERY_MAX_ROWS for row pages; ``max_page_bytes``, default 64 MB, for Arrow pages)."""
    left: int = table.num_rows - offset
    if max_rows:
        return min(left, max_rows)
    per_row = max(1, table.nbytes // max(1, table.num_rows))
    if arrow:
        return int(min(left, max(1, (max_page_bytes or ARROW_PAGE_BYTES) // per_row)))
    return int(min(left, max(1, PAGE_BYTES // per_row), limits.QUERY_MAX_ROWS))


@dataclass
class StoredResult:
    table: pa.Table
    query_hash: str
    created: float
    bytes_scanned: int
    partial_reasons: list[str]
    insights: list[query_pb2.TableInsight] = field(default_factory=list)
    unload: query_pb2.UnloadInsight | None = None


class ResultCache:
    """Finished results kept for their NextTokens: an hour at most, and a bounded number of them."""

    def __init__(self, max_results: int = 64) -> None:
        self._results: OrderedDict[str, StoredResult] = OrderedDict()
        self._max = max_results

    def put(self, query_id: str, result: StoredResult) -> None:
        self._results[query_id] = result
        self._results.move_to_end(query_id)
        while len(self._results) > self._max:
            self._results.popitem(last=False)

    def drop(self, query_id: str) -> bool:
        return self._results.pop(query_id, None) is not None

    def resume(self, token: str, query: str) -> tuple[str, StoredResult, int]:
        """The result and offset a NextToken points at; ValidationError if it is invalid or expired."""
        try:
            query_id, offset_s = base64.urlsafe_b64decode(token.encode()).decode().split(":")
            offset = int(offset_s)
        except (ValueError, UnicodeDecodeError) as exc:
            raise errors.ValidationError("Invalid pagination token: NextToken was not produced by this query") from exc
        stored = self._results.get(query_id)
        if stored is None or time.monotonic() - stored.created > RESULT_TTL_S:
            raise errors.ValidationError("Invalid pagination token: the result expired or was cancelled; run the "
                                         "query again")
        if stored.query_hash != query_hash(query):
            raise errors.ValidationError("Invalid pagination token: it belongs to a different QueryString")
        if not 0 <= offset <= stored.table.num_rows:
            raise errors.ValidationError("Invalid pagination token: NextToken was not produced by this query")
        return query_id, stored, offset


def next_token(query_id: str, offset: int) -> str:
    """An opaque token for the page at ``offset``."""
    return base64.urlsafe_b64encode(f"{query_id}:{offset}".encode()).decode()


def query_hash(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


