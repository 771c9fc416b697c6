-- Timestream duration literals <integer><unit> become DuckDB intervals; ago/now arithmetic folds exactly.

-- name: short units become intervals in their DuckDB unit
-- input
SELECT 15s, 5m, 1h, 2d, 250ms, 10us, 3000ns FROM db.t
-- sql
SELECT INTERVAL '15' SECOND AS "_col0", INTERVAL '5' MINUTE AS "_col1", INTERVAL '1' HOUR AS "_col2", INTERVAL '2' DAY AS "_col3", INTERVAL '250' MILLISECOND AS "_col4", INTERVAL '10' MICROSECOND AS "_col5", INTERVAL '3' MICROSECOND AS "_col6" FROM t0 AS t
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["time"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}

-- name: long unit words are case-insensitive
-- input
SELECT 12second, 21hour, 2MINUTE, 1Day, 7millisecond, 8microsecond, 9000nanosecond FROM db.t
-- sql
SELECT INTERVAL '12' SECOND AS "_col0", INTERVAL '21' HOUR AS "_col1", INTERVAL '2' MINUTE AS "_col2", INTERVAL '1' DAY AS "_col3", INTERVAL '7' MILLISECOND AS "_col4", INTERVAL '8' MICROSECOND AS "_col5", INTERVAL '9' MICROSECOND AS "_col6" FROM t0 AS t
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["time"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}

-- name: ago folds to an exact nanosecond literal
-- input
SELECT ago(15s) AS a, ago(2d) AS b FROM db.t
-- sql
SELECT CAST('2026-11-22 09:59:45.123456789' AS TIMESTAMP_NS) AS a, CAST('2026-11-20 10:00:00.123456789' AS TIMESTAMP_NS) AS b FROM t0 AS t
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["time"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}

-- name: now minus a chain of durations folds exactly
-- input
SELECT now() - 1h - 30m AS a, (now() - 1h) + 15s AS b, 1h + now() AS c FROM db.t
-- sql
SELECT CAST('2026-11-22 08:30:00.123456789' AS TIMESTAMP_NS) AS a, CAST('2026-11-22 09:00:15.123456789' AS TIMESTAMP_NS) AS b, CAST('2026-11-22 11:00:00.123456789' AS TIMESTAMP_NS) AS c FROM t0 AS t
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["time"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}

-- name: a string literal that looks like a duration is left alone
-- input
SELECT '15s' AS s, "5m" FROM db.t WHERE host = '1h'
-- sql
SELECT '15s' AS s, "5m" FROM t0 AS t WHERE host = '1h'
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["5m", "host"], "start_ns": null, "end_ns": null, "predicate": "host = '1h'", "predicate_columns": ["host"]}

-- name: a number and a unit separated by a space are a number and an alias
-- input
SELECT 5 m FROM db.t
-- sql
SELECT 5 AS m FROM t0 AS t
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["time"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}

-- name: bin floors to epoch-aligned buckets through time_bucket
-- input
SELECT bin(time, 5m) AS b, bin(time, 1d) AS d, count(*) FROM db.t GROUP BY 1, 2
-- sql
SELECT MAKE_TIMESTAMP_NS(EPOCH_NS((time)) - ((EPOCH_NS((time)) % (300000000000)) + (300000000000)) % (300000000000)) AS b, MAKE_TIMESTAMP_NS(EPOCH_NS((time)) - ((EPOCH_NS((time)) % (86400000000000)) + (86400000000000)) % (86400000000000)) AS d, COUNT(*) AS "_col2" FROM t0 AS t GROUP BY 1, 2
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["time"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}

-- name: a nanosecond duration below microsecond precision is rejected
-- input
SELECT ago(5ns) FROM db.t
-- error
syntax error: duration 5ns at line 1, col 12: Tessera intervals have microsecond precision, so a nanosecond duration must be a multiple of 1000

-- name: a fractional duration is not a duration literal
-- input
SELECT ago(1.5h) FROM db.t
-- error
syntax error at line 1, col 15: Expecting )

-- name: ago with an interval literal written the Trino way also folds
-- input
SELECT ago(INTERVAL '2' HOUR) FROM db.t
-- sql
SELECT CAST('2026-11-22 08:00:00.123456789' AS TIMESTAMP_NS) AS "_col0" FROM t0 AS t
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["time"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}
