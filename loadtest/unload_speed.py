"""How fast UNLOAD writes its files, in process: ``python -m loadtest.unload_speed``.

    python -m loadtest.unload_speed --rows 1000000 [--repeats 3] [--dir /tmp/unload-speed]

``services.query.unload_files.write`` of a TSBS-shaped result (time, two dimensions, a DOUBLE and a BIGINT;
``--rows`` rows) into a local directory through ``pyarrow.fs`` (the interface the object store is written
through), once per format: Parquet (GZIP), CSV (GZIP) and CSV (NONE). Prints rows per second (median of
``--repeats``) and the bytes written.

Not covered: the SELECT that produces the rows (a query's own cost), and the object store's upload (a local
directory here; SeaweedFS on loopback adds its own time per file).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs

from services.query import unload, unload_files

FORMATS = {"PARQUET (GZIP)": "WITH (format = 'PARQUET')", "CSV (GZIP)": "", "CSV (NONE)": "WITH (compression = 'NONE')"}


def rows_of(n: int) -> pa.Table:
    rng = np.random.default_rng(1)
    return pa.table({"time": pa.array(np.arange(n, dtype=np.int64) * 10**10, pa.timestamp("ns")),
                     "hostname": pa.array([f"host_{i % 1000}" for i in range(n)]),
                     "region": pa.array(["eu-west-1", "us-east-1"] * (n // 2) + ["eu-west-1"] * (n % 2)),
                     "usage_user": np.round(rng.random(n) * 100, 2),
                     "requests": rng.integers(0, 10**6, n)})


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--dir", default="/tmp/unload-speed", help="scratch directory (emptied first)")
    args = p.parse_args(argv)
    table = rows_of(args.rows)
    shutil.rmtree(args.dir, ignore_errors=True)
    os.makedirs(os.path.join(args.dir, "bench"))
    fs = pafs.SubTreeFileSystem(args.dir, pafs.LocalFileSystem())
    for label, options in FORMATS.items():
        statement = unload.parse(f"UNLOAD (SELECT 1) TO 's3://bench/out' {options}")
        assert statement is not None
        times, written = [], 0
        for _ in range(args.repeats):
            started = time.perf_counter()
            written = unload_files.write(table, statement, "bench", fs).bytes
            times.append(time.perf_counter() - started)
        median = statistics.median(times)
        print(f"{label:<15} {args.rows / median:>12,.0f} rows/s   {median:6.2f} s   {written / 2**20:7.1f} MiB "
              f"({written / args.rows:.1f} bytes a row)")


if __name__ == "__main__":
    main()
