-- The statement shapes accepted as queries: SELECT, WITH … SELECT, set operations, parentheses.

-- name: a trailing semicolon is allowed
-- input
SELECT host FROM db.t;
-- sql
SELECT host FROM t0 AS t
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["host"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}

-- name: a parenthesised query is a query
-- input
(SELECT host FROM db.t WHERE host = 'a')
-- sql
(SELECT host FROM t0 AS t WHERE host = 'a')
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["host"], "start_ns": null, "end_ns": null, "predicate": "host = 'a'", "predicate_columns": ["host"]}

-- name: WITH several CTEs referencing each other
-- input
WITH a AS (SELECT host, cpu FROM db.t WHERE cpu > 1), b AS (SELECT host FROM a WHERE cpu < 9) SELECT count(*) FROM b
-- sql
WITH a AS (SELECT host, cpu FROM t0 AS t WHERE cpu > 1), b AS (SELECT host FROM a WHERE cpu < 9) SELECT COUNT(*) AS "_col0" FROM b
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["cpu", "host"], "start_ns": null, "end_ns": null, "predicate": "cpu > 1", "predicate_columns": ["cpu"]}

-- name: UNION, INTERSECT and EXCEPT
-- input
SELECT host FROM db.t UNION SELECT host FROM db.u INTERSECT SELECT host FROM db.v EXCEPT SELECT host FROM db.w
-- sql
SELECT host FROM t0 AS t UNION (SELECT host FROM t1 AS u INTERSECT SELECT host FROM t2 AS v) EXCEPT SELECT host FROM t3 AS w
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["host"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}
{"view": "t1", "database": "db", "table": "u", "columns": ["host"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}
{"view": "t2", "database": "db", "table": "v", "columns": ["host"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}
{"view": "t3", "database": "db", "table": "w", "columns": ["host"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}

-- name: comments are allowed
-- input
-- the busiest hosts
SELECT host /* name */ FROM db.t
-- sql
/* the busiest hosts */ SELECT host /* name */ FROM t0 AS t
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["host"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}
