"""The seeds' industrial IoT scenario as a load generator, and Arrow chunks → Timestream MULTI records.

Factories hold production lines, lines hold machines; every machine reports one multi-measure record per
interval: temperature (DOUBLE, °C, a daily cycle plus a per-machine offset and noise), pressure (DOUBLE,
kPa), vibration (DOUBLE, mm/s), energy (BIGINT, Wh per interval), rpm (BIGINT, 0 while idle) and status
(VARCHAR: running, idle or fault). Machine m07 of every line runs hot (an anomaly to find), as in
``tessera.sample``. Seeded (numpy PCG64), vectorised, time-ordered with machine order inside an epoch, end
exclusive, like :class:`loadtest.tsbs.CpuOnly`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

DIMENSIONS = ("factory", "line", "machine")
MEASURES = ("temperature", "pressure", "vibration", "energy", "rpm", "status")
MEASURE_NAME = "machine"
STATUSES = ("running", "idle", "fault")
FACTORY_NAMES = ("berlin", "osaka", "austin", "lyon", "pune", "monterrey", "gdansk", "shenzhen")
SECOND_NS = 1_000_000_000
DEFAULT_START_NS = 1_451_606_400_000_000_000  # 2016-01-01, like TSBS; the CLI shifts it to "now - span"
DAY_NS = 86_400 * SECOND_NS
HOT_MACHINE = 7


@dataclass(frozen=True)
class Iot:
    """Factories × lines × machines reporting six measures every ``interval_ns`` over [start_ns, end_ns)."""

    factories: int = 3
    lines_per_factory: int = 2
    machines_per_line: int = 10
    start_ns: int = DEFAULT_START_NS
    end_ns: int = DEFAULT_START_NS + 24 * 3600 * SECOND_NS
    interval_ns: int = 10 * SECOND_NS
    seed: int = 7

    def __post_init__(self) -> None:
        if min(self.factories, self.lines_per_factory, self.machines_per_line) < 1:
            raise ValueError("need at least one factory, one line per factory and one machine per line")
        if self.interval_ns <= 0 or self.end_ns <= self.start_ns:
            raise ValueError("need interval_ns > 0 and end_ns > start_ns")

    @property
    def machines(self) -> int:
        """Series in the data set (one per machine)."""
        return self.factories * self.lines_per_factory * self.machines_per_line

    @property
    def epochs(self) -> int:
        """Timestamps per machine: floor((end - start) / interval)."""
        return (self.end_ns - self.start_ns) // self.interval_ns

    @property
    def rows(self) -> int:
        """Rows (records) in the data set; each holds len(MEASURES) values."""
        return self.epochs * self.machines

    def machine_tags(self) -> pa.Table:
        """factory, line, machine of every machine, in machine order."""
        factory, line, machine = [], [], []
        for f in range(self.factories):
            name = FACTORY_NAMES[f] if f < len(FACTORY_NAMES) else f"factory-{f:03d}"
            for li in range(self.lines_per_factory):
                for m in range(1, self.machines_per_line + 1):
                    factory.append(name)
                    line.append(f"line-{li + 1}")
                    machine.append(f"m{m:02d}")
        return pa.table({"factory": factory, "line": line, "machine": machine})

    def chunks(self, epochs_per_chunk: int = 360) -> Iterator[pa.Table]:
        """Arrow tables of whole epochs: time (timestamp[ns]), the 3 dimensions, the 6 measures."""
        tags = self.machine_tags()
        n = self.machines
        setup = np.random.default_rng([self.seed, 1])
        offset = setup.normal(0.0, 2.0, n) + np.where(_machine_numbers(tags) == HOT_MACHINE, 15.0, 0.0)
        nominal_rpm = setup.choice(np.array([1200, 1500, 1800, 3000]), n)
        hot = _machine_numbers(tags) == HOT_MACHINE
        rng = np.random.default_rng([self.seed, 2])
        state = np.zeros(n, dtype=np.int8)  # index into STATUSES
        for first in range(0, self.epochs, epochs_per_chunk):
            count = min(epochs_per_chunk, self.epochs - first)
            times = self.start_ns + (first + np.arange(count, dtype=np.int64)) * self.interval_ns
            status = np.empty((count, n), dtype=np.int8)
            draws = rng.random((count, n))
            for e in range(count):
                state = _next_status(state, draws[e])
                status[e] = state
            phase = (2 * np.pi * (times % DAY_NS) / DAY_NS)[:, None]
            running = status == 0
            temperature = 60.0 + offset + 4.0 * np.sin(phase) + rng.normal(0.0, 0.8, (count, n))
            pressure = 101.3 + 2.0 * np.cos(phase) + rng.normal(0.0, 0.3, (count, n))
            vibration = np.abs(rng.normal(np.where(hot, 0.9, 0.4), 0.1, (count, n))) * np.where(running, 1.0, 0.1)
            energy = np.where(running, rng.integers(900, 1400, (count, n)), rng.integers(50, 120, (count, n)))
            rpm = np.where(running, nominal_rpm + rng.integers(-25, 26, (count, n)), 0)
            take = pa.array(np.tile(np.arange(n), count))
            columns: dict[str, Any] = {"time": pa.array(np.repeat(times, n), pa.timestamp("ns"))}
            for dim in DIMENSIONS:
                columns[dim] = tags.column(dim).take(take)
            columns["temperature"] = pa.array(np.round(temperature, 2).ravel())
            columns["pressure"] = pa.array(np.round(pressure, 2).ravel())
            columns["vibration"] = pa.array(np.round(vibration, 3).ravel())
            columns["energy"] = pa.array(energy.ravel().astype(np.int64))
            columns["rpm"] = pa.array(rpm.ravel().astype(np.int64))
            columns["status"] = pa.DictionaryArray.from_arrays(pa.array(status.ravel()),
                                                              pa.array(STATUSES)).cast(pa.string())
            yield pa.table(columns)


def _next_status(state: np.ndarray, draw: np.ndarray) -> np.ndarray:
    """One step of a Markov chain: running ⇄ idle (about 5 % idle), rare faults that clear within minutes."""
    running, idle, fault = state == 0, state == 1, state == 2
    out = state.copy()
    out[running & (draw < 0.001)] = 1
    out[running & (draw > 0.9998)] = 2
    out[idle & (draw < 0.02)] = 0
    out[fault & (draw < 0.05)] = 0
    return out


def _machine_numbers(tags: pa.Table) -> np.ndarray:
    return np.array([int(m[1:]) for m in tags.column("machine").to_pylist()])


_TYPES = (
    (pa.types.is_boolean, "BOOLEAN"),
    (pa.types.is_integer, "BIGINT"),
    (pa.types.is_floating, "DOUBLE"),
    (pa.types.is_timestamp, "TIMESTAMP"),
    (lambda t: pa.types.is_string(t) or pa.types.is_large_string(t), "VARCHAR"),
)


def measure_type(arrow_type: pa.DataType) -> str:
    """The Timestream MeasureValueType of an Arrow column type."""
    for test, name in _TYPES:
        if test(arrow_type):
            return name
    raise ValueError(f"no Timestream measure type for Arrow type {arrow_type}")


def to_records(chunk: pa.Table, dimensions: Sequence[str], measure_name: str,
               time_column: str = "time") -> list[dict[str, Any]]:
    """One boto3-shaped MULTI record per row: the dimensions, every other column a measure, time in ns.

    Null measures are left out of a record (Timestream has no null measure values).
    """
    measures = [c for c in chunk.column_names if c != time_column and c not in dimensions]
    types = {c: measure_type(chunk.schema.field(c).type) for c in measures}
    time_ns = chunk.column(time_column).cast(pa.int64()).to_pylist()
    dim_values = [chunk.column(d).cast(pa.string()).to_pylist() for d in dimensions]
    measure_values = [_strings(chunk.column(c), types[c]) for c in measures]
    out: list[dict[str, Any]] = []
    for i in range(chunk.num_rows):
        out.append({
            "Dimensions": [{"Name": d, "Value": v[i]} for d, v in zip(dimensions, dim_values) if v[i] is not None],
            "MeasureName": measure_name,
            "MeasureValueType": "MULTI",
            "MeasureValues": [{"Name": c, "Value": v[i], "Type": types[c]}
                              for c, v in zip(measures, measure_values) if v[i] is not None],
            "Time": str(time_ns[i]),
            "TimeUnit": "NANOSECONDS",
        })
    return out


def _strings(column: pa.ChunkedArray, kind: str) -> list[str | None]:
    if kind == "TIMESTAMP":  # Timestream TIMESTAMP measure values are epoch milliseconds
        column = column.cast(pa.timestamp("ms")).cast(pa.int64())
    elif kind == "BOOLEAN":
        return [None if v is None else ("true" if v else "false") for v in column.to_pylist()]
    strings: list[str | None] = column.cast(pa.string()).to_pylist()
    return strings
