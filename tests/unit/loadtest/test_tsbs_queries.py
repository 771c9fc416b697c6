"""TSBS devops query specs follow TSBS's draws, and every type renders to SQL that Tessera translates."""

from __future__ import annotations

import pytest

from loadtest.tsbs import DEFAULT_START_NS, CpuOnly
from loadtest.tsbs_queries import HOUR_NS, KINDS, QuerySpec, random_specs, tessera_sql
from services.query.translate import translate

DATA = CpuOnly(scale=100)  # 24 h from 2016-01-01
WINDOWS_H = {"single-groupby-1-1-1": 1, "single-groupby-1-1-12": 12, "single-groupby-1-8-1": 1,
             "single-groupby-5-1-1": 1, "single-groupby-5-1-12": 12, "single-groupby-5-8-1": 1,
             "cpu-max-all-1": 8, "cpu-max-all-8": 8, "double-groupby-1": 12, "double-groupby-5": 12,
             "double-groupby-all": 12, "high-cpu-all": 12, "high-cpu-1": 12}
HOSTS = {"single-groupby-1-8-1": 8, "single-groupby-5-8-1": 8, "cpu-max-all-8": 8, "double-groupby-1": 0,
         "double-groupby-5": 0, "double-groupby-all": 0, "high-cpu-all": 0, "lastpoint": 0,
         "groupby-orderby-limit": 0}


def test_all_fifteen_devops_types_are_known() -> None:
    assert len(KINDS) == 15
    assert set(WINDOWS_H) | {"lastpoint", "groupby-orderby-limit"} == set(KINDS)


@pytest.mark.parametrize("kind", sorted(WINDOWS_H))
def test_each_type_draws_windows_of_its_length_inside_the_data(kind: str) -> None:
    for spec in random_specs(kind, DATA, 50, seed=1):
        assert spec.end_ns - spec.start_ns == WINDOWS_H[kind] * HOUR_NS
        assert DATA.start_ns <= spec.start_ns and spec.end_ns <= DATA.end_ns


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_type_draws_distinct_hosts_within_the_scale(kind: str) -> None:
    for spec in random_specs(kind, DATA, 50, seed=2):
        assert len(spec.hosts) == HOSTS.get(kind, 1)
        assert len(set(spec.hosts)) == len(spec.hosts)
        assert all(0 <= int(h.removeprefix("host_")) < DATA.scale for h in spec.hosts)


def test_lastpoint_spans_the_whole_data_set() -> None:
    (spec,) = random_specs("lastpoint", DATA, 1)
    assert (spec.start_ns, spec.end_ns, spec.hosts) == (DATA.start_ns, DATA.end_ns, ())


def test_groupby_orderby_limit_keeps_the_end_of_a_random_hour() -> None:
    for spec in random_specs("groupby-orderby-limit", DATA, 50):
        assert spec.start_ns == DATA.start_ns
        assert DATA.start_ns + HOUR_NS <= spec.end_ns <= DATA.end_ns


def test_the_same_seed_gives_the_same_specs_and_another_seed_does_not() -> None:
    assert random_specs("single-groupby-1-8-1", DATA, 20, 5) == random_specs("single-groupby-1-8-1", DATA, 20, 5)
    assert random_specs("single-groupby-1-8-1", DATA, 20, 5) != random_specs("single-groupby-1-8-1", DATA, 20, 6)


def test_windows_vary_between_queries() -> None:
    starts = {s.start_ns for s in random_specs("single-groupby-1-1-1", DATA, 20)}
    assert len(starts) > 15


def test_a_window_longer_than_the_data_is_shortened_to_the_data() -> None:
    two_hours = CpuOnly(scale=10, end_ns=DEFAULT_START_NS + 2 * HOUR_NS)
    (spec,) = random_specs("double-groupby-1", two_hours, 1)
    assert (spec.start_ns, spec.end_ns) == (two_hours.start_ns, two_hours.end_ns)


def test_more_hosts_than_the_scale_is_refused_with_the_flag_to_change() -> None:
    with pytest.raises(ValueError, match="--scale"):
        random_specs("cpu-max-all-8", CpuOnly(scale=4), 1)


def test_an_unknown_type_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="lastpoint"):
        random_specs("cpu-max-all-9", DATA, 1)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_type_translates_and_bounds_the_scan_by_its_window(kind: str) -> None:
    (spec,) = random_specs(kind, DATA, 1, seed=3)
    translation = translate(tessera_sql(spec, "bench", "cpu"), now_ns=DATA.end_ns)
    (scan,) = translation.scans
    assert (scan.database, scan.table) == ("bench", "cpu")
    if kind == "lastpoint":
        assert scan.start_ns is None and scan.end_ns is None
    elif kind == "groupby-orderby-limit":
        assert scan.start_ns is None and scan.end_ns == spec.end_ns
    else:
        assert (scan.start_ns, scan.end_ns) == (spec.start_ns, spec.end_ns)
    for host in spec.hosts:
        assert f"'{host}'" in scan.predicate


def test_single_groupby_renders_max_per_minute_over_the_hosts() -> None:
    spec = QuerySpec("single-groupby-1-8-1", 10, 20, ("host_1", "host_2"))
    assert tessera_sql(spec, "db", "cpu") == (
        'SELECT bin(time, 1m) AS minute, max(usage_user) AS max_usage_user FROM "db"."cpu" '
        "WHERE hostname IN ('host_1', 'host_2') AND time >= from_nanoseconds(10) AND time < from_nanoseconds(20) "
        "GROUP BY bin(time, 1m) ORDER BY minute ASC")


def test_double_groupby_renders_means_per_hour_and_host() -> None:
    sql = tessera_sql(QuerySpec("double-groupby-5", 10, 20, ()), "db", "cpu")
    assert sql.startswith("SELECT bin(time, 1h) AS hour, hostname, avg(usage_user) AS mean_usage_user, ")
    assert sql.endswith("GROUP BY bin(time, 1h), hostname ORDER BY hour, hostname")
    assert sql.count("avg(") == 5
