"""Bytes per value of the magnetic store's segment files: ``python -m loadtest.storage_size``.

    python -m loadtest.storage_size --dataset tsbs --scale 100 --hours 24 --span-hours 1 6 24
    python -m loadtest.storage_size --dataset decimals2 --scale 1000 --hours 24 --span-hours 1 6 24

No cluster: the rows are built the way ingest builds them (``validate_write_batch`` then
``layout.with_key_columns``), cut into tiles of ``--span-hours`` (one hash range), and each tile is encoded
by ``services.storage.segments.encode_segment`` and read back whole with ``read_segment`` from a local blob
store, which must return exactly the rows encoded (checked bit for bit; the report says so). Printed: a
markdown table per span of rows, values (rows × measures), bytes of the segment files, bytes per value,
the manifest's key summary per value, encode and full-read rates (one core, pyarrow's own threads aside),
and the zero-order entropy of each series' successive value differences, a floor no coder that stores
differences one at a time can beat.

Datasets:

- ``tsbs``: TSBS devops cpu-only (``loadtest.tsbs``), one multi-measure record per host every 10 s with
  10 BIGINT measures (``--float``: two-decimal DOUBLEs instead), ``--scale`` hosts.
- ``decimals2``: ``TwoDecimals`` below, ``--scale`` devices (default 1,000) reporting 6 two-decimal
  DOUBLE measures every 10, 15, 20, 30 or 60 s (per device), stamped to the second (``--jitter-ms``
  adds uniform jitter of up to that many milliseconds).
- ``iot``: the seeds' factory scenario (``loadtest.iot``), 6 measures of mixed types.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from loadtest import iot, tsbs
from services.storage.blobstore import LocalBlobStore
from services.storage.segments import DEFAULT_OPTIONS, SegmentOptions, encode_segment, read_segment
from tessera import arrowipc, layout
from tessera.v1 import ingest_pb2
from tessera.validation import TableContext, validate_write_batch

HOUR_NS = 3600 * 1_000_000_000
SECOND_NS = 1_000_000_000
DEFAULT_START_NS = tsbs.DEFAULT_START_NS


@dataclass(frozen=True)
class TwoDecimals:
    """Devices reporting two-decimal DOUBLE readings: random walks rounded to 0.01, one reading per device
    every 10..60 s (a per-device period), over [start_ns, end_ns).

    Per device: site (1 of 20) and model (1 of 5) dimensions, and six readings, each a random walk plus
    Gaussian sensor noise (step σ / noise σ): temperature (°C, 0.02 / 0.05), humidity (%, 0.1 / 0.3, within
    0..100), voltage (V around 230, 0.05 / 0.4), current (A, 0.05 / 0.1, at least 0), pressure (hPa,
    0.02 / 0.03); battery (%) drains by U(0, 0.02) a reading. Seeded numpy PCG64.
    """

    devices: int = 1000
    start_ns: int = DEFAULT_START_NS
    end_ns: int = DEFAULT_START_NS + 24 * HOUR_NS
    seed: int = 11
    jitter_ms: int = 0

    MEASURES = ("temperature", "humidity", "voltage", "current", "pressure", "battery")
    DIMENSIONS = ("device", "site", "model")
    MEASURE_NAME = "sensors"
    PERIODS_S = (10, 15, 20, 30, 60)

    def table(self) -> pa.Table:
        """Every reading, device-major then time-ordered: time, the dimensions, the measures."""
        rng = np.random.default_rng(self.seed)
        n = self.devices
        period = rng.choice(np.array(self.PERIODS_S, dtype=np.int64), n) * SECOND_NS
        phase = (rng.integers(0, 60, n) * SECOND_NS) % period
        counts = np.maximum((self.end_ns - self.start_ns - phase + period - 1) // period, 0)
        device = np.repeat(np.arange(n), counts)
        first = np.r_[0, np.cumsum(counts)[:-1]]
        index = np.arange(len(device)) - np.repeat(first, counts)
        times = self.start_ns + phase[device] + index * period[device]
        if self.jitter_ms:  # under half the shortest period: a device's readings keep their order
            times += rng.integers(-self.jitter_ms, self.jitter_ms + 1, len(times)) * 1_000_000

        def within_device(steps: np.ndarray) -> np.ndarray:
            """Running sums of the steps, restarting at each device's first reading (which adds nothing)."""
            steps[first[counts > 0]] = 0.0
            total = np.cumsum(steps)
            out: np.ndarray = total - np.repeat(total[first[counts > 0]], counts[counts > 0])
            return out

        def reading(start: np.ndarray, step: float, noise: float) -> np.ndarray:
            """A random walk (the quantity) plus independent measurement noise (the sensor)."""
            walked = within_device(rng.normal(0.0, step, len(device)))
            out: np.ndarray = start[device] + walked + rng.normal(0.0, noise, len(device))
            return out

        values = {
            "temperature": reading(rng.uniform(15, 30, n), 0.02, 0.05),
            "humidity": np.clip(reading(rng.uniform(30, 70, n), 0.1, 0.3), 0.0, 100.0),
            "voltage": reading(rng.normal(230, 1.0, n), 0.05, 0.4),
            "current": np.maximum(reading(rng.uniform(0.5, 15, n), 0.05, 0.1), 0.0),
            "pressure": reading(rng.uniform(990, 1030, n), 0.02, 0.03),
            "battery": np.maximum(rng.uniform(60, 100, n)[device] - within_device(rng.uniform(0, 0.02, len(device))),
                                  0.0),
        }
        columns: dict[str, Any] = {"time": pa.array(times, pa.timestamp("ns")),
                                   "device": pa.array([f"dev-{i:05d}" for i in range(n)]).take(pa.array(device)),
                                   "site": pa.array([f"site-{i:02d}" for i in rng.integers(0, 20, n)]).take(
                                       pa.array(device)),
                                   "model": pa.array([f"model-{c}" for c in "abcde"])
                                   .take(pa.array(rng.integers(0, 5, n)[device]))}
        for name in self.MEASURES:
            columns[name] = pa.array(np.round(values[name], 2))
        return pa.table(columns)


# --- rows as ingest builds them ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    """Layout rows of a data set (keyed as ingest keys them) and the names of its measure columns."""

    name: str
    rows: pa.Table
    measures: list[str]


def _keyed(chunks: Iterator[pa.Table], dimensions: Sequence[str], measure_name: str, now_ns: int,
           batch_rows: int = 50_000) -> tuple[pa.Table, list[str]]:
    """validate_write_batch + layout.with_key_columns over each chunk, as the ingest node does."""
    ctx = TableContext(columns={}, memory_retention_ns=10**18, magnetic_retention_ns=10**18, magnetic_writes=True,
                       now_ns=now_ns)
    out: list[pa.Table] = []
    measures: list[str] = []
    for chunk in chunks:
        for lo in range(0, chunk.num_rows, batch_rows):
            request = ingest_pb2.WriteBatchRequest(arrow_ipc=arrowipc.to_ipc(chunk.slice(lo, batch_rows)),
                                                   dimension_columns=list(dimensions), measure_name=measure_name)
            valid = validate_write_batch(request, ctx)
            if valid.rejected:
                raise RuntimeError(f"the generator made rejected rows: {valid.rejected[0]}")
            keyed, _ = layout.with_key_columns(valid.rows, valid.dimension_columns, valid.measure_columns,
                                               valid.versions)
            out.append(keyed)
            measures = valid.measure_columns
    return pa.concat_tables(out, promote_options="default"), measures


def build(dataset: str, scale: int | None, hours: int, *, two_decimals: bool = False, jitter_ms: int = 0,
          seed: int | None = None) -> Dataset:
    """The rows of ``dataset`` (tsbs, decimals2 or iot) over ``hours`` from TSBS's start (2016-01-01)."""
    end = DEFAULT_START_NS + hours * HOUR_NS
    now = end + HOUR_NS
    if dataset == "tsbs":
        data = tsbs.CpuOnly(scale=scale or 100, end_ns=end, integer=not two_decimals,
                            **({} if seed is None else {"seed": seed}))
        rows, measures = _keyed(data.chunks(360), tsbs.TAGS, "cpu", now)
        return Dataset("tsbs" + (" (2 decimals)" if two_decimals else ""), rows, measures)
    if dataset == "decimals2":
        gen = TwoDecimals(devices=scale or 1000, end_ns=end, jitter_ms=jitter_ms,
                          **({} if seed is None else {"seed": seed}))
        rows, measures = _keyed(iter([gen.table()]), gen.DIMENSIONS, gen.MEASURE_NAME, now)
        return Dataset("decimals2" + (f" (±{jitter_ms} ms)" if jitter_ms else ""), rows, measures)
    if dataset == "iot":
        factory = iot.Iot(factories=scale or 3, end_ns=end, **({} if seed is None else {"seed": seed}))
        rows, measures = _keyed(factory.chunks(360), iot.DIMENSIONS, iot.MEASURE_NAME, now)
        return Dataset("iot", rows, measures)
    raise ValueError(f"unknown dataset {dataset!r}: tsbs, decimals2 or iot")


# --- measuring --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """Figures of one data set cut into tiles of one span."""

    dataset: str
    span_hours: int
    tiles: int
    rows: int
    values: int
    bytes: int
    summary_bytes: int
    """JSON of the SegmentInfos (what the manifests hold), key summary included."""
    encode_s: float
    read_s: float
    exact: bool
    """Every tile read back bit for bit as encoded."""

    @property
    def bytes_per_value(self) -> float:
        """Bytes of the segment files per measure value."""
        return self.bytes / self.values

    def markdown_row(self) -> str:
        """The result as a row of ``HEADER``'s table."""
        return (f"| {self.dataset} | {self.span_hours} h | {self.tiles} | {self.rows:,} | {self.values:,} | "
                f"{self.bytes:,} | **{self.bytes_per_value:.3f}** | {self.summary_bytes / self.values:.4f} | "
                f"{self.rows / self.encode_s:,.0f} | {self.rows / self.read_s:,.0f} | "
                f"{'yes' if self.exact else 'NO'} |")


HEADER = ("| dataset | span | tiles | rows | values | bytes | bytes/value | manifest info B/value | encode rows/s | "
          "full-read rows/s | exact round trip |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")


def identical(got: pa.Table, want: pa.Table) -> bool:
    """Same schema and every value bit for bit (NaN payloads and -0.0 included), NULLs in the same rows."""
    if got.schema != want.schema or got.num_rows != want.num_rows:
        return False
    for name in want.column_names:
        a, b = got.column(name).combine_chunks(), want.column(name).combine_chunks()
        if not a.is_valid().equals(b.is_valid()):
            return False
        if pa.types.is_floating(a.type):
            bits_a = a.fill_null(0.0).to_numpy(zero_copy_only=False).view(np.uint64)
            bits_b = b.fill_null(0.0).to_numpy(zero_copy_only=False).view(np.uint64)
            if not np.array_equal(bits_a, bits_b):
                return False
        elif not a.equals(b):
            return False
    return True


def tiles(rows: pa.Table, span_hours: int) -> Iterator[pa.Table]:
    """The rows of each span-aligned time bucket (one hash range: every series)."""
    bucket = rows.column(layout.TIME).cast(pa.int64()).to_numpy() // (span_hours * HOUR_NS)
    for b in np.unique(bucket):
        yield rows.filter(pa.array(bucket == b))


def measure(data: Dataset, span_hours: int, options: SegmentOptions = DEFAULT_OPTIONS) -> Result:
    """Encode every tile of the span, store it, read it back whole and compare."""
    import json

    count = size = summary = 0
    encode_s = read_s = 0.0
    exact = True
    with tempfile.TemporaryDirectory(prefix="storage-size-") as tmp:
        store = LocalBlobStore(Path(tmp))
        for tile in tiles(data.rows, span_hours):
            started = time.perf_counter()
            encoded = encode_segment(tile, data.measures, options=options)
            encode_s += time.perf_counter() - started
            path = f"tiles/{count:05d}.parquet"
            store.put(path, encoded.data)
            started = time.perf_counter()
            back = read_segment(store, path)
            read_s += time.perf_counter() - started
            want = tile.sort_by([(layout.SERIES, "ascending"), (layout.TIME, "ascending")])
            exact = exact and identical(back.table, want)
            size += encoded.info.bytes
            summary += len(json.dumps(encoded.info.to_json()))
            count += 1
    values = data.rows.num_rows * len(data.measures)
    return Result(data.name, span_hours, count, data.rows.num_rows, values, size, summary, encode_s, read_s, exact)


def _integers(values: np.ndarray) -> np.ndarray | None:
    """Integer-valued or short-decimal doubles as integers (v * 10**k), else None."""
    if values.dtype.kind in "iu":
        return values.astype(np.int64)
    if not np.isfinite(values).all():
        return None
    for k in range(10):
        ints = np.rint(values * 10.0**k)
        if np.array_equal(ints / 10.0**k, values):
            return ints.astype(np.int64)
    return None


def entropy_floor(data: Dataset) -> float | None:
    """Zero-order entropy, in bytes per value, of each series' successive value differences (measures
    that are not integers or short decimals excluded; None if none is)."""
    rows = data.rows.sort_by([(layout.SERIES, "ascending"), (layout.TIME, "ascending")])
    series = rows.column(layout.SERIES).to_numpy()
    same = series[1:] == series[:-1]
    bits = 0.0
    counted = 0
    for name in data.measures:
        column = rows.column(name)
        if column.null_count or not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
            continue
        ints = _integers(column.to_numpy())
        if ints is None:
            continue
        diffs = np.diff(ints)[same]
        _, freq = np.unique(diffs, return_counts=True)
        p = freq / freq.sum()
        bits += float(-(p * np.log2(p)).sum()) * len(ints)
        counted += len(ints)
    return bits / 8 / counted if counted else None


def main(argv: list[str] | None = None) -> None:
    """The command line: build the data set, measure each span, print the table."""
    p = argparse.ArgumentParser(prog="python -m loadtest.storage_size", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=("tsbs", "decimals2", "iot"), default="tsbs")
    p.add_argument("--scale", type=int, default=None,
                   help="hosts (tsbs, default 100), devices (decimals2, default 1000) or factories (iot, default 3)")
    p.add_argument("--hours", type=int, default=24)
    p.add_argument("--span-hours", type=int, nargs="+", default=[1, 6, 24], help="tile time spans to report")
    p.add_argument("--float", action="store_true", help="tsbs: two-decimal DOUBLE values instead of BIGINT")
    p.add_argument("--jitter-ms", type=int, default=0, help="decimals2: uniform jitter of the readings' times")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--level", type=int, default=DEFAULT_OPTIONS.compression_level, help="zstd level (1..22)")
    p.add_argument("--row-group-rows", type=int, default=DEFAULT_OPTIONS.row_group_rows)
    a = p.parse_args(argv)
    if a.hours < 1 or any(s < 1 for s in a.span_hours) or (a.scale is not None and a.scale < 1):
        p.error("--hours, --span-hours and --scale must be at least 1")
    if not 0 <= a.jitter_ms < 5000:
        p.error("--jitter-ms must be 0..4999 (under half the shortest period, 10 s)")
    options = SegmentOptions(compression_level=a.level, row_group_rows=a.row_group_rows)
    data = build(a.dataset, a.scale, a.hours, two_decimals=a.float, jitter_ms=a.jitter_ms, seed=a.seed)
    print(HEADER)
    for span in a.span_hours:
        print(measure(data, span, options).markdown_row(), flush=True)
    floor = entropy_floor(data)
    print(f"\nzstd level {options.compression_level}, row groups of up to {options.row_group_rows:,} rows; "
          f"{data.rows.num_rows:,} rows of {len(data.measures)} measures. Entropy of successive differences per "
          f"series: {'n/a' if floor is None else f'{floor:.3f} bytes/value'}.")


if __name__ == "__main__":
    main()
