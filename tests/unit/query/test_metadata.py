"""Parsing of the metadata statements and their LIKE patterns."""

from __future__ import annotations

import pytest

from services.query.metadata import Statement, like_matcher, parse
from tessera.errors import ValidationError


@pytest.mark.parametrize(("sql", "expected"), [
    ("SHOW DATABASES", Statement("databases")),
    ("show databases like 'a%' ;", Statement("databases", like="a%")),
    ('SHOW TABLES FROM "my-db"', Statement("tables", "my-db")),
    ("SHOW TABLES IN db LIKE 'it''s'", Statement("tables", "db", like="it's")),
    ('SHOW MEASURES FROM "d"."t-1" LIKE \'cpu_%\'', Statement("measures", "d", "t-1", "cpu_%")),
    ('DESCRIBE "a""b"."c"', Statement("describe", 'a"b', "c")),
    ("-- a dashboard's comment\n/* and another */ SHOW DATABASES", Statement("databases")),
    ("SELECT 1", None),
    ("  select * from showcase.t", None),
])
def test_statements_parse(sql: str, expected: Statement | None) -> None:
    assert parse(sql) == expected


@pytest.mark.parametrize("sql", ["SHOW TABLES", "SHOW COLUMNS FROM t", "DESCRIBE t", "SHOW MEASURES FROM db"])
def test_malformed_statements_are_refused_with_what_is_supported(sql: str) -> None:
    with pytest.raises(ValidationError, match="SHOW"):
        parse(sql)


def test_like_is_sqls_and_case_sensitive() -> None:
    matches = like_matcher("cpu_%.x")
    assert matches("cpu1.x") and matches("cpu12abc.x") and not matches("cpu.x") and not matches("CPU1.x")
    assert like_matcher(None)("anything")
