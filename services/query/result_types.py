"""The final stage's result columns in Timestream's types where DuckDB's differ: DuckDB sums integers into
HUGEINT (128 bits) and counts conditions into HUGEINT, where Trino/Timestream answer BIGINT (and fail on
overflow); DuckDB keeps decimal literals and their arithmetic as DECIMAL, which Timestream does not have:
its decimal literals are DOUBLE. Without this a ``sum(bigint)`` column said DOUBLE in ColumnInfo."""

from __future__ import annotations

import duckdb

_AS = {"hugeint": "BIGINT", "uhugeint": "BIGINT", "decimal": "DOUBLE"}


def timestream_typed(rel: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    """``rel`` with every HUGEINT column cast to BIGINT (an overflow is an error, as in Trino) and every
    DECIMAL column to DOUBLE; names and order unchanged. Unchanged when no column needs it."""
    targets = [_AS.get(t.id) for t in rel.types]
    if not any(targets):
        return rel
    columns = []
    for i, (name, target) in enumerate(zip(rel.columns, targets), start=1):
        quoted = '"' + name.replace('"', '""') + '"'
        columns.append(f"CAST(#{i} AS {target}) AS {quoted}" if target else f"#{i} AS {quoted}")
    return rel.project(", ".join(columns))
