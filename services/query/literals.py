"""Exact nanosecond timestamp literals and fixed-length intervals, as the translator folds and reads them."""

from __future__ import annotations

import datetime
import re

from sqlglot import exp

TIMESTAMP_NS = exp.DataType.build("TIMESTAMP_NS", dialect="duckdb")
MAX_NS = (1 << 63) - 1
EPOCH = datetime.datetime(1970, 1, 1)
_NS_LITERAL = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\.(\d{9})$")
_INTERVAL_NS = {
    "MICROSECOND": 1_000,
    "MILLISECOND": 1_000_000,
    "SECOND": 1_000_000_000,
    "MINUTE": 60 * 1_000_000_000,
    "HOUR": 3_600 * 1_000_000_000,
    "DAY": 86_400 * 1_000_000_000,
}


def ns_literal(ns: int) -> exp.Expr:
    """``CAST('YYYY-MM-DD HH:MM:SS.nnnnnnnnn' AS TIMESTAMP_NS)``: an exact nanosecond timestamp literal."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    moment = EPOCH + datetime.timedelta(seconds=seconds)
    return exp.cast(exp.Literal.string(f"{moment:%Y-%m-%d %H:%M:%S}.{fraction:09d}"), TIMESTAMP_NS)


def literal_ns(node: exp.Expr) -> int | None:
    """The nanoseconds of a literal made by :func:`ns_literal`, else None."""
    if not (isinstance(node, exp.Cast) and node.to.is_type(exp.DType.TIMESTAMP_NS)):
        return None
    inner = node.this
    match = _NS_LITERAL.match(inner.name) if isinstance(inner, exp.Literal) and inner.is_string else None
    if match is None:
        return None
    moment = datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S")
    return (moment - EPOCH) // datetime.timedelta(seconds=1) * 1_000_000_000 + int(match.group(2))


def interval_ns(node: exp.Expr) -> int | None:
    """The length of a fixed-unit ``INTERVAL 'n' UNIT`` in nanoseconds, else None."""
    if not isinstance(node, exp.Interval) or not isinstance(node.this, exp.Literal):
        return None
    unit = node.text("unit").upper().removesuffix("S")
    value = node.this.name.strip()
    if unit not in _INTERVAL_NS or not re.fullmatch(r"-?\d+", value):
        return None
    return int(value) * _INTERVAL_NS[unit]
