-- Queries the translator rejects with a ValidationError.

-- name: an empty query is rejected
-- input
-- error
QueryString is empty

-- name: a comment-only query holds no statement
-- input
-- just a comment
-- error
QueryString holds no statement

-- name: a syntax error names line and column
-- input
SELECT host
FROM db.t WHERE
-- error
syntax error at line 2, col 15: Required keyword: 'this' missing for Where

-- name: an INSERT is rejected
-- input
INSERT INTO db.t VALUES (1)
-- error
only SELECT queries are supported, got INSERT

-- name: row pattern matching is refused by name (sqlglot reads it; DuckDB's writer could not)
-- input
SELECT * FROM db.t MATCH_RECOGNIZE (PARTITION BY host)
-- error
MATCH_RECOGNIZE (row pattern matching) is not supported: Timestream's SQL does not have it

-- name: a time zone other than UTC is refused (DuckDB would read the time as local to it: another instant)
-- input
SELECT time AT TIME ZONE 'America/New_York' FROM db.t
-- error
AT TIME ZONE 'America/New_York' is not supported: every time in Timestream is UTC, and only 'UTC' may be named

-- name: an UPDATE is rejected
-- input
UPDATE db.t SET host = 'a'
-- error
only SELECT queries are supported, got UPDATE

-- name: a DELETE is rejected
-- input
DELETE FROM db.t
-- error
only SELECT queries are supported, got DELETE

-- name: a CREATE TABLE is rejected
-- input
CREATE TABLE db.t (x int)
-- error
only SELECT queries are supported, got CREATE

-- name: a DROP TABLE is rejected
-- input
DROP TABLE db.t
-- error
only SELECT queries are supported, got DROP

-- name: two statements are rejected
-- input
SELECT 1; SELECT 2
-- error
QueryString holds 2 statements; send exactly one

-- name: a one-part table name is rejected
-- input
SELECT host FROM t
-- error
table reference t must be database.table, e.g. "my-database"."my-table"

-- name: a three-part table name is rejected
-- input
SELECT host FROM c.db.t
-- error
table reference c.db.t must be database.table, e.g. "my-database"."my-table"

-- name: an unterminated string is a syntax error
-- input
SELECT 'abc FROM db.t
-- error
syntax error: Error tokenizing 'SELECT 'abc FROM db.'
