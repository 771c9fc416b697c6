"""Timestream's timeseries functions, translated and run in DuckDB with the coordinator's macros, against
answers computed in plain Python from the same points."""

from __future__ import annotations

import datetime
import itertools

import duckdb
import pyarrow as pa
import pytest

from services.query import trino_timeseries
from services.query.translate import translate
from tessera.sqlsession import DUCKDB_SESSION_SETTINGS

NOW_NS = 1_795_341_600_000_000_000  # 2026-11-22 10:00:00 UTC
S = 1_000_000_000
POINTS = {"a": [(0, 1.0), (10, 3.0), (30, 7.0), (45, 4.0)], "b": [(30, 5.0)]}  # seconds after T0, value
T0 = NOW_NS - 3600 * S


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    for statement in (*DUCKDB_SESSION_SETTINGS, *trino_timeseries.MACROS):
        c.execute(statement)
    rows = [(h, T0 + t * S, v) for h, points in POINTS.items() for t, v in points]
    rows.append(("a", T0 + 50 * S, None))  # a NULL value is left out of the series
    table = pa.table({"host": [r[0] for r in rows], "time": pa.array([r[1] for r in rows], pa.timestamp("ns")),
                      "cpu": pa.array([r[2] for r in rows], pa.float64())})
    c.register("t0", table)
    return c


def _run(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[object, ...]]:
    return con.execute(translate(sql, NOW_NS).sql).fetchall()


def _at(seconds: float) -> datetime.datetime:
    return datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=(T0 + seconds * S) // 1000)


def _lerp(points: list[tuple[int, float]], t: float) -> float | None:
    for (t1, v1), (t2, v2) in itertools.pairwise(points):
        if t1 <= t <= t2:
            return v1 + (v2 - v1) * (t - t1) / (t2 - t1)
    return points[0][1] if points and points[0][0] == t else None


def test_create_time_series_orders_points_and_leaves_out_nulls(con: duckdb.DuckDBPyConnection) -> None:
    rows = _run(con, 'SELECT host, create_time_series(time, cpu) FROM "db"."t" GROUP BY host ORDER BY host')
    assert [(h, [(p["time"], p["value"]) for p in ts]) for h, ts in rows] == [
        (h, [(_at(t), v) for t, v in POINTS[h]]) for h in ("a", "b")]


def test_interpolate_linear_over_a_sequence_does_not_extrapolate(con: duckdb.DuckDBPyConnection) -> None:
    rows = _run(con, "SELECT interpolate_linear(create_time_series(time, cpu), sequence(min(time) - 5s, "
                     "max(time) + 5s, 5s)) FROM \"db\".\"t\" WHERE host = 'a'")
    expected = [(_at(t), _lerp(POINTS["a"], t)) for t in range(-5, 51, 5) if _lerp(POINTS["a"], t) is not None]
    assert [p["time"] for p in rows[0][0]] == [t for t, _ in expected] and expected[-1][0] == _at(45)
    assert [p["value"] for p in rows[0][0]] == pytest.approx([v for _, v in expected])


def test_locf_and_fill_and_a_single_timestamp(con: duckdb.DuckDBPyConnection) -> None:
    sql = ("SELECT interpolate_locf(ts, sequence(min_t - 5s, min_t + 20s, 10s)), "
           "interpolate_fill(ts, sequence(min_t, min_t + 20s, 10s), -1.0), "
           "interpolate_linear(ts, min_t + 20s) "
           "FROM (SELECT create_time_series(time, cpu) AS ts, min(time) AS min_t FROM \"db\".\"t\" WHERE host = 'a')")
    locf, fill, single = _run(con, sql)[0]
    assert [(p["time"], p["value"]) for p in locf] == [(_at(5), 1.0), (_at(15), 3.0)]  # none before the first
    assert [(p["time"], p["value"]) for p in fill] == [(_at(0), 1.0), (_at(10), 3.0), (_at(20), -1.0)]
    assert single == pytest.approx(5.0)


def test_derivatives_and_the_trapezoidal_integral(con: duckdb.DuckDBPyConnection) -> None:
    sql = ("SELECT host, derivative_linear(ts, 1m), non_negative_derivative_linear(ts, 1m), "
           "integral_trapezoidal(ts), integral_trapezoidal(ts, 1m) "
           "FROM (SELECT host, create_time_series(time, cpu) AS ts FROM \"db\".\"t\" GROUP BY host) ORDER BY host")
    (_, d, nn, area_s, area_m), (_, d_b, _, area_b, _) = _run(con, sql)
    pts = POINTS["a"]
    slopes = [((t2, (v2 - v1) / (t2 - t1) * 60)) for (t1, v1), (t2, v2) in itertools.pairwise(pts)]
    assert [p["time"] for p in d] == [_at(t) for t, _ in slopes]
    assert [p["value"] for p in d] == pytest.approx([v for _, v in slopes])
    assert [(p["time"], p["value"]) for p in nn] == [(_at(t), v) for t, v in slopes if v >= 0]
    area = sum((v1 + v2) / 2 * (t2 - t1) for (t1, v1), (t2, v2) in itertools.pairwise(pts))
    assert (area_s, area_m) == pytest.approx((area, area / 60))
    assert d_b == [] and area_b == 0.0  # one point: no slope, no area


def test_unnest_gives_time_and_value_columns_with_or_without_names(con: duckdb.DuckDBPyConnection) -> None:
    named = _run(con, 'SELECT host, p.t, p.v FROM (SELECT host, create_time_series(time, cpu) AS ts FROM "db"."t" '
                      "GROUP BY host) CROSS JOIN UNNEST(ts) AS p (t, v) ORDER BY host, p.t")
    assert named == [(h, _at(t), v) for h in ("a", "b") for t, v in POINTS[h]]
    default = _run(con, 'SELECT host, time, value FROM (SELECT host, create_time_series(time, cpu) AS ts '
                        'FROM "db"."t" GROUP BY host) CROSS JOIN UNNEST(ts) ORDER BY host, time')
    assert default == named
    numbered = _run(con, 'SELECT host, p.t, p.v, p.n FROM (SELECT host, create_time_series(time, cpu) AS ts '
                         'FROM "db"."t" GROUP BY host) CROSS JOIN UNNEST(ts) WITH ORDINALITY AS p (t, v, n) '
                         "ORDER BY host, p.n")
    assert numbered == [(h, _at(t), v, i) for h in ("a", "b") for i, (t, v) in enumerate(POINTS[h], 1)]


def test_lambdas_correlations_and_reduce_with_an_output_function(con: duckdb.DuckDBPyConnection) -> None:
    sql = ("SELECT filter(ts, x -> x.value > 2), correlate_pearson(ts, transform(ts, x -> CAST(ROW(x.time, "
           "x.value * 2) AS ROW(time TIMESTAMP, value DOUBLE)))), reduce(ARRAY[1, 2, 3], 0, (s, x) -> s + x, s -> s * 10) "
           "FROM (SELECT create_time_series(time, cpu) AS ts FROM \"db\".\"t\" WHERE host = 'a')")
    kept, pearson, reduced = _run(con, sql)[0]
    assert [p["value"] for p in kept] == [3.0, 7.0, 4.0]
    assert pearson == pytest.approx(1.0) and reduced == 60


def test_kendall_tau_b_counts_ties_as_scipy_does(con: duckdb.DuckDBPyConnection) -> None:
    # Pairs over a = [1, 3, 7, 4] against [1, 3, 7, 4] reversed-ish and tied: computed by hand with tau-b,
    # (concordant - discordant) / sqrt((n0 - x ties) * (n0 - y ties)), n0 = 6.
    sql = ("SELECT correlate_kendall(ts, ts), correlate_kendall(ts, transform(ts, x -> CAST(ROW(x.time, -x.value) "
           "AS ROW(time TIMESTAMP, value DOUBLE)))), correlate_kendall(ts, transform(ts, x -> CAST(ROW(x.time, "
           "CASE WHEN x.value > 2 THEN 1.0 ELSE 0.0 END) AS ROW(time TIMESTAMP, value DOUBLE)))), "
           "correlate_kendall(ts, transform(ts, x -> CAST(ROW(x.time, 5.0) AS ROW(time TIMESTAMP, value DOUBLE)))) "
           "FROM (SELECT create_time_series(time, cpu) AS ts FROM \"db\".\"t\" WHERE host = 'a')")
    same, reversed_, binary, constant = _run(con, sql)[0]
    assert same == pytest.approx(1.0) and reversed_ == pytest.approx(-1.0)
    # x = 1, 3, 7, 4; y = 0, 1, 1, 1: y ties 3 pairs; concordant 3 (1 against each other), discordant 0.
    assert binary == pytest.approx(3 / (6 * 3) ** 0.5)
    assert constant is None  # no untied pair in y: undefined, NULL


def test_the_cubic_spline_is_the_natural_one_and_does_not_extrapolate(con: duckdb.DuckDBPyConnection) -> None:
    # Reference: SciPy's CubicSpline(bc_type="natural") through host a's points (0, 1), (10, 3), (30, 7), (45, 4),
    # evaluated every 5 s from -5 s to 50 s (the ends are left out: before the first, after the last point).
    expected = {0: 1.0, 5: 1.9210526315789473, 10: 3.0, 15: 4.315789473684211, 20: 5.63157894736842,
                25: 6.631578947368422, 30: 7.0, 35: 6.526315789473684, 40: 5.421052631578948, 45: 4.0}
    start, end = f"from_nanoseconds({T0 - 5 * S})", f"from_nanoseconds({T0 + 50 * S})"
    sql = (f"SELECT interpolate_spline_cubic(ts, sequence({start}, {end}, 5s)), "
           f"interpolate_spline_cubic(ts, from_nanoseconds({T0 + 20 * S})) "
           "FROM (SELECT create_time_series(time, cpu) AS ts FROM \"db\".\"t\" WHERE host = 'a')")
    series, one = _run(con, sql)[0]
    assert [(p["time"], p["value"]) for p in series] == [(_at(t), pytest.approx(v)) for t, v in expected.items()]
    assert one == pytest.approx(expected[20])


def test_the_spline_refuses_repeated_times_and_series_over_its_limit(con: duckdb.DuckDBPyConnection) -> None:
    repeated = ("SELECT interpolate_spline_cubic(create_time_series(from_nanoseconds(CAST(i AS BIGINT) * 1000000000), CAST(i AS DOUBLE)), "
                "ARRAY[from_nanoseconds(1500000000)]) FROM UNNEST(ARRAY[1, 2, 2, 3]) AS u (i)")
    with pytest.raises(duckdb.Error, match="strictly increasing"):
        _run(con, repeated)
    points = trino_timeseries.SPLINE_MAX_POINTS + 1
    long = ("SELECT interpolate_spline_cubic(create_time_series(from_nanoseconds(CAST(i AS BIGINT) * 1000000000), CAST(i AS DOUBLE)), "
            f"ARRAY[from_nanoseconds(1500000000)]) FROM UNNEST(sequence(1, {points})) AS u (i)")
    with pytest.raises(duckdb.Error, match=f"at most {trino_timeseries.SPLINE_MAX_POINTS} points; this one has {points}"):
        _run(con, long)


def test_a_single_point_series_and_times_outside_it(con: duckdb.DuckDBPyConnection) -> None:
    """Host b has one point (30 s): linear and spline interpolation give it at its own time only, LOCF carries
    it forward (never back), fill gives the constant elsewhere; one timestamp outside the series is NULL."""
    at = {t: f"from_nanoseconds({T0 + t * S})" for t in (20, 30, 40)}
    sql = (f"SELECT interpolate_linear(ts, ARRAY[{at[20]}, {at[30]}, {at[40]}]), "
           f"interpolate_locf(ts, ARRAY[{at[20]}, {at[30]}, {at[40]}]), "
           f"interpolate_fill(ts, ARRAY[{at[20]}, {at[30]}], 0.5), "
           f"interpolate_linear(ts, {at[40]}), interpolate_locf(ts, {at[40]}), interpolate_locf(ts, {at[20]}), "
           f"interpolate_spline_cubic(ts, ARRAY[{at[20]}, {at[30]}]) "
           "FROM (SELECT create_time_series(time, cpu) AS ts FROM \"db\".\"t\" WHERE host = 'b')")
    linear, locf, fill, linear_one, locf_after, locf_before, spline = _run(con, sql)[0]
    assert [(p["time"], p["value"]) for p in linear] == [(_at(30), 5.0)]
    assert [(p["time"], p["value"]) for p in locf] == [(_at(30), 5.0), (_at(40), 5.0)]
    assert [(p["time"], p["value"]) for p in fill] == [(_at(20), 0.5), (_at(30), 5.0)]
    assert (linear_one, locf_after, locf_before) == (None, 5.0, None)
    assert [(p["time"], p["value"]) for p in spline] == [(_at(30), 5.0)]


def test_derivatives_are_per_the_interval_given(con: duckdb.DuckDBPyConnection) -> None:
    """Host a's first slope, (3 - 1) / 10 s: 0.2 per second, 12 per minute, 720 per hour, 0.0002 per ms; the
    integral's default unit is one second."""
    sql = ("SELECT derivative_linear(ts, 1s)[1].value, derivative_linear(ts, 1m)[1].value, "
           "derivative_linear(ts, 1h)[1].value, derivative_linear(ts, 1ms)[1].value, "
           "integral_trapezoidal(ts, 1h) * 3600, integral_trapezoidal(ts) "
           "FROM (SELECT create_time_series(time, cpu) AS ts FROM \"db\".\"t\" WHERE host = 'a')")
    area = sum((v1 + v2) / 2 * (t2 - t1) for (t1, v1), (t2, v2) in itertools.pairwise(POINTS["a"]))
    assert _run(con, sql)[0] == pytest.approx((0.2, 12.0, 720.0, 0.0002, area, area))
