-- start_ns (inclusive) and end_ns (exclusive) come from top-level time comparisons with constants.

-- name: time greater or equal to ago gives a start
-- input
SELECT host FROM db.t WHERE time >= ago(1h)
-- sql
SELECT host FROM t0 AS t WHERE time >= CAST('2026-11-22 09:00:00.123456789' AS TIMESTAMP_NS)
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["host", "time"], "start_ns": 1795338000123456789, "end_ns": null, "predicate": "time >= CAST('2026-11-22 09:00:00.123456789' AS TIMESTAMP_NS)", "predicate_columns": ["time"]}

-- name: strict greater than adds one nanosecond
-- input
SELECT host FROM db.t WHERE time > ago(1h)
-- sql
SELECT host FROM t0 AS t WHERE time > CAST('2026-11-22 09:00:00.123456789' AS TIMESTAMP_NS)
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["host", "time"], "start_ns": 1795338000123456790, "end_ns": null, "predicate": "time > CAST('2026-11-22 09:00:00.123456789' AS TIMESTAMP_NS)", "predicate_columns": ["time"]}

-- name: less than or equal gives an end one past the constant
-- input
SELECT host FROM db.t WHERE time <= now() AND time > now() - 15m
-- sql
SELECT host FROM t0 AS t WHERE time <= CAST('2026-11-22 10:00:00.123456789' AS TIMESTAMP_NS) AND time > CAST('2026-11-22 09:45:00.123456789' AS TIMESTAMP_NS)
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["host", "time"], "start_ns": 1795340700123456790, "end_ns": 1795341600123456790, "predicate": "time <= CAST('2026-11-22 10:00:00.123456789' AS TIMESTAMP_NS) AND time > CAST('2026-11-22 09:45:00.123456789' AS TIMESTAMP_NS)", "predicate_columns": ["time"]}

-- name: constant on the left is flipped
-- input
SELECT host FROM db.t WHERE ago(1h) < time AND now() >= time
-- sql
SELECT host FROM t0 AS t WHERE CAST('2026-11-22 09:00:00.123456789' AS TIMESTAMP_NS) < time AND CAST('2026-11-22 10:00:00.123456789' AS TIMESTAMP_NS) >= time
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["host", "time"], "start_ns": 1795338000123456790, "end_ns": 1795341600123456790, "predicate": "CAST('2026-11-22 09:00:00.123456789' AS TIMESTAMP_NS) < time AND CAST('2026-11-22 10:00:00.123456789' AS TIMESTAMP_NS) >= time", "predicate_columns": ["time"]}

-- name: between string literals compares as timestamps
-- input
SELECT host FROM db.t WHERE time BETWEEN '2023-09-19' AND '2023-11-01'
-- sql
SELECT host FROM t0 AS t WHERE time BETWEEN '2023-09-19' AND '2023-11-01'
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["host", "time"], "start_ns": 1695081600000000000, "end_ns": 1698796800000000001, "predicate": "time BETWEEN '2023-09-19' AND '2023-11-01'", "predicate_columns": ["time"]}

-- name: equality gives a one nanosecond range
-- input
SELECT host FROM db.t WHERE time = '2023-09-19 00:00:00.000000001'
-- sql
SELECT host FROM t0 AS t WHERE time = '2023-09-19 00:00:00.000000001'
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["host", "time"], "start_ns": 1695081600000000001, "end_ns": 1695081600000000002, "predicate": "time = '2023-09-19 00:00:00.000000001'", "predicate_columns": ["time"]}

-- name: the tightest bounds win
-- input
SELECT host FROM db.t WHERE time > ago(2h) AND time >= ago(1h) AND time < now() AND time < ago(5m)
-- sql
SELECT host FROM t0 AS t WHERE time > CAST('2026-11-22 08:00:00.123456789' AS TIMESTAMP_NS) AND time >= CAST('2026-11-22 09:00:00.123456789' AS TIMESTAMP_NS) AND time < CAST('2026-11-22 10:00:00.123456789' AS TIMESTAMP_NS) AND time < CAST('2026-11-22 09:55:00.123456789' AS TIMESTAMP_NS)
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["host", "time"], "start_ns": 1795338000123456789, "end_ns": 1795341300123456789, "predicate": "time > CAST('2026-11-22 08:00:00.123456789' AS TIMESTAMP_NS) AND time >= CAST('2026-11-22 09:00:00.123456789' AS TIMESTAMP_NS) AND time < CAST('2026-11-22 10:00:00.123456789' AS TIMESTAMP_NS) AND time < CAST('2026-11-22 09:55:00.123456789' AS TIMESTAMP_NS)", "predicate_columns": ["time"]}

-- name: an OR around time gives no bound
-- input
SELECT host FROM db.t WHERE time > ago(1h) OR host = 'a'
-- sql
SELECT host FROM t0 AS t WHERE time > CAST('2026-11-22 09:00:00.123456789' AS TIMESTAMP_NS) OR host = 'a'
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["host", "time"], "start_ns": null, "end_ns": null, "predicate": "time > CAST('2026-11-22 09:00:00.123456789' AS TIMESTAMP_NS) OR host = 'a'", "predicate_columns": ["host", "time"]}

-- name: a NOT around time gives no bound
-- input
SELECT host FROM db.t WHERE NOT time < ago(1h)
-- sql
SELECT host FROM t0 AS t WHERE NOT time < CAST('2026-11-22 09:00:00.123456789' AS TIMESTAMP_NS)
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["host", "time"], "start_ns": null, "end_ns": null, "predicate": "NOT time < CAST('2026-11-22 09:00:00.123456789' AS TIMESTAMP_NS)", "predicate_columns": ["time"]}

-- name: a timestamp literal and date_trunc of now are constants
-- input
SELECT host FROM db.t WHERE time >= TIMESTAMP '2023-01-01 00:00:00' AND time < date_trunc('day', now())
-- sql
SELECT host FROM t0 AS t WHERE time >= CAST('2023-01-01 00:00:00' AS TIMESTAMP_NS) AND time < DATE_TRUNC('DAY', MAKE_TIMESTAMP((EPOCH_NS((CAST('2026-11-22 10:00:00.123456789' AS TIMESTAMP_NS))) - ((EPOCH_NS((CAST('2026-11-22 10:00:00.123456789' AS TIMESTAMP_NS))) % 1000) + 1000) % 1000) // 1000))
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["host", "time"], "start_ns": 1672531200000000000, "end_ns": 1795305600000000000, "predicate": "time >= CAST('2023-01-01 00:00:00' AS TIMESTAMP_NS) AND time < DATE_TRUNC('DAY', MAKE_TIMESTAMP((EPOCH_NS((CAST('2026-11-22 10:00:00.123456789' AS TIMESTAMP_NS))) - ((EPOCH_NS((CAST('2026-11-22 10:00:00.123456789' AS TIMESTAMP_NS))) % 1000) + 1000) % 1000) // 1000))", "predicate_columns": ["time"]}

-- name: from_milliseconds of a constant is a constant
-- input
SELECT host FROM db.t WHERE time >= from_milliseconds(1700000000000)
-- sql
SELECT host FROM t0 AS t WHERE time >= CAST('2023-11-14 22:13:20.000000000' AS TIMESTAMP_NS)
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["host", "time"], "start_ns": 1700000000000000000, "end_ns": null, "predicate": "time >= CAST('2023-11-14 22:13:20.000000000' AS TIMESTAMP_NS)", "predicate_columns": ["time"]}

-- name: a comparison with a column gives no bound
-- input
SELECT host FROM db.t WHERE time > other_time
-- sql
SELECT host FROM t0 AS t WHERE time > other_time
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["host", "other_time", "time"], "start_ns": null, "end_ns": null, "predicate": "time > other_time", "predicate_columns": ["other_time", "time"]}

-- name: a qualified time column bounds its table
-- input
SELECT x.host FROM db.t AS x WHERE x.time >= ago(10m)
-- sql
SELECT x.host FROM t0 AS x WHERE x.time >= CAST('2026-11-22 09:50:00.123456789' AS TIMESTAMP_NS)
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["host", "time"], "start_ns": 1795341000123456789, "end_ns": null, "predicate": "time >= CAST('2026-11-22 09:50:00.123456789' AS TIMESTAMP_NS)", "predicate_columns": ["time"]}

-- name: time bounds in a CTE bound that CTE's table
-- input
WITH recent AS (SELECT host, time FROM db.t WHERE time > ago(1d)) SELECT host, max(time) FROM recent GROUP BY host
-- sql
WITH recent AS (SELECT host, time FROM t0 AS t WHERE time > CAST('2026-11-21 10:00:00.123456789' AS TIMESTAMP_NS)) SELECT host, MAX(time) AS "_col1" FROM recent GROUP BY host
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["host", "time"], "start_ns": 1795255200123456790, "end_ns": null, "predicate": "time > CAST('2026-11-21 10:00:00.123456789' AS TIMESTAMP_NS)", "predicate_columns": ["time"]}

-- name: each side of a union gets its own bounds
-- input
SELECT host FROM db.t WHERE time > ago(1h) UNION ALL SELECT host FROM db.t WHERE time > ago(2h)
-- sql
SELECT host FROM t0 AS t WHERE time > CAST('2026-11-22 09:00:00.123456789' AS TIMESTAMP_NS) UNION ALL SELECT host FROM t1 AS t WHERE time > CAST('2026-11-22 08:00:00.123456789' AS TIMESTAMP_NS)
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["host", "time"], "start_ns": 1795338000123456790, "end_ns": null, "predicate": "time > CAST('2026-11-22 09:00:00.123456789' AS TIMESTAMP_NS)", "predicate_columns": ["time"]}
{"view": "t1", "database": "db", "table": "t", "columns": ["host", "time"], "start_ns": 1795334400123456790, "end_ns": null, "predicate": "time > CAST('2026-11-22 08:00:00.123456789' AS TIMESTAMP_NS)", "predicate_columns": ["time"]}

-- name: joined tables get no bounds even when the WHERE names them
-- input
SELECT a.host FROM db.t a JOIN db.u b ON a.host = b.host WHERE a.time > ago(1h) AND b.time > ago(1h)
-- sql
SELECT a.host FROM t0 AS a JOIN t1 AS b ON a.host = b.host WHERE a.time > CAST('2026-11-22 09:00:00.123456789' AS TIMESTAMP_NS) AND b.time > CAST('2026-11-22 09:00:00.123456789' AS TIMESTAMP_NS)
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["host", "time"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}
{"view": "t1", "database": "db", "table": "u", "columns": ["host", "time"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}
