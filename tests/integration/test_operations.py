"""Operations: health on every node, graceful SIGTERM, the CLI end to end, stale routes refreshed."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tessera.client import Client
from tessera.cluster import LocalCluster
from tests.integration.conftest import unique


def test_every_node_serves_the_standard_grpc_health_service(cluster: LocalCluster) -> None:
    for proc in cluster.processes.values():
        if proc.role == "etcd":
            continue
        if proc.role == "objectstore":  # S3 over HTTP: an unsigned request is refused with 403, so it serves
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(proc.address, timeout=5)
            refused.value.close()  # it holds the response's socket
            assert refused.value.code == 403
            continue
        if proc.role == "gateway":  # HTTP: its health path, no signature needed
            with urllib.request.urlopen(f"http://{proc.address}/ping", timeout=5) as resp:
                assert (resp.status, resp.read()) == (200, b"ok"), proc.name
            continue
        with grpc.insecure_channel(proc.address) as ch:
            reply = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, proc.name


def test_a_node_stops_gracefully_on_sigterm_and_is_reported_down_then_up(cluster: LocalCluster,
                                                                         client: Client) -> None:
    node = cluster.nodes("ingest", "cell-b")[1]
    cluster.kill(node.name, signal.SIGTERM)
    assert node.popen is not None and node.popen.returncode == 0
    live = {n.node_id: n.live for c in client.cells() for n in c.nodes}
    assert live[node.name] is False  # it dropped its lease on the way out
    cluster.restart(node.name)
    live = {n.node_id: n.live for c in client.cells() for n in c.nodes}
    assert live[node.name] is True


def _cli(cluster: LocalCluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tessera.cli", "--discovery", cluster.discovery_address, *args],
                          capture_output=True, text=True, timeout=60, check=False)


def test_the_cli_manages_the_catalog_writes_files_and_queries(cluster: LocalCluster, tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = unique("cli")
    assert _cli(cluster, "database", "create", db).returncode == 0
    made = _cli(cluster, "table", "create", db, "readings", "--memory-hours", "12")
    assert made.returncode == 0 and json.loads(made.stdout)["retention_properties"][
        "memory_store_retention_period_in_hours"] == "12"
    now = int(time.time() * 1000)
    csv = tmp_path / "r.csv"
    csv.write_text("time,site,temp\n" + "".join(f"{now - i * 1000},s{i % 2},{20 + i}\n" for i in range(10)))
    wrote = _cli(cluster, "write", db, "readings", str(csv), "--dimensions", "site", "--measure-name", "env")
    assert wrote.returncode == 0 and "10 records ingested" in wrote.stdout, wrote.stderr
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text(json.dumps({"Dimensions": [{"Name": "site", "Value": "s9"}], "MeasureName": "temp2",
                                 "MeasureValue": "1.5", "Time": str(now)}) + "\n")
    assert "1 records ingested" in _cli(cluster, "write", db, "readings", str(jsonl)).stdout
    out = _cli(cluster, "sql", f'SELECT site, count(*) AS n FROM "{db}"."readings" GROUP BY site ORDER BY site')
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["site", "n"] and [ln.split() for ln in lines[2:5]] == [["s0", "5"], ["s1", "5"],
                                                                                        ["s9", "1"]]
    status = _cli(cluster, "status")
    assert "cell-a" in status.stdout and f"{db}" in status.stdout and "DOWN" not in status.stdout
    bad = _cli(cluster, "table", "describe", db, "missing")
    assert bad.returncode == 2 and "NotFound" in bad.stderr and "missing" in bad.stderr


def test_the_cli_piped_into_head_exits_quietly(cluster: LocalCluster, client: Client) -> None:
    db = unique("pipe")
    client.create_database(db)
    client.create_table(db, "many", memory_retention_hours=12)
    now = int(time.time() * 1000)
    client.write_records(db, "many", [{"Dimensions": [{"Name": "k", "Value": f"key-{i:05d}"}], "MeasureName": "m",
                                        "MeasureValue": str(i), "Time": str(now - i)} for i in range(4000)])
    # ~200 KB of output against a 64 KB pipe buffer: the CLI is still writing when head closes the pipe.
    cli = [sys.executable, "-m", "tessera.cli", "--discovery", cluster.discovery_address, "sql",
           f'SELECT k, measure_value::double AS v, time FROM "{db}"."many"', "--max-rows", "500"]
    piped = subprocess.run(shlex.join(cli) + " | head -n 3", shell=True,
                           capture_output=True, text=True, timeout=60, check=False,
                           executable="/bin/bash")
    assert piped.stdout.splitlines()[0].split() == ["k", "v", "time"], (piped.stdout, piped.stderr)
    assert len(piped.stdout.splitlines()) == 3
    assert piped.stderr == "", piped.stderr


def test_a_write_with_a_stale_route_is_refused_then_retried_on_the_new_owner(cluster: LocalCluster,
                                                                            client: Client) -> None:
    db = unique("stale")
    client.create_database(db)
    client.create_table(db, "moving", memory_retention_hours=12)
    now = int(time.time() * 1000)
    recs = [{"Dimensions": [{"Name": "k", "Value": str(i)}], "MeasureName": "m", "MeasureValue": str(i),
             "Time": str(now - i)} for i in range(40)]
    stale_client = Client(cluster.discovery_address)
    try:
        stale_client.write_records(db, "moving", recs[:20])
        old_epoch = stale_client.route(db, "moving").epoch
        owner = client.route(db, "moving").ranges[0].cell
        other = "cell-b" if owner == "cell-a" else "cell-a"
        client.split_table(db, "moving", [other])  # the whole table now belongs to the other cell
        time.sleep(6)  # longer than the ingest nodes' route cache
        assert stale_client.write_records(db, "moving", recs[20:]).total == 20
        assert stale_client.route(db, "moving").epoch > old_epoch
    finally:
        stale_client.close()
    got = client.query(f'SELECT count(*) AS n FROM "{db}"."moving"')
    assert got.column("n").to_pylist() == [40]  # old rows stay readable on the former owner
