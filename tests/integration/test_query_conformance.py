"""Timestream SQL over data written through the real record path, on both tiers and both cells, each answer
checked against an independent reference: DuckDB over the raw records as written, or Python.

Two tables: ``fleet`` (multi-measure: 16 machines in 4 regions, an optional ``model`` dimension, a DOUBLE with
NULLs, a BIGINT, a VARCHAR and a BOOLEAN measure) spread over both cells, holding 90 minutes of recent rows
and 3 hours of rows two days old (past the 2-hour memory retention: written to the magnetic store); every
memory store is then flushed and the last 3 minutes written after, so reads cross segments and memory stores; and ``readings`` (single-measure:
cpu DOUBLE, mem BIGINT, note VARCHAR, up BOOLEAN under ``measure_value::<type>``) in one cell.

A case is (Timestream SQL, reference): the reference is DuckDB SQL over the tables ``fleet`` and ``readings``
(None: the same text), or a Python function of the raw rows. ``{fleet}`` and ``{readings}`` name the tables,
``{E}`` is the end of the recent rows and ``{O}`` the end of the old ones, in epoch milliseconds.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tessera.client import Client
from tessera.cluster import LocalCluster
from tests.integration.conftest import unique
from tests.integration.replicas import maintain

MINUTE_MS = 60_000
DAY_MS = 24 * 60 * MINUTE_MS
MACHINES = [f"m{i:02d}" for i in range(16)]
STATUSES = ["ok", "warn", "fail"]


@dataclass(frozen=True)
class Data:
    db: str
    end_ms: int
    old_end_ms: int
    fleet: list[dict[str, Any]]
    readings: list[dict[str, Any]]


def fleet_records(end_ms: int, old_end_ms: int) -> list[dict[str, Any]]:
    rng = random.Random(7)
    times = [end_ms - k * 30_000 for k in range(180)] + [old_end_ms - k * MINUTE_MS for k in range(180)]
    out = []
    for m, machine in enumerate(MACHINES):
        dims = [{"Name": "region", "Value": f"r{m % 4}"}, {"Name": "machine", "Value": machine}]
        if m % 3 != 2:
            dims.append({"Name": "model", "Value": ["a1", "b2"][m % 3]})
        for i, t in enumerate(times):
            values = [{"Name": "load", "Value": str(rng.randrange(0, 1000)), "Type": "BIGINT"},
                      {"Name": "status", "Value": rng.choice(STATUSES), "Type": "VARCHAR"},
                      {"Name": "healthy", "Value": rng.choice(["true", "false"]), "Type": "BOOLEAN"}]
            if (i + m) % 37:
                values.append({"Name": "temperature", "Value": f"{rng.gauss(50 + m, 8):.2f}", "Type": "DOUBLE"})
            out.append({"Dimensions": dims, "MeasureName": "fleet", "MeasureValueType": "MULTI", "Time": str(t),
                        "TimeUnit": "MILLISECONDS", "MeasureValues": values})
    return out


def readings_records(end_ms: int) -> list[dict[str, Any]]:
    rng = random.Random(8)
    out = []
    for h in range(6):
        for k in range(60):
            t = str(end_ms - k * MINUTE_MS)
            dims = [{"Name": "host", "Value": f"h{h}"}]
            out += [
                {"Dimensions": dims, "MeasureName": "cpu", "MeasureValue": f"{rng.uniform(0, 100):.3f}",
                 "MeasureValueType": "DOUBLE", "Time": t},
                {"Dimensions": dims, "MeasureName": "mem", "MeasureValue": str(rng.randrange(1 << 33)),
                 "MeasureValueType": "BIGINT", "Time": t},
                {"Dimensions": dims, "MeasureName": "note", "MeasureValue": rng.choice(["idle", "busy", "busy!"]),
                 "MeasureValueType": "VARCHAR", "Time": t},
                {"Dimensions": dims, "MeasureName": "up", "MeasureValue": rng.choice(["true", "false"]),
                 "MeasureValueType": "BOOLEAN", "Time": t},
            ]
    return out


@pytest.fixture(scope="module")
def data(client: Client, cluster: LocalCluster) -> Data:
    db = unique("conf")
    client.create_database(db)
    client.create_table(db, "fleet", memory_retention_hours=2, magnetic_writes=True, cells=["cell-a", "cell-b"])
    client.create_table(db, "readings", memory_retention_hours=2)
    end_ms = (int(time.time() * 1000) // MINUTE_MS) * MINUTE_MS - 5 * MINUTE_MS
    old_end_ms = end_ms - 2 * DAY_MS
    fleet = fleet_records(end_ms, old_end_ms)
    readings = readings_records(end_ms)
    latest = [r for r in fleet if int(r["Time"]) > end_ms - 3 * MINUTE_MS]
    client.write_records(db, "fleet", [r for r in fleet if int(r["Time"]) <= end_ms - 3 * MINUTE_MS])
    client.write_records(db, "readings", readings)
    for cell in ("cell-a", "cell-b"):  # to segments, the recent rows too; the latest stay in memory stores
        maintain(cluster, cell, flush_all=True)
    client.write_records(db, "fleet", latest)
    client.write_records(db, "fleet", fleet[::5])  # exact retries: accepted, changing nothing
    # Upserts of m15's rows, old (in segments) and recent (in memory stores): the newer version wins.
    upserts = {i: upserted(r) for i, r in enumerate(fleet) if r["Dimensions"][1]["Value"] == "m15" and i % 3 == 0}
    client.write_records(db, "fleet", list(upserts.values()))
    fleet = [upserts.get(i, r) for i, r in enumerate(fleet)]
    return Data(db, end_ms, old_end_ms, fleet, readings)


def upserted(record: dict[str, Any]) -> dict[str, Any]:
    """The record at version 2 with its load raised by 1,000 and its status 'upserted'."""
    values = []
    for v in record["MeasureValues"]:
        if v["Name"] == "load":
            v = {**v, "Value": str(int(v["Value"]) + 1000)}
        elif v["Name"] == "status":
            v = {**v, "Value": "upserted"}
        values.append(v)
    return {**record, "MeasureValues": values, "Version": 2}


def reference_tables(d: Data) -> duckdb.DuckDBPyConnection:
    """The raw records as two DuckDB tables (TIMESTAMP to the microsecond: every time is whole ms)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    rows: list[tuple[Any, ...]] = []
    for r in d.fleet:
        dims = {x["Name"]: x["Value"] for x in r["Dimensions"]}
        vals = {x["Name"]: x["Value"] for x in r["MeasureValues"]}
        rows.append((int(r["Time"]), dims["region"], dims["machine"], dims.get("model"),
                     None if "temperature" not in vals else float(vals["temperature"]), int(vals["load"]),
                     vals["status"], vals["healthy"] == "true"))
    con.execute("CREATE TABLE raw_fleet (t BIGINT, region VARCHAR, machine VARCHAR, model VARCHAR, "
                "temperature DOUBLE, load BIGINT, status VARCHAR, healthy BOOLEAN)")
    con.executemany("INSERT INTO raw_fleet VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.execute("CREATE TABLE fleet AS SELECT epoch_ms(t) AS time, region, machine, model, 'fleet' AS measure_name, "
                "temperature, load, status, healthy FROM raw_fleet")
    rows = []
    for r in d.readings:
        kind, value = r["MeasureValueType"], r["MeasureValue"]
        rows.append((int(r["Time"]), r["Dimensions"][0]["Value"], r["MeasureName"],
                     float(value) if kind == "DOUBLE" else None, int(value) if kind == "BIGINT" else None,
                     value if kind == "VARCHAR" else None, value == "true" if kind == "BOOLEAN" else None))
    con.execute("CREATE TABLE raw_readings (t BIGINT, host VARCHAR, measure_name VARCHAR, mv_double DOUBLE, "
                "mv_bigint BIGINT, mv_varchar VARCHAR, mv_boolean BOOLEAN)")
    con.executemany("INSERT INTO raw_readings VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    con.execute("CREATE TABLE readings AS SELECT epoch_ms(t) AS time, host, measure_name, mv_double, mv_bigint, "
                "mv_varchar, mv_boolean FROM raw_readings")
    return con


Rows = list[tuple[Any, ...]]


def canonical(table: pa.Table) -> Rows:
    """Rows as tuples: timestamps as int nanoseconds, decimals as floats, lists as tuples."""
    columns = []
    for col in table.columns:
        if pa.types.is_timestamp(col.type):
            col = pc.cast(col.cast(pa.timestamp("ns")), pa.int64())
        columns.append(col.to_pylist())
    return [tuple(_value(v) for v in row) for row in zip(*columns)] if columns else []


def _value(v: Any) -> Any:
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, list):
        return tuple(_value(x) for x in v)
    if isinstance(v, dict):
        return tuple(_value(x) for x in v.values())
    if isinstance(v, datetime):
        return int(v.timestamp()) * 10**9 + v.microsecond * 1000
    return v


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, (float, int)) or isinstance(b, float) and isinstance(a, int):
        if math.isnan(float(a)) or math.isnan(float(b)):
            return math.isnan(float(a)) and math.isnan(float(b))
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, date) and isinstance(b, date):
        return a == b
    return bool(a == b) and type(a) is type(b) or (isinstance(a, bool) is isinstance(b, bool) and a == b)


def trino_round(x: float, digits: int) -> float:
    """Trino's round of a DOUBLE: x * 10^digits rounded half away from zero, divided back."""
    scaled = x * 10.0**digits
    return math.copysign(math.floor(abs(scaled) + 0.5), scaled) / 10.0**digits


def loads_of(d: Data, machine: str, lo_ms: int, hi_ms: int) -> list[tuple[int, int]]:
    """(time ms, load) of a machine's rows with lo_ms <= time <= hi_ms, by time."""
    return sorted((int(r["Time"]), int(next(v["Value"] for v in r["MeasureValues"] if v["Name"] == "load")))
                  for r in d.fleet if r["Dimensions"][1]["Value"] == machine and lo_ms <= int(r["Time"]) <= hi_ms)


def percentile_reference(d: Data) -> Rows:
    """Per machine, approx_percentile(load, 0.9) as Trino's digests answer while they hold every value: the load
    at position floor(0.9 * n) of the machine's n loads in order (positions in double arithmetic, as Trino)."""
    out = []
    for machine in MACHINES:
        loads = sorted(v for _, v in loads_of(d, machine, 0, 2**62))
        out.append((machine, loads[min(math.floor(0.9 * len(loads)), len(loads) - 1)]))
    return out


def locf_reference(d: Data) -> Rows:
    """Per machine m00..m01, its loads of the last 10 minutes (30-s steps) read every 20 s by LOCF."""
    out = []
    lo = d.end_ms - 10 * MINUTE_MS
    for machine in ("m00", "m01"):
        points = loads_of(d, machine, lo, d.end_ms)
        for t in range(points[0][0], points[-1][0] + 1, 20_000):
            value = [v for pt, v in points if pt <= t][-1]
            out.append((machine, t * 1_000_000, value))
    return out


def linear_reference(d: Data) -> Rows:
    """Per machine m03, loads of the last 5 minutes interpolated linearly at every 10 s (rounded to 3 places)."""
    points = loads_of(d, "m03", d.end_ms - 5 * MINUTE_MS, d.end_ms)
    out = []
    for t in range(points[0][0], points[-1][0] + 1, 10_000):
        for (t0, v0), (t1, v1) in itertools.pairwise(points):
            if t0 <= t <= t1:
                out.append((t * 1_000_000, trino_round(v0 + (v1 - v0) * (t - t0) / (t1 - t0), 3)))
                break
    return out


def derivative_reference(d: Data) -> Rows:
    """derivative_linear of m05's loads over the last 5 minutes, per minute."""
    points = loads_of(d, "m05", d.end_ms - 5 * MINUTE_MS, d.end_ms)
    return [(t1 * 1_000_000, trino_round((v1 - v0) / ((t1 - t0) / MINUTE_MS), 6))
            for (t0, v0), (t1, v1) in itertools.pairwise(points)]


def binned_interpolation_reference(d: Data) -> Rows:
    """The AWS sample application's shape: 1-minute averages of m02 and m09 over the last 10 minutes,
    interpolated linearly every 30 s, rounded to 2 places, as (machine, time, value)."""
    out = []
    for machine in ("m02", "m09"):
        bins: dict[int, list[int]] = {}
        for t, v in loads_of(d, machine, d.end_ms - 10 * MINUTE_MS, d.end_ms):
            bins.setdefault(t // MINUTE_MS * MINUTE_MS, []).append(v)
        points = sorted((t, sum(vs) / len(vs)) for t, vs in bins.items())
        for t in range(points[0][0], points[-1][0] + 1, 30_000):
            for (t0, v0), (t1, v1) in itertools.pairwise(points):
                if t0 <= t <= t1:
                    out.append((machine, t * 1_000_000, trino_round(v0 + (v1 - v0) * (t - t0) / (t1 - t0), 2)))
                    break
    return out


def filtered_series_reference(d: Data) -> Rows:
    """m07's points of the last 10 minutes with a load above 500."""
    return [(t * 1_000_000, v) for t, v in loads_of(d, "m07", d.end_ms - 10 * MINUTE_MS, d.end_ms) if v > 500]


Reference = str | Callable[[Data], Rows] | None

RECENT = "time BETWEEN from_milliseconds({E} - 3600000) AND from_milliseconds({E})"
RECENT_REF = "time BETWEEN epoch_ms({E} - 3600000) AND epoch_ms({E})"

CASES: list[tuple[str, Reference]] = [
    # --- counts, filters and both tiers
    ("SELECT count(*) AS n FROM {fleet}", None),
    ("SELECT count(*) AS n, count(temperature) AS t, count(model) AS m FROM {fleet}", None),
    ("SELECT count(*) AS n FROM {fleet} WHERE time < from_milliseconds({O} + 1)",
     "SELECT count(*) AS n FROM fleet WHERE time < epoch_ms({O} + 1)"),
    ("SELECT count(*) AS n FROM {fleet} WHERE time > from_milliseconds({O}) AND time <= from_milliseconds({E})",
     "SELECT count(*) AS n FROM fleet WHERE time > epoch_ms({O}) AND time <= epoch_ms({E})"),
    (("SELECT count(*) AS n FROM {fleet} WHERE time BETWEEN from_milliseconds({O} - 7200000) AND "
     "from_milliseconds({E} - 1800000)"),
     "SELECT count(*) AS n FROM fleet WHERE time BETWEEN epoch_ms({O} - 7200000) AND epoch_ms({E} - 1800000)"),
    ("SELECT count(*) AS n FROM {fleet} WHERE time > ago(1d)", ("SELECT count(*) AS n FROM fleet WHERE time > "
     "epoch_ms({E} - 86400000)")),
    ("SELECT region, count(*) AS n FROM {fleet} WHERE region = 'r2' GROUP BY region", None),
    (("SELECT machine, count(*) AS n FROM {fleet} WHERE machine IN ('m01', 'm07', 'm13') GROUP BY machine "
     "ORDER BY machine"), None),
    ("SELECT count(*) AS n FROM {fleet} WHERE machine NOT IN ('m01', 'm07') AND region <> 'r0'", None),
    ("SELECT count(*) AS n FROM {fleet} WHERE model IS NULL", None),
    ("SELECT count(*) AS n FROM {fleet} WHERE model IS NOT NULL AND temperature IS NULL", None),
    ("SELECT count(*) AS n FROM {fleet} WHERE machine LIKE 'm1_' OR status LIKE '%ar%'", None),
    ("SELECT count(*) AS n FROM {fleet} WHERE load BETWEEN 100 AND 200 AND NOT healthy", None),
    ("SELECT count(*) AS n FROM {fleet} WHERE (load > 900 OR temperature > 70) AND status = 'ok'", None),
    ("SELECT count(*) AS n FROM {fleet} WHERE temperature >= 60.5", None),
    ("SELECT count(*) AS n FROM {fleet} WHERE healthy = true AND model = 'a1'", None),
    ("SELECT count(*) AS n FROM {fleet} WHERE region = 'r1' AND machine = 'm05' AND " + RECENT,
     "SELECT count(*) AS n FROM fleet WHERE region = 'r1' AND machine = 'm05' AND " + RECENT_REF),
    ("SELECT count(*) AS n FROM {fleet} WHERE machine = 'no such machine'", None),
    (("SELECT time, machine, load FROM {fleet} WHERE machine = 'm04' AND time >= from_milliseconds({E} - 120000) "
     "ORDER BY time"),
     "SELECT time, machine, load FROM fleet WHERE machine = 'm04' AND time >= epoch_ms({E} - 120000) ORDER BY time"),
    ("SELECT time, load FROM {fleet} WHERE machine = 'm09' AND time = from_milliseconds({O})",
     "SELECT time, load FROM fleet WHERE machine = 'm09' AND time = epoch_ms({O})"),
    (("SELECT time, machine, temperature FROM {fleet} WHERE time > '1970-01-02' AND machine = 'm02' "
     "ORDER BY time DESC LIMIT 3"),
     "SELECT time, machine, temperature FROM fleet WHERE machine = 'm02' ORDER BY time DESC LIMIT 3"),
    ("SELECT count(*) AS n, max(load) AS top, count_if(status = 'upserted') AS u FROM {fleet} WHERE machine = 'm15'",
     ("SELECT count(*) AS n, max(load) AS top, count(*) FILTER (WHERE status = 'upserted') AS u FROM fleet WHERE "
     "machine = 'm15'")),
    ("SELECT time, load, status FROM {fleet} WHERE machine = 'm15' AND load > 1000 ORDER BY time DESC LIMIT 5", None),
    ("SELECT count(*) AS n FROM {fleet} WHERE machine = 'm15' AND load < 1000", None),
    ("SELECT count(*) AS n FROM {fleet} WHERE model <> 'a1'", None),
    ("SELECT count(*) AS n FROM {fleet} WHERE NOT (model = 'a1')", None),
    ("SELECT count(*) AS n FROM {fleet} WHERE status IN ('ok', 'warn') AND temperature < 45.5", None),
    ("SELECT measure_name, count(*) AS n FROM {fleet} GROUP BY measure_name", None),
    ("SELECT 1 AS one, 'x' AS s, 2.5 AS d, true AS b", "SELECT 1 AS one, 'x' AS s, 2.5::DOUBLE AS d, true AS b"),
    ("SELECT machine AS m, load * 10 AS l10 FROM {fleet} WHERE machine = 'm12' ORDER BY l10 DESC, time LIMIT 3",
     "SELECT machine AS m, load * 10 AS l10 FROM fleet WHERE machine = 'm12' ORDER BY l10 DESC, time LIMIT 3"),
    (("SELECT time, machine, load FROM {fleet} WHERE time >= from_milliseconds({O} - 600000) AND time < "
     "from_milliseconds({O} - 420000) AND region = 'r3' ORDER BY time, machine"),
     ("SELECT time, machine, load FROM fleet WHERE time >= epoch_ms({O} - 600000) AND time < epoch_ms({O} - 420000) "
     "AND region = 'r3' ORDER BY time, machine")),
    # --- aggregates
    (("SELECT region, count(*) AS n, sum(load) AS s, min(load) AS lo, max(load) AS hi, avg(load) AS a FROM {fleet} "
     "GROUP BY region ORDER BY region"), None),
    (("SELECT machine, avg(temperature) AS a, min(temperature) AS lo, max(temperature) AS hi FROM {fleet} "
     "GROUP BY machine ORDER BY machine"), None),
    (("SELECT region, stddev(temperature) AS sd, variance(temperature) AS v, stddev_pop(load) AS sdp, "
     "var_pop(load) AS vp FROM {fleet} GROUP BY region ORDER BY region"),
     ("SELECT region, stddev_samp(temperature) AS sd, var_samp(temperature) AS v, stddev_pop(load) AS sdp, "
     "var_pop(load) AS vp FROM fleet GROUP BY region ORDER BY region")),
    (("SELECT count(DISTINCT machine) AS machines, count(DISTINCT status) AS statuses, count(DISTINCT model) AS "
     "models FROM {fleet}"), None),
    (("SELECT status, count_if(healthy) AS h, count_if(load > 500) AS busy FROM {fleet} GROUP BY status "
     "ORDER BY status"),
     ("SELECT status, count(*) FILTER (WHERE healthy) AS h, count(*) FILTER (WHERE load > 500) AS busy FROM fleet "
     "GROUP BY status ORDER BY status")),
    (("SELECT machine, bool_and(load < 999) AS a, bool_or(load > 990) AS o, every(load >= 0) AS e FROM {fleet} "
     "GROUP BY machine ORDER BY machine"),
     ("SELECT machine, bool_and(load < 999) AS a, bool_or(load > 990) AS o, bool_and(load >= 0) AS e FROM fleet "
     "GROUP BY machine ORDER BY machine")),
    (("SELECT machine, max_by(load, time) AS last_load, min_by(temperature, time) AS first_temp FROM {fleet} "
     "WHERE machine IN ('m00', 'm08') GROUP BY machine ORDER BY machine"),
     ("SELECT machine, arg_max(load, time) AS last_load, arg_min(temperature, time) FILTER (WHERE temperature IS "
     "NOT NULL) AS first_temp FROM fleet WHERE machine IN ('m00', 'm08') GROUP BY machine ORDER BY machine")),
    ("SELECT region, geometric_mean(load + 1) AS g FROM {fleet} GROUP BY region ORDER BY region",
     "SELECT region, exp(avg(ln(load + 1))) AS g FROM fleet GROUP BY region ORDER BY region"),
    (("SELECT machine, array_agg(load ORDER BY time) AS loads FROM {fleet} WHERE time >= from_milliseconds({E} - "
     "60000) GROUP BY machine ORDER BY machine"),
     ("SELECT machine, list(load ORDER BY time) AS loads FROM fleet WHERE time >= epoch_ms({E} - 60000) "
     "GROUP BY machine ORDER BY machine")),
    ("SELECT sum(temperature) AS s, avg(temperature) AS a, count(*) AS n FROM {fleet} WHERE temperature IS NULL",
     None),
    ("SELECT max(load) AS m FROM {fleet} WHERE load < 0", None),
    ("SELECT region, model, count(*) AS n FROM {fleet} GROUP BY region, model ORDER BY region, model NULLS FIRST",
     None),
    ("SELECT machine, count(*) AS n FROM {fleet} GROUP BY machine HAVING avg(load) > 500 ORDER BY machine", None),
    ("SELECT status, healthy, count(*) AS n FROM {fleet} GROUP BY 1, 2 ORDER BY 1, 2", None),
    ("SELECT DISTINCT region, model FROM {fleet} ORDER BY region, model NULLS LAST", None),
    ("SELECT approx_percentile(load, 0.5) BETWEEN 400 AND 600 AS mid FROM {fleet}", "SELECT true AS mid"),
    ("SELECT machine, approx_percentile(load, 0.9) AS p FROM {fleet} GROUP BY machine ORDER BY machine",
     percentile_reference),
    ("SELECT approx_distinct(machine) AS m FROM {fleet}", "SELECT 16::BIGINT AS m"),
    ("SELECT min(time) AS first, max(time) AS last FROM {fleet}", None),
    # --- time bins and date functions
    ("SELECT bin(time, 5m) AS b, count(*) AS n, max(load) AS m FROM {fleet} WHERE " + RECENT
     + " GROUP BY bin(time, 5m) ORDER BY b",
     "SELECT time_bucket(INTERVAL 5 MINUTE, time) AS b, count(*) AS n, max(load) AS m FROM fleet WHERE "
     + RECENT_REF + " GROUP BY b ORDER BY b"),
    (("SELECT bin(time, 1h) AS b, machine, avg(temperature) AS a FROM {fleet} WHERE machine = 'm06' GROUP BY 1, 2 "
     "ORDER BY 1"),
     ("SELECT time_bucket(INTERVAL 1 HOUR, time) AS b, machine, avg(temperature) AS a FROM fleet WHERE machine = "
     "'m06' GROUP BY 1, 2 ORDER BY 1")),
    ("SELECT bin(time, 1d) AS d, count(*) AS n FROM {fleet} GROUP BY 1 ORDER BY 1",
     "SELECT time_bucket(INTERVAL 1 DAY, time) AS d, count(*) AS n FROM fleet GROUP BY 1 ORDER BY 1"),
    ("SELECT date_trunc('hour', time) AS h, count(*) AS n FROM {fleet} GROUP BY 1 ORDER BY 1",
     "SELECT date_trunc('hour', time) AS h, count(*) AS n FROM fleet GROUP BY 1 ORDER BY 1"),
    (("SELECT date_trunc('minute', time) AS h, count(*) AS n FROM {fleet} WHERE time > from_milliseconds({E} - "
     "300000) GROUP BY 1 ORDER BY 1"),
     ("SELECT date_trunc('minute', time) AS h, count(*) AS n FROM fleet WHERE time > epoch_ms({E} - 300000) "
     "GROUP BY 1 ORDER BY 1")),
    (("SELECT hour(time) AS h, minute(time) AS mi, day(time) AS d, month(time) AS mo, year(time) AS y, "
     "day_of_week(time) AS dow, day_of_year(time) AS doy FROM {fleet} WHERE machine = 'm00' "
     "ORDER BY time LIMIT 5"),
     ("SELECT hour(time) AS h, minute(time) AS mi, day(time) AS d, month(time) AS mo, year(time) AS y, "
     "isodow(time) AS dow, dayofyear(time) AS doy FROM fleet WHERE machine = 'm00' ORDER BY time LIMIT 5")),
    (("SELECT to_milliseconds(time) AS ms, to_nanoseconds(time) AS ns FROM {fleet} WHERE machine = 'm03' "
     "ORDER BY time LIMIT 3"),
     ("SELECT epoch_ms(time) AS ms, epoch_ms(time) * 1000000 AS ns FROM fleet WHERE machine = 'm03' "
     "ORDER BY time LIMIT 3")),
    (("SELECT date_add('minute', 30, time) AS later, date_add('day', -1, time) AS before FROM {fleet} WHERE "
     "machine = 'm03' ORDER BY time LIMIT 2"),
     ("SELECT time + INTERVAL 30 MINUTE AS later, time - INTERVAL 1 DAY AS before FROM fleet WHERE machine = "
     "'m03' ORDER BY time LIMIT 2")),
    (("SELECT date_diff('minute', min(time), max(time)) AS span_min, date_diff('hour', min(time), max(time)) AS "
     "span_h FROM {fleet}"),
     ("SELECT date_diff('minute', min(time), max(time)) AS span_min, (epoch_ms(max(time)) - epoch_ms(min(time))) "
     "// 3600000 AS span_h FROM fleet")),
    ("SELECT time - 1h AS earlier, time + 90s AS later FROM {fleet} WHERE machine = 'm10' ORDER BY time LIMIT 2",
     ("SELECT time - INTERVAL 1 HOUR AS earlier, time + INTERVAL 90 SECOND AS later FROM fleet WHERE machine = "
     "'m10' ORDER BY time LIMIT 2")),
    (("SELECT date_format(time, '%Y-%m-%d %H:%i:%s') AS txt FROM {fleet} WHERE machine = 'm11' ORDER BY time "
     "LIMIT 2"),
     "SELECT strftime(time, '%Y-%m-%d %H:%M:%S') AS txt FROM fleet WHERE machine = 'm11' ORDER BY time LIMIT 2"),
    ("SELECT CAST(time AS date) AS d, count(*) AS n FROM {fleet} GROUP BY 1 ORDER BY 1",
     "SELECT CAST(time AS date) AS d, count(*) AS n FROM fleet GROUP BY 1 ORDER BY 1"),
    ("SELECT count(*) AS n FROM {fleet} WHERE time BETWEEN from_milliseconds({E}) - 10m AND from_milliseconds({E})",
     "SELECT count(*) AS n FROM fleet WHERE time BETWEEN epoch_ms({E}) - INTERVAL 10 MINUTE AND epoch_ms({E})"),
    ("SELECT from_unixtime(to_unixtime(time)) AS t FROM {fleet} WHERE machine = 'm12' ORDER BY time LIMIT 2",
     "SELECT time AS t FROM fleet WHERE machine = 'm12' ORDER BY time LIMIT 2"),
    # --- expressions
    (("SELECT machine, load, load * 2 + 1 AS x, load % 7 AS r, load / 3 AS q, -load AS neg FROM {fleet} "
     "WHERE machine = 'm01' ORDER BY time LIMIT 5"),
     ("SELECT machine, load, load * 2 + 1 AS x, load % 7 AS r, load // 3 AS q, -load AS neg FROM fleet "
     "WHERE machine = 'm01' ORDER BY time LIMIT 5")),
    (("SELECT round(temperature, 1) AS r1, round(temperature) AS r0, floor(temperature) AS f, ceil(temperature) AS c, "
     "abs(temperature - 50) AS a FROM {fleet} WHERE machine = 'm02' AND temperature IS NOT NULL ORDER BY time "
     "LIMIT 5"),
     # Trino rounds a DOUBLE as x * 10^d rounded half away from zero (46.65 → 46.7; DuckDB's round: 46.6)
     ("SELECT round(temperature * 10) / 10 AS r1, round(temperature) AS r0, floor(temperature) AS f, "
     "ceil(temperature) AS c, abs(temperature - 50) AS a FROM fleet WHERE machine = 'm02' AND temperature IS NOT NULL ORDER BY time LIMIT 5")),
    (("SELECT sqrt(load) AS s, power(load, 2) AS p, ln(load + 1) AS l, log10(load + 1) AS l10, exp(load / 1000.0) "
     "AS e FROM {fleet} WHERE machine = 'm03' ORDER BY time LIMIT 3"),
     ("SELECT sqrt(load) AS s, power(load, 2) AS p, ln(load + 1) AS l, log10(load + 1) AS l10, exp(load / 1000.0) "
     "AS e FROM fleet WHERE machine = 'm03' ORDER BY time LIMIT 3")),
    (("SELECT load / 0.5 AS d, CAST(load AS double) / 4 AS q, load / 4 AS i FROM {fleet} WHERE machine = 'm04' "
     "ORDER BY time LIMIT 3"),
     ("SELECT load / 0.5 AS d, CAST(load AS double) / 4 AS q, load // 4 AS i FROM fleet WHERE machine = 'm04' "
     "ORDER BY time LIMIT 3")),
    (("SELECT CASE WHEN load < 300 THEN 'low' WHEN load < 700 THEN 'mid' ELSE 'high' END AS band, count(*) AS n "
     "FROM {fleet} GROUP BY 1 ORDER BY 1"), None),
    ("SELECT if(healthy, 'yes', 'no') AS h, count(*) AS n FROM {fleet} GROUP BY 1 ORDER BY 1",
     "SELECT CASE WHEN healthy THEN 'yes' ELSE 'no' END AS h, count(*) AS n FROM fleet GROUP BY 1 ORDER BY 1"),
    ("SELECT coalesce(model, 'none') AS m, count(*) AS n FROM {fleet} GROUP BY 1 ORDER BY 1", None),
    ("SELECT nullif(status, 'ok') AS s, count(*) AS n FROM {fleet} GROUP BY 1 ORDER BY 1 NULLS FIRST", None),
    (("SELECT greatest(load, 500) AS g, least(load, 500) AS l FROM {fleet} WHERE machine = 'm05' ORDER BY time "
     "LIMIT 4"), None),
    (("SELECT CAST(load AS varchar) AS s, CAST(temperature AS bigint) AS t, CAST(healthy AS varchar) AS h FROM "
     "{fleet} WHERE machine = 'm06' AND temperature IS NOT NULL ORDER BY time LIMIT 3"),
     ("SELECT CAST(load AS varchar) AS s, CAST(round(temperature) AS bigint) AS t, CAST(healthy AS varchar) AS h "
     "FROM fleet WHERE machine = 'm06' AND temperature IS NOT NULL ORDER BY time LIMIT 3")),
    (("SELECT try_cast(status AS bigint) AS t, try(load / (load - load)) AS z FROM {fleet} WHERE machine = 'm07' "
     "ORDER BY time LIMIT 2"),
     "SELECT NULL::BIGINT AS t, NULL::BIGINT AS z FROM fleet WHERE machine = 'm07' ORDER BY time LIMIT 2"),
    ("SELECT temperature IS NULL AS missing, count(*) AS n FROM {fleet} GROUP BY 1 ORDER BY 1", None),
    # --- strings
    (("SELECT upper(status) AS u, lower(upper(machine)) AS l, length(status) AS n, concat(region, '-', machine) AS c, "
     "region || '/' || machine AS p FROM {fleet} WHERE machine = 'm08' ORDER BY time LIMIT 3"), None),
    (("SELECT substr(machine, 2) AS s2, substr(machine, 1, 2) AS s12, replace(machine, 'm', 'M') AS r, "
     "strpos(status, 'a') AS p, reverse(machine) AS rv FROM {fleet} WHERE machine = 'm09' ORDER BY time LIMIT 2"),
     ("SELECT substr(machine, 2) AS s2, substr(machine, 1, 2) AS s12, replace(machine, 'm', 'M') AS r, "
     "strpos(status, 'a') AS p, reverse(machine) AS rv FROM fleet WHERE machine = 'm09' ORDER BY time LIMIT 2")),
    (("SELECT lpad(machine, 5, '*') AS lp, rpad(status, 6, '.') AS rp, trim('  ' || status || ' ') AS t, "
     "split_part(region || '-x-y', '-', 2) AS sp FROM {fleet} WHERE machine = 'm10' ORDER BY time LIMIT 2"), None),
    ("SELECT regexp_like(machine, '^m1[0-3]$') AS r, count(*) AS n FROM {fleet} GROUP BY 1 ORDER BY 1",
     "SELECT regexp_full_match(machine, 'm1[0-3]') AS r, count(*) AS n FROM fleet GROUP BY 1 ORDER BY 1"),
    (("SELECT regexp_extract(machine, '[0-9]+') AS digits, regexp_replace(machine, '[0-9]', '#') AS masked FROM "
     "{fleet} WHERE machine = 'm11' ORDER BY time LIMIT 1"),
     ("SELECT regexp_extract(machine, '[0-9]+') AS digits, regexp_replace(machine, '[0-9]', '#', 'g') AS masked "
     "FROM fleet WHERE machine = 'm11' ORDER BY time LIMIT 1")),
    (("SELECT status, count(*) AS n FROM {fleet} WHERE starts_with(status, 'w') OR status = 'fail' GROUP BY status "
     "ORDER BY status"), None),
    # --- windows
    (("SELECT machine, time, load, row_number() OVER (PARTITION BY machine ORDER BY time DESC) AS rn FROM {fleet} "
     "WHERE machine IN ('m00', 'm01') ORDER BY machine, rn LIMIT 6"), None),
    (("SELECT machine, time, load, lag(load) OVER (PARTITION BY machine ORDER BY time) AS prev, lead(load, 2) "
     "OVER (PARTITION BY machine ORDER BY time) AS next2 FROM {fleet} WHERE machine = 'm02' AND "
     "time >= from_milliseconds({E} - 300000) ORDER BY time"),
     ("SELECT machine, time, load, lag(load) OVER (PARTITION BY machine ORDER BY time) AS prev, lead(load, 2) "
     "OVER (PARTITION BY machine ORDER BY time) AS next2 FROM fleet WHERE machine = 'm02' AND "
     "time >= epoch_ms({E} - 300000) ORDER BY time")),
    (("SELECT machine, avg_load, rank() OVER (ORDER BY avg_load DESC) AS r, dense_rank() OVER (ORDER BY region) "
     "AS dr FROM (SELECT machine, region, avg(load) AS avg_load FROM {fleet} GROUP BY machine, region) "
     "ORDER BY r, machine"), None),
    (("SELECT machine, time, sum(load) OVER (PARTITION BY machine ORDER BY time ROWS BETWEEN 2 PRECEDING AND "
     "CURRENT ROW) AS s3, avg(load) OVER (PARTITION BY machine ORDER BY time ROWS 1 PRECEDING) AS a2 FROM "
     "{fleet} WHERE machine = 'm03' AND time >= from_milliseconds({E} - 240000) ORDER BY time"),
     ("SELECT machine, time, sum(load) OVER (PARTITION BY machine ORDER BY time ROWS BETWEEN 2 PRECEDING AND "
     "CURRENT ROW) AS s3, avg(load) OVER (PARTITION BY machine ORDER BY time ROWS 1 PRECEDING) AS a2 FROM "
     "fleet WHERE machine = 'm03' AND time >= epoch_ms({E} - 240000) ORDER BY time")),
    (("SELECT machine, first_value(load) OVER w AS f, last_value(load) OVER w AS l FROM {fleet} WHERE "
     "machine = 'm04' AND time >= from_milliseconds({E} - 120000) WINDOW w AS (ORDER BY time ROWS BETWEEN "
     "UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) ORDER BY time"),
     ("SELECT machine, first_value(load) OVER w AS f, last_value(load) OVER w AS l FROM fleet WHERE "
     "machine = 'm04' AND time >= epoch_ms({E} - 120000) WINDOW w AS (ORDER BY time ROWS BETWEEN "
     "UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) ORDER BY time")),
    (("SELECT machine, time, temperature, last_value(temperature) IGNORE NULLS OVER (PARTITION BY machine ORDER BY "
     "time ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS filled FROM {fleet} WHERE machine = 'm05' "
     "ORDER BY time"),
     ("SELECT machine, time, temperature, last_value(temperature IGNORE NULLS) OVER (PARTITION BY machine ORDER BY "
     "time ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS filled FROM fleet WHERE machine = 'm05' "
     "ORDER BY time")),
    (("SELECT machine, time, load, count(*) OVER (PARTITION BY machine) AS n, ntile(4) OVER (PARTITION BY machine "
     "ORDER BY load, time) AS q FROM {fleet} WHERE machine = 'm06' AND time >= from_milliseconds({E} - 600000) "
     "ORDER BY time"),
     ("SELECT machine, time, load, count(*) OVER (PARTITION BY machine) AS n, ntile(4) OVER (PARTITION BY machine "
     "ORDER BY load, time) AS q FROM fleet WHERE machine = 'm06' AND time >= epoch_ms({E} - 600000) ORDER BY time")),
    (("SELECT region, machine, load FROM (SELECT region, machine, load, row_number() OVER (PARTITION BY region "
     "ORDER BY load DESC, machine, time) AS rn FROM {fleet}) WHERE rn = 1 ORDER BY region"), None),
    (("SELECT machine, time, load FROM (SELECT machine, time, load, row_number() OVER (PARTITION BY machine "
     "ORDER BY time DESC) AS rn FROM {fleet}) WHERE rn = 1 ORDER BY machine"), None),
    # --- the newest rows of each group (the last-point pushdown: replicas return each series' newest rows)
    (("SELECT region, machine, time, rk FROM (SELECT region, machine, time, rank() OVER (PARTITION BY region "
     "ORDER BY time DESC) AS rk FROM {fleet}) WHERE rk <= 5 ORDER BY region, rk, machine, time"), None),
    (("SELECT region, machine, time, load, dr FROM (SELECT region, machine, time, load, dense_rank() OVER "
     "(PARTITION BY region ORDER BY time DESC) AS dr FROM {fleet} WHERE load > 500) WHERE dr < 3 "
     "ORDER BY region, dr, machine"), None),
    (("WITH newest AS (SELECT measure_name, host, time, measure_value::double AS v, row_number() OVER (PARTITION BY "
     "measure_name, host ORDER BY time DESC) AS rn FROM {readings}) SELECT measure_name, host, time, v FROM newest "
     "WHERE rn <= 2 ORDER BY measure_name, host, time"),
     ("WITH newest AS (SELECT measure_name, host, time, mv_double AS v, row_number() OVER (PARTITION "
     "BY measure_name, host ORDER BY time DESC) AS rn FROM readings) SELECT measure_name, host, time, v FROM "
     "newest WHERE rn <= 2 ORDER BY measure_name, host, time")),
    (("SELECT m, k FROM (SELECT machine, load, row_number() OVER (PARTITION BY machine ORDER BY time DESC) AS rn "
     "FROM {fleet}) AS s(m, rn, k) WHERE rn < 500 ORDER BY m, k LIMIT 40"), None),  # rn renamed: load
    (("SELECT status, machine, time FROM (SELECT status, machine, time, row_number() OVER (PARTITION BY status "
     "ORDER BY time DESC, machine) AS rn FROM {fleet}) WHERE rn = 1 ORDER BY status"), None),
    (("SELECT machine, time, load FROM (SELECT machine, time, load, row_number() OVER (PARTITION BY machine "
     "ORDER BY time DESC) AS rn FROM {fleet} WHERE time < from_milliseconds({O})) WHERE rn = 1 "
     "ORDER BY machine"),
     ("SELECT machine, time, load FROM (SELECT machine, time, load, row_number() OVER (PARTITION BY machine "
     "ORDER BY time DESC) AS rn FROM fleet WHERE time < epoch_ms({O})) WHERE rn = 1 ORDER BY machine")),
    # --- CTEs, subqueries, joins, set operations
    (("WITH per AS (SELECT machine, avg(load) AS a FROM {fleet} GROUP BY machine) SELECT count(*) AS above FROM per "
     "WHERE a > (SELECT avg(load) FROM {fleet})"), None),
    (("WITH r AS (SELECT region, max(temperature) AS top FROM {fleet} GROUP BY region), m AS (SELECT region, "
     "min(temperature) AS bottom FROM {fleet} GROUP BY region) SELECT r.region, top - bottom AS spread FROM r "
     "JOIN m ON r.region = m.region ORDER BY r.region"), None),
    (("SELECT machine, count(*) AS n FROM {fleet} WHERE machine IN (SELECT machine FROM {fleet} WHERE load > 995) "
     "GROUP BY machine ORDER BY machine"), None),
    (("SELECT DISTINCT f.machine FROM {fleet} f WHERE EXISTS (SELECT 1 FROM {fleet} g WHERE g.machine = f.machine "
     "AND g.status = 'fail' AND g.load > 990) ORDER BY f.machine"), None),
    (("SELECT machine, load FROM {fleet} f WHERE load = (SELECT max(load) FROM {fleet} g WHERE g.machine = f.machine) "
     "AND machine < 'm04' ORDER BY machine, load"), None),
    (("SELECT a.machine, a.time, a.load, b.load AS other FROM {fleet} a JOIN {fleet} b ON a.time = b.time AND "
     "b.machine = 'm01' WHERE a.machine = 'm00' AND a.time >= from_milliseconds({E} - 90000) ORDER BY a.time"),
     ("SELECT a.machine, a.time, a.load, b.load AS other FROM fleet a JOIN fleet b ON a.time = b.time AND "
     "b.machine = 'm01' WHERE a.machine = 'm00' AND a.time >= epoch_ms({E} - 90000) ORDER BY a.time")),
    (("SELECT m.machine, r.n FROM (SELECT DISTINCT machine FROM {fleet}) m LEFT JOIN (SELECT machine, count(*) AS n "
     "FROM {fleet} WHERE load > 998 GROUP BY machine) r ON m.machine = r.machine ORDER BY m.machine"), None),
    (("SELECT f.machine, count(*) AS n FROM {fleet} f CROSS JOIN (SELECT 1 AS one) x GROUP BY f.machine "
     "ORDER BY f.machine LIMIT 3"), None),
    ("SELECT machine FROM {fleet} WHERE load > 998 UNION SELECT machine FROM {fleet} WHERE load < 1 ORDER BY 1",
     None),
    (("SELECT machine FROM {fleet} WHERE status = 'fail' INTERSECT SELECT machine FROM {fleet} WHERE model = 'a1' "
     "ORDER BY 1"), None),
    ("SELECT region FROM {fleet} EXCEPT SELECT region FROM {fleet} WHERE machine = 'm00' ORDER BY 1", None),
    (("SELECT count(*) AS n FROM (SELECT machine FROM {fleet} WHERE load > 990 UNION ALL SELECT machine FROM "
     "{fleet} WHERE load > 990)"), None),
    (("SELECT r.host, f.n FROM (SELECT DISTINCT host FROM {readings}) r CROSS JOIN (SELECT count(DISTINCT machine) "
     "AS n FROM {fleet}) f ORDER BY r.host"), None),
    ("SELECT x, y FROM (VALUES (1, 'a'), (2, 'b')) AS t(x, y) ORDER BY x", None),
    # --- paging-size results and ordering
    ("SELECT machine, time, load FROM {fleet} WHERE " + RECENT + " ORDER BY load DESC, machine, time LIMIT 25",
     "SELECT machine, time, load FROM fleet WHERE " + RECENT_REF + " ORDER BY load DESC, machine, time LIMIT 25"),
    (("SELECT machine, temperature FROM {fleet} WHERE machine = 'm07' ORDER BY temperature NULLS FIRST, time "
     "LIMIT 4"), None),
    (("SELECT machine, temperature FROM {fleet} WHERE machine = 'm07' ORDER BY temperature DESC NULLS LAST, time "
     "LIMIT 4"), None),
    (("SELECT time, region, machine, model, load, status, healthy FROM {fleet} WHERE machine = 'm14' ORDER BY time "
     "LIMIT 3"), None),
    # --- single-measure table and measure_value::
    ("SELECT measure_name, count(*) AS n FROM {readings} GROUP BY measure_name ORDER BY measure_name", None),
    (("SELECT host, avg(measure_value::double) AS cpu FROM {readings} WHERE measure_name = 'cpu' GROUP BY host "
     "ORDER BY host"),
     "SELECT host, avg(mv_double) AS cpu FROM readings WHERE measure_name = 'cpu' GROUP BY host ORDER BY host"),
    (("SELECT host, max(measure_value::bigint) AS mem FROM {readings} WHERE measure_name = 'mem' GROUP BY host "
     "ORDER BY host"),
     "SELECT host, max(mv_bigint) AS mem FROM readings WHERE measure_name = 'mem' GROUP BY host ORDER BY host"),
    (("SELECT measure_value::varchar AS note, count(*) AS n FROM {readings} WHERE measure_name = 'note' GROUP BY 1 "
     "ORDER BY 1"),
     "SELECT mv_varchar AS note, count(*) AS n FROM readings WHERE measure_name = 'note' GROUP BY 1 ORDER BY 1"),
    (("SELECT host, count_if(measure_value::boolean) AS ups FROM {readings} WHERE measure_name = 'up' GROUP BY host "
     "ORDER BY host"),
     ("SELECT host, count(*) FILTER (WHERE mv_boolean) AS ups FROM readings WHERE measure_name = 'up' GROUP BY host "
     "ORDER BY host")),
    ("SELECT count(*) AS n FROM {readings} WHERE measure_value::double > 50", ("SELECT count(*) AS n FROM readings "
     "WHERE mv_double > 50")),
    (("SELECT time, host, measure_name, measure_value::double AS d, measure_value::bigint AS b, "
     "measure_value::varchar AS v, measure_value::boolean AS u FROM {readings} WHERE host = 'h1' ORDER BY time "
     "DESC, measure_name LIMIT 8"),
     ("SELECT time, host, measure_name, mv_double AS d, mv_bigint AS b, mv_varchar AS v, mv_boolean AS u FROM "
     "readings WHERE host = 'h1' ORDER BY time DESC, measure_name LIMIT 8")),
    (("SELECT c.host, c.time, c.measure_value::double AS cpu, m.measure_value::bigint AS mem FROM {readings} c "
     "JOIN {readings} m ON c.host = m.host AND c.time = m.time AND m.measure_name = 'mem' WHERE "
     "c.measure_name = 'cpu' AND c.host = 'h2' ORDER BY c.time LIMIT 5"),
     ("SELECT c.host, c.time, c.mv_double AS cpu, m.mv_bigint AS mem FROM readings c JOIN readings m ON "
     "c.host = m.host AND c.time = m.time AND m.measure_name = 'mem' WHERE c.measure_name = 'cpu' AND "
     "c.host = 'h2' ORDER BY c.time LIMIT 5")),
    # A sum of 3-decimal readings rounded to 3 decimals: never near a half, whatever order each side adds in
    # (an average of them can land exactly on one, where one ulp of summation order flips the rounding).
    (("SELECT bin(time, 10m) AS b, round(sum(measure_value::double), 3) AS cpu, count(*) AS n FROM {readings} "
     "WHERE measure_name = 'cpu' GROUP BY 1 ORDER BY 1"),
     ("SELECT time_bucket(INTERVAL 10 MINUTE, time) AS b, round(sum(mv_double) * 1000) / 1000 AS cpu, count(*) AS n "
     "FROM readings WHERE measure_name = 'cpu' GROUP BY 1 ORDER BY 1")),
    (("SELECT host, max_by(measure_value::varchar, time) AS latest FROM {readings} WHERE measure_name = 'note' "
     "GROUP BY host ORDER BY host"),
     ("SELECT host, arg_max(mv_varchar, time) AS latest FROM readings WHERE measure_name = 'note' GROUP BY host "
     "ORDER BY host")),
    # --- arrays and time series
    (("SELECT machine, cardinality(array_agg(load)) AS n, array_max(array_agg(load)) AS top FROM {fleet} GROUP BY "
     "machine ORDER BY machine LIMIT 4"),
     "SELECT machine, count(*) AS n, max(load) AS top FROM fleet GROUP BY machine ORDER BY machine LIMIT 4"),
    (("SELECT machine, filter(array_agg(load ORDER BY time), x -> x > 900) AS big FROM {fleet} WHERE time >= "
     "from_milliseconds({E} - 600000) GROUP BY machine ORDER BY machine LIMIT 3"),
     ("SELECT machine, list_filter(list(load ORDER BY time), lambda x: x > 900) AS big FROM fleet WHERE time >= "
     "epoch_ms({E} - 600000) GROUP BY machine ORDER BY machine LIMIT 3")),
    (("SELECT machine, reduce(array_agg(load), 0, (s, x) -> s + x, s -> s) AS total FROM {fleet} GROUP BY machine "
     "ORDER BY machine LIMIT 3"),
     "SELECT machine, sum(load) AS total FROM fleet GROUP BY machine ORDER BY machine LIMIT 3"),
    (("SELECT machine, t.time, t.value FROM (SELECT machine, INTERPOLATE_LOCF(CREATE_TIME_SERIES(time, load), "
     "SEQUENCE(min(time), max(time), 20s)) AS ts FROM {fleet} WHERE machine IN ('m00', 'm01') AND time BETWEEN "
     "from_milliseconds({E} - 600000) AND from_milliseconds({E}) GROUP BY machine) CROSS JOIN UNNEST(ts) AS "
     "t(time, value) ORDER BY machine, t.time"), locf_reference),
    (("SELECT t.time, round(t.value, 3) AS v FROM (SELECT INTERPOLATE_LINEAR(CREATE_TIME_SERIES(time, load), "
     "SEQUENCE(min(time), max(time), 10s)) AS ts FROM {fleet} WHERE machine = 'm03' AND time BETWEEN "
     "from_milliseconds({E} - 300000) AND from_milliseconds({E})) CROSS JOIN UNNEST(ts) AS t(time, value) "
     "ORDER BY t.time"), linear_reference),
    (("SELECT t.time, round(t.value, 6) AS v FROM (SELECT DERIVATIVE_LINEAR(CREATE_TIME_SERIES(time, load), 1m) "
     "AS d FROM {fleet} WHERE machine = 'm05' AND time BETWEEN from_milliseconds({E} - 300000) AND "
     "from_milliseconds({E})) CROSS JOIN UNNEST(d) AS t(time, value) ORDER BY t.time"), derivative_reference),
    (("WITH binned AS (SELECT machine, bin(time, 1m) AS binned_timestamp, avg(load) AS avg_load FROM {fleet} WHERE "
      "machine IN ('m02', 'm09') AND time BETWEEN from_milliseconds({E} - 600000) AND from_milliseconds({E}) "
      "GROUP BY machine, bin(time, 1m)), interpolated AS (SELECT machine, INTERPOLATE_LINEAR(CREATE_TIME_SERIES("
      "binned_timestamp, avg_load), SEQUENCE(min(binned_timestamp), max(binned_timestamp), 30s)) AS "
      "interpolated_load FROM binned GROUP BY machine) SELECT machine, time, ROUND(value, 2) AS load FROM "
      "interpolated CROSS JOIN UNNEST(interpolated_load) ORDER BY machine, time"), binned_interpolation_reference),
    (("SELECT t.time, t.value FROM (SELECT filter(CREATE_TIME_SERIES(time, load), p -> p.value > 500) AS ts FROM "
      "{fleet} WHERE machine = 'm07' AND time BETWEEN from_milliseconds({E} - 600000) AND from_milliseconds({E})) "
      "CROSS JOIN UNNEST(ts) AS t(time, value) ORDER BY t.time"), filtered_series_reference),
    (("SELECT machine, cardinality(ts) AS n FROM (SELECT machine, CREATE_TIME_SERIES(time, temperature) AS ts FROM "
     "{fleet} WHERE temperature IS NOT NULL AND machine < 'm03' GROUP BY machine) ORDER BY machine"),
     ("SELECT machine, count(*) AS n FROM fleet WHERE temperature IS NOT NULL AND machine < 'm03' GROUP BY machine "
     "ORDER BY machine")),
]


def ids() -> list[str]:
    return [f"{i:03d}" for i in range(len(CASES))]


@pytest.fixture(scope="module")
def reference(data: Data) -> duckdb.DuckDBPyConnection:
    return reference_tables(data)


def placeholders(d: Data, tessera: bool) -> dict[str, Any]:
    return {"fleet": f'"{d.db}"."fleet"' if tessera else "fleet",
            "readings": f'"{d.db}"."readings"' if tessera else "readings", "E": d.end_ms, "O": d.old_end_ms}


@pytest.mark.parametrize("case", range(len(CASES)), ids=ids())
def test_each_answer_equals_the_independent_reference(client: Client, data: Data,
                                                      reference: duckdb.DuckDBPyConnection, case: int) -> None:
    sql, ref = CASES[case]
    got = canonical(client.query(sql.format(**placeholders(data, True))))
    if callable(ref):
        want = ref(data)
    else:
        want = canonical(reference.sql((sql if ref is None else ref).format(**placeholders(data, False)))
                         .to_arrow_table())
    assert got and want or not got and not want, f"one side is empty: got {got[:3]}, want {want[:3]}"
    assert len(got) == len(want) and all(same(a, b) for a, b in zip(got, want)), (
        f"\n got ({len(got)}): {got[:6]}\nwant ({len(want)}): {want[:6]}")


def test_the_newest_rows_of_each_group_come_from_the_replicas_only_where_that_is_exact(
        client: Client, data: Data) -> None:
    def replica_filter(sql: str) -> str:
        plan = [str(v) for v in client.query("EXPLAIN " + sql.format(**placeholders(data, True))).column(0).to_pylist()]
        return " ".join(line for line in plan if "filter on the replicas" in line)

    newest = ("SELECT machine, load FROM (SELECT machine, load, row_number() OVER (PARTITION BY {by} ORDER BY time "
              "DESC) AS rn FROM {fleet} {where}) WHERE rn <= 2")
    assert "newest 2 rows" in replica_filter(newest.format(by="machine", where="", fleet="{fleet}"))
    assert "newest 2 rows" in replica_filter(newest.format(by="region, machine", where="WHERE load > 3",
                                                           fleet="{fleet}"))
    assert "newest" not in replica_filter(newest.format(by="status", where="", fleet="{fleet}"))  # a measure
    assert "newest" not in replica_filter(newest.format(by="machine", where="WHERE load > (SELECT 3)",
                                                        fleet="{fleet}"))  # a filter left to the final stage


def test_the_data_spans_both_tiers_and_both_cells(client: Client, data: Data) -> None:
    route = client.route(data.db, "fleet")
    assert {r.cell for r in route.ranges} == {"cell-a", "cell-b"}
    plan = "\n".join(str(v) for v in client.query(
        f'EXPLAIN ANALYZE SELECT count(*) FROM "{data.db}"."fleet"').column(0).to_pylist())
    assert "cell-a" in plan and "cell-b" in plan
    assert len(CASES) >= 100
