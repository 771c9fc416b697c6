"""Last-point pushdown: which queries need only each series' newest rows (services.query.latest_rows)."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from services.query.dialect import Timestream
from services.query.latest_rows import LatestRows, detect


def _detect(sql: str, all_pushed: bool = True) -> LatestRows | None:
    root = sqlglot.parse_one(sql, read=Timestream)
    (table,) = [t for t in root.find_all(exp.Table) if t.args.get("db")]
    return detect(table.find_ancestor(exp.Select), table, all_pushed)


INNER = 'SELECT time, host, cpu, {fn} OVER (PARTITION BY {by} ORDER BY time DESC) AS rn FROM "db"."t"'


@pytest.mark.parametrize(("sql", "expected"), [
    (f"SELECT * FROM ({INNER.format(fn='row_number()', by='host')}) WHERE rn = 1", LatestRows(1, ("host",))),
    (f"SELECT host, cpu FROM ({INNER.format(fn='rank()', by='host, region')}) s WHERE s.rn <= 3 AND cpu > 1",
     LatestRows(3, ("host", "region"))),
    (f"SELECT * FROM ({INNER.format(fn='dense_rank()', by='measure_name')}) WHERE 5 > rn", LatestRows(4, ("measure_name",))),
    (f"WITH last AS ({INNER.format(fn='row_number()', by='host')}) SELECT * FROM last WHERE rn = 2",
     LatestRows(2, ("host",))),
    (('SELECT * FROM (SELECT *, row_number() OVER (ORDER BY time DESC, cpu) AS rn FROM "db"."t" '
     "WHERE time > ago(1h)) WHERE rn = 1"), LatestRows(1, (), "rn")),
    ((f"SELECT * FROM ({INNER.format(fn='row_number()', by='host')}) x JOIN (SELECT 1 AS k) y ON true "
     "WHERE x.rn = 1"), LatestRows(1, ("host",))),
])
def test_a_rank_filter_over_time_descending_needs_only_the_newest_rows_of_each_series(
        sql: str, expected: LatestRows) -> None:
    assert _detect(sql) == expected


@pytest.mark.parametrize("sql", [
    # Rows the rank filter drops are seen by something else.
    f"SELECT * FROM ({INNER.format(fn='row_number()', by='host')}) WHERE rn >= 1",
    f"SELECT *, (SELECT 1) FROM ({INNER.format(fn='row_number()', by='host')})",
    ('SELECT * FROM (SELECT host, count(*) OVER (PARTITION BY host) AS n, row_number() OVER (PARTITION BY host '
    'ORDER BY time DESC) AS rn FROM "db"."t") WHERE rn = 1'),
    ('SELECT * FROM (SELECT host, max(cpu) AS m, row_number() OVER (PARTITION BY host ORDER BY time DESC) AS rn '
    'FROM "db"."t" GROUP BY host, time) WHERE rn = 1'),
    ('SELECT * FROM (SELECT DISTINCT host, time, row_number() OVER (PARTITION BY host ORDER BY time DESC) AS rn '
    'FROM "db"."t") WHERE rn = 1'),
    (f"WITH last AS ({INNER.format(fn='row_number()', by='host')}) SELECT * FROM last a JOIN last b ON true "
    "WHERE a.rn = 1"),
    # Not the newest first, or not a ranking.
    f"SELECT * FROM ({INNER.format(fn='row_number()', by='host').replace('time DESC', 'time')}) WHERE rn = 1",
    f"SELECT * FROM ({INNER.format(fn='row_number()', by='host').replace('time DESC', 'cpu DESC')}) WHERE rn = 1",
    f"SELECT * FROM ({INNER.format(fn='ntile(2)', by='host')}) WHERE rn = 1",
    ('SELECT * FROM (SELECT bin(time, 1h) AS time, row_number() OVER (PARTITION BY host ORDER BY time DESC) AS rn '
    'FROM "db"."t") WHERE rn = 1'),
    # A partition by an expression, and a rank filter that cannot be read.
    f"SELECT * FROM ({INNER.format(fn='row_number()', by='lower(host)')}) WHERE rn = 1",
    f"SELECT * FROM ({INNER.format(fn='row_number()', by='host')}) x JOIN (SELECT 1 AS rn) y ON true WHERE rn = 1",
    f"SELECT * FROM ({INNER.format(fn='row_number()', by='host')}) WHERE rn = 1 OR cpu > 3",
    f"SELECT * FROM ({INNER.format(fn='row_number()', by='host')}) WHERE rn <= 5000",
    # Columns renamed by position, or the rank's name given to another output column too.
    f"SELECT * FROM ({INNER.format(fn='row_number()', by='host')}) AS s(host, rn, k, x) WHERE rn <= 3",
    f"WITH x(rn, h, c, r) AS ({INNER.format(fn='row_number()', by='host')}) SELECT * FROM x WHERE rn = 1",
    f"WITH x AS ({INNER.format(fn='row_number()', by='host')}) SELECT * FROM x AS y(a, b, c, rn) WHERE rn = 1",
    ('SELECT * FROM (SELECT host, cpu, row_number() OVER (PARTITION BY host ORDER BY time DESC) AS cpu FROM '
     '"db"."t") WHERE cpu <= 3'),
    ('SELECT * FROM (SELECT 7 AS rn, row_number() OVER (PARTITION BY host ORDER BY time DESC) AS RN FROM '
     '"db"."t") WHERE rn <= 3'),
    # The window's SELECT joins, or reads the table in a plain query.
    ('SELECT * FROM (SELECT t.time, row_number() OVER (PARTITION BY t.host ORDER BY t.time DESC) AS rn '
    'FROM "db"."t" t JOIN (SELECT 1 AS k) u ON true) WHERE rn = 1'),
    'SELECT host, max(time) FROM "db"."t" GROUP BY host',
])
def test_anything_else_reads_every_row(sql: str) -> None:
    assert _detect(sql) is None


def test_with_a_star_the_rank_name_is_left_for_the_caller_to_check_against_the_table() -> None:
    sql = ('SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY host ORDER BY time DESC) AS rn FROM "db"."t") '
           "WHERE rn = 1")
    assert _detect(sql) == LatestRows(1, ("host",), "rn")


def test_a_where_conjunct_left_to_the_final_stage_stops_the_pushdown() -> None:
    sql = f"SELECT * FROM ({INNER.format(fn='row_number()', by='host')} WHERE cpu > 1) WHERE rn = 1"
    assert _detect(sql, all_pushed=True) == LatestRows(1, ("host",))
    assert _detect(sql, all_pushed=False) is None
