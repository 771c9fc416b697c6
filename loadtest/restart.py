"""Restart time of a storage node and full-table scan speed from the magnetic store: ``python -m loadtest.restart``.

    python -m loadtest.restart --scale 1000 --hours 14 --tail-rows 1000000 --repeats 3 --scans 5 \\
        --out results/restart [--data-dir DIR] [--storage-args '--memory-limit-mb 2048']

On a one-cell local cluster (:mod:`loadtest.bench_cluster`; storage nodes with ``--test-hooks`` and
``--idle-flush-s 86400 --open-idle-flush-s 86400``, so nothing leaves memory unless asked to):

1. load ``--scale`` hosts × ``--hours`` of TSBS data ending where the tail's span before now begins
   (every storage node holds it all);
2. settle: ``Maintain(flush_all, compact)`` on every storage node until nothing moves (all rows in segments,
   the WAL checkpointed), then bytes on disk by tier;
3. scan: ``SELECT count(*), avg(usage_user), max(usage_system)`` over the whole table through the cluster,
   ``--scans`` times; wall time, and the CPU seconds the storage and query processes used meanwhile;
4. restart, flushed: ``--repeats`` times, SIGKILL the zone-a storage node and start it again; the time from
   the start to its ready file (written once it listens and is registered: it serves), and what the node
   logged for opening its tile store (manifests + WAL replay);
5. restart with an unflushed WAL tail: write ``--tail-rows`` more rows (the span after the main data, up to
   ten minutes ago), leave them in the memory stores and the WAL, then restart as in 4 (each restart replays
   the same tail), then scan again (both tiers). The tail is bounded in practice by the flush mark (a fifth of
   ``--memory-limit-mb``): above it the node flushes the largest memory stores whatever their age;
6. rebuild (``--no-rebuild`` skips it): SIGKILL the node, delete its data directory, start it again, and time
   it until it logs that it holds what its peers hold (anti-entropy copied every tile back).

Printed: markdown tables; ``--out`` gets ``result.json`` and ``summary.md``. What the figures do not cover:
a node restarted while the cluster takes writes (catch-up and repair), and data directories larger than
the page cache (here every file read at start-up is cached).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shlex
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import grpc

from loadtest import bench_cluster, engine, storage_logs, tsbs
from loadtest.bench_cluster import DATABASE, log
from loadtest.report import machine_info
from tessera.cluster import LocalCluster
from tessera.v1 import storage_pb2, storage_pb2_grpc

TABLE = "cpu"
RESTART_ARGS = ("--idle-flush-s", "86400", "--open-idle-flush-s", "86400")
MARGIN_NS = 600 * 1_000_000_000
"""The tail ends this long before the run starts: no row may be in the future when it is written."""
SCAN_SQL = f'SELECT count(*) AS n, avg(usage_user) AS u, max(usage_system) AS s FROM "{DATABASE}"."{TABLE}"'


@dataclass(frozen=True)
class Restart:
    """One kill -9 and start of a storage node."""

    scenario: str
    ready_s: float
    """From starting the process to its ready file: listening, registered, serving."""
    first_answer_s: float
    """From starting the process to a ListTiles answer that lists the table's tiles."""
    open_s: float
    """The node's own figure for opening its tile store (manifests loaded, WAL replayed)."""
    replayed_entries: int


@dataclass(frozen=True)
class Scan:
    """One full-table aggregate through the cluster."""

    tier: str
    rows: int
    seconds: float
    cpu_seconds: float
    """CPU time of every storage and query process while the query ran."""

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds

    @property
    def rows_per_cpu_s(self) -> float:
        return self.rows / self.cpu_seconds if self.cpu_seconds > 0 else 0.0


def table_id(cluster: LocalCluster) -> str:
    """The catalog id of the benchmark table (storage nodes know tables by id)."""
    from tessera.client import Client

    with Client(cluster.discovery_address) as client:
        return str(client.describe_table(DATABASE, TABLE).table_id)


def list_tiles(address: str, table: str, timeout_s: float = 5.0) -> int:
    """How many tiles of ``table`` the node at ``address`` lists."""
    with grpc.insecure_channel(address) as channel:
        request = storage_pb2.ListTilesRequest(table_id=table, min_bucket=0, max_bucket=2**62)
        return len(storage_pb2_grpc.StorageStub(channel).ListTiles(request, timeout=timeout_s).tiles)


def restart_once(cluster: LocalCluster, name: str, table: str, scenario: str) -> Restart:
    """SIGKILL the node, start it again, time it until it serves and answers."""
    cluster.kill(name)
    logs = pathlib.Path(cluster.spec.data_dir) / "logs"
    known = len(storage_logs.openings(storage_logs.node_logs(logs, [name])))
    started = time.monotonic()
    cluster.restart(name)
    ready = time.monotonic() - started
    address = cluster.processes[name].address
    while list_tiles(address, table) == 0:
        if time.monotonic() - started > 120:
            raise RuntimeError(f"{name} lists no tile of the table 120 s after its restart")
        time.sleep(0.01)
    first = time.monotonic() - started
    opened = storage_logs.openings(storage_logs.node_logs(logs, [name]))[known:]
    if not opened:
        raise RuntimeError(f"{name} logged no 'tile store opened' line after its restart")
    return Restart(scenario, round(ready, 3), round(first, 3), opened[-1].seconds, opened[-1].replayed_entries)


REBUILT = "this replica now holds what its peers hold and counts as a replica again"


def rebuild_once(cluster: LocalCluster, name: str, rows: int) -> dict[str, Any]:
    """SIGKILL the node, delete its data directory, start it again, and time it until it logs that it holds
    what its peers hold (anti-entropy copied every tile back) and counts as a replica again."""
    import shutil

    cluster.kill(name)
    shutil.rmtree(pathlib.Path(cluster.spec.data_dir) / "storage" / name)
    log_file = pathlib.Path(cluster.spec.data_dir) / "logs" / f"{name}.log"
    before = log_file.read_text().count(REBUILT) if log_file.exists() else 0
    started = time.monotonic()
    cluster.restart(name)
    while log_file.read_text().count(REBUILT) <= before:
        if time.monotonic() - started > 900:
            raise RuntimeError(f"{name} did not finish rebuilding from its peers within 900 s")
        time.sleep(0.1)
    seconds = time.monotonic() - started
    return {"rows": rows, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds)}


def scan(cluster: LocalCluster, tier: str, expected_rows: int) -> Scan:
    """Run the full-table aggregate once; check its count."""
    from tessera.client import Client

    pids = {p.name: p.pid for p in cluster.processes.values() if p.role in ("storage", "query")}
    with Client(cluster.discovery_address, timeout_s=600) as client:
        before = engine.cpu_seconds_of(pids)
        started = time.perf_counter()
        answer = client.query(SCAN_SQL).to_pylist()[0]
        took = time.perf_counter() - started
        after = engine.cpu_seconds_of(pids)
    if int(answer["n"]) != expected_rows:
        raise RuntimeError(f"the scan counted {answer['n']:,} rows, {expected_rows:,} were written")
    return Scan(tier, expected_rows, round(took, 4), round(sum(after.values()) - sum(before.values()), 3))


def scans(cluster: LocalCluster, tier: str, expected_rows: int, count: int) -> list[Scan]:
    """``count`` scans, after one unmeasured warm-up."""
    scan(cluster, tier, expected_rows)
    return [scan(cluster, tier, expected_rows) for _ in range(count)]


def node_memory(address: str) -> int:
    """Memory-store bytes of one node (a Maintain round that asks for nothing extra)."""
    return int(engine.maintain([address])[address].memory_bytes)


def run(a: argparse.Namespace) -> dict[str, Any]:
    """The whole benchmark (module doc); the figures as a JSON-ready dict."""
    extra = [*RESTART_ARGS, *bench_cluster.storage_args(a.storage_args)]
    tail_epochs = -(-a.tail_rows // a.scale)
    tail_ns = tail_epochs * 10 * 1_000_000_000
    main = bench_cluster.current(a.scale, a.hours, seed=a.seed, end_ns=time.time_ns() - tail_ns - MARGIN_NS)
    tail = tsbs.CpuOnly(a.scale, main.end_ns, main.end_ns + tail_epochs * main.interval_ns, main.interval_ns,
                        a.seed + 1)
    out: dict[str, Any] = {"storage_args": ["--test-hooks", *extra], "rows": main.rows, "values": main.rows * 10,
                           "tail_rows": tail.rows}
    with bench_cluster.local_cluster(a.data_dir, extra) as cluster:
        bench_cluster.create_table(cluster, TABLE, main.start_ns)
        tid = table_id(cluster)
        out["load"] = bench_cluster.load(cluster, TABLE, main).as_dict()
        log("settling (flush all, compact) ...")
        started = time.monotonic()
        settled = engine.settle(bench_cluster.storage_addresses(cluster))
        out["settle"] = {**asdict(settled), "seconds": round(time.monotonic() - started, 2)}
        root = pathlib.Path(cluster.spec.data_dir) / "storage"
        names = [p.name for p in cluster.nodes("storage")]
        out["disk_settled"] = {n: asdict(u) for n, u in engine.cluster_disk(root, names).items()}
        log("scanning (magnetic) ...")
        out["scans"] = [asdict(s) for s in scans(cluster, "magnetic", main.rows, a.scans)]
        victim = names[0]
        restarts = []
        for _ in range(a.repeats):
            log(f"restarting {victim} (flushed) ...")
            restarts.append(restart_once(cluster, victim, tid, "flushed"))
        bench_cluster.load(cluster, TABLE, tail)
        address = cluster.processes[victim].address
        out["tail_memory_bytes"] = node_memory(address)
        out["disk_with_tail"] = asdict(engine.disk_use(root / victim))
        for _ in range(a.repeats):
            log(f"restarting {victim} (unflushed WAL tail of {tail.rows:,} rows) ...")
            restarts.append(restart_once(cluster, victim, tid, "WAL tail"))
        out["tail_memory_bytes_after_restart"] = node_memory(cluster.processes[victim].address)
        log("scanning (magnetic + memory) ...")
        out["scans"] += [asdict(s) for s in scans(cluster, "magnetic + memory", main.rows + tail.rows, a.scans)]
        out["restarts"] = [asdict(r) for r in restarts]
        if a.rebuild:
            log(f"wiping {victim} and timing its rebuild from its peers ({main.rows + tail.rows:,} rows) ...")
            out["rebuild"] = rebuild_once(cluster, victim, main.rows + tail.rows)
        records = list(storage_logs.node_logs(pathlib.Path(cluster.spec.data_dir) / "logs", names))
        out["failures"] = dict(storage_logs.failures(records))
        out["pids"] = {n: cluster.processes[n].pid for n in names}
    return out


def markdown(out: dict[str, Any]) -> str:
    """The figures as markdown tables."""
    values = out["values"]
    disk = [engine.DiskUse(**d) for d in out["disk_settled"].values()]
    per_node = [d.total for d in disk if d.total]
    lines = [f"Data: {out['rows']:,} rows × 10 values = {values:,} values on each of the cell's 3 storage nodes "
             f"(load {out['load']['rows_per_s']:,.0f} rows/s); settled in {out['settle']['seconds']:.1f} s "
             f"({out['settle']['rounds']} Maintain rounds). Bytes on disk after settling, per node: "
             + ", ".join(f"{engine.human(d.total)} (magnetic {engine.human(d.magnetic)}, WAL "
                         f"{engine.human(d.wal)})" for d in disk)
             + (f"; {statistics.median(per_node) / values:.3f} bytes per value per replica." if per_node else "."),
             "", ("| scenario | restarts | ready s (median; all) | first ListTiles answer s (median) | "
             "tile store open s (median) | WAL entries replayed |"), "|---|---:|---:|---:|---:|---:|"]
    restarts = [Restart(**r) for r in out["restarts"]]
    for scenario in dict.fromkeys(r.scenario for r in restarts):
        rs = [r for r in restarts if r.scenario == scenario]
        lines.append(f"| {scenario} | {len(rs)} | {statistics.median(r.ready_s for r in rs):.2f} "
                     f"({' / '.join(f'{r.ready_s:.2f}' for r in rs)}) | "
                     f"{statistics.median(r.first_answer_s for r in rs):.2f} | "
                     f"{statistics.median(r.open_s for r in rs):.2f} | {rs[-1].replayed_entries:,} |")
    lines += ["", (f"The WAL tail: {out['tail_rows']:,} rows, {engine.human(out['disk_with_tail']['wal'])} of WAL "
              f"on the node, {engine.human(out['tail_memory_bytes'])} in its memory stores before the restarts and "
              f"{engine.human(out['tail_memory_bytes_after_restart'])} after them."), "",
              "| scan (`" + SCAN_SQL + "`) | rows | runs | wall s (median) | rows/s | CPU s (storage + query) | "
              "rows per CPU second |", "|---|---:|---:|---:|---:|---:|---:|"]
    all_scans = [Scan(**s) for s in out["scans"]]
    for tier in dict.fromkeys(s.tier for s in all_scans):
        ss = [s for s in all_scans if s.tier == tier]
        wall = statistics.median(s.seconds for s in ss)
        cpu = statistics.median(s.cpu_seconds for s in ss)
        lines.append(f"| {tier} | {ss[0].rows:,} | {len(ss)} | {wall:.3f} | {ss[0].rows / wall:,.0f} | {cpu:.2f} | "
                     f"{ss[0].rows / cpu:,.0f} |")
    if "rebuild" in out:
        r = out["rebuild"]
        lines += ["", (f"Rebuild: the node restarted with an empty data directory held what its peers hold (and "
                       f"counted as a replica again) {r['seconds']:.2f} s after its start: {r['rows']:,} rows, "
                       f"{r['rows_per_s']:,} rows/s (with the repair interval's wait).")]
    lines += ["", "Warnings and errors the storage nodes logged: "
              + (", ".join(f"{k} × {v}" for k, v in out["failures"].items()) or "none") + "."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print and write the report."""
    p = argparse.ArgumentParser(prog="python -m loadtest.restart", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", type=int, default=1000, help="TSBS hosts (default 1000)")
    p.add_argument("--hours", type=float, default=14.0, help="hours of data (default 14: 5.04M rows at 1000 hosts)")
    p.add_argument("--seed", type=int, default=123)
    p.add_argument("--tail-rows", type=int, default=1_000_000, help="rows left unflushed for the second scenario")
    p.add_argument("--repeats", type=int, default=3, help="restarts per scenario")
    p.add_argument("--scans", type=int, default=5, help="measured scans per tier")
    p.add_argument("--storage-args", default="", help="more flags for the storage nodes, one string")
    p.add_argument("--rebuild", action=argparse.BooleanOptionalAction, default=True,
                   help="at the end, wipe the node's data directory and time its rebuild from its peers")
    p.add_argument("--data-dir", help="keep the cluster here (default: a temporary directory)")
    p.add_argument("--out", required=True, help="report directory")
    a = p.parse_args(argv)
    if a.scale < 1 or a.hours <= 0 or a.tail_rows < 1 or a.repeats < 1 or a.scans < 1:
        p.error("--scale, --hours, --tail-rows, --repeats and --scans must be positive")
    command = "python -m loadtest.restart " + shlex.join(sys.argv[1:] if argv is None else argv)
    out = run(a)
    out.update(command=command, machine=machine_info(), date=time.strftime("%Y-%m-%d"))
    text = markdown(out)
    print(text)
    folder = pathlib.Path(a.out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "result.json").write_text(json.dumps(out, indent=2, default=str) + "\n")
    (folder / "summary.md").write_text(f"# Storage node restart and scan, {out['date']}\n\n```\n{command}\n```\n\n"
                                       f"{text}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
