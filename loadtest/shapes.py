"""Data shapes a Timestream user writes that TSBS and the two-decimal sets do not cover, for
``python -m loadtest.storage_size --dataset <shape>``.

Each generator is seeded (numpy PCG64), vectorised, and gives a ``Generated``: an Arrow table as a client
would send it in a WriteBatch (time, dimensions, measures) or, for single-measure records, a WriteRecords
``records_arrow`` batch. Sizes are chosen so that building, encoding and checking one shape takes well under
a minute on one core; ``scale`` (series, or services) and ``hours`` change them.

- ``floats``: full-precision DOUBLEs computed by float arithmetic (a random walk, °F from a two-decimal °C,
  an average of three readings, an energy integral) and a two-decimal reading with one computed value in
  a thousand.
- ``counters``: monotonic BIGINT counters (bytes, packets, requests, rare errors, uptime), reset now and then.
- ``sparse``: 40 multi-measure attributes of four types, three of them set per row (the rest NULL).
- ``strings``: VARCHAR measures (a sticky status, a log level, templated messages, a UUID per row) and
  BOOLEAN measures (a sticky health flag, a 10 % sampling flag).
- ``jitter``: readings every ~10 s stamped to the millisecond: half the devices on a grid with ±250 ms
  jitter, half drifting (each interval 10 s ± 250 ms).
- ``highcard``: 100,000 series reporting every 5 min.
- ``requests``: request logs, one row per request with a unique ``request_id`` dimension (one series a row),
  Poisson arrivals in milliseconds.
- ``single``: single-measure records (measure_name varies per row; values in ``measure_value::double``,
  ``::bigint``, ``::varchar`` and ``::boolean``), sent through WriteRecords' Arrow form.
- ``wide``: one multi-measure record of 50 attributes (30 DOUBLE, 10 BIGINT, 6 VARCHAR, 4 BOOLEAN).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from loadtest.tsbs import DEFAULT_START_NS
from tessera import record_columns

SECOND_NS = 1_000_000_000
MS_NS = 1_000_000
HOUR_NS = 3600 * SECOND_NS


@dataclass(frozen=True)
class Generated:
    """One shape's rows as a client sends them: a WriteBatch table or a WriteRecords ``records_arrow`` batch."""

    table: pa.Table | None
    dimensions: tuple[str, ...] = ()
    measure_name: str = ""
    records: list[pa.RecordBatch] = field(default_factory=list)
    """Single-measure records (WriteRecords' Arrow form), when ``table`` is None."""


@dataclass(frozen=True)
class Grid:
    """``series`` series reporting every ``period_ns`` from a per-series phase, series-major."""

    series: np.ndarray  # per row, the series number
    times: np.ndarray  # per row, ns
    first: np.ndarray  # per series, its first row
    counts: np.ndarray  # per series, its rows


def grid(rng: np.random.Generator, series: int, period_ns: int, hours: int) -> Grid:
    """Every series on the same period with a random whole-second phase."""
    span = hours * HOUR_NS
    phase = rng.integers(0, max(period_ns // SECOND_NS, 1), series) * SECOND_NS
    counts = (span - phase + period_ns - 1) // period_ns
    row_series = np.repeat(np.arange(series), counts)
    first = np.r_[0, np.cumsum(counts)[:-1]]
    index = np.arange(len(row_series)) - first[row_series]
    return Grid(row_series, DEFAULT_START_NS + phase[row_series] + index * period_ns, first, counts)


def walk(rng: np.random.Generator, g: Grid, start: np.ndarray, step: float) -> np.ndarray:
    """Per row, a random walk from the series' start value with N(0, step) steps (full precision)."""
    steps = rng.normal(0.0, step, len(g.series))
    steps[g.first] = 0.0
    total = np.cumsum(steps)
    out: np.ndarray = start[g.series] + total - total[g.first][g.series]
    return out


def running(g: Grid, increments: np.ndarray) -> np.ndarray:
    """Per row, the running sum of the increments within its series (the first row's increment included)."""
    total = np.cumsum(increments)
    out: np.ndarray = total - total[g.first][g.series] + increments[g.first][g.series]
    return out


def sticky(rng: np.random.Generator, g: Grid, choices: int, change: float) -> np.ndarray:
    """Per row, a category that stays put and changes with probability ``change`` a row."""
    fresh = rng.integers(0, choices, len(g.series))
    changed = rng.random(len(g.series)) < change
    changed[g.first] = True
    last = np.maximum.accumulate(np.where(changed, np.arange(len(g.series)), 0))
    out: np.ndarray = fresh[last]
    return out


def names(prefix: str, count: int, width: int = 5) -> pa.Array:
    """``count`` distinct strings prefix00000 ..."""
    return pa.array([f"{prefix}{i:0{width}d}" for i in range(count)])


def uuids(rng: np.random.Generator, count: int) -> pa.Array:
    """Random UUID-formatted strings (36 characters, 122 random bits)."""
    raw = rng.integers(0, 256, (count, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexed = [r.tobytes().hex() for r in raw]
    return pa.array([f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" for h in hexed])


def _base(g: Grid, dims: dict[str, pa.Array]) -> dict[str, pa.Array]:
    """The time column and per-series dimension values taken to every row."""
    take = pa.array(g.series)
    return {"time": pa.array(g.times, pa.timestamp("ns")), **{k: v.take(take) for k, v in dims.items()}}


def floats(scale: int, hours: int, seed: int) -> Generated:
    """Full-precision DOUBLEs computed by float arithmetic, and a mostly two-decimal one."""
    rng = np.random.default_rng(seed)
    g = grid(rng, scale, 10 * SECOND_NS, hours)
    n = len(g.series)
    celsius = np.round(walk(rng, g, rng.uniform(15, 30, scale), 0.05), 2)
    power_w = np.maximum(walk(rng, g, rng.uniform(50, 500, scale), 2.0), 0.0)
    readings = np.round(walk(rng, g, rng.uniform(-80, -40, scale), 0.3), 2)
    averaged = rng.random(n) < 0.001
    readings[averaged] = (readings[averaged] * 3 + 0.01) / 3  # one value in 1,000 is a computed average
    columns = _base(g, {"device": names("dev-", scale), "site": pa.array([f"site-{i % 20}" for i in range(scale)])})
    columns |= {
        "temp_raw": pa.array(walk(rng, g, rng.uniform(15, 30, scale), 0.02)),
        "temp_f": pa.array(celsius * 9 / 5 + 32),
        "load": pa.array(sum(np.round(walk(rng, g, rng.uniform(0, 4, scale), 0.05), 2) for _ in range(3)) / 3),
        "energy_kwh": pa.array(running(g, power_w * 10 / 3_600_000)),
        "rssi": pa.array(readings),
    }
    return Generated(pa.table(columns), ("device", "site"), "env")


def counters(scale: int, hours: int, seed: int) -> Generated:
    """Monotonic BIGINT counters with mostly small increments and rare resets."""
    rng = np.random.default_rng(seed)
    g = grid(rng, scale, 10 * SECOND_NS, hours)
    n = len(g.series)
    reset = rng.random(n) < 1 / 20_000

    def counter(increments: np.ndarray, start: np.ndarray) -> pa.Array:
        inc = increments.astype(np.int64)
        inc[g.first] += start[g.series[g.first]]
        total = running(g, inc)
        # a reset (process restart) starts the count again from that row's increment
        at = np.flatnonzero(reset)
        for i in at:
            end = g.first[g.series[i]] + g.counts[g.series[i]]
            total[i:end] -= total[i] - inc[i]
        return pa.array(total)

    columns = _base(g, {"host": names("host-", scale), "service": pa.array([f"svc-{i % 15}" for i in range(scale)])})
    columns |= {
        "bytes_in": counter(rng.lognormal(11, 1, n), rng.integers(0, 2**40, scale)),
        "packets_in": counter(rng.poisson(80, n), rng.integers(0, 2**30, scale)),
        "requests": counter(rng.poisson(5, n), rng.integers(0, 2**24, scale)),
        "errors": counter(rng.random(n) < 0.01, rng.integers(0, 100, scale)),
        "uptime_s": counter(np.full(n, 10), rng.integers(0, 10**7, scale)),
    }
    return Generated(pa.table(columns), ("host", "service"), "net")


def sparse(scale: int, hours: int, seed: int) -> Generated:
    """40 attributes of four types, each device reporting three of its own eight per row."""
    rng = np.random.default_rng(seed)
    g = grid(rng, scale, 30 * SECOND_NS, hours)
    n = len(g.series)
    columns = _base(g, {"device": names("dev-", scale), "kind": pa.array([f"kind-{i % 8}" for i in range(scale)])})
    own = np.stack([rng.choice(40, 8, replace=False) for _ in range(scale)])  # each device's eight attributes
    picked = own[g.series[:, None], np.stack([rng.choice(8, 3, replace=False) for _ in range(n)])]
    present = np.zeros((n, 40), dtype=np.bool_)
    present[np.arange(n)[:, None], picked] = True
    for a in range(40):
        mask = ~present[:, a]
        if a % 4 == 0:
            values: pa.Array = pa.array(np.round(walk(rng, g, rng.uniform(0, 100, scale), 0.1), 2), mask=mask)
        elif a % 4 == 1:
            values = pa.array(running(g, rng.poisson(3, n)), mask=mask)
        elif a % 4 == 2:
            values = pa.array(np.array(["ok", "warn", "fail", "unknown"])[sticky(rng, g, 4, 0.05)], mask=mask)
        else:
            values = pa.array(sticky(rng, g, 2, 0.05).astype(np.bool_), mask=mask)
        columns[f"attr_{a:02d}"] = values
    return Generated(pa.table(columns), ("device", "kind"), "event")


def strings(scale: int, hours: int, seed: int) -> Generated:
    """VARCHAR measures of low and high cardinality, and BOOLEAN measures."""
    rng = np.random.default_rng(seed)
    g = grid(rng, scale, 10 * SECOND_NS, hours)
    n = len(g.series)
    statuses = np.array(["RUNNING", "DEGRADED", "STOPPED", "STARTING", "MAINTENANCE"])
    verbs = np.array(["GET", "PUT", "POST", "DELETE"])
    paths = np.array(["/api/v1/items", "/api/v1/users", "/api/v2/orders", "/health", "/api/v1/search"])
    ids, ms = rng.integers(1, 10**6, n), rng.lognormal(3, 1, n).astype(np.int64)
    messages = [f"{v} {p}/{i} took {m} ms" for v, p, i, m in zip(verbs[rng.integers(0, 4, n)],
                                                                   paths[rng.integers(0, 5, n)], ids, ms)]
    columns = _base(g, {"service": names("svc-", scale, 3)})
    columns |= {
        "status": pa.array(statuses[sticky(rng, g, 5, 0.002)]),
        "level": pa.array(np.where(rng.random(n) < 0.9, "INFO", np.where(rng.random(n) < 0.8, "WARN", "ERROR"))),
        "message": pa.array(messages),
        "trace_id": uuids(rng, n),
        "healthy": pa.array(sticky(rng, g, 2, 0.001).astype(np.bool_)),
        "sampled": pa.array(rng.random(n) < 0.1),
    }
    return Generated(pa.table(columns), ("service",), "log")


def jitter(scale: int, hours: int, seed: int) -> Generated:
    """Two-decimal readings about every 10 s, stamped to the millisecond: grid ± jitter, or drifting."""
    rng = np.random.default_rng(seed)
    g = grid(rng, scale, 10 * SECOND_NS, hours)
    n = len(g.series)
    offsets = rng.integers(-250, 251, n) * MS_NS
    drifting = (g.series % 2).astype(np.bool_)
    drift = running(g, offsets)  # each interval 10 s ± 250 ms: the offsets add up
    times = g.times + np.where(drifting, drift, offsets)
    keep = times < DEFAULT_START_NS + hours * HOUR_NS
    columns = _base(g, {"device": names("dev-", scale)})
    columns["time"] = pa.array(times, pa.timestamp("ns"))
    columns |= {"temperature": pa.array(np.round(walk(rng, g, rng.uniform(15, 30, scale), 0.03), 2)),
                "humidity": pa.array(np.round(walk(rng, g, rng.uniform(30, 70, scale), 0.1), 1))}
    return Generated(pa.table(columns).filter(pa.array(keep)), ("device",), "reading")


def highcard(scale: int, hours: int, seed: int) -> Generated:
    """Many series (``scale``, default 100,000), each reporting every 5 minutes."""
    rng = np.random.default_rng(seed)
    g = grid(rng, scale, 300 * SECOND_NS, hours)
    n = len(g.series)
    columns = _base(g, {"device_id": names("device-", scale, 6),
                        "region": pa.array([f"region-{i % 10}" for i in range(scale)])})
    columns |= {"value": pa.array(np.round(walk(rng, g, rng.uniform(0, 100, scale), 0.5), 2)),
                "count": pa.array(rng.poisson(20, n))}
    return Generated(pa.table(columns), ("device_id", "region"), "metric")


def requests(scale: int, hours: int, seed: int) -> Generated:
    """Request logs of ``scale`` services (default 20): Poisson arrivals at 100/s in all, a unique request_id."""
    rng = np.random.default_rng(seed)
    n = 100 * 3600 * hours
    times = DEFAULT_START_NS + np.sort(rng.integers(0, hours * 3600 * 1000, n)) * MS_NS
    service = rng.integers(0, scale, n)
    endpoint = service * 10 + rng.integers(0, 10, n)
    status = np.where(rng.random(n) < 0.97, 200, rng.choice(np.array([201, 204, 301, 400, 404, 500, 503]), n))
    columns = {"time": pa.array(times, pa.timestamp("ns")),
               "service": names("svc-", scale, 2).take(pa.array(service)),
               "endpoint": pa.array([f"/api/e{e}" for e in range(scale * 10)]).take(pa.array(endpoint)),
               "request_id": uuids(rng, n),
               "latency_ms": pa.array(np.round(rng.lognormal(3, 0.8, n), 3)),
               "status_code": pa.array(status.astype(np.int64)),
               "response_bytes": pa.array(rng.lognormal(8, 1.5, n).astype(np.int64))}
    return Generated(pa.table(columns), ("service", "endpoint", "request_id"), "request")


def single(scale: int, hours: int, seed: int, batch_records: int = 10_000) -> Generated:
    """Single-measure records: per host, cpu (DOUBLE), mem_free (BIGINT), state (VARCHAR), up (BOOLEAN)."""
    rng = np.random.default_rng(seed)
    g = grid(rng, scale, 10 * SECOND_NS, hours)
    n = len(g.series)
    cpu = np.clip(np.round(walk(rng, g, rng.uniform(5, 60, scale), 1.0), 2), 0, 100)
    mem = (rng.integers(2**30, 2**34, scale)[g.series] + running(g, rng.integers(-2**20, 2**20, n)))
    state = np.array(["active", "idle", "draining"])[sticky(rng, g, 3, 0.005)]
    up = np.where(sticky(rng, g, 2, 0.0005).astype(np.bool_), "false", "true")
    kinds = (("cpu", "DOUBLE", [repr(float(v)) for v in cpu]), ("mem_free", "BIGINT", [str(v) for v in mem]),
             ("state", "VARCHAR", state.tolist()), ("up", "BOOLEAN", up.tolist()))
    hosts = [f"host-{i:04d}" for i in range(scale)]
    dimension = pa.struct([("Name", pa.string()), ("Value", pa.string()), ("DimensionValueType", pa.string())])
    batches = []
    order = np.argsort(g.times, kind="stable")  # records arrive in time order, all hosts interleaved
    for lo in range(0, n, batch_records // len(kinds)):
        rows = order[lo:lo + batch_records // len(kinds)]
        count = len(rows) * len(kinds)
        host_values = [hosts[s] for s in g.series[rows] for _ in kinds]
        dims = pa.StructArray.from_arrays(
            [pa.array(["host"] * count), pa.array(host_values), pa.nulls(count, pa.string())],
            fields=list(dimension))
        record = {
            "Dimensions": pa.ListArray.from_arrays(pa.array(np.arange(count + 1, dtype=np.int32)), dims),
            "MeasureName": pa.array([k[0] for _ in rows for k in kinds]),
            "MeasureValue": pa.array([k[2][r] for r in rows for k in kinds]),
            "MeasureValueType": pa.array([k[1] for _ in rows for k in kinds]),
            "MeasureValues": pa.nulls(count, record_columns.RECORD_TYPE.field("MeasureValues").type),
            "Time": pa.array([str(t // MS_NS) for t in g.times[rows] for _ in kinds]),
            "TimeUnit": pa.array(["MILLISECONDS"] * count),
            "Version": pa.nulls(count, pa.int64()),
        }
        batches.append(pa.RecordBatch.from_pydict(record, schema=record_columns.RECORDS_SCHEMA))
    return Generated(None, records=batches)


def wide(scale: int, hours: int, seed: int) -> Generated:
    """One multi-measure record of 50 attributes per machine every 10 s."""
    rng = np.random.default_rng(seed)
    g = grid(rng, scale, 10 * SECOND_NS, hours)
    n = len(g.series)
    columns = _base(g, {"machine": names("m-", scale, 4), "line": pa.array([f"line-{i % 10}" for i in range(scale)])})
    for i in range(20):
        columns[f"gauge_{i:02d}"] = pa.array(np.round(walk(rng, g, rng.uniform(0, 500, scale), 0.2), 2))
    for i in range(10):
        columns[f"calc_{i:02d}"] = pa.array(walk(rng, g, rng.uniform(0, 10, scale), 0.01))
    for i in range(5):
        columns[f"level_{i}"] = pa.array(np.clip(running(g, rng.integers(-1, 2, n)), -50, 50))
    for i in range(5):
        columns[f"total_{i}"] = pa.array(running(g, rng.poisson(2 + i * 10, n)))
    for i in range(6):
        columns[f"mode_{i}"] = pa.array(np.array(["auto", "manual", "off", "service"])[sticky(rng, g, 4, 0.002)])
    for i in range(4):
        columns[f"alarm_{i}"] = pa.array(sticky(rng, g, 2, 0.001).astype(np.bool_))
    return Generated(pa.table(columns), ("machine", "line"), "plc")


@dataclass(frozen=True)
class Shape:
    """A generator and its defaults."""

    make: Callable[[int, int, int], Generated]
    scale: int
    hours: int
    seed: int = 21


SHAPES: dict[str, Shape] = {
    "floats": Shape(floats, 100, 24),
    "counters": Shape(counters, 100, 24),
    "sparse": Shape(sparse, 200, 24),
    "strings": Shape(strings, 100, 12),
    "jitter": Shape(jitter, 100, 24),
    "highcard": Shape(highcard, 100_000, 1),
    "requests": Shape(requests, 20, 2),
    "single": Shape(single, 100, 6),
    "wide": Shape(wide, 50, 12),
}
