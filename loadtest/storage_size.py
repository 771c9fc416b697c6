"""Bytes per value of the magnetic store's segment files: ``python -m loadtest.storage_size``.

    python -m loadtest.storage_size --dataset tsbs --scale 100 --hours 24 --span-hours 1 6 24
    python -m loadtest.storage_size --dataset decimals2 --scale 1000 --hours 24 --span-hours 1 6 24
    python -m loadtest.storage_size --dataset floats --span-hours 1 --level 15 --columns

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
- ``floats``, ``counters``, ``sparse``, ``strings``, ``jitter``, ``highcard``, ``requests``, ``single``, ``wide``:
  the shapes of ``loadtest.shapes`` (each with its own default scale and hours).

Each span's row also gives the same tiles written by plain ``pyarrow.parquet.write_table`` (sorted the same
way, zstd at the same level, ts_vhash left out) and a tuned variant (dictionaries for strings only,
BYTE_STREAM_SPLIT for doubles); ``--columns`` prints bytes per column of all three and each measure's
zero-order floor (``column_floor``). Values are the non-NULL measure values.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from loadtest import iot, shapes, tsbs
from services.storage.blobstore import LocalBlobStore
from services.storage.segment_codecs import combined
from services.storage.segments import DEFAULT_OPTIONS, SegmentOptions, encode_segment, read_segment
from tessera import arrowipc, layout, record_columns
from tessera.v1 import ingest_pb2
from tessera.validation import TableContext, validate_write_batch, validate_write_records

HOUR_NS = 3600 * 1_000_000_000
SECOND_NS = 1_000_000_000
DEFAULT_START_NS = tsbs.DEFAULT_START_NS
DATASETS = ("tsbs", "decimals2", "iot", *shapes.SHAPES)


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
    measures: set[str] = set()  # every batch's: a sparse batch may leave out a measure another has
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
            measures.update(valid.measure_columns)
    rows = pa.concat_tables(out, promote_options="default")
    return rows, [c for c in rows.column_names if c in measures]


def _keyed_records(batches: Sequence[pa.RecordBatch], now_ns: int) -> tuple[pa.Table, list[str]]:
    """validate_write_records (the records_arrow form) + layout.with_key_columns over each batch."""
    ctx = TableContext(columns={}, memory_retention_ns=10**18, magnetic_retention_ns=10**18, magnetic_writes=True,
                       now_ns=now_ns)
    out: list[pa.Table] = []
    measures: set[str] = set()
    for batch in batches:
        request = ingest_pb2.WriteRecordsRequest(records_arrow=record_columns.to_ipc(batch))
        valid = validate_write_records(request, ctx)
        if valid.rejected:
            raise RuntimeError(f"the generator made rejected records: {valid.rejected[0]}")
        keyed, _ = layout.with_key_columns(valid.rows, valid.dimension_columns, valid.measure_columns, valid.versions)
        out.append(keyed)
        measures.update(valid.measure_columns)
    rows = pa.concat_tables(out, promote_options="default")
    return rows, [c for c in rows.column_names if c in measures]


def build(dataset: str, scale: int | None, hours: int | None, *, two_decimals: bool = False, jitter_ms: int = 0,
          seed: int | None = None) -> Dataset:
    """The rows of ``dataset`` (tsbs, decimals2, iot or a ``loadtest.shapes`` shape) over ``hours`` (None: 24,
    or the shape's default) from TSBS's start (2016-01-01)."""
    if dataset in shapes.SHAPES:
        shape = shapes.SHAPES[dataset]
        hours = hours or shape.hours
        now = DEFAULT_START_NS + (hours + 1) * HOUR_NS
        made = shape.make(scale or shape.scale, hours, shape.seed if seed is None else seed)
        if made.table is None:
            rows, measures = _keyed_records(made.records, now)
        else:
            rows, measures = _keyed(iter([made.table]), made.dimensions, made.measure_name, now)
        return Dataset(dataset, rows, measures)
    hours = hours or 24
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
    raise ValueError(f"unknown dataset {dataset!r}: {', '.join(DATASETS)}")


# --- measuring --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """Figures of one data set cut into tiles of one span."""

    dataset: str
    span_hours: int
    tiles: int
    rows: int
    values: int
    """Non-NULL measure values (rows × measures when no measure is NULL)."""
    bytes: int
    summary_bytes: int
    """JSON of the SegmentInfos (what the manifests hold), key summary included."""
    encode_s: float
    read_s: float
    exact: bool
    """Every tile read back bit for bit as encoded."""
    baseline_bytes: int
    """The same tiles' rows by plain ``pyarrow.parquet.write_table`` (zstd at the same level, else defaults)."""
    tuned_bytes: int
    """The same with dictionaries for strings only and BYTE_STREAM_SPLIT for doubles."""
    columns: dict[str, tuple[int, int, int]]
    """Per column, its column chunks' compressed bytes: ours, the baseline's, the tuned baseline's."""

    @property
    def bytes_per_value(self) -> float:
        """Bytes of the segment files per measure value."""
        return self.bytes / self.values

    def markdown_row(self) -> str:
        """The result as a row of ``HEADER``'s table."""
        return (f"| {self.dataset} | {self.span_hours} h | {self.tiles} | {self.rows:,} | {self.values:,} | "
                f"{self.bytes:,} | **{self.bytes_per_value:.3f}** | {self.baseline_bytes / self.values:.3f} | "
                f"{self.tuned_bytes / self.values:.3f} | {self.summary_bytes / self.values:.4f} | "
                f"{self.rows / self.encode_s:,.0f} | {self.rows / self.read_s:,.0f} | "
                f"{'yes' if self.exact else 'NO'} |")


HEADER = ("| dataset | span | tiles | rows | values | bytes | bytes/value | plain Parquet | tuned Parquet | "
          "manifest info B/value | encode rows/s | full-read rows/s | exact round trip |\n"
          "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")


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


def column_bytes(data: bytes) -> dict[str, int]:
    """A Parquet file's compressed column-chunk bytes per column; the rest (footer, magic) as ``(footer)``."""
    meta = pq.ParquetFile(io.BytesIO(data)).metadata
    out: dict[str, int] = {}
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            chunk = group.column(c)
            out[chunk.path_in_schema] = out.get(chunk.path_in_schema, 0) + chunk.total_compressed_size
    out["(footer)"] = len(data) - sum(out.values())
    return out


def baseline(rows: pa.Table, level: int, tuned: bool) -> bytes:
    """The rows sorted by (ts_series, time), ts_vhash left out (ours recomputes it), written by
    ``pyarrow.parquet.write_table`` with zstd at ``level``; ``tuned``: dictionaries for strings and the series
    only, BYTE_STREAM_SPLIT for doubles."""
    rows = rows.sort_by([(layout.SERIES, "ascending"), (layout.TIME, "ascending")]).drop_columns([layout.VALUE_HASH])
    options: dict[str, Any] = {}
    if tuned:
        options["use_dictionary"] = [f.name for f in rows.schema if pa.types.is_string(f.type) or f.name == layout.SERIES]
        options["use_byte_stream_split"] = [f.name for f in rows.schema if pa.types.is_floating(f.type)]
    sink = io.BytesIO()
    pq.write_table(rows, sink, compression="zstd", compression_level=level, **options)
    return sink.getvalue()


def measure(data: Dataset, span_hours: int, options: SegmentOptions = DEFAULT_OPTIONS) -> Result:
    """Encode every tile of the span, store it, read it back whole and compare; write the baselines."""
    count = size = summary = plain = tuned = 0
    encode_s = read_s = 0.0
    exact = True
    columns: dict[str, tuple[int, int, int]] = {}
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
            files = [encoded.data, baseline(tile, options.compression_level, False),
                     baseline(tile, options.compression_level, True)]
            plain += len(files[1])
            tuned += len(files[2])
            for i, sizes in enumerate(column_bytes(f) for f in files):
                for name, b in sizes.items():
                    was = list(columns.get(name, (0, 0, 0)))
                    was[i] += b
                    columns[name] = (was[0], was[1], was[2])
    values = sum(len(data.rows) - data.rows.column(m).null_count for m in data.measures)
    return Result(data.name, span_hours, count, data.rows.num_rows, values, size, summary, encode_s, read_s, exact,
                  plain, tuned, columns)


# --- the zero-order entropy floor -------------------------------------------------------------------------


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


def _entropy_bits(symbols: np.ndarray) -> float:
    """Zero-order entropy of a sequence, in bits in all (its length × bits a symbol)."""
    if not len(symbols):
        return 0.0
    _, freq = np.unique(symbols, return_counts=True)
    p = freq / freq.sum()
    return float(-(p * np.log2(p)).sum()) * len(symbols)


def column_floor(column: pa.Array, series: np.ndarray) -> tuple[float, str]:
    """Zero-order entropy, in bits in all, of one column in (series, time) order, and how it was taken:

    - ``diff``: integers and short decimals: each series' successive differences of its non-NULL values;
    - ``xor``: other doubles: the eight byte planes of each value XOR the series' previous one, each plane
      on its own (what a byte-wise coder of XORs can reach; no floor for a coder that predicts);
    - ``change``: strings and booleans: per value, "same as the series' previous" or the value itself, plus
      each distinct string's bytes once at their own byte entropy; for strings that are mostly distinct,
      the bytes of every value at their byte entropy instead, if less;
    plus, where some are NULL, the entropy of the NULL mask."""
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    bits = _entropy_bits(valid) if column.null_count else 0.0
    present = column.filter(pa.array(valid))
    own = series[valid]
    first = np.ones(len(own), dtype=np.bool_)
    first[1:] = own[1:] != own[:-1]
    t = column.type
    if pa.types.is_timestamp(t):
        present, t = present.cast(pa.int64()), pa.int64()
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        values = present.to_numpy(zero_copy_only=False)
        ints = _integers(values)
        if ints is not None:
            return bits + _entropy_bits(np.diff(ints)[~first[1:]]), "diff"
        raw = values.view(np.uint64)
        xored = raw ^ np.r_[np.uint64(0), raw[:-1]]
        planes = xored[~first].view(np.uint8).reshape(-1, 8)
        return bits + sum(_entropy_bits(planes[:, b]) for b in range(8)), "xor"
    codes = pc.dictionary_encode(present).indices.to_numpy(zero_copy_only=False).astype(np.int64)
    same = np.zeros(len(codes), dtype=np.bool_)
    same[1:] = (codes[1:] == codes[:-1]) & ~first[1:]
    bits += _entropy_bits(np.where(same, -1, codes))
    if pa.types.is_string(t):
        distinct = pc.unique(present)
        def text_bits(strings: pa.Array) -> float:
            raw = np.frombuffer(strings.buffers()[2] or b"", dtype=np.uint8)[:pc.sum(pc.binary_length(strings)).as_py() or 0]
            return _entropy_bits(raw)
        every = _entropy_bits(valid) if column.null_count else 0.0
        bits = min(bits + text_bits(distinct), every + text_bits(present))
    return bits, "change"


def entropy_floors(data: Dataset) -> dict[str, tuple[float, str]]:
    """``column_floor`` of the time column and of each measure."""
    rows = data.rows.sort_by([(layout.SERIES, "ascending"), (layout.TIME, "ascending")])
    series = rows.column(layout.SERIES).to_numpy()
    return {name: column_floor(combined(rows.column(name)), series) for name in [layout.TIME, *data.measures]}


def column_table(data: Dataset, result: Result, floors: dict[str, tuple[float, str]]) -> str:
    """Markdown: per column, bytes per row (keys, dimensions, time) or per non-NULL value (measures) of ours, the
    plain and tuned baselines, and the column's zero-order floor."""
    lines = ["| column | ours | plain Parquet | tuned Parquet | zero-order floor (how) |",
             "|---|---:|---:|---:|---:|"]
    rows = data.rows.num_rows
    for name, (ours, plain, tuned) in sorted(result.columns.items(), key=lambda kv: -kv[1][0]):
        per = rows - data.rows.column(name).null_count if name in data.measures else rows
        floor = floors.get(name)
        shown = f"{floor[0] / 8 / per:.3f} ({floor[1]})" if floor and per else ""
        lines.append(f"| {name}{' (measure)' if name in data.measures else ''} | {ours / per:.3f} | "
                     f"{plain / per:.3f} | {tuned / per:.3f} | {shown} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """The command line: build the data set, measure each span, print the tables."""
    p = argparse.ArgumentParser(prog="python -m loadtest.storage_size", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=DATASETS, default="tsbs")
    p.add_argument("--scale", type=int, default=None,
                   help="hosts (tsbs, default 100), devices (decimals2, default 1000), factories (iot, default 3), "
                        "series or services (shapes: see loadtest.shapes)")
    p.add_argument("--hours", type=int, default=None, help="hours of data (default 24; shapes: their own)")
    p.add_argument("--span-hours", type=int, nargs="+", default=[1, 6, 24], help="tile time spans to report")
    p.add_argument("--float", action="store_true", help="tsbs: two-decimal DOUBLE values instead of BIGINT")
    p.add_argument("--jitter-ms", type=int, default=0, help="decimals2: uniform jitter of the readings' times")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--level", type=int, default=DEFAULT_OPTIONS.compression_level, help="zstd level (1..22)")
    p.add_argument("--row-group-rows", type=int, default=DEFAULT_OPTIONS.row_group_rows)
    p.add_argument("--columns", action="store_true", help="also print bytes per column (of the last span)")
    a = p.parse_args(argv)
    if (a.hours is not None and a.hours < 1) or any(s < 1 for s in a.span_hours) or (a.scale is not None and a.scale < 1):
        p.error("--hours, --span-hours and --scale must be at least 1")
    if not 0 <= a.jitter_ms < 5000:
        p.error("--jitter-ms must be 0..4999 (under half the shortest period, 10 s)")
    options = SegmentOptions(compression_level=a.level, row_group_rows=a.row_group_rows)
    data = build(a.dataset, a.scale, a.hours, two_decimals=a.float, jitter_ms=a.jitter_ms, seed=a.seed)
    print(HEADER)
    results = [measure(data, span, options) for span in a.span_hours]
    for result in results:
        print(result.markdown_row(), flush=True)
    floors = entropy_floors(data)
    values = results[-1].values
    total = sum(bits for bits, _ in floors.values()) / 8 / values
    measured = sum(bits for name, (bits, _) in floors.items() if name != layout.TIME) / 8 / values
    print(f"\nzstd level {options.compression_level}, row groups of up to {options.row_group_rows:,} rows; "
          f"{data.rows.num_rows:,} rows of {len(data.measures)} measures, {values:,} non-NULL values. Zero-order "
          f"floor of the measures (see column_floor): {measured:.3f} bytes/value; with the time column "
          f"{total:.3f}.")
    if a.columns:
        print("\nPer column (bytes per row, or per non-NULL value of a measure), tiles of "
              f"{results[-1].span_hours} h:\n")
        print(column_table(data, results[-1], floors))


if __name__ == "__main__":
    main()
