"""Final-stage result columns carry Timestream's types: integer sums and count_if are BIGINT, decimals DOUBLE."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from services.query.result_types import timestream_typed


def _run(sql: str) -> pa.Table:
    return timestream_typed(duckdb.connect().sql(sql)).to_arrow_table()


def test_integer_sums_and_count_if_are_bigint_and_decimals_double_with_names_and_order_kept() -> None:
    table = _run('SELECT sum(x) AS "a""b", count_if(x > 1) AS n, 1.5 AS d, round(2.567, 2) AS r, x AS "a""b" '
                 "FROM (VALUES (1::BIGINT), (2), (3)) t(x) GROUP BY x ORDER BY x DESC")
    assert table.schema.names == ['a"b', "n", "d", "r", 'a"b']
    assert [f.type for f in table.schema] == [pa.int64(), pa.int64(), pa.float64(), pa.float64(), pa.int64()]
    assert table.column(0).to_pylist() == [3, 2, 1]  # ORDER BY survives the cast
    assert table.column(3).to_pylist() == [2.57, 2.57, 2.57]


def test_a_sum_beyond_bigint_is_an_error_not_a_wrapped_value() -> None:
    with pytest.raises(duckdb.ConversionException):
        _run("SELECT sum(x) FROM (VALUES (9223372036854775807::BIGINT), (1)) t(x)")


def test_a_relation_without_such_columns_is_returned_as_is() -> None:
    rel = duckdb.connect().sql("SELECT 1::BIGINT AS a, 'x' AS b")
    assert timestream_typed(rel) is rel


def test_nested_sums_and_decimals_are_converted_inside_arrays_and_rows() -> None:
    table = _run("SELECT [sum(x)] AS a, {'k': sum(x), 'd': 1.5} AS s, [1.5, 2.5] AS l "
                 "FROM (VALUES (1::BIGINT), (2)) t(x)")
    a, s, lst = (f.type for f in table.schema)
    assert a.value_type == pa.int64() and lst.value_type == pa.float64()
    assert [(f.name, f.type) for f in s] == [("k", pa.int64()), ("d", pa.float64())]
    assert table.to_pylist() == [{"a": [3], "s": {"k": 3, "d": 1.5}, "l": [1.5, 2.5]}]
