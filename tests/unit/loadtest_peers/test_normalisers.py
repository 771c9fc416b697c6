"""Normalisers turn each system's answer into the same canonical rows; agree() compares them."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from loadtest.peers import canonical, compare, influx, postgres, victoria
from loadtest.tsbs import FIELDS, TAGS
from loadtest.tsbs_queries import QuerySpec

T0 = 1_451_606_400_000_000_000
MIN = 60_000_000_000
HOUR = 60 * MIN
SINGLE = QuerySpec("single-groupby-5-1-1", T0, T0 + HOUR, ("host_1",))
DOUBLE = QuerySpec("double-groupby-1", T0, T0 + 12 * HOUR, ())


def test_canonical_rows_sort_by_bucket_then_host_and_make_values_floats() -> None:
    rows = canonical("double-groupby-1", [(T0 + HOUR, "host_0", 3), (T0, "host_1", 2), (T0, "host_0", None)])
    assert rows == [(T0, "host_0", None), (T0, "host_1", 2.0), (T0 + HOUR, "host_0", 3.0)]


def test_influx_bucket_series_become_rows_of_bucket_and_values() -> None:
    answer = {"results": [{"statement_id": 0, "series": [{
        "name": "cpu", "columns": ["time", "max_usage_user", "max_usage_system", "a", "b", "c"],
        "values": [[T0 + MIN, 5, 6, 7, 8, 9], [T0, 1, 2, 3, 4, 5]]}]}]}
    assert influx.normalise(SINGLE.kind, answer) == [(T0, 1.0, 2.0, 3.0, 4.0, 5.0), (T0 + MIN, 5.0, 6.0, 7.0, 8.0, 9.0)]


def test_influx_double_groupby_takes_the_hostname_from_the_series_tags() -> None:
    answer = {"results": [{"series": [
        {"name": "cpu", "tags": {"hostname": "host_1"}, "columns": ["time", "mean_usage_user"], "values": [[T0, 1.5]]},
        {"name": "cpu", "tags": {"hostname": "host_0"}, "columns": ["time", "mean_usage_user"], "values": [[T0, 2.5]]},
    ]}]}
    assert influx.normalise("double-groupby-1", answer) == [(T0, "host_0", 2.5), (T0, "host_1", 1.5)]


def test_influx_lastpoint_and_high_cpu_pick_fields_by_name_whatever_the_column_order() -> None:
    cols = ["time", *sorted(TAGS), *sorted(FIELDS)]
    values = [T0, *[f"{t}-v" if t != "hostname" else "host_4" for t in sorted(TAGS)],
              *[float(FIELDS.index(f)) for f in sorted(FIELDS)]]
    last = {"results": [{"series": [{"name": "cpu", "tags": {"hostname": "host_4"}, "columns": cols,
                                     "values": [values]}]}]}
    assert influx.normalise("lastpoint", last) == [("host_4", T0, *[float(i) for i in range(10)])]
    high = {"results": [{"series": [{"name": "cpu", "columns": cols, "values": [values]}]}]}
    assert influx.normalise("high-cpu-all", high) == [(T0, "host_4", *[float(i) for i in range(10)])]


def test_an_empty_influx_answer_is_no_rows() -> None:
    assert influx.normalise(SINGLE.kind, {"results": [{"statement_id": 0}]}) == []


def test_victoria_series_per_metric_are_pivoted_and_shifted_back_to_bucket_starts() -> None:
    at = (T0 + MIN - 1_000_000) / 1e9  # evaluated at bucket end - 1 ms
    answer = {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"__name__": "cpu_usage_system"}, "values": [[at, "2"]]},
        {"metric": {"__name__": "cpu_usage_user"}, "values": [[at, "1"], [at + 60, "10"]]},
    ]}}
    rows = victoria.normalise(SINGLE.kind, SINGLE, answer)
    assert rows == [(T0, 1.0, 2.0, None, None, None), (T0 + MIN, 10.0, None, None, None, None)]


def test_victoria_double_groupby_keys_rows_by_bucket_and_hostname() -> None:
    at = (T0 + HOUR - 1_000_000) / 1e9
    answer = {"status": "success", "data": {"result": [
        {"metric": {"__name__": "cpu_usage_user", "hostname": "host_1"}, "values": [[at, "3.25"]]},
        {"metric": {"__name__": "cpu_usage_user", "hostname": "host_0"}, "values": [[at, "1.5"]]},
    ]}}
    assert victoria.normalise("double-groupby-1", DOUBLE, answer) == [(T0, "host_0", 1.5), (T0, "host_1", 3.25)]


def test_postgres_rows_convert_timestamptz_to_nanoseconds() -> None:
    t = dt.datetime(2016, 1, 1, 0, 1, tzinfo=dt.UTC)
    assert postgres.normalise("double-groupby-1", ["hour", "hostname", "mean_usage_user"],
                              [(t, "host_2", 4.0)]) == [(T0 + MIN, "host_2", 4.0)]
    cols = ["time", *TAGS, *FIELDS]
    row = (t, "host_3", *["x"] * 9, *range(10))
    assert postgres.normalise("lastpoint", cols, [row]) == [("host_3", T0 + MIN, *[float(i) for i in range(10)])]


def test_tessera_answers_normalise_from_arrow_with_any_timestamp_unit() -> None:
    table = pa.table({"minute": pa.array([T0 // 1000 + 60_000_000, T0 // 1000], pa.timestamp("us")),
                      "max_usage_user": pa.array([7, 5], pa.int64())})
    assert compare.normalise_tessera("single-groupby-1-1-1", table) == [(T0, 5.0), (T0 + MIN, 7.0)]
    cols = {"time": pa.array([T0], pa.timestamp("ns")), **{t: pa.array(["host_5"]) for t in TAGS},
            **{f: pa.array([float(i)]) for i, f in enumerate(FIELDS)}}
    assert compare.normalise_tessera("high-cpu-1", pa.table(cols)) == [(T0, "host_5", *[float(i) for i in range(10)])]


def test_equal_answers_agree_within_the_float_tolerance() -> None:
    a = [(T0, "host_0", 34.897222222222226)]
    assert compare.agree("double-groupby-1", a, [(T0, "host_0", 34.89722222222223)]) == []


def test_a_different_value_a_missing_row_and_an_extra_row_are_each_reported() -> None:
    expected = [(T0, 1.0), (T0 + MIN, 2.0)]
    problems = compare.agree("single-groupby-1-1-1", expected, [(T0, 1.5), (T0 + 2 * MIN, 3.0)])
    assert problems[0].startswith("1 row(s) missing, first (2016-01-01T00:01:00")
    assert problems[1].startswith("1 unexpected row(s), first (2016-01-01T00:02:00")
    assert "value 1 is 1.5, Tessera says 1.0" in problems[2]


def test_skipped_edge_buckets_are_compared_on_neither_side() -> None:
    assert compare.agree("single-groupby-1-1-1", [(T0, 1.0), (T0 + MIN, 2.0)], [(T0, 9.0), (T0 + MIN, 2.0)],
                         skip_buckets={T0}) == []


def test_a_null_only_agrees_with_a_null() -> None:
    assert compare.agree("single-groupby-1-1-1", [(T0, None)], [(T0, None)]) == []
    assert compare.agree("single-groupby-1-1-1", [(T0, None)], [(T0, 0.0)]) != []
