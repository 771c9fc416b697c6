"""Write throughput with the catalog store down: ``python -m loadtest.etcd_outage``.

    python -m loadtest.etcd_outage --phase-s 20 --workers 3 --batch 200 [--new-column-every 20000] \\
        [--data-dir DIR] [--out results/etcd-outage]

On a one-cell local cluster, ``--workers`` SDK threads write ``--batch``-record calls as fast as they
return, for three phases of ``--phase-s`` seconds each: before, during (etcd stopped with SIGSTOP, so every
call to it hangs until its timeout, the harder case than a refused connection) and after (SIGCONT). Every
``--new-column-every`` records a worker's records gain a dimension the table has never had, so the outage
also meets first writes of new columns (decided by the cell's claim replicas while etcd is away). Records
acknowledged per second are printed; the summary compares each phase's median and mean (the first 3 s of
each phase left out) with the phase before the outage.

What it does not cover: the load generator shares the machine's cores with the cluster; a table spread over
several cells (its new columns need etcd); an outage longer than the phase.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import signal
import statistics
import tempfile
import threading
import time
from typing import Any

from tessera import errors
from tessera.client import Client
from tessera.cluster import ClusterSpec, LocalCluster

PHASES = ("before", "during", "after")
SETTLE_S = 3


def _records(worker: int, n: int, batch: int, base_ms: int, new_column_every: int) -> list[dict[str, object]]:
    return [{"Dimensions": [{"Name": "host", "Value": f"h{worker}-{(n + i) % 500}"},
                            {"Name": f"g{(n + i) // new_column_every}", "Value": "1"}],
             "MeasureName": "cpu", "MeasureValue": str(n + i), "MeasureValueType": "BIGINT",
             "Time": str(base_ms + (n + i) // 500)} for i in range(batch)]


def run(data_dir: pathlib.Path, phase_s: int, workers: int, batch: int, new_column_every: int) -> dict[str, Any]:
    cluster = LocalCluster(ClusterSpec(data_dir=data_dir, cells=("cell-a",), lease_ttl_s=4))
    cluster.start()
    acked = [0] * workers
    failures: list[str] = []
    stop = threading.Event()
    try:
        with Client(cluster.discovery_address, timeout_s=20, attempts=6) as client:
            client.create_database("bench")
            client.create_table("bench", "etcd_outage", memory_retention_hours=12)
            base_ms = int(time.time() * 1000) - 3_600_000

            def work(worker: int) -> None:
                n = 0
                while not stop.is_set():
                    try:
                        client.write_records("bench", "etcd_outage",
                                             _records(worker, n, batch, base_ms, new_column_every))
                        acked[worker] += batch
                    except errors.TesseraError as exc:  # counted and shown: a failed write is a finding
                        failures.append(f"{type(exc).__name__}: {str(exc)[:200]}")
                    n += batch

            threads = [threading.Thread(target=work, args=(w,), daemon=True) for w in range(workers)]
            for t in threads:
                t.start()
            per_second: dict[str, list[int]] = {p: [] for p in PHASES}
            last = 0
            for second in range(3 * phase_s):
                time.sleep(1)
                if second == phase_s - 1:
                    cluster.kill("etcd", signal.SIGSTOP)
                if second == 2 * phase_s - 1:
                    etcd = cluster.processes["etcd"].popen
                    assert etcd is not None
                    etcd.send_signal(signal.SIGCONT)
                now = sum(acked)
                phase = PHASES[second // phase_s]
                per_second[phase].append(now - last)
                print(f"{second:3d} {phase:6s} {now - last:7d} records/s", flush=True)
                last = now
            stop.set()
            for t in threads:
                t.join(60)
    finally:
        cluster.stop()
    summary = {p: {"median": statistics.median(v[SETTLE_S:]), "mean": round(statistics.mean(v[SETTLE_S:])),
                   "min": min(v)} for p, v in per_second.items()}
    for p in PHASES:
        summary[p]["median_vs_before"] = round(summary[p]["median"] / summary["before"]["median"], 3)
        summary[p]["mean_vs_before"] = round(summary[p]["mean"] / summary["before"]["mean"], 3)
    return {"per_second": per_second, "summary": summary, "failed_calls": len(failures), "failures": failures[:10]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.etcd_outage", description=__doc__.splitlines()[0])
    parser.add_argument("--phase-s", type=int, default=20, help="seconds before, during and after the outage")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--batch", type=int, default=200, help="records per WriteRecords call")
    parser.add_argument("--new-column-every", type=int, default=20_000,
                        help="records per worker between first writes of a new dimension")
    parser.add_argument("--data-dir", type=pathlib.Path, default=None)
    parser.add_argument("--out", type=pathlib.Path, default=None)
    args = parser.parse_args(argv)
    if args.phase_s <= SETTLE_S:
        parser.error(f"--phase-s must be more than {SETTLE_S}")
    data_dir = args.data_dir or pathlib.Path(tempfile.mkdtemp(prefix="tessera-etcd-outage-"))
    result = run(data_dir, args.phase_s, args.workers, args.batch, args.new_column_every)
    print("\n| phase | median records/s | mean | slowest second | median vs before | mean vs before |")
    print("|---|---:|---:|---:|---:|---:|")
    for p in PHASES:
        s = result["summary"][p]
        print(f"| {p} | {s['median']:,} | {s['mean']:,} | {s['min']:,} | {s['median_vs_before']:.0%} | "
              f"{s['mean_vs_before']:.0%} |")
    print(f"\nfailed calls: {result['failed_calls']} {result['failures'][:3]}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "result.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
