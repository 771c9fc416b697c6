"""Replicas converge without an operator: a replica that was down while writes were acknowledged, one restarted
with its data directory wiped, and one that stored a value its peers rejected all end up holding exactly the
acknowledged rows, read from that replica directly. Real processes; anti-entropy runs every second here."""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Callable

from tessera.client import Client
from tessera.cluster import LocalCluster, Process
from tests.integration.conftest import REPAIR_INTERVAL_S, unique
from tests.integration.replicas import replica_rows

CONVERGE_S = 30 + 4 * REPAIR_INTERVAL_S


def _recs(prefix: str, n: int, t: int, value: float = 1.0) -> list[dict[str, object]]:
    return [{"Dimensions": [{"Name": "k", "Value": f"{prefix}{i}"}], "MeasureName": "m",
             "MeasureValue": str(value + i), "Time": str(t), "Version": 1} for i in range(n)]


def _held(node: Process, client: Client, db: str, table: str) -> dict[str, float]:
    rows = replica_rows(node.address, client.route(db, table, refresh=True))
    if rows.num_rows == 0:
        return {}
    return dict(zip(rows.column("k").to_pylist(), rows.column("measure_value::double").to_pylist()))


def _eventually(check: Callable[[], bool], timeout_s: float = CONVERGE_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "replicas did not converge in time"
        time.sleep(0.5)


def _table(client: Client) -> tuple[str, str]:
    db = unique("repair")
    client.create_database(db)
    client.create_table(db, "tab", memory_retention_hours=6)
    return db, client.route(db, "tab").ranges[0].cell


def test_a_replica_that_missed_writes_while_down_catches_up_by_itself(cluster: LocalCluster, client: Client) -> None:
    db, cell = _table(client)
    t = int(time.time() * 1000)
    client.write_records(db, "tab", _recs("before", 50, t))
    down = cluster.nodes("storage", cell)[0]
    cluster.kill(down.name, signal.SIGKILL)
    try:
        for batch in range(4):  # acknowledged by the other two only
            client.write_records(db, "tab", _recs(f"missed{batch}-", 100, t - 1000 * batch))
    finally:
        cluster.restart(down.name)
    want = _held(cluster.nodes("storage", cell)[1], client, db, "tab")
    assert len(want) == 450
    _eventually(lambda: _held(down, client, db, "tab") == want)


def test_a_replica_restarted_with_a_wiped_data_directory_rebuilds_from_its_peers_before_it_counts(
        cluster: LocalCluster, client: Client) -> None:
    db, cell = _table(client)
    t = int(time.time() * 1000)
    client.write_records(db, "tab", _recs("r", 300, t))
    wiped = cluster.nodes("storage", cell)[1]
    cluster.kill(wiped.name, signal.SIGKILL)
    shutil.rmtree(cluster.spec.data_dir / "storage" / wiped.name)
    cluster.restart(wiped.name)
    want = _held(cluster.nodes("storage", cell)[0], client, db, "tab")
    assert len(want) == 300
    _eventually(lambda: _held(wiped, client, db, "tab") == want)
    # The rows may arrive (hand-off, read repair) before the anti-entropy round that compared every tile
    # with the peers ends and records the replica as complete again.
    _eventually((cluster.spec.data_dir / "storage" / wiped.name / "magnetic" / "replica.json").exists)
    # Complete again: with another replica down, it is one of the two a write and a read need.
    other = cluster.nodes("storage", cell)[2]
    cluster.kill(other.name, signal.SIGKILL)
    try:
        client.write_records(db, "tab", _recs("after", 10, t))
        got = client.query(f'SELECT count(*) AS n FROM "{db}"."tab"')
        assert got.column("n").to_pylist() == [310]
    finally:
        cluster.restart(other.name)


def test_a_value_the_other_replicas_rejected_is_replaced_by_the_acknowledged_one(
        cluster: LocalCluster, client: Client) -> None:
    db, cell = _table(client)
    t = int(time.time() * 1000)
    lagging = cluster.nodes("storage", cell)[2]
    cluster.kill(lagging.name, signal.SIGKILL)
    try:
        client.write_records(db, "tab", _recs("c", 20, t, value=100.0))
    finally:
        cluster.restart(lagging.name)
    try:  # only the lagging replica stores these: rejected
        client.write_records(db, "tab", _recs("c", 20, t, value=500.0))
    except Exception as exc:  # noqa: BLE001 - RejectedRecords is what the client gets
        assert "rejected" in str(exc).lower() or "already exists" in str(exc)
    want = {f"c{i}": 100.0 + i for i in range(20)}
    _eventually(lambda: _held(lagging, client, db, "tab") == want)
