"""Memory per million active series in the memory stores: ``python -m loadtest.series_memory``.

    python -m loadtest.series_memory --hosts 100000 --tables 3 --epochs 6 --out results/series

On a one-cell local cluster (:mod:`loadtest.bench_cluster`; storage nodes with ``--test-hooks``,
``--idle-flush-s 86400 --open-idle-flush-s 86400`` and ``--memory-limit-mb 8192``, so nothing is flushed
while the figures are taken),
after a warm-up table of 1,000 hosts, ``--tables`` tables are written one after another, each with
``--hosts`` TSBS hosts × ``--epochs`` points ending now (every host is a new series: one multi-measure row
per timestamp with 10 measures, i.e. 10 single-measure series in Prometheus' terms). After each table, the
RSS of the cell's 3 storage nodes (each holds every series) and their memory stores' own byte count
(``Maintain`` answer). The slope of RSS over series held, fitted by least squares from the warm-up point
on, is the cost of a series; per million series it is reported for hosts and for host × field series.

What it does not cover: series with many points (here ``--epochs`` each: the per-row cost is inside the
figure), churn (series that stop and are flushed), and allocator behaviour over hours (glibc keeps freed
memory: ``tessera/memory.py``).
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

import numpy as np

from loadtest import bench_cluster, engine
from loadtest.bench_cluster import log
from loadtest.report import machine_info
from loadtest.tsbs import FIELDS
from tessera.cluster import LocalCluster

SERIES_ARGS = ("--idle-flush-s", "86400", "--open-idle-flush-s", "86400", "--memory-limit-mb", "8192")
WARMUP_HOSTS = 1000
SETTLE_S = 3.0


@dataclass(frozen=True)
class Step:
    """The storage nodes after one more table."""

    hosts: int
    """Hosts (multi-measure series) held by every storage node so far, warm-up included."""
    rows: int
    rss_mb: float
    """Median over the storage nodes of each one's RSS."""
    memory_store_mb: float
    """Median over the storage nodes of their memory stores' byte count."""


def snapshot(cluster: LocalCluster, hosts: int, rows: int) -> Step:
    """RSS and memory-store bytes of the storage nodes, after a short pause for background work."""
    time.sleep(SETTLE_S)
    nodes = cluster.nodes("storage")
    rss = [engine.rss_bytes(p.pid) for p in nodes]
    memory = [int(a.memory_bytes) for a in engine.maintain([p.address for p in nodes]).values()]
    return Step(hosts, rows, statistics.median(rss) / 2**20, statistics.median(memory) / 2**20)


def slope(xs: list[float], ys: list[float]) -> float:
    """The least-squares slope of ys over xs."""
    fit: float = float(np.polyfit(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float), 1)[0])
    return fit


def run(a: argparse.Namespace) -> dict[str, Any]:
    """Warm-up, then one table after another; the steps and the fitted costs."""
    extra = [*SERIES_ARGS, *bench_cluster.storage_args(a.storage_args)]
    steps: list[Step] = []
    loads: list[dict[str, Any]] = []
    with bench_cluster.local_cluster(a.data_dir, extra) as cluster:
        steps.append(snapshot(cluster, 0, 0))
        hours = a.epochs * 10 / 3600
        warm = bench_cluster.current(WARMUP_HOSTS, hours, seed=a.seed)
        bench_cluster.create_table(cluster, "warmup", warm.start_ns)
        bench_cluster.load(cluster, "warmup", warm)
        hosts, rows = WARMUP_HOSTS, warm.rows
        steps.append(snapshot(cluster, hosts, rows))
        for k in range(a.tables):
            data = bench_cluster.current(a.hosts, hours, seed=a.seed + 1 + k)
            bench_cluster.create_table(cluster, f"series{k}", data.start_ns)
            loads.append(bench_cluster.load(cluster, f"series{k}", data, workers=a.workers).as_dict())
            hosts, rows = hosts + a.hosts, rows + data.rows
            steps.append(snapshot(cluster, hosts, rows))
            log(f"  {hosts:,} hosts held: RSS {steps[-1].rss_mb:,.0f} MB, memory stores "
                f"{steps[-1].memory_store_mb:,.0f} MB (median node)")
    fitted = steps[1:]
    xs = [s.hosts / 1e6 for s in fitted]
    rss_per_m = slope(xs, [s.rss_mb for s in fitted])
    store_per_m = slope(xs, [s.memory_store_mb for s in fitted])
    return {"steps": [asdict(s) for s in steps], "loads": loads, "epochs": a.epochs, "hosts_per_table": a.hosts,
            "storage_args": ["--test-hooks", *extra], "rss_mb_per_million_hosts": rss_per_m,
            "memory_store_mb_per_million_hosts": store_per_m,
            "rss_mb_per_million_field_series": rss_per_m / len(FIELDS)}


def markdown(out: dict[str, Any]) -> str:
    """The steps and the fitted costs as markdown."""
    lines = ["| step | hosts held | rows held | storage RSS MB (median node) | memory stores MB (median node) |",
             "|---|---:|---:|---:|---:|"]
    for i, s in enumerate(out["steps"]):
        label = "empty" if i == 0 else "warm-up" if i == 1 else f"+ table {i - 1}"
        lines.append(f"| {label} | {s['hosts']:,} | {s['rows']:,} | {s['rss_mb']:,.0f} | {s['memory_store_mb']:,.0f} |")
    lines += ["", (f"Fitted from the warm-up on, {out['epochs']} points per series: RSS "
                   f"{out['rss_mb_per_million_hosts']:,.0f} MB per million hosts (multi-measure series of 10 "
                   f"measures) = {out['rss_mb_per_million_field_series']:,.0f} MB per million single-measure "
                   f"series; the memory stores' own count {out['memory_store_mb_per_million_hosts']:,.0f} MB per "
                   "million hosts.")]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print and write the report."""
    p = argparse.ArgumentParser(prog="python -m loadtest.series_memory", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hosts", type=int, default=100_000, help="new hosts (series) per table (default 100000)")
    p.add_argument("--tables", type=int, default=3, help="tables written one after another (default 3)")
    p.add_argument("--epochs", type=int, default=6, help="points per series, 10 s apart (default 6)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=123)
    p.add_argument("--storage-args", default="", help="more flags for the storage nodes, one string")
    p.add_argument("--data-dir", help="keep the cluster here (default: a temporary directory)")
    p.add_argument("--out", required=True, help="report directory")
    a = p.parse_args(argv)
    if a.hosts < 1 or a.tables < 2 or a.epochs < 1:
        p.error("--hosts and --epochs must be positive and --tables at least 2 (a slope needs points)")
    command = "python -m loadtest.series_memory " + shlex.join(sys.argv[1:] if argv is None else argv)
    out = run(a)
    out.update(command=command, machine=machine_info(), date=time.strftime("%Y-%m-%d"))
    text = markdown(out)
    print(text)
    folder = pathlib.Path(a.out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "result.json").write_text(json.dumps(out, indent=2) + "\n")
    (folder / "summary.md").write_text(f"# Memory per active series, {out['date']}\n\n```\n{command}\n```\n\n{text}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
