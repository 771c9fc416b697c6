"""Each peer's rendering of the TSBS devops query types, as golden strings for fixed QuerySpecs."""

from __future__ import annotations

import pytest

from loadtest.peers import influx, postgres, victoria
from loadtest.tsbs_queries import KINDS, QuerySpec

T0 = 1_451_606_400_000_000_000  # 2016-01-01T00:00:00Z
START = T0 + 8_228_646_325_123  # 02:17:08.646325123, not on a minute
HOUR = 3_600_000_000_000
ONE_HOST = QuerySpec("single-groupby-1-1-1", START, START + HOUR, ("host_9",))
FIVE_BY_TWO = QuerySpec("single-groupby-5-8-1", START, START + HOUR, ("host_9", "host_5"))
MAX_ALL = QuerySpec("cpu-max-all-1", START, START + 8 * HOUR, ("host_3",))
DOUBLE = QuerySpec("double-groupby-1", START, START + 12 * HOUR, ())
HIGH_ONE = QuerySpec("high-cpu-1", START, START + 12 * HOUR, ("host_2",))
LAST = QuerySpec("lastpoint", T0, T0 + 24 * HOUR, ())
LIMIT = QuerySpec("groupby-orderby-limit", T0, START + HOUR, ())


def test_influxql_single_groupby_uses_one_minute_buckets_exact_nanosecond_bounds_and_no_fill() -> None:
    assert influx.influxql(ONE_HOST) == (
        "SELECT max(usage_user) AS max_usage_user from cpu where (hostname = 'host_9') and "
        "time >= '2016-01-01T02:17:08.646325123Z' and time < '2016-01-01T03:17:08.646325123Z' "
        "group by time(1m) fill(none)")


def test_influxql_ors_the_hosts_and_aliases_every_aggregate() -> None:
    q = influx.influxql(FIVE_BY_TWO)
    assert q.startswith("SELECT max(usage_user) AS max_usage_user, max(usage_system) AS max_usage_system, ")
    assert "max(usage_iowait) AS max_usage_iowait from cpu where (hostname = 'host_9' or hostname = 'host_5')" in q


def test_influxql_double_groupby_groups_by_hour_and_hostname_with_mean() -> None:
    assert influx.influxql(DOUBLE) == (
        "SELECT mean(usage_user) AS mean_usage_user from cpu where time >= '2016-01-01T02:17:08.646325123Z' and "
        "time < '2016-01-01T14:17:08.646325123Z' group by time(1h),hostname fill(none)")


def test_influxql_cpu_max_all_uses_hour_buckets_and_all_ten_fields() -> None:
    q = influx.influxql(MAX_ALL)
    assert q.count("max(") == 10 and q.endswith("group by time(1h) fill(none)")


def test_influxql_high_cpu_lastpoint_and_groupby_orderby_limit_follow_tsbs() -> None:
    assert influx.influxql(HIGH_ONE) == (
        "SELECT * from cpu where (hostname = 'host_2') and usage_user > 90.0 and "
        "time >= '2016-01-01T02:17:08.646325123Z' and time < '2016-01-01T14:17:08.646325123Z'")
    assert influx.influxql(LAST) == 'SELECT * from cpu group by "hostname" order by time desc limit 1'
    assert influx.influxql(LIMIT) == (
        "SELECT max(usage_user) AS max_usage_user from cpu where time < '2016-01-01T03:17:08.646325123Z' "
        "group by time(1m) fill(none) order by time desc limit 5")


def test_rfc3339_drops_a_zero_fraction() -> None:
    assert influx.rfc3339(T0) == "2016-01-01T00:00:00Z"
    assert influx.rfc3339(T0 + 500_000_000) == "2016-01-01T00:00:00.5Z"


def test_metricsql_single_groupby_is_evaluated_at_each_minute_end_minus_a_millisecond() -> None:
    q = victoria.metricsql(ONE_HOST)
    assert q is not None
    assert q.query == "max(max_over_time({__name__='cpu_usage_user', hostname=~'host_9'}[1m]) keep_metric_names) by (__name__)"
    # first bucket 02:17:00 (holds the start), last 03:17:00 (holds end - 1 ns); evaluated at bucket + 59.999 s
    assert (q.start, q.end, q.step) == ("1451614679.999", "1451618279.999", "60")
    assert q.params()["nocache"] == "1"


def test_metricsql_selects_several_metrics_by_name_regex_and_hosts_by_alternation() -> None:
    q = victoria.metricsql(FIVE_BY_TWO)
    assert q is not None and q.query == (
        "max(max_over_time({__name__=~'cpu_usage_(user|system|idle|nice|iowait)', hostname=~'host_9|host_5'}[1m]) "
        "keep_metric_names) by (__name__)")


def test_metricsql_double_groupby_averages_by_metric_and_host_per_hour() -> None:
    q = victoria.metricsql(DOUBLE)
    assert q is not None
    assert q.query == "avg(avg_over_time({__name__='cpu_usage_user'}[1h]) keep_metric_names) by (__name__, hostname)"
    assert (q.start, q.end, q.step) == ("1451617199.999", "1451660399.999", "3600")


@pytest.mark.parametrize("kind", ["high-cpu-all", "high-cpu-1", "lastpoint", "groupby-orderby-limit"])
def test_victoriametrics_has_no_query_for_the_types_tsbs_never_gave_it(kind: str) -> None:
    assert victoria.metricsql(QuerySpec(kind, START, START + HOUR, ())) is None


def test_edge_buckets_are_the_partial_first_and_last_buckets() -> None:
    assert victoria.edge_buckets(ONE_HOST) == {T0 + 2 * HOUR + 17 * 60 * 10**9, T0 + 3 * HOUR + 17 * 60 * 10**9}
    aligned = QuerySpec("single-groupby-1-1-1", T0, T0 + HOUR, ("host_1",))
    assert victoria.edge_buckets(aligned) == set()


def test_sql_single_groupby_uses_date_bin_and_microsecond_bounds_rounded_up() -> None:
    assert postgres.sql(ONE_HOST) == (
        "SELECT date_bin('1 minute', time, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS minute, "
        "max(usage_user) AS max_usage_user FROM cpu WHERE hostname IN ('host_9') AND "
        "time >= '2016-01-01 02:17:08.646326+00' AND time < '2016-01-01 03:17:08.646326+00' "
        "GROUP BY minute ORDER BY minute ASC")


def test_sql_double_groupby_is_the_flat_schema_variant() -> None:
    assert postgres.sql(DOUBLE) == (
        "SELECT date_bin('1 hour', time, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS hour, hostname, "
        "avg(usage_user) AS mean_usage_user FROM cpu WHERE time >= '2016-01-01 02:17:08.646326+00' AND "
        "time < '2016-01-01 14:17:08.646326+00' GROUP BY 1, 2 ORDER BY 1, 2")


def test_sql_high_cpu_lastpoint_and_groupby_orderby_limit_follow_tsbs() -> None:
    assert postgres.sql(HIGH_ONE) == (
        "SELECT * FROM cpu WHERE usage_user > 90.0 AND hostname IN ('host_2') AND "
        "time >= '2016-01-01 02:17:08.646326+00' AND time < '2016-01-01 14:17:08.646326+00'")
    assert postgres.sql(LAST) == "SELECT DISTINCT ON (hostname) * FROM cpu ORDER BY hostname, time DESC"
    assert postgres.sql(LIMIT) == (
        "SELECT date_bin('1 minute', time, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS minute, "
        "max(usage_user) AS max_usage_user FROM cpu WHERE time < '2016-01-01 03:17:08.646326+00' "
        "GROUP BY minute ORDER BY minute DESC LIMIT 5")


def test_a_whole_second_bound_is_not_rounded() -> None:
    assert postgres.timestamp_literal(T0) == "'2016-01-01 00:00:00+00'"


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_renders_for_influx_and_postgres(kind: str) -> None:
    hosts = tuple(f"host_{i}" for i in range(KINDS[kind].hosts))
    spec = QuerySpec(kind, START, START + HOUR, hosts)
    assert influx.influxql(spec).startswith("SELECT ")
    assert postgres.sql(spec).startswith("SELECT ")
