"""``python -m loadtest``: ingest and TSBS query load against Tessera, with a report.

    python -m loadtest ingest --dataset tsbs --scale 100 --hours 24 --form arrow --workers 2 --batch 10000 \\
        --out results/ingest
    python -m loadtest query --queries single-groupby-1-1-1,lastpoint --concurrency 4 --count 50 --out results/q

Without ``--discovery`` a LocalCluster (2 cells × 3 storage replicas, 2 ingest and 1 query node each) is
started in a temporary directory and stopped at the end. By default the data set is shifted to end now
(``--start now``), so it lies inside the memory store's retention; ``--start tsbs`` keeps TSBS's
2016-01-01 and creates the table with magnetic-store writes enabled.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import math
import pathlib
import shlex
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from loadtest import engine, iot, storage_logs, tsbs
from loadtest.driver import (
    DataSet,
    GatewayAccess,
    GatewayQueryRunner,
    IngestConfig,
    IngestResult,
    TesseraQueryRunner,
    TesseraSinkFactory,
    dimensions_of,
    interleave,
    measure_name_of,
    run_ingest,
    run_queries,
    run_side_by_side,
)
from loadtest.looped import LoopedCpuOnly
from loadtest.minutes import minutes_table, per_minute, steadiness
from loadtest.report import ProcessSampler, Report, ingest_table, query_table, resources_table
from loadtest.tsbs_queries import KINDS, random_specs
from tessera.cluster import ClusterSpec, LocalCluster, read_state
from tessera.credentials import PROFILE, ensure_profile

HOUR_NS = 3_600 * 1_000_000_000
MAX_MEMORY_RETENTION_HOURS = 8766


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, write the report, print the summary."""
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    command = "python -m loadtest " + shlex.join(argv)
    sampler = ProcessSampler()
    report = Report(command=command, settings=_settings(args))
    sampler.start()
    try:
        with _cluster(args, sampler) as (discovery, cluster):
            disk = engine.DiskSampler(_storage_dirs(cluster)) if cluster is not None else None
            if disk is not None:
                disk.sample()
                disk.start()
            try:
                if args.command == "ingest":
                    report.ingest = _ingest(args, discovery, sampler, cluster)
                else:
                    report.ingest, report.queries = _query(args, discovery, sampler, report, cluster)
            finally:
                if disk is not None:
                    disk.stop()
                    disk.sample()
            if cluster is not None:
                _engine_sections(args, report, cluster, sampler, disk)
    finally:
        sampler.stop()
    windows = [(r.started_at_unix, r.started_at_unix + r.seconds + 1.0) for r in report.ingest]
    if report.queries is not None:
        windows.append((report.queries.started_at_unix,
                        report.queries.started_at_unix + report.queries.seconds + 1.0))
    report.resources = sampler.summary(windows)
    paths = report.write(pathlib.Path(args.out))
    if report.ingest:
        print(ingest_table(report.ingest))
    if report.queries is not None:
        print(query_table(report.queries))
    print(resources_table(report.resources))
    for title, body in report.sections:
        print(f"\n{title}\n\n{body}")
    print(f"report: {', '.join(str(p) for p in paths)}")
    failed = any(r.errors for r in report.ingest) or (report.queries is not None and report.queries.errors)
    return 1 if failed else 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m loadtest", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    ingest = sub.add_parser("ingest", help="write a data set and measure rows/s and batch latency")
    query = sub.add_parser("query", help="load TSBS data (unless --reuse), then run TSBS devops queries")
    for s in (ingest, query):
        s.add_argument("--discovery", help="HOST:PORT of a running cluster (default: start a LocalCluster)")
        s.add_argument("--cluster-dir", help="data directory of a running `tessera up`: its discovery address, "
                                             "and its processes are sampled for CPU and RSS")
        s.add_argument("--database", default="loadtest")
        s.add_argument("--table", help="default: <dataset>_<form>")
        s.add_argument("--scale", type=int, default=100, help="TSBS hosts (default 100)")
        s.add_argument("--hours", type=float, default=24.0, help="data set span (default 24)")
        s.add_argument("--interval", type=float, default=10.0, help="seconds between points (default 10)")
        s.add_argument("--seed", type=int, default=123)
        s.add_argument("--float", action="store_true", help="TSBS two-decimal values instead of integers")
        s.add_argument("--start", default="now",
                       help="now (the data ends now; default), tsbs (2016-01-01, magnetic writes) or an ISO time")
        s.add_argument("--workers", type=int, default=2, help="writer processes (default 2)")
        s.add_argument("--batch", type=int, default=10_000, help="rows per batch (default 10000)")
        s.add_argument("--rows", type=int, help="write only the first ROWS rows of the data set")
        s.add_argument("--no-spread", action="store_true", help="keep the table on one cell (default: all)")
        s.add_argument("--storage-args", default="",
                       help="flags for every storage node of the local cluster, one string, e.g. "
                            "'--memory-limit-mb 512 --test-hooks'")
        s.add_argument("--data-dir", help="put the local cluster here and keep it (its logs and data) afterwards "
                                          "(default: a temporary directory, removed)")
        s.add_argument("--memory-retention-hours", type=int,
                       help="the table's memory-store retention (default: the data's age + 24 h); rows older "
                            "than it are written with magnetic writes enabled and flushed by age")
        s.add_argument("--out", required=True, help="report directory")
        s.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="progress bar (default: when stderr is a terminal)")
    ingest.add_argument("--dataset", choices=("tsbs", "iot"), default="tsbs")
    ingest.add_argument("--factories", type=int, default=3, help="IoT factories (default 3)")
    ingest.add_argument("--lines", type=int, default=2, help="IoT lines per factory (default 2)")
    ingest.add_argument("--machines", type=int, default=10, help="IoT machines per line (default 10)")
    ingest.add_argument("--form", type=_forms, default="arrow",
                        help="one or more, comma-separated, run one after the other on the same data: arrow: "
                             "write_arrow; records: boto3 dicts via the SDK's write_records (Arrow columns on "
                             "the wire); records-pb: Record messages, 100 a request (a plain gRPC client); "
                             "gateway: boto3 WriteRecords through the HTTP gateway, 100 a request (needs a local "
                             "cluster); both: arrow,records")
    ingest.add_argument("--rate", type=float, help="target rows/s over all workers (default: as fast as possible)")
    ingest.add_argument("--duration", type=float, help="stop after this many seconds")
    ingest.add_argument("--timing", choices=("auto", "pregenerated", "inline"), default="auto")
    ingest.add_argument("--no-verify", action="store_true", help="skip counting the rows back with a query")
    ingest.add_argument("--loop-epochs", type=int, default=0,
                        help="tsbs: generate only the first N epochs and repeat their values over the span "
                             "(loadtest.looped: long runs without a load generator eating the cores); 0 = off")
    ingest.add_argument("--reference-rows-per-s", type=float,
                        help="a short load's rows/s: the minute table reports each minute against it")
    query.add_argument("--queries", default="all", help=f"comma-separated types or 'all': {', '.join(KINDS)}")
    query.add_argument("--concurrency", type=int, default=4)
    query.add_argument("--count", type=int, default=20, help="queries per type (default 20)")
    query.add_argument("--duration", type=float, help="stop the query load after this many seconds")
    query.add_argument("--query-seed", type=int, default=123)
    query.add_argument("--via", choices=("sdk", "sdk,gateway"), default="sdk",
                       help="sdk: the gRPC SDK (Arrow pages); sdk,gateway: each query through the SDK and through the "
                            "HTTP gateway with boto3, one right after the other, with the added latency per type "
                            "(needs a local cluster)")
    query.add_argument("--reuse", action="store_true",
                       help="query an already loaded --table (needs --discovery); the data range is read from it")
    return p


FORMS = ("arrow", "records", "records-pb", "gateway")


def _forms(text: str) -> tuple[str, ...]:
    forms = ("arrow", "records") if text == "both" else tuple(f.strip() for f in text.split(",") if f.strip())
    unknown = [f for f in forms if f not in FORMS]
    if unknown or not forms:
        raise argparse.ArgumentTypeError(f"unknown form(s) {unknown}: choose from {', '.join(FORMS)} or both")
    return forms


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in vars(args).items() if v is not None and k != "command"}


# --- cluster and tables -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _cluster(args: argparse.Namespace, sampler: ProcessSampler) -> Iterator[tuple[str, LocalCluster | None]]:
    if args.cluster_dir:
        state = read_state(pathlib.Path(args.cluster_dir))
        if state is None:
            raise SystemExit(f"no cluster.json in --cluster-dir {args.cluster_dir}: is `tessera up` running?")
        processes: dict[str, dict[str, Any]] = state["processes"]  # type: ignore[assignment]
        for name, entry in processes.items():
            sampler.add(name, str(entry["role"]), int(entry["pid"]))
        args.discovery = args.discovery or str(state["discovery"])
    if args.discovery:
        yield args.discovery, None
        return
    with contextlib.ExitStack() as stack:
        if args.data_dir:
            root = pathlib.Path(args.data_dir)
            if root.exists() and any(root.iterdir()):
                raise SystemExit(f"--data-dir {root} is not empty: choose a new directory")
        else:
            root = pathlib.Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tessera-loadtest-")))
        cluster = LocalCluster(ClusterSpec(data_dir=root, storage_args=tuple(shlex.split(args.storage_args))))
        print(f"starting a local cluster in {root} ...", file=sys.stderr)
        cluster.start()
        try:
            for name, proc in cluster.processes.items():
                sampler.add(name, proc.role, proc.pid)
            yield cluster.discovery_address, cluster
        finally:
            cluster.stop()


def _storage_dirs(cluster: LocalCluster) -> list[pathlib.Path]:
    root = pathlib.Path(cluster.spec.data_dir) / "storage"
    return [root / p.name for p in cluster.nodes("storage")]


def _engine_sections(args: argparse.Namespace, report: Report, cluster: LocalCluster, sampler: ProcessSampler,
                     disk: engine.DiskSampler | None) -> None:
    """What the storage nodes did during the run: minute by minute (long runs), flushes, bytes on disk."""
    names = [p.name for p in cluster.nodes("storage")]
    records = list(storage_logs.node_logs(pathlib.Path(cluster.spec.data_dir) / "logs", names))
    flushes = storage_logs.flushes(records)
    summary = storage_logs.flush_summary(flushes)
    failures = storage_logs.failures(records)
    ingest_problems = storage_logs.failures(storage_logs.node_logs(
        pathlib.Path(cluster.spec.data_dir) / "logs", [p.name for p in cluster.nodes("ingest")]))
    end = disk.samples[-1][1] if disk is not None and disk.samples else engine.DiskUse()
    values = sum(r.values for r in report.ingest)
    body = [f"Storage nodes' bytes on disk at the end (all {len(names)} nodes, every replica): WAL "
            f"{engine.human(end.wal)}, magnetic {engine.human(end.magnetic)}, other {engine.human(end.other)}"
            + (f"; {end.total / values:.2f} bytes per value written ({end.total / 3 / values:.2f} per replica)"
               if values else "") + ".", "",
            "Flushes the storage nodes logged (every node, every replica), by tiering rule: "
            + ("; ".join(f"{rule}: {f['flushes']:,} flushes, {f['rows']:,} rows, {engine.human(f['bytes'])}"
                         for rule, f in summary.items()) or "none") + ".",
            "", "Warnings and errors the storage nodes logged: "
            + (", ".join(f"{k} × {v}" for k, v in failures.items()) or "none") + "; the ingest nodes: "
            + (", ".join(f"{k} × {v}" for k, v in ingest_problems.items()) or "none") + "."]
    report.extra["storage_engine"] = {"disk_end": end.__dict__, "flushes": summary, "failures": dict(failures),
                                      "ingest_failures": dict(ingest_problems), "storage_args": args.storage_args}
    report.sections.append(("Storage engine", "\n".join(body)))
    for result in report.ingest:
        if result.seconds < 120:
            continue
        minutes = per_minute(result.started_at_unix, result.timeline, sampler.samples("storage"),
                             disk.samples if disk is not None else (), flushes)
        text = minutes_table(minutes)
        reference = getattr(args, "reference_rows_per_s", None)
        steady = steadiness(minutes, reference) if reference else {}
        if steady:
            text += (f"\n\nAgainst the reference of {reference:,.0f} rows/s: lowest full minute "
                     f"{steady['min']:.0%}, median {steady['median']:.0%}, last {steady['last']:.0%}.")
        report.extra.setdefault("minutes", {})[result.form] = [m.__dict__ for m in minutes]
        report.sections.append((f"Minute by minute ({result.form})", text))


def _start_ns(args: argparse.Namespace, span_ns: int, interval_ns: int) -> int:
    if args.start == "tsbs":
        return tsbs.DEFAULT_START_NS
    if args.start == "now":
        return (time.time_ns() - span_ns) // interval_ns * interval_ns
    moment = datetime.datetime.fromisoformat(args.start)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return int(moment.timestamp()) * 1_000_000_000


def _span(args: argparse.Namespace) -> tuple[int, int, int]:
    """start_ns, end_ns and interval_ns from --start, --hours and --interval."""
    interval = round(args.interval * 1e9)
    span = round(args.hours * HOUR_NS)
    start = _start_ns(args, span, interval)
    return start, start + span, interval


def _tsbs(args: argparse.Namespace) -> tsbs.CpuOnly:
    start, end, interval = _span(args)
    if getattr(args, "loop_epochs", 0):
        return LoopedCpuOnly(args.scale, start, end, interval, args.seed, integer=not args.float,
                             block_epochs=args.loop_epochs)
    return tsbs.CpuOnly(args.scale, start, end, interval, args.seed, integer=not args.float)


def _iot(args: argparse.Namespace) -> iot.Iot:
    start, end, interval = _span(args)
    return iot.Iot(args.factories, args.lines, args.machines, start, end, interval, args.seed)


def _create_table(args: argparse.Namespace, client: Any, table: str, data: DataSet) -> None:
    from tessera import errors

    with contextlib.suppress(errors.Conflict):
        client.create_database(args.database)
    age_h = (time.time_ns() - data.start_ns) / HOUR_NS
    hours = min(MAX_MEMORY_RETENTION_HOURS, max(1, math.ceil(age_h) + 24))
    if args.memory_retention_hours is not None:
        hours = args.memory_retention_hours
    magnetic = age_h + (0 if args.memory_retention_hours is not None else 24) > hours
    cells = [c.cell for c in client.cells()] if not args.no_spread else []
    try:
        client.create_table(args.database, table, memory_retention_hours=hours, magnetic_writes=magnetic or None,
                            cells=cells if len(cells) > 1 else ())
    except errors.Conflict as exc:
        raise SystemExit(f"table {args.database}.{table} exists: pass another --table or --database") from exc


def _count_rows(client: Any, database: str, table: str) -> int:
    result = client.query(f'SELECT count(*) AS n FROM "{database}"."{table}"')
    return int(result.column(0)[0].as_py())


# --- commands ---------------------------------------------------------------------------------------------


def _config(args: argparse.Namespace, duration: float | None, timing: str = "auto") -> IngestConfig:
    return IngestConfig(workers=args.workers, batch_rows=args.batch, rate=getattr(args, "rate", None),
                        duration_s=duration, max_rows=args.rows, timing=timing, progress=args.progress)


def _gateway_access(cluster: LocalCluster | None) -> GatewayAccess | None:
    """The first gateway of a local cluster and the key `tessera up` would print."""
    gateways = cluster.nodes("gateway") if cluster is not None else []
    if not gateways or cluster is None:
        return None
    key_id, secret = ensure_profile(cluster.spec.credentials, PROFILE)
    return GatewayAccess(f"http://{gateways[0].address}", key_id, secret)


def _load(args: argparse.Namespace, discovery: str, sampler: ProcessSampler, data: DataSet, form: str,
          table: str, config: IngestConfig, verify: bool, gateway: GatewayAccess | None = None) -> IngestResult:
    from tessera.client import Client

    if form == "gateway" and gateway is None:
        raise SystemExit("--form gateway needs a local cluster started by this command (no --discovery)")
    with Client(discovery) as client:
        _create_table(args, client, table, data)
        factory = TesseraSinkFactory(discovery, args.database, table, form, dimensions_of(data),
                                     measure_name_of(data), gateway=gateway)

        def watch(pids: list[int]) -> None:
            for i, pid in enumerate(pids):
                sampler.add(f"loadgen-{form}-{i}", "loadgen", pid)

        print(f"writing to {args.database}.{table} ({form}) ...", file=sys.stderr)
        result = run_ingest(data, factory, config, form=f"tessera-{form}", on_workers=watch)
        if verify:
            result.verified_rows = _count_rows(client, args.database, table)
    return result


def _ingest(args: argparse.Namespace, discovery: str, sampler: ProcessSampler,
            cluster: LocalCluster | None = None) -> list[IngestResult]:
    data: DataSet = _iot(args) if args.dataset == "iot" else _tsbs(args)
    config = _config(args, args.duration, args.timing)
    gateway = _gateway_access(cluster)
    return [_load(args, discovery, sampler, data, form, args.table or f"{args.dataset}_{form.replace('-', '_')}",
                  config, verify=not args.no_verify, gateway=gateway) for form in args.form]


def _query(args: argparse.Namespace, discovery: str, sampler: ProcessSampler, report: Report,
           cluster: LocalCluster | None = None) -> tuple[list[IngestResult], Any]:
    table = args.table or "tsbs_arrow"
    kinds = list(KINDS) if args.queries == "all" else [k.strip() for k in args.queries.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise SystemExit(f"unknown query types {unknown}; known: {', '.join(KINDS)}")
    loaded: list[IngestResult] = []
    data: tsbs.CpuOnly
    if args.reuse:
        if not args.discovery:
            raise SystemExit("--reuse needs --discovery (or --cluster-dir) of the cluster that holds the data")
        data = _loaded_dataset(args, discovery, table)
    else:
        data = _tsbs(args)
        loaded.append(_load(args, discovery, sampler, data, "arrow", table, _config(args, None), verify=True))
    specs = interleave([random_specs(k, data, args.count, args.query_seed) for k in kinds], args.query_seed)
    def tessera() -> TesseraQueryRunner:
        return TesseraQueryRunner(discovery, args.database, table)

    if args.via == "sdk":
        print(f"running {len(specs)} queries at concurrency {args.concurrency} ...", file=sys.stderr)
        result = run_queries(specs, tessera, args.concurrency, duration_s=args.duration, progress=args.progress)
        return loaded, result
    gateway = _gateway_access(cluster)
    if gateway is None:
        raise SystemExit("--via sdk,gateway needs a local cluster started by this command (no --discovery)")
    print(f"running {len(specs)} queries at concurrency {args.concurrency}, each through the SDK and through the "
          "gateway, one right after the other ...", file=sys.stderr)
    paths = run_side_by_side(specs, {"sdk": tessera, "gateway": lambda: GatewayQueryRunner(gateway, args.database,
                                                                                          table)},
                             args.concurrency, duration_s=args.duration, progress=args.progress)
    result, through = paths["sdk"], paths["gateway"]
    report.extra["gateway_queries"] = through.as_dict()
    report.sections.append(("Queries through the HTTP gateway (boto3)", query_table(through)))
    report.sections.append(("Added latency of the gateway (boto3 p50 - SDK p50)", _added_latency(result, through)))
    return loaded, result


def _added_latency(sdk: Any, gateway: Any) -> str:
    lines = ["| query type | SDK p50 ms | gateway p50 ms | added ms | rows (SDK / gateway) |", "|---|---:|---:|---:|---|"]
    for kind, s in sdk.per_kind.items():
        g = gateway.per_kind.get(kind)
        if g is None:
            continue
        rows = (sum(sdk.rows.values()), sum(gateway.rows.values())) if kind == "all" else \
            (sdk.rows.get(kind, 0), gateway.rows.get(kind, 0))
        lines.append(f"| {kind} | {s['p50_ms']:.1f} | {g['p50_ms']:.1f} | {g['p50_ms'] - s['p50_ms']:+.1f} "
                     f"| {rows[0]:,} / {rows[1]:,} |")
    return "\n".join(lines)


def _loaded_dataset(args: argparse.Namespace, discovery: str, table: str) -> tsbs.CpuOnly:
    """The TSBS data set already in ``table``: its time range and host count, read with one query."""
    from tessera.client import Client

    with Client(discovery) as client:
        row = client.query(f'SELECT to_nanoseconds(min(time)) AS lo, to_nanoseconds(max(time)) AS hi, '
                           f'count(DISTINCT hostname) AS hosts FROM "{args.database}"."{table}"').to_pylist()[0]
    interval = round(args.interval * 1e9)
    if row["hosts"] == 0 or row["lo"] is None:
        raise SystemExit(f"{args.database}.{table} holds no rows to query")
    return tsbs.CpuOnly(int(row["hosts"]), int(row["lo"]), int(row["hi"]) + interval, interval, args.seed)


if __name__ == "__main__":
    raise SystemExit(main())
