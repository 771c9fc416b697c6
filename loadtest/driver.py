"""The load driver: ingest with N worker processes into a pluggable :class:`Sink`, and TSBS query load.

Ingest, the way TSBS loads (shared/reference/tsbs.md §4) with processes instead of goroutines:

- the data set is cut into chunks of whole epochs of about one batch each; chunk ``i`` belongs to worker
  ``i % workers``, which re-slices its share into batches of ``batch_rows`` rows;
- **timing**: with ``pregenerated`` every worker generates its batches and converts them to the sink's form
  (``Sink.prepare``, e.g. boto3 record dicts) *before* the clock starts, so the clock covers only writes; with
  ``inline`` (bounded memory, for long runs) each batch is generated just before its write (the first one
  before the clock, with whatever set-up the data set needs), and ``write_seconds`` (the sum of the write
  calls) is reported beside the wall time. ``auto`` picks
  ``pregenerated`` unless the prepared records would need more than about ``PREGENERATE_MAX_RECORDS`` per
  worker;
- the clock starts when every worker is ready and stops when the last one finishes; a batch's latency is
  its write call; a fixed target rate paces each worker at ``rate / workers`` rows/s (a schedule, so a slow
  call is followed by catch-up calls);
- a failed write counts as an error and its rows are not counted; a worker gives up after ``max_errors``.

Queries: ``run_queries`` runs :class:`~loadtest.tsbs_queries.QuerySpec` s through a :class:`QueryRunner`
from ``concurrency`` threads (the client waits on the network, so threads suffice), one HDR histogram per
query type plus ``all``; the latency is the wall time until the whole result is in the client.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pyarrow as pa
from tqdm import tqdm

from loadtest import iot, tsbs
from loadtest.histogram import Latency
from loadtest.looped import LoopedCpuOnly
from loadtest.tsbs_queries import KINDS, QuerySpec, tessera_sql
from tessera import memory
from tessera.records import to_record

PREGENERATE_MAX_RECORDS = 1_000_000
"""Above this many records per worker, ``auto`` timing for the records form streams (≈5 kB per dict)."""
MAX_ERROR_MESSAGES = 5
READY_TIMEOUT_S = 600.0

DataSet = tsbs.CpuOnly | iot.Iot


# --- what the driver writes to --------------------------------------------------------------------------


@runtime_checkable
class Sink(Protocol):
    """Where batches go. Built inside each worker process by a picklable ``SinkFactory``.

    ``write`` receives the Arrow batch, or what ``prepare`` returned if the sink has a ``prepare(batch)``
    method (the driver calls it outside the measured time: e.g. line protocol, CSV, record dicts).
    ``write`` raises on failure.
    """

    def write(self, batch: Any) -> None:
        """Write one batch and return when the target acknowledged it."""

    def close(self) -> None:
        """Release connections; safe to call twice."""


SinkFactory = Callable[[], Sink]
"""A picklable zero-argument callable (e.g. a frozen dataclass with ``__call__``) that builds a Sink."""


class TesseraArrowSink:
    """Tessera's columnar write form: ``Client.write_arrow`` of the batch as is."""

    def __init__(self, discovery: str, database: str, table: str, dimensions: Sequence[str],
                 measure_name: str, timeout_s: float = 60.0) -> None:
        from tessera.client import Client  # imported in the worker, after spawn

        self._client = Client(discovery, timeout_s=timeout_s)
        self._where = (database, table)
        self._dimensions = list(dimensions)
        self._measure_name = measure_name
        self._client.route(database, table)  # the discovery look-up happens before the clock, not in batch 1

    def write(self, batch: pa.Table) -> None:
        """WriteBatch(es) of the whole Arrow table."""
        self._client.write_arrow(*self._where, batch, self._dimensions, measure_name=self._measure_name)

    def close(self) -> None:
        """Close the client's channels."""
        self._client.close()


class TesseraRecordsSink(TesseraArrowSink):
    """Tessera's Timestream-shaped form: one ``write_records`` call of B boto3 MULTI record dicts per batch."""

    def prepare(self, batch: pa.Table) -> list[dict[str, Any]]:
        """The batch as boto3-shaped records (outside the measured time: it is the data, not the client)."""
        return iot.to_records(batch, self._dimensions, self._measure_name)

    def write(self, batch: Any) -> None:
        """WriteRecords of the prepared records (as Arrow columns, up to 2,500 a request)."""
        self._client.write_records(*self._where, batch)


class TesseraProtobufRecordsSink(TesseraRecordsSink):
    """The records as protobuf ``Record`` messages, 100 a WriteRecords request: what a plain gRPC client
    sends (the messages are built before the clock, as such a client would hold them)."""

    def prepare(self, batch: pa.Table) -> list[Any]:
        return [to_record(r) for r in super().prepare(batch)]


class TesseraGatewaySink:
    """Timestream's own API: boto3 ``write_records`` through Tessera's HTTP gateway, 100 records a request
    (Timestream's limit), SigV4-signed, as an unchanged Timestream application sends them."""

    def __init__(self, gateway: GatewayAccess, database: str, table: str, dimensions: Sequence[str],
                 measure_name: str, timeout_s: float = 60.0) -> None:
        import boto3  # imported in the worker, after spawn
        from botocore.config import Config

        self._client = boto3.session.Session().client(
            "timestream-write", endpoint_url=gateway.endpoint, region_name="us-east-1",
            aws_access_key_id=gateway.access_key_id, aws_secret_access_key=gateway.secret_access_key,
            config=Config(read_timeout=timeout_s, retries={"mode": "standard", "max_attempts": 5},
                          max_pool_connections=4))
        self._where = {"DatabaseName": database, "TableName": table}
        self._dimensions = list(dimensions)
        self._measure_name = measure_name

    def prepare(self, batch: pa.Table) -> list[dict[str, Any]]:
        """The batch as boto3-shaped records (outside the measured time, as for the SDK's records form)."""
        return iot.to_records(batch, self._dimensions, self._measure_name)

    def write(self, batch: list[dict[str, Any]]) -> None:
        """WriteRecords, 100 records a request."""
        for start in range(0, len(batch), GATEWAY_RECORDS_PER_REQUEST):
            self._client.write_records(**self._where, Records=batch[start:start + GATEWAY_RECORDS_PER_REQUEST])

    def close(self) -> None:
        self._client.close()


GATEWAY_RECORDS_PER_REQUEST = 100


@dataclass(frozen=True)
class GatewayAccess:
    """Where the HTTP gateway is and the access key to sign with."""

    endpoint: str
    access_key_id: str
    secret_access_key: str


@dataclass(frozen=True)
class TesseraSinkFactory:
    """Builds a Tessera sink in a worker process; ``form`` is ``arrow``, ``records`` or ``records-pb``."""

    discovery: str
    database: str
    table: str
    form: str
    dimensions: tuple[str, ...]
    measure_name: str
    timeout_s: float = 60.0
    gateway: GatewayAccess | None = None
    """The HTTP gateway, for the ``gateway`` form."""

    @property
    def prepares(self) -> bool:
        """The records forms convert every batch to dicts before the clock (memory-hungry)."""
        return self.form.startswith("records") or self.form == "gateway"

    def __call__(self) -> Sink:
        if self.form == "gateway":
            if self.gateway is None:
                raise ValueError("the gateway form needs the gateway's endpoint and an access key")
            return TesseraGatewaySink(self.gateway, self.database, self.table, self.dimensions, self.measure_name,
                                      self.timeout_s)
        cls = {"arrow": TesseraArrowSink, "records": TesseraRecordsSink,
               "records-pb": TesseraProtobufRecordsSink}[self.form]
        return cls(self.discovery, self.database, self.table, self.dimensions, self.measure_name, self.timeout_s)


# --- data sets --------------------------------------------------------------------------------------------


def dimensions_of(data: DataSet) -> tuple[str, ...]:
    """The dimension (tag) columns of a data set's chunks."""
    return tsbs.TAGS if isinstance(data, tsbs.CpuOnly) else iot.DIMENSIONS


def measure_name_of(data: DataSet) -> str:
    """The multi-measure record name the data set is written under."""
    return "cpu" if isinstance(data, tsbs.CpuOnly) else iot.MEASURE_NAME


def series_of(data: DataSet) -> int:
    """Rows per epoch (hosts or machines)."""
    return data.scale if isinstance(data, tsbs.CpuOnly) else data.machines


def describe(data: DataSet) -> str:
    """A one-line description of a data set for reports."""
    span_h = (data.end_ns - data.start_ns) / 3.6e12
    every = f"every {data.interval_ns / 1e9:g} s"
    if isinstance(data, tsbs.CpuOnly):
        form = "integer" if data.integer else "2-decimal"
        looped = (f", the first {data.block_epochs} epochs' values repeated (loadtest.looped)"
                  if isinstance(data, LoopedCpuOnly) else "")
        return (f"TSBS cpu-only, {data.scale} hosts × {span_h:g} h {every}, {form} values, seed {data.seed}{looped} "
                f"({data.rows:,} rows × 10 values)")
    return (f"IoT, {data.factories} factories × {data.lines_per_factory} lines × {data.machines_per_line} "
            f"machines × {span_h:g} h {every}, seed {data.seed} ({data.rows:,} rows × {len(iot.MEASURES)} values)")


def worker_batches(data: DataSet, batch_rows: int, workers: int, index: int,
                   max_rows: int | None = None) -> Iterator[pa.Table]:
    """The batches of worker ``index``: chunks i with i % workers == index of the first ``max_rows`` rows."""
    epochs_per_chunk = max(1, batch_rows // series_of(data))
    remaining = data.rows if max_rows is None else min(max_rows, data.rows)
    pending: list[pa.Table] = []
    pending_rows = 0
    for i, chunk in enumerate(data.chunks(epochs_per_chunk)):
        if remaining <= 0:
            break
        chunk = chunk.slice(0, remaining)
        remaining -= chunk.num_rows
        if i % workers != index:
            continue
        pending.append(chunk)
        pending_rows += chunk.num_rows
        while pending_rows >= batch_rows:
            combined = pa.concat_tables(pending).combine_chunks()
            yield combined.slice(0, batch_rows)
            pending, pending_rows = [combined.slice(batch_rows)], pending_rows - batch_rows
    if pending_rows:
        yield pa.concat_tables(pending).combine_chunks()


# --- ingest -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IngestConfig:
    """How to drive an ingest run."""

    workers: int = 2
    batch_rows: int = 10_000
    rate: float | None = None
    """Target rows/s over all workers; None = as fast as possible."""
    duration_s: float | None = None
    """Stop after this many seconds (the batch in flight finishes)."""
    max_rows: int | None = None
    """Write at most this many rows of the data set (from its start); None = all of it."""
    timing: str = "auto"
    """``pregenerated``, ``inline`` or ``auto`` (see the module doc)."""
    max_errors: int = 100
    """A worker stops after this many failed writes."""
    progress: bool | None = None
    """A tqdm bar on stderr; None = only when stderr is a terminal."""

    def __post_init__(self) -> None:
        if self.workers < 1 or self.batch_rows < 1:
            raise ValueError("--workers and --batch must be at least 1")
        if self.rate is not None and self.rate <= 0:
            raise ValueError(f"--rate must be positive, got {self.rate}")
        if self.timing not in ("auto", "pregenerated", "inline"):
            raise ValueError(f"--timing must be auto, pregenerated or inline, got {self.timing!r}")


@dataclass
class IngestResult:
    """The figures of one ingest run (see ``as_dict`` for the JSON shape)."""

    dataset: str
    form: str
    workers: int
    batch_rows: int
    target_rate: float | None
    timing: str
    rows: int
    values: int
    batches: int
    seconds: float
    write_seconds: float
    """Sum over workers of the time spent inside write calls."""
    prepare_seconds: float
    """The slowest worker's generation (and conversion) time before the clock (inline timing: its first batch)."""
    latency: dict[str, float | int]
    timeline: list[int]
    """Rows acknowledged in each 1-second interval since the start."""
    errors: int
    error_messages: list[str] = field(default_factory=list)
    verified_rows: int | None = None
    """Rows the target holds after the run (a count query), when checked."""
    started_at_unix: float = 0.0
    """When the clock started (Unix seconds): with ``seconds``, the measured window."""

    @property
    def rows_per_s(self) -> float:
        """Rows per wall-clock second."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def values_per_s(self) -> float:
        """Values (rows × measures) per wall-clock second."""
        return self.values / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly figures, rates included."""
        out = asdict(self)
        out["rows_per_s"] = round(self.rows_per_s, 1)
        out["values_per_s"] = round(self.values_per_s, 1)
        return out


def _timing(config: IngestConfig, data: DataSet, prepares: bool) -> str:
    if config.timing != "auto":
        return config.timing
    rows = data.rows if config.max_rows is None else min(config.max_rows, data.rows)
    return "inline" if prepares and rows / config.workers > PREGENERATE_MAX_RECORDS else "pregenerated"


def run_ingest(data: DataSet, factory: SinkFactory, config: IngestConfig, form: str,
               on_workers: Callable[[list[int]], None] | None = None) -> IngestResult:
    """Write ``data`` through sinks built by ``factory`` in ``config.workers`` spawned processes.

    ``form`` labels the result (e.g. ``tessera-arrow``); a factory with a true ``prepares`` attribute builds
    sinks whose ``prepare`` is costly enough in memory that ``auto`` timing may choose ``inline``.
    ``on_workers`` receives the workers' pids (for CPU/RSS sampling).
    """
    ctx = mp.get_context("spawn")
    timing = _timing(config, data, bool(getattr(factory, "prepares", False)))
    start_event, stop_event = ctx.Event(), ctx.Event()
    start_time = ctx.Value("d", 0.0)
    progress = ctx.Value("q", 0)
    ready: Any = ctx.Queue()
    results: Any = ctx.Queue()
    procs = [ctx.Process(target=_ingest_worker, name=f"loadtest-worker-{i}", daemon=True,
                         args=(i, data, factory, config, timing, start_event, stop_event, start_time, progress,
                               ready, results))
             for i in range(config.workers)]
    for p in procs:
        p.start()
    if on_workers is not None:
        on_workers([p.pid for p in procs if p.pid is not None])
    reports: list[dict[str, Any]] = []
    try:
        _wait_ready(procs, ready, results, reports)
        start_time.value = time.time()
        start_event.set()
        _follow(procs, results, reports, progress, data, config)
    except BaseException:
        stop_event.set()
        start_event.set()
        raise
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
    return _combine(reports, data, config, timing, form, float(start_time.value))


def _wait_ready(procs: list[Any], ready: Any, results: Any, reports: list[dict[str, Any]]) -> None:
    waiting = set(range(len(procs)))
    deadline = time.monotonic() + READY_TIMEOUT_S
    while waiting:
        try:
            waiting.discard(ready.get(timeout=0.2))
        except queue.Empty:
            pass
        while True:  # a worker that failed while preparing reports instead of becoming ready
            try:
                report = results.get_nowait()
            except queue.Empty:
                break
            reports.append(report)
            waiting.discard(report["worker"])
        dead = [i for i in waiting if not procs[i].is_alive() and procs[i].exitcode is not None]
        if dead:
            raise RuntimeError(f"load workers {dead} exited while preparing (exit codes "
                               f"{[procs[i].exitcode for i in dead]})")
        if time.monotonic() > deadline:
            raise RuntimeError(f"load workers {sorted(waiting)} were not ready within {READY_TIMEOUT_S:.0f} s")


def _follow(procs: list[Any], results: Any, reports: list[dict[str, Any]], progress: Any, data: DataSet,
            config: IngestConfig) -> None:
    show = sys.stderr.isatty() if config.progress is None else config.progress
    total = data.rows if config.max_rows is None else min(config.max_rows, data.rows)
    bar = tqdm(total=total, unit="row", unit_scale=True, file=sys.stderr, disable=not show, dynamic_ncols=True)
    try:
        while len(reports) < len(procs):
            try:
                reports.append(results.get(timeout=0.25))
            except queue.Empty:
                missing = {r["worker"] for r in reports}
                dead = [i for i, p in enumerate(procs) if i not in missing and p.exitcode is not None]
                if dead:  # killed without a report (OOM, signal)
                    for i in dead:
                        reports.append(_empty_report(i, f"worker {i} died with exit code {procs[i].exitcode}"))
            bar.n = progress.value
            bar.refresh()
    finally:
        bar.close()


def _empty_report(worker: int, error: str) -> dict[str, Any]:
    return {"worker": worker, "rows": 0, "values": 0, "batches": 0, "errors": 1, "messages": [error],
            "latency": Latency().encode(), "timeline": [], "end": 0.0, "write_seconds": 0.0,
            "prepare_seconds": 0.0}


def _ingest_worker(index: int, data: DataSet, factory: SinkFactory, config: IngestConfig, timing: str,
                   start_event: Any, stop_event: Any, start_time: Any, progress: Any, ready: Any,
                   results: Any) -> None:
    if memory.enabled(os.environ):  # as the services do: megabyte payloads without page faults
        memory.keep_heap_memory()
    report = _empty_report(index, "")
    report["errors"], report["messages"] = 0, []
    latency = Latency()
    sink: Sink | None = None
    try:
        sink = factory()
        prepare = getattr(sink, "prepare", None)
        batches = worker_batches(data, config.batch_rows, config.workers, index, config.max_rows)
        t0 = time.perf_counter()
        items: Iterator[tuple[pa.Table, Any]]
        if timing == "pregenerated":
            items = iter([(b, prepare(b) if prepare else b) for b in batches])
            report["prepare_seconds"] = time.perf_counter() - t0
        else:  # the first batch before the clock: a data set's set-up (e.g. a looped block) is not a write
            lazy = ((b, prepare(b) if prepare else b) for b in batches)
            items = itertools.chain(list(itertools.islice(lazy, 1)), lazy)
            report["prepare_seconds"] = time.perf_counter() - t0
        ready.put(index)
        start_event.wait()
        _write_all(sink, items, data, config, start_time.value, stop_event, progress, latency, report)
    except Exception as exc:  # noqa: BLE001 - reported, never raised: the parent aggregates every worker
        report["errors"] += 1
        report["messages"].append(f"worker {index}: {type(exc).__name__}: {exc}")
    finally:
        if sink is not None:
            sink.close()
        report["latency"] = latency.encode()
        report["end"] = report["end"] or time.time()
        results.put(report)


def _write_all(sink: Sink, items: Iterator[tuple[pa.Table, Any]], data: DataSet, config: IngestConfig, start: float,
               stop_event: Any, progress: Any, latency: Latency, report: dict[str, Any]) -> None:
    per_worker_rate = config.rate / config.workers if config.rate else None
    dims = len(dimensions_of(data))
    deadline = start + config.duration_s if config.duration_s is not None else None
    timeline = np.zeros(0, dtype=np.int64)
    sent = 0  # rows attempted, for pacing
    for batch, prepared in items:
        now = time.time()
        if stop_event.is_set() or (deadline is not None and now >= deadline):
            break
        if per_worker_rate is not None:
            due = start + sent / per_worker_rate
            if deadline is not None and due >= deadline:
                break
            if due > now:
                time.sleep(due - now)
        sent += batch.num_rows
        t0 = time.perf_counter()
        try:
            sink.write(prepared)
        except Exception as exc:  # noqa: BLE001 - any sink's failure is a counted error
            report["errors"] += 1
            if len(report["messages"]) < MAX_ERROR_MESSAGES:
                report["messages"].append(f"{type(exc).__name__}: {exc}"[:500])
            if report["errors"] >= config.max_errors:
                report["messages"].append(f"gave up after {report['errors']} errors (--max-errors)")
                break
            continue
        took = time.perf_counter() - t0
        latency.record_seconds(took)
        report["write_seconds"] += took
        second = int(time.time() - start)
        if second >= len(timeline):
            timeline = np.concatenate([timeline, np.zeros(second + 1 - len(timeline), dtype=np.int64)])
        timeline[second] += batch.num_rows
        report["rows"] += batch.num_rows
        report["values"] += batch.num_rows * (batch.num_columns - 1 - dims)
        report["batches"] += 1
        with progress.get_lock():
            progress.value += batch.num_rows
    report["end"] = time.time()
    report["timeline"] = timeline.tolist()


def _combine(reports: list[dict[str, Any]], data: DataSet, config: IngestConfig, timing: str, form: str,
             start: float) -> IngestResult:
    latency = Latency()
    timeline: list[int] = []
    messages: list[str] = []
    for r in sorted(reports, key=lambda r: r["worker"]):
        latency.merge(Latency.decode(r["latency"]))
        for i, rows in enumerate(r["timeline"]):
            if i >= len(timeline):
                timeline.append(0)
            timeline[i] += rows
        messages += r["messages"]
    end = max((r["end"] for r in reports if r["end"]), default=start)
    return IngestResult(
        dataset=describe(data), form=form, workers=config.workers, batch_rows=config.batch_rows,
        target_rate=config.rate, timing=timing, rows=sum(r["rows"] for r in reports),
        values=sum(r["values"] for r in reports), batches=sum(r["batches"] for r in reports),
        started_at_unix=start, seconds=round(max(end - start, 0.0), 6), write_seconds=round(sum(r["write_seconds"] for r in reports), 6),
        prepare_seconds=round(max((r["prepare_seconds"] for r in reports), default=0.0), 3),
        latency=latency.summary().as_dict(), timeline=timeline, errors=sum(r["errors"] for r in reports),
        error_messages=messages[:MAX_ERROR_MESSAGES * 2])


# --- queries ----------------------------------------------------------------------------------------------


class QueryRunner(Protocol):
    """Runs a query on one system; one runner per thread, built by a ``Callable[[], QueryRunner]``."""

    def run(self, spec: QuerySpec) -> int:
        """Run the query, read the whole result, return its row count; raise on failure."""

    def close(self) -> None:
        """Release connections."""


class TesseraQueryRunner:
    """Runs specs as Timestream SQL through ``Client.query`` (Arrow pages)."""

    def __init__(self, discovery: str, database: str, table: str, timeout_s: float = 120.0) -> None:
        from tessera.client import Client

        self._client = Client(discovery, timeout_s=timeout_s)
        self._database, self._table = database, table

    def run(self, spec: QuerySpec) -> int:
        """Query and return the number of rows."""
        return int(self._client.query(tessera_sql(spec, self._database, self._table)).num_rows)

    def close(self) -> None:
        """Close the client's channels."""
        self._client.close()


class GatewayQueryRunner:
    """Runs specs as Timestream SQL through the HTTP gateway with boto3's ``query``, following NextToken."""

    def __init__(self, gateway: GatewayAccess, database: str, table: str, timeout_s: float = 120.0) -> None:
        import boto3
        from botocore.config import Config

        self._client = boto3.session.Session().client(
            "timestream-query", endpoint_url=gateway.endpoint, region_name="us-east-1",
            aws_access_key_id=gateway.access_key_id, aws_secret_access_key=gateway.secret_access_key,
            config=Config(read_timeout=timeout_s, retries={"mode": "standard", "max_attempts": 1}))
        self._database, self._table = database, table

    def run(self, spec: QuerySpec) -> int:
        """Query every page and return the number of rows."""
        sql = tessera_sql(spec, self._database, self._table)
        page = self._client.query(QueryString=sql)
        rows = len(page["Rows"])
        while "NextToken" in page:
            page = self._client.query(QueryString=sql, NextToken=page["NextToken"])
            rows += len(page["Rows"])
        return rows

    def close(self) -> None:
        self._client.close()


@dataclass
class QueryResult:
    """The figures of one query-load run; ``per_kind`` maps each type (and ``all``) to latency figures."""

    concurrency: int
    queries: int
    seconds: float
    errors: int
    per_kind: dict[str, dict[str, float | int]]
    rows: dict[str, int]
    """Rows returned, summed per type."""
    error_messages: list[str] = field(default_factory=list)
    started_at_unix: float = 0.0
    """When the first query was sent (Unix seconds)."""

    @property
    def queries_per_s(self) -> float:
        """Completed queries per wall-clock second."""
        return self.queries / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly figures."""
        out = asdict(self)
        out["queries_per_s"] = round(self.queries_per_s, 3)
        return out


def interleave(groups: Sequence[Sequence[QuerySpec]], seed: int = 123) -> list[QuerySpec]:
    """Every spec of every group, in a seeded random order (types mixed, as a shared workload would be)."""
    flat = [s for g in groups for s in g]
    order = np.random.default_rng(seed).permutation(len(flat))
    return [flat[i] for i in order]


def run_queries(specs: Sequence[QuerySpec], runner_factory: Callable[[], QueryRunner], concurrency: int,
                duration_s: float | None = None, progress: bool | None = None) -> QueryResult:
    """Run ``specs`` from ``concurrency`` threads until done or ``duration_s`` passed."""
    return run_side_by_side(specs, {"": runner_factory}, concurrency, duration_s, progress)[""]


class _Tally:
    """One path's latency histograms, row counts and errors while queries run."""

    def __init__(self) -> None:
        self.hists: dict[str, Latency] = {"all": Latency()}
        self.rows: dict[str, int] = {}
        self.errors = 0
        self.done = 0
        self.busy_s = 0.0  # time spent in this path's queries (side by side, the wall clock is shared)
        self.messages: list[str] = []

    def failed(self, spec: QuerySpec, exc: Exception) -> None:
        self.errors += 1
        if len(self.messages) < MAX_ERROR_MESSAGES:
            self.messages.append(f"{spec.kind}: {type(exc).__name__}: {exc}"[:500])

    def answered(self, spec: QuerySpec, rows: int, seconds: float) -> None:
        self.hists.setdefault(spec.kind, Latency()).record_seconds(seconds)
        self.hists["all"].record_seconds(seconds)
        self.rows[spec.kind] = self.rows.get(spec.kind, 0) + rows
        self.done += 1
        self.busy_s += seconds

    def result(self, specs: Sequence[QuerySpec], concurrency: int, seconds: float, started_at: float) -> QueryResult:
        order = [k for k in dict.fromkeys(sorted((s.kind for s in specs), key=_kind_rank)) if k in self.hists]
        return QueryResult(concurrency=concurrency, queries=self.done, seconds=round(seconds, 6),
                           errors=self.errors, per_kind={k: self.hists[k].summary().as_dict() for k in order + ["all"]},
                           rows=self.rows, error_messages=self.messages, started_at_unix=started_at)


def run_side_by_side(specs: Sequence[QuerySpec], factories: dict[str, Callable[[], QueryRunner]], concurrency: int,
                     duration_s: float | None = None, progress: bool | None = None) -> dict[str, QueryResult]:
    """Run every spec through each path of ``factories`` (name → runner factory), one path right after the
    other, the order rotating from spec to spec, so that every path sees the cluster in the same state (a
    flush or a compaction slows all of them alike, not whichever ran last). One result per path."""
    if concurrency < 1:
        raise ValueError(f"--concurrency must be at least 1, got {concurrency}")
    todo: queue.SimpleQueue[tuple[int, QuerySpec]] = queue.SimpleQueue()
    for i, s in enumerate(specs):
        todo.put((i, s))
    names = list(factories)
    lock = threading.Lock()
    tallies = {name: _Tally() for name in names}
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(total=len(specs), unit="query", file=sys.stderr, disable=not show, dynamic_ncols=True)
    started_at = time.time()
    start = time.perf_counter()
    deadline = start + duration_s if duration_s is not None else None

    def work() -> None:
        runners: dict[str, QueryRunner] = {}
        try:
            for name in names:
                runners[name] = factories[name]()
            while deadline is None or time.perf_counter() < deadline:
                try:
                    i, spec = todo.get_nowait()
                except queue.Empty:
                    return
                for name in names[i % len(names):] + names[:i % len(names)]:
                    t0 = time.perf_counter()
                    try:
                        n = runners[name].run(spec)
                    except Exception as exc:  # noqa: BLE001 - any system's failure is a counted error
                        with lock:
                            tallies[name].failed(spec, exc)
                        continue
                    took = time.perf_counter() - t0
                    with lock:
                        tallies[name].answered(spec, n, took)
                bar.update(1)
        finally:
            for runner in runners.values():
                runner.close()

    threads = [threading.Thread(target=work, name=f"query-{i}", daemon=True) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bar.close()
    seconds = time.perf_counter() - start
    if len(names) == 1:
        return {name: tally.result(specs, concurrency, seconds, started_at) for name, tally in tallies.items()}
    # Side by side, each path's rate is over the time its own queries took (per thread), not the shared clock.
    return {name: tally.result(specs, concurrency, tally.busy_s / concurrency, started_at)
            for name, tally in tallies.items()}


def _kind_rank(kind: str) -> int:
    return list(KINDS).index(kind) if kind in KINDS else len(KINDS)
