"""The side-by-side run: the same TSBS data into Tessera and each peer, the same queries, answers checked
against Tessera's, figures in a delimited section of ``docs/benchmarks.md``.

Method (all systems in the same run, one after another, on the same machine):

- **ingest**: :func:`loadtest.driver.run_ingest` with the same data set, workers and batch size for every
  system. Tessera gets Arrow batches (``Client.write_arrow``: its native bulk form); each peer gets its native
  payload prepared by the worker before the clock starts (line protocol / COPY text), as TSBS loads
  pre-generated files. Rows/s and values/s are over the wall time from the start signal to the last ack.
- **Tessera's layouts**: ``--tessera-cells`` loads the data set once per layout, each into a fresh local
  cluster: ``1`` puts the table on one cell (one ingest pair and three storage replicas do all the work),
  ``all`` spreads it over every cell. The first layout is the one measured for bytes on disk and queried.
- **bytes on disk**: allocated bytes under each system's data directory, after minus before the load
  (InfluxDB: ``data`` + ``wal`` once the cache was snapshotted to TSM; VictoriaMetrics: the storage path after
  ``/internal/force_flush``; PostgreSQL: ``pg_total_relation_size`` of the table and its two indexes after a
  CHECKPOINT, i.e. without WAL; Tessera: every storage node's directory once its data has been tiered and
  compacted, split into ``wal/`` and ``magnetic/``; the table's cell holds 3 replicas, so the per-replica
  figure is a third). Tessera's storage nodes run with ``--test-hooks``: after the load of the measured layout,
  ``Maintain(flush_all, compact)`` goes to every storage node until a round moves nothing
  (:func:`loadtest.engine.settle`), the state the background mover reaches on its own once the data is idle;
  the flush is outside the ingest clock and its duration is reported.
- **agreement**: every query spec runs once on every system (this also warms them); each answer is
  normalised to canonical rows and compared with Tessera's (``tessera_sql`` through ``Client.query``), floats
  to a relative 1e-9 / absolute 1e-6. VictoriaMetrics' partial edge buckets are not compared (see
  :mod:`loadtest.peers.victoria`).
- **query latency**: then the same specs again through :func:`loadtest.driver.run_queries` (one client,
  sequential, warm), median and p95 per type.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import os
import pathlib
import platform
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from loadtest import driver, engine
from loadtest.peers import Row, canonical, influx, kind_of, postgres, runner, victoria
from loadtest.tsbs import FIELDS, TAGS, CpuOnly
from loadtest.tsbs_queries import KINDS, QuerySpec, random_specs, tessera_sql

DATABASE = "benchmark"
TABLE = "cpu"
SYSTEMS = ("tessera", *runner.PEERS)
TITLES = {"tessera": "Tessera", "influx": "InfluxDB", "victoria": "VictoriaMetrics", "postgres": "PostgreSQL"}
BEGIN, END = "<!-- peers:begin -->", "<!-- peers:end -->"
REL_TOL, ABS_TOL = 1e-9, 1e-6
MAX_REPORTED = 5
TESSERA_STORAGE_ARGS = ("--test-hooks",)
"""Flags of Tessera's storage nodes here: the Maintain hook, to settle the data before measuring it."""


# -- Tessera ---------------------------------------------------------------------------------------------
def _ns_column(col: pa.ChunkedArray) -> list[int | None]:
    if pa.types.is_timestamp(col.type):
        col = pc.cast(col, pa.timestamp("ns", tz=col.type.tz))
    values: list[int | None] = pc.cast(col, pa.int64()).to_pylist()
    return values


def normalise_tessera(kind: str, table: pa.Table) -> list[Row]:
    """Canonical rows from a ``tessera_sql`` answer: bucket first, then hostname (double-groupby), then the
    aggregates in field order; high-cpu and lastpoint by column name."""
    k = kind_of(kind)
    if k.aggregate in ("rows", "last"):
        times, hosts = _ns_column(table.column("time")), table.column("hostname").to_pylist()
        fields = [table.column(f).to_pylist() for f in FIELDS]
        rows = [(h, t, *vals) if k.aggregate == "last" else (t, h, *vals)
                for t, h, *vals in zip(times, hosts, *fields)]
        return canonical(kind, rows)
    cols = [_ns_column(table.column(0))] + [table.column(i).to_pylist() for i in range(1, table.num_columns)]
    return canonical(kind, list(zip(*cols)))


class TesseraQuerier:
    """Runs specs as Timestream SQL through ``tessera.client.Client.query``."""

    def __init__(self, discovery: str, database: str = DATABASE, table: str = TABLE) -> None:
        from tessera.client import Client

        self._client = Client(discovery, timeout_s=300)
        self._where = (database, table)

    def supports(self, spec: QuerySpec) -> bool:
        return True

    def run(self, spec: QuerySpec) -> int:
        return int(self._client.query(tessera_sql(spec, *self._where)).num_rows)

    def answer(self, spec: QuerySpec) -> list[Row]:
        return normalise_tessera(spec.kind, self._client.query(tessera_sql(spec, *self._where)))

    def close(self) -> None:
        self._client.close()


# -- agreement -------------------------------------------------------------------------------------------
def _key_width(kind: str) -> int:
    k = kind_of(kind)
    return 2 if (k.aggregate in ("rows", "last") or k.by_host) else 1


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=REL_TOL, abs_tol=ABS_TOL)


def agree(kind: str, expected: Sequence[Row], got: Sequence[Row], skip_buckets: set[int] = frozenset()  # type: ignore[assignment]
          ) -> list[str]:
    """Disagreements between two canonical answers (empty when they agree), at most a few described.

    Keys (bucket/time, hostname) must match exactly, values within REL_TOL/ABS_TOL; rows whose first key is
    in ``skip_buckets`` are left out of both sides.
    """
    width = _key_width(kind)
    exp = {r[:width]: r[width:] for r in expected if not (skip_buckets and r[0] in skip_buckets)}
    have = {r[:width]: r[width:] for r in got if not (skip_buckets and r[0] in skip_buckets)}
    problems = []
    missing = [key for key in exp if key not in have]
    extra = [key for key in have if key not in exp]
    if missing:
        problems.append(f"{len(missing)} row(s) missing, first {_show_key(missing[0])}")
    if extra:
        problems.append(f"{len(extra)} unexpected row(s), first {_show_key(extra[0])}")
    for key, values in exp.items():
        other = have.get(key)
        if other is None:
            continue
        if len(other) != len(values):
            problems.append(f"at {_show_key(key)}: {len(other)} values instead of {len(values)}")
        else:
            bad = [i for i, (a, b) in enumerate(zip(values, other)) if not _close(a, b)]
            if bad:
                i = bad[0]
                problems.append(f"at {_show_key(key)}: value {i + 1} is {other[i]!r}, Tessera says {values[i]!r}"
                                + (f" (and {len(bad) - 1} more in this row)" if len(bad) > 1 else ""))
        if len(problems) >= MAX_REPORTED:
            problems.append("…")
            break
    return problems


def _show_key(key: tuple[Any, ...]) -> str:
    parts = [_iso(v) if isinstance(v, int) and v > 10**17 else str(v) for v in key]
    return "(" + ", ".join(parts) + ")"


def _iso(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- the run ---------------------------------------------------------------------------------------------
@dataclass
class SystemResult:
    """One system's figures in a side-by-side run."""

    name: str
    version: str = ""
    settings: dict[str, str] = field(default_factory=dict)
    ingest: dict[str, Any] = field(default_factory=dict)
    disk_bytes: int | None = None
    disk_note: str = ""
    queries: dict[str, dict[str, Any]] = field(default_factory=dict)
    checked: int = 0
    agreed: int = 0
    disagreements: list[str] = field(default_factory=list)
    more_ingest: list[dict[str, Any]] = field(default_factory=list)  # other layouts: ingest only
    rounds: list[float] = field(default_factory=list)  # rows/s of every round; ``ingest`` is the median one
    disk_parts: dict[str, float] = field(default_factory=dict)
    """Tessera: bytes in ``wal``, ``magnetic`` and ``other`` after settling, ``before`` the load, and
    ``settle_s``, ``settle_rounds``, ``flushed_rows``, ``compacted_segments`` of the settling."""


def dataset_from(args: Any) -> CpuOnly:
    start = CpuOnly().start_ns if args.start is None else _parse_time(args.start)
    return CpuOnly(scale=args.scale, start_ns=start, end_ns=start + int(args.hours * 3600e9),
                   interval_ns=int(args.interval * 1e9), seed=args.seed, integer=not args.float)


def _parse_time(text: str) -> int:
    t = dt.datetime.fromisoformat(text)
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return int(t.timestamp()) * 1_000_000_000


def prepare_peer(name: str, started: runner.Started, data_dir: pathlib.Path) -> runner.Started:
    """Start the peer empty: drop and recreate the database/table; VictoriaMetrics has no DROP, so it is
    restarted on a wiped storage path (a new pid, recorded in DIR/peers.json)."""
    if name == "influx":
        influx.create_database(started.url)
    elif name == "postgres":
        postgres.create_table(started.port)
    elif name == "victoria":
        runner.stop(started)
        shutil.rmtree(started.data_dir, ignore_errors=True)
        started = victoria.start(data_dir)
        state = runner.read_state(data_dir)
        state[name] = started
        runner.write_state(data_dir, state)
    return started


def sink_factory(name: str, started: runner.Started) -> driver.SinkFactory:
    if name == "influx":
        return influx.InfluxSinkFactory(started.url)
    if name == "victoria":
        return victoria.VictoriaSinkFactory(started.url)
    return postgres.PostgresSinkFactory(started.port)


def querier(name: str, started: runner.Started | None = None, discovery: str = "") -> Any:
    if name == "tessera":
        return TesseraQuerier(discovery)
    assert started is not None
    if name == "influx":
        return influx.InfluxQuerier(started.url)
    if name == "victoria":
        return victoria.VictoriaQuerier(started.url)
    return postgres.PostgresQuerier(started.port)


def peer_disk(name: str, started: runner.Started) -> tuple[int, str]:
    """Bytes on disk of a loaded peer (see the module doc)."""
    if name == "postgres":
        return postgres.data_bytes(started.port), "pg_total_relation_size (table + 2 indexes), no WAL"
    if name == "influx":
        wal = pathlib.Path(started.data_dir) / "wal"
        deadline = time.monotonic() + 60
        while runner.du_bytes(wal) > 1 << 20 and time.monotonic() < deadline:  # wait for the TSM snapshot
            time.sleep(1)
        note = "data + wal (TSM after snapshot)" if runner.du_bytes(wal) <= 1 << 20 else "data + wal (WAL not yet snapshotted)"
        return runner.du_bytes(*influx.data_paths(started)), note
    victoria.flush(started.url)
    time.sleep(2)
    return runner.du_bytes(*victoria.data_paths(started)), "storage path after force_flush"


def load_peers(data: CpuOnly, peers: dict[str, runner.Started], config: driver.IngestConfig,
               data_dir: pathlib.Path, log: Callable[[str], None] = print) -> dict[str, SystemResult]:
    """Load ``data`` into each peer (emptied first) and measure it; returns results without queries.

    ``peers`` is updated in place when a peer had to be restarted (VictoriaMetrics)."""
    out = {}
    for name in list(peers):
        started = peers[name] = prepare_peer(name, peers[name], data_dir)
        res = SystemResult(name, started.version, dict(started.settings))
        before = 0 if name == "postgres" else runner.du_bytes(pathlib.Path(started.data_dir))
        log(f"loading {TITLES[name]} ...")
        result = driver.run_ingest(data, sink_factory(name, started), config, form=name)
        res.ingest = result.as_dict()
        if result.errors:
            raise RuntimeError(f"{name}: {result.errors} failed writes: {result.error_messages}")
        size, note = peer_disk(name, started)
        res.disk_bytes, res.disk_note = size - (before if name == "victoria" else 0), note
        if name == "influx":
            res.disk_note += "; before load: " + _human(before)
        log(f"  {result.rows:,} rows in {result.seconds:.2f} s = {result.rows_per_s:,.0f} rows/s")
        out[name] = res
    return out


def load_tessera(cluster: Any, data: CpuOnly, config: driver.IngestConfig, layout: str,
                 log: Callable[[str], None] = print, measure_disk: bool = True) -> SystemResult:
    """Load the data set into a fresh cluster's table ``cpu`` laid out as ``layout`` (``1``: on one cell;
    ``all``: spread over every cell); with ``measure_disk``, then settle the storage nodes (flush + compact
    through the Maintain hook) and measure their directories."""
    from tessera.client import Client

    base = (f"Tessera (this tree, {len(cluster.nodes('storage'))} storage nodes, {len(cluster.nodes('ingest'))} "
            f"ingest, {len(cluster.nodes('query'))} query")
    with Client(cluster.discovery_address) as client:
        client.create_database(DATABASE)
        cells = [c.cell for c in client.cells()]
        if layout != "all" and not (layout.isdigit() and 1 <= int(layout) <= len(cells)):
            raise SystemExit(f"--tessera-cells takes 'all' or a number of cells from 1 to {len(cells)}; "
                             f"got {layout!r}")
        chosen = cells if layout == "all" else cells[:int(layout)]
        client.create_table(DATABASE, TABLE, memory_retention_hours=8766, magnetic_writes=True, cells=chosen)
    where = f"table on {len(chosen)} cell{'s' if len(chosen) > 1 else ''}"
    before = tessera_disk(cluster, chosen).total
    log(f"loading Tessera ({where}) ...")
    factory = driver.TesseraSinkFactory(cluster.discovery_address, DATABASE, TABLE, "arrow", TAGS, "cpu")
    tres = driver.run_ingest(data, factory, config, form="tessera-arrow")
    if tres.errors:
        raise RuntimeError(f"tessera: {tres.errors} failed writes: {tres.error_messages}")
    log(f"  {tres.rows:,} rows in {tres.seconds:.2f} s = {tres.rows_per_s:,.0f} rows/s")
    result = SystemResult("tessera", f"{base}; {where})",
                          {"durability": "fsync on every WAL append; ack after 2 of 3 replicas (durable quorum)",
                           "replicas": "3 (one per zone); bytes on disk count all three"}, ingest=tres.as_dict())
    if measure_disk:
        measure_tessera_disk(cluster, result, chosen, before, log)
    return result


def tessera_disk(cluster: Any, cells: Sequence[str]) -> engine.DiskUse:
    """Bytes on disk of the storage nodes of ``cells``, summed."""
    names = [n.name for n in cluster.nodes("storage") if n.cell in cells]
    return engine.total_disk(engine.cluster_disk(pathlib.Path(cluster.spec.data_dir) / "storage", names).values())


def measure_tessera_disk(cluster: Any, result: SystemResult, cells: Sequence[str], before: int,
                         log: Callable[[str], None] = print) -> None:
    """Settle the storage nodes of ``cells`` (flush all, compact, until nothing moves), then ``du`` their
    directories; ``before`` is what they held before the load (an empty WAL segment, directories)."""
    nodes = [n for n in cluster.nodes("storage") if n.cell in cells]
    log("flushing and compacting Tessera's storage nodes (Maintain test hook) ...")
    started = time.monotonic()
    settled = engine.settle([n.address for n in nodes])
    took = time.monotonic() - started
    use = tessera_disk(cluster, cells)
    result.disk_bytes = use.total
    result.disk_parts = {"wal": use.wal, "magnetic": use.magnetic, "other": use.other, "before": before,
                         "settle_s": round(took, 2), "settle_rounds": settled.rounds,
                         "flushed_rows": settled.flushed_rows, "compacted_segments": settled.compacted_segments,
                         "memory_bytes": settled.memory_bytes}
    result.disk_note = (f"the table's {len(nodes)} storage nodes after Maintain(flush_all, compact) × "
                        f"{settled.rounds} ({took:.1f} s): magnetic {engine.human(use.magnetic)}, WAL {engine.human(use.wal)}, "
                        f"other {engine.human(use.other)}; before the load {engine.human(before)}")
    log(f"  settled in {took:.1f} s ({settled.rounds} rounds, {settled.flushed_rows:,} rows flushed by the hook, "
        f"{settled.compacted_segments} segments compacted): magnetic {engine.human(use.magnetic)}, WAL "
        f"{engine.human(use.wal)}")


def with_other_layouts(first: SystemResult, others: Sequence[SystemResult]) -> SystemResult:
    """The first layout's result, carrying the other layouts' ingest figures (they are not queried)."""
    first.more_ingest = [{**o.ingest, "version": o.version[:-1] + "; ingest only)"} for o in others]
    return first


def median_round(rounds: Sequence[SystemResult]) -> SystemResult:
    """The round with the median rows/s (the lower middle for an even count), carrying every round's
    figure; other layouts' figures likewise by their own median. Disk figures come from the first round."""
    ordered = sorted(rounds, key=lambda r: r.ingest["rows_per_s"])
    chosen = ordered[(len(ordered) - 1) // 2]
    chosen.rounds = [r.ingest["rows_per_s"] for r in rounds]
    if rounds[0].disk_bytes is not None and rounds[0] is not chosen:
        chosen.disk_bytes, chosen.disk_note = rounds[0].disk_bytes, rounds[0].disk_note
    for i, more in enumerate(chosen.more_ingest):
        layout = sorted((r.more_ingest[i] for r in rounds), key=lambda m: m["rows_per_s"])
        chosen.more_ingest[i] = {**layout[(len(layout) - 1) // 2], "rounds": [r.more_ingest[i]["rows_per_s"]
                                                                             for r in rounds]}
    return chosen


def query_specs(data: CpuOnly, kinds: Sequence[str], count: int, seed: int) -> list[QuerySpec]:
    specs = []
    for kind in kinds:
        if KINDS[kind].hosts > data.scale:
            continue
        specs += random_specs(kind, data, count, seed)
    return specs


def check_and_time(specs: Sequence[QuerySpec], results: dict[str, SystemResult],
                   make: dict[str, Callable[[], Any]], log: Callable[[str], None] = print) -> None:
    """The agreement pass (each spec once per system, answers against the reference, the first system)
    then the timed pass (driver.run_queries, one client, per system)."""
    queriers = {name: make[name]() for name in results}
    try:
        reference = next(iter(results))
        for spec in specs:
            expected = queriers[reference].answer(spec)
            for name, q in queriers.items():
                if name == reference or not q.supports(spec):
                    continue
                got = q.answer(spec)
                skip = victoria.edge_buckets(spec) if name == "victoria" else set()
                problems = agree(spec.kind, expected, got, skip)
                res = results[name]
                res.checked += 1
                if problems:
                    res.disagreements.append(f"{spec.kind} [{_iso(spec.start_ns)}, {_iso(spec.end_ns)}) "
                                             f"hosts={','.join(spec.hosts) or 'all'}: " + "; ".join(problems))
                else:
                    res.agreed += 1
    finally:
        for q in queriers.values():
            q.close()
    for name, res in results.items():
        probe = make[name]()
        supported = [s for s in specs if probe.supports(s)]
        probe.close()
        log(f"timing {len(supported)} queries on {TITLES[name]} ...")
        qr = driver.run_queries(supported, make[name], concurrency=1, progress=False)
        if qr.errors:
            raise RuntimeError(f"{name}: {qr.errors} failed queries: {qr.error_messages}")
        res.queries = {k: v for k, v in qr.per_kind.items() if k != "all"}


def machine() -> str:
    mem = ""
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", pathlib.Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
        mem = f", {kb / 1024 / 1024:.0f} GiB"
    except (OSError, AttributeError):
        pass
    return f"{os.cpu_count()} cores{mem}, {platform.platform(terse=True)}, Python {platform.python_version()}"


def run(args: Any, log: Callable[[str], None] = print) -> dict[str, Any]:
    """``compare``: start what is not running, load, check, time, report, stop what this run started."""
    from tessera.cluster import ClusterSpec, LocalCluster

    data_dir = pathlib.Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    peers = list(args.peers)
    running = runner.read_state(data_dir)
    mine = [p for p in peers if not (p in running and runner.is_ours_and_alive(running[p]))]
    data = dataset_from(args)
    config = driver.IngestConfig(workers=args.workers, batch_rows=args.batch, progress=False)
    cluster = None
    try:
        started = runner.up(data_dir, peers, do_install=not args.no_install)
        rounds: dict[str, list[SystemResult]] = {}
        for r in range(args.rounds):  # interleaved, so a slow spell of the machine hits every system alike
            log(f"ingest round {r + 1} of {args.rounds}")
            loads: dict[str, SystemResult] = {}
            layouts = list(args.tessera_cells)
            for layout in reversed(layouts):  # the first layout last: its cluster stays up for the queries
                if cluster is not None:  # every load starts empty, as the peers do: a fresh local cluster
                    cluster.stop()
                    shutil.rmtree(cluster.spec.data_dir, ignore_errors=True)
                fresh = data_dir / f"tessera-round{r + 1}-{layout}"
                shutil.rmtree(fresh, ignore_errors=True)  # left by an earlier run with this --data-dir
                cluster = LocalCluster(ClusterSpec(data_dir=fresh, storage_args=TESSERA_STORAGE_ARGS))
                log("starting a Tessera local cluster ...")
                cluster.start()
                loads[layout] = load_tessera(cluster, data, config, layout, log,
                                             measure_disk=layout == layouts[0])
            loaded = {"tessera": with_other_layouts(loads[layouts[0]], [loads[x] for x in layouts[1:]])}
            loaded.update(load_peers(data, started, config, data_dir, log))  # each peer emptied first
            for name, res in loaded.items():
                rounds.setdefault(name, []).append(res)
        results = {name: median_round(res) for name, res in rounds.items()}
        if cluster is None:
            raise SystemExit("--rounds must be at least 1")
        specs = query_specs(data, args.kinds, args.count, args.seed)
        make: dict[str, Callable[[], Any]] = {
            "tessera": functools.partial(querier, "tessera", discovery=cluster.discovery_address)}
        for name, st in started.items():
            make[name] = functools.partial(querier, name, st)
        log(f"checking {len(specs)} queries against Tessera's answers ...")
        check_and_time(specs, results, make, log)
        report = {"date": dt.date.today().isoformat(), "machine": machine(), "dataset": driver.describe(data),
                  "workers": args.workers, "batch_rows": args.batch, "kinds": list(args.kinds), "rounds": args.rounds,
                  "count": args.count, "seed": args.seed, "command": getattr(args, "command_line", ""),
                  "systems": {k: v.__dict__ for k, v in results.items()}, "rows": data.rows,
                  "values": data.rows * len(FIELDS)}
        (data_dir / "compare.json").write_text(json.dumps(report, indent=2, default=str))
        return report
    finally:
        if cluster is not None:
            cluster.stop()
        if not args.keep:
            stopped = runner.down(data_dir, mine)
            if stopped:
                log("stopped: " + ", ".join(f"{k} {v}" for k, v in stopped.items()))


# -- markdown --------------------------------------------------------------------------------------------
def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _rounds(values: Sequence[float]) -> str:
    return " / ".join(f"{v:,.0f}" for v in values) if values else "—"


def markdown(report: dict[str, Any]) -> str:
    """The report as a markdown section (without the delimiters)."""
    systems: dict[str, dict[str, Any]] = report["systems"]
    values = report["values"]
    lines = [f"## {report['date']}: side by side with the peers (`loadtest.peers compare`)", "",
             f"Machine: {report['machine']}; every system on the same cores, one after another in one run.",
             (f"Data: {report['dataset']}. Ingest: {report['workers']} worker processes, batches of "
             f"{report['batch_rows']:,} rows (`loadtest.driver`). Queries: {report['count']} per type (seed "
             f"{report['seed']}), one client, warm (after the agreement pass)."), ""]
    if report.get("command"):
        lines += [f"Command: `{report['command']}`", ""]
    rounds = report.get("rounds", 1)
    if rounds > 1:
        lines += [(f"Ingest ran {rounds} rounds, interleaved (every system once per round, each peer emptied "
                  "first, Tessera on a fresh local cluster per layout); the table shows each system's median round and "
                  "lists every round's rows/s. Queries ran on the last round's data."), ""]
    lines += [("| system | rows/s | values/s | load s | rounds, rows/s | bytes on disk | bytes/value | what was "
              "measured |"), "|---|---:|---:|---:|---|---:|---:|---|"]
    for name, s in systems.items():
        ing = s["ingest"]
        disk = s["disk_bytes"]
        per_value = f"{disk / values:.2f}" if disk is not None else "n/a"
        if name == "tessera" and disk is not None:
            per_value += f" ({disk / 3 / values:.2f} per replica)"
            parts = s.get("disk_parts") or {}
            if "magnetic" in parts:
                per_value += (f"; magnetic {parts['magnetic'] / 3 / values:.3f}, WAL {parts['wal'] / 3 / values:.3f} "
                              "per replica")
        lines.append(f"| {s['version']} | {ing['rows_per_s']:,.0f} | {ing['values_per_s']:,.0f} | "
                     f"{ing['seconds']:.2f} | {_rounds(s.get('rounds', []))} | "
                     f"{_human(disk) if disk is not None else 'n/a'} | {per_value} | {s['disk_note']} |")
        for more in s.get("more_ingest", []):
            lines.append(f"| {more['version']} | {more['rows_per_s']:,.0f} | {more['values_per_s']:,.0f} | "
                         f"{more['seconds']:.2f} | {_rounds(more.get('rounds', []))} | n/a | n/a | ingest figure "
                         "of another layout, same run |")
    kinds = list(dict.fromkeys(k for s in systems.values() for k in s["queries"]))
    names = list(systems)
    lines += ["", "Query latency, median / p95 in ms (n/a: the system has no such TSBS query):", "",
              "| type | " + " | ".join(TITLES[n] for n in names) + " |",
              "|---|" + "---:|" * len(names)]
    for kind in kinds:
        cells = []
        for n in names:
            q = systems[n]["queries"].get(kind)
            cells.append(f"{q['p50_ms']:.1f} / {q['p95_ms']:.1f}" if q else "n/a")
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    lines += ["", "Answers compared with Tessera's (canonical rows; floats to 1e-9 relative):", ""]
    for n in names[1:]:
        s = systems[n]
        verdict = "all agree" if s["agreed"] == s["checked"] else f"{s['checked'] - s['agreed']} DISAGREE"
        lines.append(f"- {TITLES[n]}: {s['agreed']}/{s['checked']} queries agree ({verdict}).")
        for d in s["disagreements"][:MAX_REPORTED]:
            lines.append(f"  - {d}")
    lines += ["", "Versions and settings:", ""]
    for n, s in systems.items():
        settings = "; ".join(f"{k}: {v}" for k, v in s["settings"].items() if k not in ("config", "argv"))
        lines.append(f"- {s['version']}: {settings}.")
    lines += ["", ("Method: `loadtest/peers/compare.py` (module doc). Peers' payloads (line protocol, COPY "
                   "text) are prepared before the clock, as TSBS loads pre-generated files; Tessera's Arrow "
                   "batches likewise. VictoriaMetrics' `/write` (InfluxDB line protocol) is used for its ingest.")]
    return "\n".join(lines) + "\n"


def update_doc(path: pathlib.Path, section: str) -> None:
    """Replace the text between the peers markers in ``path``, or append a delimited section."""
    text = path.read_text() if path.exists() else ""
    block = f"{BEGIN}\n{section}{END}\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)
