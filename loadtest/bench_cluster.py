"""A local cluster for storage-engine benchmarks: started with test hooks, one table loaded by the driver.

Shared by :mod:`loadtest.restart` and :mod:`loadtest.series_memory`. The cluster is one cell by default
(3 storage nodes in zones a/b/c, 2 ingest, 1 query): every storage node then holds every row of the table,
and fewer idle processes share the two cores. Its directory is kept when given (the logs are the evidence
behind the figures) and removed otherwise.
"""

from __future__ import annotations

import contextlib
import math
import pathlib
import shlex
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence

from loadtest import driver, tsbs
from tessera.cluster import ClusterSpec, LocalCluster

DATABASE = "bench"
BASE_STORAGE_ARGS = ("--test-hooks",)
HOUR_NS = 3_600 * 1_000_000_000


@contextlib.contextmanager
def local_cluster(data_dir: str | None, storage_args: Sequence[str], cells: int = 1) -> Iterator[LocalCluster]:
    """A started LocalCluster of ``cells`` cells whose storage nodes get the test hooks and ``storage_args``."""
    with contextlib.ExitStack() as stack:
        if data_dir:
            root = pathlib.Path(data_dir)
            if root.exists() and any(root.iterdir()):
                raise SystemExit(f"--data-dir {root} is not empty: choose a new directory")
        else:
            root = pathlib.Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tessera-bench-")))
        names = tuple(f"cell-{chr(ord('a') + i)}" for i in range(cells))
        spec = ClusterSpec(data_dir=root, cells=names, storage_args=(*BASE_STORAGE_ARGS, *storage_args))
        cluster = LocalCluster(spec)
        log(f"starting a local cluster in {root} (storage flags: {shlex.join(spec.storage_args)}) ...")
        cluster.start()
        try:
            yield cluster
        finally:
            cluster.stop()


def storage_args(text: str) -> list[str]:
    """``--storage-args`` as a list of flags."""
    return shlex.split(text)


def log(message: str) -> None:
    """Progress on stderr (stdout carries the tables)."""
    print(message, file=sys.stderr, flush=True)


def current(scale: int, hours: float, interval_s: float = 10.0, seed: int = 123, end_ns: int | None = None
            ) -> tsbs.CpuOnly:
    """TSBS data over the ``hours`` before ``end_ns`` (default now), aligned to the interval."""
    interval = round(interval_s * 1e9)
    end = (time.time_ns() if end_ns is None else end_ns) // interval * interval
    return tsbs.CpuOnly(scale, end - round(hours * HOUR_NS), end, interval, seed)


def create_table(cluster: LocalCluster, table: str, oldest_ns: int) -> None:
    """Create the table on the first cell, with a memory retention that holds rows from ``oldest_ns`` on."""
    from tessera import errors
    from tessera.client import Client

    with Client(cluster.discovery_address) as client:
        with contextlib.suppress(errors.Conflict):
            client.create_database(DATABASE)
        hours = max(1, math.ceil((time.time_ns() - oldest_ns) / HOUR_NS) + 24)
        client.create_table(DATABASE, table, memory_retention_hours=hours, cells=[client.cells()[0].cell])


def load(cluster: LocalCluster, table: str, data: tsbs.CpuOnly, workers: int = 2, batch_rows: int = 10_000
         ) -> driver.IngestResult:
    """Write ``data`` into ``table`` with the driver (Arrow batches, generated before the clock)."""
    factory = driver.TesseraSinkFactory(cluster.discovery_address, DATABASE, table, "arrow", tsbs.TAGS, "cpu")
    config = driver.IngestConfig(workers=workers, batch_rows=batch_rows, progress=False)
    log(f"loading {data.rows:,} rows into {DATABASE}.{table} ...")
    result = driver.run_ingest(data, factory, config, form="tessera-arrow")
    if result.errors:
        raise RuntimeError(f"{result.errors} failed writes: {result.error_messages}")
    log(f"  {result.rows:,} rows in {result.seconds:.1f} s = {result.rows_per_s:,.0f} rows/s")
    return result


def count_rows(cluster: LocalCluster, table: str) -> int:
    """``count(*)`` of the table through the cluster."""
    from tessera.client import Client

    with Client(cluster.discovery_address, timeout_s=600) as client:
        return int(client.query(f'SELECT count(*) AS n FROM "{DATABASE}"."{table}"').column(0)[0].as_py())


def storage_addresses(cluster: LocalCluster) -> list[str]:
    """Every storage node's address."""
    return [p.address for p in cluster.nodes("storage")]
