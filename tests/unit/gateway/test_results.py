"""Arrow results rendered in Timestream's Query shapes."""

from __future__ import annotations

import json

import pyarrow as pa

from services.gateway import results
from services.query.results import aws_column_info


def test_nested_columns_render_as_array_and_row_values_with_nulls_at_every_level() -> None:
    row_type = pa.struct([("name", pa.string()), ("n", pa.int64())])
    table = pa.table({
        "tags": pa.array([["a", None], None, []], pa.list_(pa.string())),
        "dims": pa.array([[{"name": "x", "n": 1}], [None], [{"name": None, "n": 2**62 + 1}]], pa.list_(row_type)),
    })
    info = aws_column_info(table.schema)
    assert info[1] == {"Name": "dims", "Type": {"ArrayColumnInfo": {"Type": {"RowColumnInfo": [
        {"Name": "name", "Type": {"ScalarType": "VARCHAR"}}, {"Name": "n", "Type": {"ScalarType": "BIGINT"}}]}}}}
    rows = json.loads(results.rows_json(table))
    assert rows[0]["Data"][0] == {"ArrayValue": [{"ScalarValue": "a"}, {"NullValue": True}]}
    assert rows[1]["Data"][0] == {"NullValue": True}
    assert rows[2]["Data"][0] == {"ArrayValue": []}
    assert rows[1]["Data"][1] == {"ArrayValue": [{"NullValue": True}]}
    assert rows[2]["Data"][1] == {"ArrayValue": [{"RowValue": {"Data": [
        {"NullValue": True}, {"ScalarValue": str(2**62 + 1)}]}}]}


def test_a_sliced_page_renders_its_own_rows() -> None:
    table = pa.table({"v": pa.array([[1], [2, 3], [4]], pa.list_(pa.int32())),
                      "t": pa.array([0, 1_500_000_000, None], pa.timestamp("ns"))}).slice(1, 2)
    assert json.loads(results.rows_json(table)) == [
        {"Data": [{"ArrayValue": [{"ScalarValue": "2"}, {"ScalarValue": "3"}]},
                  {"ScalarValue": "1970-01-01 00:00:01.500000000"}]},
        {"Data": [{"ArrayValue": [{"ScalarValue": "4"}]}, {"NullValue": True}]}]


def test_scalar_text_is_escaped_as_json_and_a_table_without_columns_still_has_its_rows() -> None:
    table = pa.table({"s": pa.array(['quote " back \\ newline \n é', None]), "b": pa.array([True, False]),
                      "d": pa.array([0.1, float("nan")])})
    assert json.loads(results.rows_json(table)) == [
        {"Data": [{"ScalarValue": 'quote " back \\ newline \n é'}, {"ScalarValue": "true"}, {"ScalarValue": "0.1"}]},
        {"Data": [{"NullValue": True}, {"ScalarValue": "false"}, {"ScalarValue": "NaN"}]}]
    assert json.loads(results.rows_json(pa.table({"x": [1, 2]}).select([]))) == [{"Data": []}, {"Data": []}]
