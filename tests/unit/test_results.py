"""Timestream shapes of query results: types, scalar strings, page sizes, tokens."""

from __future__ import annotations

import math
import time

import pyarrow as pa
import pytest

from services.query import results
from tessera import errors


def test_timestamps_render_with_nine_fraction_digits_in_utc() -> None:
    t = pa.table({"t": pa.array([1_700_000_000_123_456_789, None], pa.timestamp("ns"))})
    rows = results.to_rows(t)
    assert rows[0].data[0].scalar_value == "2023-11-14 22:13:20.123456789"
    assert rows[1].data[0].null_value


@pytest.mark.parametrize("value, text", [
    (21.5, "21.5"), (100.0, "100.0"), (0.001, "0.001"), (9999999.5, "9999999.5"), (1e7, "1.0E7"),
    (1e20, "1.0E20"), (-1.25e-5, "-1.25E-5"), (0.1 + 0.2, "0.30000000000000004"), (123456789.125, "1.23456789125E8"),
    (float("nan"), "NaN"), (float("inf"), "Infinity"), (float("-inf"), "-Infinity"), (-0.0, "-0.0"),
    (1.7976931348623157e308, "1.7976931348623157E308"),
])
def test_doubles_print_as_java_prints_them(value: float, text: str) -> None:
    assert results.java_double(value) == text
    assert math.isnan(value) or float(text) == value  # the text reads back to the same double


def test_scalar_types_follow_timestream_names() -> None:
    schema = pa.schema([("a", pa.float64()), ("b", pa.int64()), ("c", pa.string()), ("d", pa.bool_()),
                        ("e", pa.timestamp("us")), ("f", pa.int32()), ("g", pa.date32())])
    assert [c.type for c in results.column_info(schema)] == ["DOUBLE", "BIGINT", "VARCHAR", "BOOLEAN", "TIMESTAMP",
                                                              "INTEGER", "DATE"]


def test_a_token_resumes_only_its_own_query_and_only_valid_offsets() -> None:
    cache = results.ResultCache()
    table = pa.table({"x": list(range(10))})
    cache.put("q1", results.StoredResult(table, results.query_hash("SELECT 1"), time.monotonic(), 0, []))
    _, _, offset = cache.resume(results.next_token("q1", 5), "SELECT 1")
    assert offset == 5
    with pytest.raises(errors.ValidationError, match="different QueryString"):
        cache.resume(results.next_token("q1", 5), "SELECT 2")
    with pytest.raises(errors.ValidationError, match="Invalid pagination token"):
        cache.resume(results.next_token("q1", 11), "SELECT 1")
    with pytest.raises(errors.ValidationError, match="Invalid pagination token"):
        cache.resume("not-a-token", "SELECT 1")


def test_pages_hold_at_most_max_rows() -> None:
    table = pa.table({"x": list(range(2500))})
    assert results.page_rows(table, 0, 7, arrow=False) == 7
    assert results.page_rows(table, 0, 0, arrow=False) == 1000
    assert results.page_rows(table, 2495, 0, arrow=False) == 5
