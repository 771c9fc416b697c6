-- Scan columns and the WHERE conjuncts a storage node can evaluate on a table's raw rows.

-- name: unqualified columns of the scope are requested
-- input
SELECT region, avg(cpu) AS avg_cpu FROM db.t WHERE host = 'a' GROUP BY region HAVING avg(cpu) > 1 ORDER BY avg_cpu DESC LIMIT 10
-- sql
SELECT region, AVG(cpu) AS avg_cpu FROM t0 AS t WHERE host = 'a' GROUP BY region HAVING AVG(cpu) > 1 ORDER BY avg_cpu DESC LIMIT 10
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["cpu", "host", "region"], "start_ns": null, "end_ns": null, "predicate": "host = 'a'", "predicate_columns": ["host"]}

-- name: select star requests every column
-- input
SELECT * FROM db.t WHERE host = 'a'
-- sql
SELECT * FROM t0 AS t WHERE host = 'a'
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": null, "start_ns": null, "end_ns": null, "predicate": "host = 'a'", "predicate_columns": ["host"]}

-- name: count star reads only time to keep the row count
-- input
SELECT count(*) FROM db.t
-- sql
SELECT COUNT(*) AS "_col0" FROM t0 AS t
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["time"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}

-- name: qualified star requests every column of that table only
-- input
SELECT a.*, b.v FROM db.t a JOIN db.u b ON a.host = b.host
-- sql
SELECT a.*, b.v FROM t0 AS a JOIN t1 AS b ON a.host = b.host
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": null, "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}
{"view": "t1", "database": "db", "table": "u", "columns": ["host", "v"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}

-- name: comparisons, IN, LIKE, IS NULL and BETWEEN are pushed down
-- input
SELECT host FROM db.t WHERE cpu >= 1.5 AND host IN ('a', 'b') AND region LIKE 'us-%' AND az IS NULL AND cpu BETWEEN 0 AND 100 AND NOT (host = 'c')
-- sql
SELECT host FROM t0 AS t WHERE cpu >= CAST(1.5 AS DOUBLE) AND host IN ('a', 'b') AND region LIKE 'us-%' AND az IS NULL AND cpu BETWEEN 0 AND 100 AND NOT (host = 'c')
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["az", "cpu", "host", "region"], "start_ns": null, "end_ns": null, "predicate": "cpu >= CAST(1.5 AS DOUBLE) AND host IN ('a', 'b') AND region LIKE 'us-%' AND az IS NULL AND cpu BETWEEN 0 AND 100 AND NOT (host = 'c')", "predicate_columns": ["az", "cpu", "host", "region"]}

-- name: an OR conjunct is pushed whole, parenthesised
-- input
SELECT host FROM db.t WHERE (host = 'a' OR cpu > 2) AND region = 'eu'
-- sql
SELECT host FROM t0 AS t WHERE (host = 'a' OR cpu > 2) AND region = 'eu'
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["cpu", "host", "region"], "start_ns": null, "end_ns": null, "predicate": "(host = 'a' OR cpu > 2) AND region = 'eu'", "predicate_columns": ["cpu", "host", "region"]}

-- name: subqueries, aggregates and random are not pushed down
-- input
SELECT host FROM db.t WHERE host IN (SELECT host FROM db.u) AND random() < 0.5 AND cpu > 1
-- sql
SELECT host FROM t0 AS t WHERE host IN (SELECT host FROM t1 AS u) AND RANDOM() < CAST(0.5 AS DOUBLE) AND cpu > 1
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["cpu", "host"], "start_ns": null, "end_ns": null, "predicate": "cpu > 1", "predicate_columns": ["cpu"]}
{"view": "t1", "database": "db", "table": "u", "columns": ["host"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}

-- name: a correlated subquery pushes only always-present columns
-- input
SELECT host FROM db.t o WHERE EXISTS (SELECT 1 FROM db.u i WHERE i.host = o.host AND time > ago(1h) AND region = 'x' AND i.cpu > 3)
-- sql
SELECT host FROM t0 AS o WHERE EXISTS(SELECT 1 AS "_col0" FROM t1 AS i WHERE i.host = o.host AND time > CAST('2026-11-22 09:00:00.123456789' AS TIMESTAMP_NS) AND region = 'x' AND i.cpu > 3)
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["host", "region", "time"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}
{"view": "t1", "database": "db", "table": "u", "columns": ["cpu", "host", "region", "time"], "start_ns": 1795338000123456790, "end_ns": null, "predicate": "time > CAST('2026-11-22 09:00:00.123456789' AS TIMESTAMP_NS) AND cpu > 3", "predicate_columns": ["cpu", "time"]}

-- name: qualified columns are unqualified in the predicate
-- input
SELECT x.host FROM "db"."tbl" x WHERE x.host = 'a' AND "x"."cpu" > 1
-- sql
SELECT x.host FROM t0 AS x WHERE x.host = 'a' AND "x"."cpu" > 1
-- scans
{"view": "t0", "database": "db", "table": "tbl", "columns": ["cpu", "host"], "start_ns": null, "end_ns": null, "predicate": "host = 'a' AND \"cpu\" > 1", "predicate_columns": ["cpu", "host"]}

-- name: database-qualified columns still resolve against the view
-- input
SELECT "db"."tbl".host, tbl.cpu FROM "db"."tbl" WHERE "db"."tbl".host = 'a'
-- sql
SELECT "tbl".host, tbl.cpu FROM t0 AS "tbl" WHERE "tbl".host = 'a'
-- scans
{"view": "t0", "database": "db", "table": "tbl", "columns": ["cpu", "host"], "start_ns": null, "end_ns": null, "predicate": "host = 'a'", "predicate_columns": ["host"]}

-- name: a quoted database and table name with dashes
-- input
SELECT "my-table".host FROM "my-db"."my-table" WHERE host <> 'a'
-- sql
SELECT "my-table".host FROM t0 AS "my-table" WHERE host <> 'a'
-- scans
{"view": "t0", "database": "my-db", "table": "my-table", "columns": ["host"], "start_ns": null, "end_ns": null, "predicate": "host <> 'a'", "predicate_columns": ["host"]}

-- name: a self join gets two views and no pushdown
-- input
SELECT a.host, b.cpu FROM db.t a, db.t b WHERE a.host = b.host AND a.cpu > 1
-- sql
SELECT a.host, b.cpu FROM t0 AS a, t1 AS b WHERE a.host = b.host AND a.cpu > 1
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["cpu", "host"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}
{"view": "t1", "database": "db", "table": "t", "columns": ["cpu", "host"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}

-- name: a derived table pushes its own WHERE
-- input
SELECT host, c FROM (SELECT host, count(*) AS c FROM db.t WHERE cpu > 1 GROUP BY host) s WHERE c > 2
-- sql
SELECT host, c FROM (SELECT host, COUNT(*) AS c FROM t0 AS t WHERE cpu > 1 GROUP BY host) AS s WHERE c > 2
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["cpu", "host"], "start_ns": null, "end_ns": null, "predicate": "cpu > 1", "predicate_columns": ["cpu"]}

-- name: a CTE named like a view does not collide with the views
-- input
WITH t0 AS (SELECT host FROM db.t WHERE cpu > 1) SELECT host FROM t0
-- sql
WITH t0 AS (SELECT host FROM t1 AS t WHERE cpu > 1) SELECT host FROM t0
-- scans
{"view": "t1", "database": "db", "table": "t", "columns": ["cpu", "host"], "start_ns": null, "end_ns": null, "predicate": "cpu > 1", "predicate_columns": ["cpu"]}

-- name: a table with no WHERE gets no predicate
-- input
SELECT host, measure_name FROM db.t
-- sql
SELECT host, measure_name FROM t0 AS t
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["host", "measure_name"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}

-- name: USING columns are requested
-- input
SELECT u.v FROM db.t JOIN db.u USING (host)
-- sql
SELECT u.v FROM t0 AS t JOIN t1 AS u USING (host)
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["host"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}
{"view": "t1", "database": "db", "table": "u", "columns": ["host", "v"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}

-- name: window functions are computed after the pushed WHERE
-- input
SELECT host, rank() OVER (PARTITION BY region ORDER BY cpu DESC) AS r FROM db.t WHERE cpu > 1
-- sql
SELECT host, RANK() OVER (PARTITION BY region ORDER BY cpu DESC) AS r FROM t0 AS t WHERE cpu > 1
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["cpu", "host", "region"], "start_ns": null, "end_ns": null, "predicate": "cpu > 1", "predicate_columns": ["cpu"]}
