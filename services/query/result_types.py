"""The final stage's result columns in Timestream's types where DuckDB's differ: DuckDB sums integers into
HUGEINT (128 bits) and counts conditions into HUGEINT, where Trino/Timestream answer BIGINT (and fail on
overflow); DuckDB keeps decimal literals and their arithmetic as DECIMAL, which Timestream does not have:
its decimal literals are DOUBLE. Nested types (arrays, rows) are converted inside too. Without this a
``sum(bigint)`` column said DOUBLE in ColumnInfo."""

from __future__ import annotations

import re

import duckdb

_WIDE = re.compile(r"\bU?HUGEINT\b")
_DECIMAL = re.compile(r"\bDECIMAL\(\d+,\s*\d+\)")


def _timestream_type(duck_type: str) -> str:
    return _DECIMAL.sub("DOUBLE", _WIDE.sub("BIGINT", duck_type))


def timestream_typed(rel: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    """``rel`` with every HUGEINT cast to BIGINT (an overflow is an error, as in Trino) and every DECIMAL
    to DOUBLE, at any depth; names and order unchanged. Unchanged when no column needs it."""
    types = [str(t) for t in rel.types]
    targets = [_timestream_type(t) for t in types]
    if targets == types:
        return rel
    columns = []
    for i, (name, was, target) in enumerate(zip(rel.columns, types, targets), start=1):
        quoted = '"' + name.replace('"', '""') + '"'
        columns.append(f"CAST(#{i} AS {target}) AS {quoted}" if target != was else f"#{i} AS {quoted}")
    return rel.project(", ".join(columns))
