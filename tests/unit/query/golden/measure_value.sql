-- measure_value::<type> is one column, never a cast.

-- name: every typed measure column is an identifier
-- input
SELECT measure_value::double, measure_value::bigint, measure_value::varchar, measure_value::boolean, measure_value::timestamp FROM db.t
-- sql
SELECT "measure_value::double", "measure_value::bigint", "measure_value::varchar", "measure_value::boolean", "measure_value::timestamp" FROM t0 AS t
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["measure_value::bigint", "measure_value::boolean", "measure_value::double", "measure_value::timestamp", "measure_value::varchar"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}

-- name: typed measure columns in WHERE are pushed down with their quoted names
-- input
SELECT avg(measure_value::double) AS v FROM db.t WHERE measure_name = 'cpu' AND measure_value::double > 50
-- sql
SELECT AVG("measure_value::double") AS v FROM t0 AS t WHERE measure_name = 'cpu' AND "measure_value::double" > 50
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["measure_name", "measure_value::double"], "start_ns": null, "end_ns": null, "predicate": "measure_name = 'cpu' AND \"measure_value::double\" > 50", "predicate_columns": ["measure_name", "measure_value::double"]}

-- name: upper case spelling is normalised
-- input
SELECT MEASURE_VALUE::DOUBLE FROM db.t
-- sql
SELECT "measure_value::double" FROM t0 AS t
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["measure_value::double"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}

-- name: a qualified typed measure column keeps its qualifier in the final SQL
-- input
SELECT c.measure_value::bigint FROM db.cpu c WHERE c.measure_value::bigint = 3
-- sql
SELECT c."measure_value::bigint" FROM t0 AS c WHERE c."measure_value::bigint" = 3
-- scans
{"view": "t0", "database": "db", "table": "cpu", "columns": ["measure_value::bigint"], "start_ns": null, "end_ns": null, "predicate": "\"measure_value::bigint\" = 3", "predicate_columns": ["measure_value::bigint"]}

-- name: a cast of another column stays a cast
-- input
SELECT usage::double, measure_value :: double FROM db.t
-- sql
SELECT CAST(CASE WHEN TYPEOF((usage)) = 'VARCHAR' THEN (CASE WHEN REGEXP_FULL_MATCH(REGEXP_REPLACE(CAST((usage) AS TEXT), '^[\x00-\x20]+|[\x00-\x20]+$', '', 'g'), '[+-]?(NaN|Infinity|([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?[fFdD]?)') THEN CAST(RTRIM(REGEXP_REPLACE(CAST((usage) AS TEXT), '^[\x00-\x20]+|[\x00-\x20]+$', '', 'g'), 'fFdD') AS DOUBLE) ELSE ERROR('Cannot cast ' || '''' || CAST((usage) AS TEXT) || '''' || ' to DOUBLE') END) ELSE CAST((usage) AS DOUBLE) END AS DOUBLE) AS "_col0", CAST(CASE WHEN TYPEOF((measure_value)) = 'VARCHAR' THEN (CASE WHEN REGEXP_FULL_MATCH(REGEXP_REPLACE(CAST((measure_value) AS TEXT), '^[\x00-\x20]+|[\x00-\x20]+$', '', 'g'), '[+-]?(NaN|Infinity|([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?[fFdD]?)') THEN CAST(RTRIM(REGEXP_REPLACE(CAST((measure_value) AS TEXT), '^[\x00-\x20]+|[\x00-\x20]+$', '', 'g'), 'fFdD') AS DOUBLE) ELSE ERROR('Cannot cast ' || '''' || CAST((measure_value) AS TEXT) || '''' || ' to DOUBLE') END) ELSE CAST((measure_value) AS DOUBLE) END AS DOUBLE) AS "_col1" FROM t0 AS t
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["measure_value", "usage"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}

-- name: a quoted measure column is the same column
-- input
SELECT "measure_value::double" FROM db.t
-- sql
SELECT "measure_value::double" FROM t0 AS t
-- scans
{"view": "t0", "database": "db", "table": "t", "columns": ["measure_value::double"], "start_ns": null, "end_ns": null, "predicate": "", "predicate_columns": []}
