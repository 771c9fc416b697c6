"""The tables a query names are found without a parser, for routing it to their cell."""

from __future__ import annotations

from tessera.query_tables import named_tables


def test_from_and_join_tables_quoted_or_not_in_order_without_repeats() -> None:
    sql = '''WITH x AS (SELECT * FROM "my-db"."cpu ""1""" WHERE a = 'FROM fake.table')
             SELECT * FROM x JOIN db2.mem m ON true, -- FROM other.t
             (SELECT 1 FROM  db2 . mem) /* JOIN c.d */ LEFT JOIN "db3".t3 USING (k)'''
    assert named_tables(sql) == [("my-db", 'cpu "1"'), ("db2", "mem"), ("db3", "t3")]


def test_a_query_without_tables_names_none() -> None:
    assert named_tables("SELECT 1") == [] and named_tables("SELECT * FROM (VALUES (1)) AS v(a)") == []


def test_from_inside_expressions_is_not_a_table() -> None:
    sql = ("SELECT extract(hour FROM t.time), trim(BOTH FROM t.s), trim(' ' FROM t.s), a.x IS DISTINCT FROM b.y, "
           "a.x IS NOT DISTINCT FROM b.y FROM db.cpu t")
    assert named_tables(sql) == [("db", "cpu")]
