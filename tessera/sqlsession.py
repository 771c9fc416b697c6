"""DuckDB session settings that make its semantics Timestream's, for every connection that runs query SQL
(the coordinator's final stage and the predicates storage replicas evaluate)."""

from __future__ import annotations

# Integer division truncates as in Presto/Timestream (7 / 2 = 3); every time is UTC.
DUCKDB_SESSION_SETTINGS: tuple[str, ...] = ("SET integer_division = true", "SET TimeZone = 'UTC'")
