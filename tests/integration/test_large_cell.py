"""A cell with two storage nodes per zone: tiles spread over six replicas, reads list tiles and group them
by replica set, and a killed node still hides nothing."""

from __future__ import annotations

import pathlib
import signal
import time
from collections.abc import Iterator

import pyarrow as pa
import pytest

from tessera import placement
from tessera.client import Client
from tessera.cluster import ClusterSpec, LocalCluster
from tessera.layout import TILE_BUCKET_NS
from tests.integration.conftest import own_cluster


@pytest.fixture(scope="module")
def big_cell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalCluster, Client]]:
    with own_cluster(ClusterSpec(data_dir=pathlib.Path(tmp_path_factory.mktemp("big")), cells=("solo",),
                                 ingest_per_cell=1, storage_per_zone=2, lease_ttl_s=4)) as running:
        yield running


def test_tiles_spread_over_six_replicas_and_reads_stay_complete_with_one_killed(
        big_cell: tuple[LocalCluster, Client]) -> None:
    cluster, client = big_cell
    client.create_database("bigdb")
    client.create_table("bigdb", "spread", memory_retention_hours=12)
    hours = 8
    end_ms = (int(time.time() * 1000) // 1000) * 1000
    times = [end_ms - i * 60_000 for i in range(hours * 60)]  # one row a minute for 8 hours: 8+ tiles
    data = pa.table({"time": times * 3, "host": [h for h in ("a", "b", "c") for _ in times],
                     "load": list(range(len(times) * 3))})
    assert client.write_arrow("bigdb", "spread", data, ["host"], measure_name="m").total == data.num_rows

    route = client.route("bigdb", "spread")
    nodes = [n for c in client.cells() for n in c.nodes if n.role == "storage"]
    assert len(nodes) == 6
    buckets = {t * 1_000_000 // TILE_BUCKET_NS for t in times}
    used = {n.node_id for b in buckets
            for n in placement.replicas(placement.tile_name(route.table_id, 0, b), nodes)}
    assert len(used) > 3  # several replica sets: the listing path is the one being read

    total = sum(range(data.num_rows))
    got = client.query('SELECT count(*) AS n, sum(load) AS s FROM "bigdb"."spread"')
    assert got.to_pylist() == [{"n": data.num_rows, "s": total}]

    victim = cluster.nodes("storage", "solo")[0]
    cluster.kill(victim.name, signal.SIGKILL)
    try:
        got = client.query('SELECT count(*) AS n, sum(load) AS s FROM "bigdb"."spread"')
        assert got.to_pylist() == [{"n": data.num_rows, "s": total}]
    finally:
        cluster.restart(victim.name)


def test_a_paused_node_in_a_large_cell_does_not_stall_reads(big_cell: tuple[LocalCluster, Client]) -> None:
    cluster, client = big_cell
    client.create_database("bigpause")
    client.create_table("bigpause", "t_pause", memory_retention_hours=12)
    end_ms = (int(time.time() * 1000) // 1000) * 1000
    times = [end_ms - i * 60_000 for i in range(6 * 60)]
    data = pa.table({"time": times, "host": ["a"] * len(times), "load": list(range(len(times)))})
    client.write_arrow("bigpause", "t_pause", data, ["host"], measure_name="m")
    paused = cluster.nodes("storage", "solo")[3]
    cluster.kill(paused.name, signal.SIGSTOP)
    try:
        started = time.monotonic()
        for _ in range(3):
            got = client.query('SELECT count(*) AS n FROM "bigpause"."t_pause"')
            assert got.column("n").to_pylist() == [len(times)]
        assert time.monotonic() - started < 20  # listing and reads hedge instead of waiting out 30 s deadlines
    finally:
        assert paused.popen is not None
        paused.popen.send_signal(signal.SIGCONT)
