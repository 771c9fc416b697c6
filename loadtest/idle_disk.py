"""Bytes on disk after a load of recent data, left to the background mover alone: ``python -m loadtest.idle_disk``.

    python -m loadtest.idle_disk --scale 100 --hours 6 --watch-s 180 [--storage-args '...'] [--data-dir DIR]

What an operator (or a storage-efficiency check) sees with ``du`` after writing and waiting, with no
``Maintain`` call: on a one-cell local cluster (:mod:`loadtest.bench_cluster`), TSBS cpu-only data for
``--scale`` hosts over the ``--hours`` before now (so the last hour is the bucket still open) is written
as Arrow batches; then every ``--sample-s`` for ``--watch-s`` seconds the cell's storage directories are
measured (WAL, magnetic store, the rest) and printed as bytes per value per replica. Rows still in memory
stores are in the WAL, uncompressed (~20 bytes a value); rows in segments take well under one.

Not covered: data arriving meanwhile (a live writer keeps its current hour in memory until the hour ends),
and tables whose memory retention is shorter than the data's age (those rows go to segments at once).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

from loadtest import bench_cluster, engine, tsbs

REPLICAS = 3


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=int, default=100, help="TSBS hosts")
    p.add_argument("--hours", type=float, default=6.0, help="hours of data ending now")
    p.add_argument("--watch-s", type=float, default=180.0, help="how long to watch the disk after the load")
    p.add_argument("--sample-s", type=float, default=10.0)
    p.add_argument("--storage-args", default="", help="extra storage-node flags, e.g. '--open-idle-flush-s 600'")
    p.add_argument("--data-dir", help="keep the cluster here (default: a temporary directory)")
    p.add_argument("--out", help="write the samples as JSON here")
    a = p.parse_args(argv)
    data = bench_cluster.current(a.scale, a.hours)
    values = data.rows * len(tsbs.FIELDS)
    extra = bench_cluster.storage_args(a.storage_args)
    with bench_cluster.local_cluster(a.data_dir, extra) as cluster:
        bench_cluster.create_table(cluster, "cpu", data.start_ns)
        bench_cluster.load(cluster, "cpu", data)
        root = pathlib.Path(cluster.spec.data_dir) / "storage"
        dirs = [root / node.name for node in cluster.nodes("storage", cluster.spec.cells[0])]
        print(f"| seconds after the load | WAL B/value | magnetic B/value | total B/value (per replica, "
              f"{values:,} values) |\n|---:|---:|---:|---:|")
        samples = []
        started = time.monotonic()
        while True:
            use = engine.total_disk(engine.disk_use(d) for d in dirs)
            elapsed = time.monotonic() - started
            per = [x / values / REPLICAS for x in (use.wal, use.magnetic, use.total)]
            samples.append({"seconds": round(elapsed, 1), "wal": use.wal, "magnetic": use.magnetic, "total": use.total})
            print(f"| {elapsed:.0f} | {per[0]:.3f} | {per[1]:.3f} | {per[2]:.3f} |", flush=True)
            if elapsed >= a.watch_s:
                break
            time.sleep(a.sample_s)
    if a.out:
        pathlib.Path(a.out).write_text(json.dumps({"values": values, "samples": samples}, indent=1))


if __name__ == "__main__":
    main()
