-- Functions: sqlglot's Trino->DuckDB transpilation where it is right, Tessera's rewrites where it is not.

-- name: now, current_timestamp, current_date and current_time become literals
-- input
SELECT now(), current_timestamp, current_date, current_time FROM db.t
-- sql
SELECT CAST('2026-11-22 10:00:00.123456789' AS TIMESTAMP_NS) AS "_col0", CAST('2026-11-22 10:00:00.123456789' AS TIMESTAMP_NS) AS "_col1", CAST('2026-11-22' AS DATE) AS "_col2", CAST('10:00:00.123456' AS TIME) AS "_col3" FROM t0 AS t
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["time"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}

-- name: aggregates
-- input
SELECT count(*), count(cpu), sum(cpu), avg(cpu), min(cpu), max(cpu) FROM db.t
-- sql
SELECT COUNT(*) AS "_col0", COUNT(cpu) AS "_col1", SUM(cpu) AS "_col2", AVG(cpu) AS "_col3", MIN(cpu) AS "_col4", MAX(cpu) AS "_col5" FROM t0 AS t
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["cpu"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}

-- name: scalar functions, CASE, CAST and coalesce
-- input
SELECT abs(cpu), round(cpu, 2), floor(cpu), ceil(cpu), lower(host), upper(host), length(host), coalesce(az, 'none'), CAST(cpu AS bigint), CAST(cpu AS varchar), CASE WHEN cpu > 50 THEN 'hot' ELSE 'ok' END FROM db.t
-- sql
SELECT ABS(cpu) AS "_col0", ROUND((cpu) * (CAST(100 AS INT128))) / (CAST(100 AS INT128)) AS "_col1", FLOOR(cpu) AS "_col2", CEIL(cpu) AS "_col3", LOWER(host) AS "_col4", CASE WHEN CONTAINS((host), 'ß') THEN ARRAY_TO_STRING(LIST_TRANSFORM(STR_SPLIT((host), 'ß'), LAMBDA tessera_p : UPPER(tessera_p)), 'ß') ELSE UPPER((host)) END AS "_col5", LENGTH(host) AS "_col6", COALESCE(az, 'none') AS "_col7", CASE WHEN (cpu) IS NULL THEN CAST(NULL AS BIGINT) WHEN TYPEOF((cpu)) IN ('DOUBLE', 'FLOAT') THEN CAST(ROUND(TRY_CAST((cpu) AS DOUBLE)) AS BIGINT) WHEN TYPEOF((cpu)) = 'VARCHAR' THEN (CASE WHEN REGEXP_FULL_MATCH(TRIM(CAST((cpu) AS TEXT)), '[+-]?[0-9]+') THEN CAST(TRIM(CAST((cpu) AS TEXT)) AS BIGINT) ELSE ERROR('Cannot cast ' || '''' || CAST((cpu) AS TEXT) || '''' || ' to BIGINT') END) ELSE CAST((cpu) AS BIGINT) END AS "_col8", TRINO_VARCHAR(cpu) AS "_col9", CASE WHEN cpu > 50 THEN 'hot' ELSE 'ok' END AS "_col10" FROM t0 AS t
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["az", "cpu", "host"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}

-- name: concat and the concatenation operator
-- input
SELECT concat(region, '/', host), region || '/' || host FROM db.t
-- sql
SELECT region || '/' || host AS "_col0", region || '/' || host AS "_col1" FROM t0 AS t
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["host", "region"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}

-- name: hour, minute and day extraction and date_trunc
-- input
SELECT hour(time), minute(time), day(time), date_trunc('hour', time) FROM db.t
-- sql
SELECT HOUR(time) AS "_col0", MINUTE(time) AS "_col1", DAY(MAKE_TIMESTAMP((EPOCH_NS((time)) - ((EPOCH_NS((time)) % 1000) + 1000) % 1000) // 1000)) AS "_col2", DATE_TRUNC('HOUR', MAKE_TIMESTAMP((EPOCH_NS((time)) - ((EPOCH_NS((time)) % 1000) + 1000) % 1000) // 1000)) AS "_col3" FROM t0 AS t
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["time"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}

-- name: epoch conversions
-- input
SELECT from_milliseconds(ms), from_nanoseconds(ns), to_milliseconds(time), to_nanoseconds(time), from_unixtime(secs), to_unixtime(time) FROM db.t
-- sql
SELECT MAKE_TIMESTAMP_NS(CAST(ms AS BIGINT) * 1000000) AS "_col0", MAKE_TIMESTAMP_NS(CAST(ns AS BIGINT)) AS "_col1", EPOCH_NS(time) // 1000000 AS "_col2", EPOCH_NS(time) AS "_col3", MAKE_TIMESTAMP(CAST(ROUND(CAST((secs) AS DOUBLE) * 1000000) AS BIGINT)) AS "_col4", CAST(EPOCH_NS((time)) AS DOUBLE) / CAST(1000000000 AS DOUBLE) AS "_col5" FROM t0 AS t
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["ms", "ns", "secs", "time"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}

-- name: date_diff counts whole units as in Trino
-- input
SELECT date_diff('second', time, now()) FROM db.t
-- sql
SELECT (EPOCH_NS((CAST('2026-11-22 10:00:00.123456789' AS TIMESTAMP_NS))) - EPOCH_NS((time))) // 1000000000 AS "_col0" FROM t0 AS t
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["time"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}

-- name: approx_percentile and approx_distinct
-- input
SELECT approx_percentile(cpu, 0.9), approx_distinct(host) FROM db.t
-- sql
SELECT CASE WHEN CAST((0.9) AS DOUBLE) < 0 OR CAST((0.9) AS DOUBLE) > 1 THEN ERROR('approx_percentile: percentile must be between 0 and 1') ELSE (LIST_SORT(LIST_FILTER((LIST(cpu)), LAMBDA tessera_v : NOT tessera_v IS NULL)))[LEAST(CAST(FLOOR(CAST((0.9) AS DOUBLE) * (COUNT(cpu))) AS BIGINT), (COUNT(cpu)) - 1) + 1] END AS "_col0", COUNT(DISTINCT host) AS "_col1" FROM t0 AS t
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["cpu", "host"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}

-- name: a query without a table has no scans
-- input
SELECT 1 + 1 AS two
-- sql
SELECT 1 + 1 AS two
-- scans
