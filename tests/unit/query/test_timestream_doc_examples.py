"""The examples of the Timestream for LiveAnalytics developer guide ("Query language reference" pages), each
with the result the guide prints for it, run through the translator and DuckDB as the coordinator runs them.

A guide's result is written as Timestream's console shows it (``[ 1,2,3 ]``, ``2022-07-07``,
``0 00:00:00.042800000``); here it is the Python value DuckDB returns for the same answer (a list, a
``datetime.date``, …), or its VARCHAR cast where the guide's text is the point (intervals)."""

from __future__ import annotations

import datetime
from typing import Any

import duckdb
import pytest

from tessera.errors import ValidationError
from tests.unit.query.test_translate_semantics import NOW_NS, run

D = datetime.date
T = datetime.datetime

ARRAY_FUNCTIONS = [
    ("array_distinct(ARRAY[1,2,2,3])", [1, 2, 3]),
    ("array_intersect(ARRAY[1,2,3], ARRAY[3,4,5])", [3]),
    ("array_union(ARRAY[1,2,3], ARRAY[3,4,5])", [1, 2, 3, 4, 5]),
    ("array_except(ARRAY[1,2,3], ARRAY[3,4,5])", [1, 2]),
    ("array_join(ARRAY[1,2,3], ';', '')", "1;2;3"),
    ("array_max(ARRAY[1,2,3])", 3),
    ("array_min(ARRAY[1,2,3])", 1),
    ("array_position(ARRAY[3,4,5,9], 5)", 3),
    ("array_remove(ARRAY[3,4,5,9], 4)", [3, 5, 9]),
    ("array_sort(ARRAY[6,8,2,9,3])", [2, 3, 6, 8, 9]),
    ("arrays_overlap(ARRAY[6,8,2,9,3], ARRAY[6,8])", True),
    ("cardinality(ARRAY[6,8,2,9,3])", 5),
    ("concat(ARRAY[6,8,2,9,3], ARRAY[11,32], ARRAY[6,8,2,0,14])", [6, 8, 2, 9, 3, 11, 32, 6, 8, 2, 0, 14]),
    ("element_at(ARRAY[6,8,2,9,3], 1)", 6),
    ("repeat(1, 3)", [1, 1, 1]),
    ("reverse(ARRAY[6,8,2,9,3])", [3, 9, 2, 8, 6]),
    ("sequence(3, 8)", [3, 4, 5, 6, 7, 8]),
    ("sequence(3, 15, 2)", [3, 5, 7, 9, 11, 13, 15]),
    # Text bounds are read as timestamps (DuckDB could not choose an epoch_ns overload for text).
    ("sequence('2023-04-02 19:26:12.941000000', '2023-04-06 19:26:12.941000000', 1d)",
     [T(2023, 4, d, 19, 26, 12, 941000) for d in range(2, 7)]),
    ("sequence('2023-04-02 19:26:12.941000000', '2023-04-10 19:26:12.941000000', 2d)",
     [T(2023, 4, d, 19, 26, 12, 941000) for d in range(2, 11, 2)]),
    ("array_sort(shuffle(ARRAY[6,8,2,9,3]))", [2, 3, 6, 8, 9]),  # a permutation: random, so sorted here
    ("slice(ARRAY[6,8,2,9,3], 1, 3)", [6, 8, 2]),
    ("zip(ARRAY[6,8,2,9,3], ARRAY[15,24])", [(6, 15), (8, 24), (2, None), (9, None), (3, None)]),
]

REGEX_FUNCTIONS = [
    ("regexp_extract_all('example expect complex', 'ex\\w')", ["exa", "exp"]),
    ("regexp_extract_all('example expect complex', '(ex)(\\w)', 2)", ["a", "p"]),
    ("regexp_extract('example expect', 'ex\\w')", "exa"),
    ("regexp_extract('example expect', '(ex)(\\w)', 2)", "a"),
    ("regexp_like('example', 'ex')", True),
    ("regexp_replace('example expect', 'expect')", "example "),
    ("regexp_replace('example expect', 'expect', 'surprise')", "example surprise"),
    ("regexp_replace('example', '(\\w)', x -> upper(x[1]))", "EXAMPLE"),
    ("regexp_split('example', 'x')", ["e", "ample"]),
]

BITWISE_FUNCTIONS = [
    ("bit_count(19, 8)", 3),
    ("bitwise_and(12, 7)", 4),
    ("bitwise_not(12)", -13),
    ("bitwise_or(12, 7)", 15),
    ("bitwise_xor(12, 7)", 11),
]

DATE_TIME_OPERATORS = [
    ("date '2022-05-21' + interval '2' day", D(2022, 5, 23)),
    ("date '2022-05-21' + 2d", D(2022, 5, 23)),
    ("date '2022-05-21' + 2day", D(2022, 5, 23)),
    ("CAST(interval '4' year + interval '2' month AS VARCHAR)", "4-2"),
    ("typeof(interval '4' year + interval '2' month)", "interval year to month"),
    ("typeof(date '2022-05-21' + interval '2' day)", "date"),
    ("CAST(interval '2' year + interval '4' month AS VARCHAR)", "2-4"),
    ("typeof(interval '2' year + interval '4' month)", "interval year to month"),
    ("timestamp '2022-06-17 01:00' - interval '7' hour", T(2022, 6, 16, 18, 0)),
    ("typeof(timestamp '2022-06-17 01:00' - interval '7' hour)", "timestamp"),
    ("CAST(interval '6' day - interval '4' hour AS VARCHAR)", "5 20:00:00.000000000"),
    ("typeof(interval '6' day - interval '4' hour)", "interval day to second"),
]

DATE_TIME_FUNCTIONS = [
    # General and conversion (the clock is the test's NOW_NS, 2026-11-22 10:00:00.123456789).
    ("current_date", D(2026, 11, 22)),
    ("current_timezone()", "UTC"),
    ("date(TIMESTAMP '2022-07-07 17:44:43.771000000')", D(2022, 7, 7)),
    ("last_day_of_month(TIMESTAMP '2022-07-07 17:44:43.771000000')", D(2022, 7, 31)),
    ("from_iso8601_timestamp('2022-06-17T08:04:05.000000000+05:00')", T(2022, 6, 17, 3, 4, 5)),
    ("from_iso8601_date('2022-07-17')", D(2022, 7, 17)),
    ("to_iso8601(from_iso8601_date('2022-06-17'))", "2022-06-17"),
    ("from_milliseconds(1)", T(1970, 1, 1, 0, 0, 0, 1000)),
    ("to_nanoseconds(from_nanoseconds(300000001))", 300000001),  # 1970-01-01 00:00:00.300000001
    ("from_unixtime(1)", T(1970, 1, 1, 0, 0, 1)),
    ("to_milliseconds(INTERVAL '2' DAY + INTERVAL '3' HOUR)", 183600000),
    ("to_milliseconds(TIMESTAMP '2022-06-17 17:44:43.771000000')", 1655487883771),
    ("to_nanoseconds(INTERVAL '2' DAY + INTERVAL '3' HOUR)", 183600000000000),
    ("to_nanoseconds(TIMESTAMP '2022-06-17 17:44:43.771000678')", 1655487883771000678),
    # 1.6554878837710001E9: the epoch nanoseconds over 10**9 (milliseconds / 1000 give 1.655487883771E9).
    ("to_unixtime('2022-06-17 17:44:43.771000000')", 1.6554878837710001E9),
    ("date_trunc('minute', TIMESTAMP '2022-06-17 17:44:43.771000000')", T(2022, 6, 17, 17, 44)),
    # Interval and duration.
    ("date_add('hour', 9, TIMESTAMP '2022-06-17 00:00:00')", T(2022, 6, 17, 9, 0)),
    ("date_diff('day', DATE '2020-03-01', DATE '2020-03-02')", 1),
    ("CAST(parse_duration('42.8ms') AS VARCHAR)", "0 00:00:00.042800000"),
    ("typeof(parse_duration('42.8ms'))", "interval day to second"),
    ("bin(TIMESTAMP '2022-06-17 10:15:20', 5m)", T(2022, 6, 17, 10, 15)),
    ("bin(TIMESTAMP '2022-06-17 10:15:20', 1d)", T(2022, 6, 17)),
    ("bin(TIMESTAMP '2022-06-17 10:15:20', 10day)", T(2022, 6, 17)),
    ("bin(TIMESTAMP '2022-06-17 10:15:20', 30day)", T(2022, 5, 28)),
    ("to_nanoseconds(ago(1d))", NOW_NS - 86_400 * 10**9),
    # "parse_duration('1day'), 1day, parse_duration('1d'), and 1d each return 1 00:00:00.000000000"; spaces
    # are allowed in parse_duration's text.
    ("CAST(parse_duration('1day') AS VARCHAR)", "1 00:00:00.000000000"),
    ("CAST(1day AS VARCHAR)", "1 00:00:00.000000000"),
    ("CAST(parse_duration('1d') AS VARCHAR)", "1 00:00:00.000000000"),
    ("CAST(1d AS VARCHAR)", "1 00:00:00.000000000"),
    ("CAST(parse_duration('1 day') AS VARCHAR)", "1 00:00:00.000000000"),
    ("typeof(1day)", "interval day to second"),
    # Year-to-month literals: 1year is 1-0, 12month is 1-0, 8month is 0-8.
    ("CAST(1year AS VARCHAR)", "1-0"),
    ("CAST(12month AS VARCHAR)", "1-0"),
    ("CAST(8month AS VARCHAR)", "0-8"),
    ("typeof(1year)", "interval year to month"),
    # Formatting and parsing.
    ("date_format(TIMESTAMP '2019-10-20 10:20:20', '%Y-%m-%d %H:%i:%s')", "2019-10-20 10:20:20"),
    ("date_parse('2019-10-20 10:20:20', '%Y-%m-%d %H:%i:%s')", T(2019, 10, 20, 10, 20, 20)),
    ("format_datetime(parse_datetime('1968-01-13 12', 'yyyy-MM-dd HH'), 'yyyy-MM-dd HH')", "1968-01-13 12"),
    ("parse_datetime('2019-12-29 10:10 PST', 'uuuu-LL-dd HH:mm z')", T(2019, 12, 29, 18, 10)),
    # Extraction, of text written as a timestamp as the guide writes them.
    ("extract(YEAR FROM '2019-10-12 23:10:34.000000000')", 2019),
    ("day('2019-10-12 23:10:34.000000000')", 12),
    ("day_of_month('2019-10-12 23:10:34.000000000')", 12),
    ("day_of_week('2019-10-12 23:10:34.000000000')", 6),
    ("day_of_year('2019-10-12 23:10:34.000000000')", 285),
    ("dow('2019-10-12 23:10:34.000000000')", 6),
    ("doy('2019-10-12 23:10:34.000000000')", 285),
    ("hour('2019-10-12 23:10:34.000000000')", 23),
    ("millisecond('2019-10-12 23:10:34.000000000')", 0),
    ("minute('2019-10-12 23:10:34.000000000')", 10),
    ("month('2019-10-12 23:10:34.000000000')", 10),
    ("nanosecond(current_timestamp)", 123456789),
    ("quarter('2019-10-12 23:10:34.000000000')", 4),
    ("second('2019-10-12 23:10:34.000000000')", 34),
    ("week('2019-10-12 23:10:34.000000000')", 41),
    ("week_of_year('2019-10-12 23:10:34.000000000')", 41),
    ("year('2019-10-12 23:10:34.000000000')", 2019),
    ("year_of_week('2019-10-12 23:10:34.000000000')", 2019),
    ("yow('2019-10-12 23:10:34.000000000')", 2019),
]

CONDITIONAL_AND_COMPARISON = [
    ("11.7 = ANY (VALUES 12.0, 13.5, 11.7)", True),
    ("11.7 = ANY (SELECT 12.0 UNION ALL SELECT 13.5 UNION ALL SELECT 11.7)", True),
    ("17 < ALL (VALUES 19, 20, 15)", False),
    ("17 < ALL (SELECT 19 UNION ALL SELECT 20 UNION ALL SELECT 15)", False),
    ("50 >= SOME (VALUES 53, 77, 27)", True),
    ("50 >= SOME (SELECT 53 UNION ALL SELECT 77 UNION ALL SELECT 27)", True),
    ("greatest(1, NULL, 3)", None),  # "returns NULL if any of the provided values are NULL"
    ("least(1, NULL, 3)", None),
    ("nullif(1, 1)", None),
    ("NULL IS NULL", True),
]


@pytest.mark.parametrize(("expression", "expected"), ARRAY_FUNCTIONS + REGEX_FUNCTIONS + BITWISE_FUNCTIONS
                         + DATE_TIME_OPERATORS + DATE_TIME_FUNCTIONS + CONDITIONAL_AND_COMPARISON)
def test_the_guides_example_gives_its_result(expression: str, expected: Any) -> None:
    assert run(f"SELECT {expression}") == [(expected,)]


def test_the_guides_if_example_gives_its_row() -> None:
    assert run("SELECT if(true, 'example 1'), if(false, 'example 2'), if(true, 'example 3 true', 'example 3 false'), "
               "if(false, 'example 4 true', 'example 4 false')") == [
        ("example 1", None, "example 3 true", "example 4 false")]


AGGREGATES = [
    ("arbitrary(t.c) FROM (VALUES 1, 2, 3, 4) AS t(c)", 1),
    ("array_agg(t.c) FROM (VALUES 1, 2, 3, 4) AS t(c)", [1, 2, 3, 4]),
    ("avg(t.c) FROM (VALUES 1, 2, 3, 4) AS t(c)", 2.5),
    ("bool_and(t.c) FROM (VALUES true, true, false, true) AS t(c)", False),
    ("every(t.c) FROM (VALUES true, true, false, true) AS t(c)", False),
    ("bool_or(t.c) FROM (VALUES true, true, false, true) AS t(c)", True),
    ("count(t.c) FROM (VALUES true, true, false, true) AS t(c)", 4),
    ("count_if(t.c) FROM (VALUES true, true, false, true) AS t(c)", 3),
    ("geometric_mean(t.c) FROM (VALUES 1, 2, 3, 4) AS t(c)", 2.213363839400643),
    ("max_by(t.c1, t.c2) FROM (VALUES (('a', 1)), (('b', 2)), (('c', 3)), (('d', 4))) AS t(c1, c2)", "d"),
    ("max_by(t.c1, t.c2, 2) FROM (VALUES (('a', 1)), (('b', 2)), (('c', 3)), (('d', 4))) AS t(c1, c2)", ["d", "c"]),
    ("min_by(t.c1, t.c2) FROM (VALUES (('a', 1)), (('b', 2)), (('c', 3)), (('d', 4))) AS t(c1, c2)", "a"),
    ("min_by(t.c1, t.c2, 2) FROM (VALUES (('a', 1)), (('b', 2)), (('c', 3)), (('d', 4))) AS t(c1, c2)", ["a", "b"]),
    ("max(t.c) FROM (VALUES 1, 2, 3, 4) AS t(c)", 4),
    ("max(t.c, 2) FROM (VALUES 1, 2, 3, 4) AS t(c)", [4, 3]),
    ("min(t.c) FROM (VALUES 1, 2, 3, 4) AS t(c)", 1),
    ("min(t.c, 2) FROM (VALUES 1, 2, 3, 4) AS t(c)", [1, 2]),
    ("sum(t.c) FROM (VALUES 1, 2, 3, 4) AS t(c)", 10),
    ("bitwise_and_agg(t.c) FROM (VALUES 12, 7) AS t(c)", 4),
    ("bitwise_or_agg(t.c) FROM (VALUES 12, 7) AS t(c)", 15),
]


@pytest.mark.parametrize(("aggregate", "expected"), AGGREGATES)
def test_the_guides_aggregate_example_gives_its_result(aggregate: str, expected: Any) -> None:
    assert run(f"SELECT {aggregate}") == [(expected,)]


@pytest.mark.parametrize(("expression", "message"), [
    # The guide's own error: "19 can not be represented with 2 bits".
    ("bit_count(19, 2)", "19 cannot be represented with 2 bits"),
])
def test_the_guides_error_examples_are_errors(expression: str, message: str) -> None:
    with pytest.raises((duckdb.Error, ValidationError), match=message):
        run(f"SELECT {expression}")
