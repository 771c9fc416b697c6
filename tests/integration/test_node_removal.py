"""Replacing a storage node for good on real processes: a node added to a zone copies its tiles before it
counts (and the node they left deletes its copies), the old node (dead) is removed, its tiles move to the new one, which copies them from their other
replicas; every row stays readable throughout, and the removed id cannot come back with its stale data."""

from __future__ import annotations

import pathlib
import signal
import time
from collections.abc import Iterator

import grpc
import pyarrow as pa
import pytest

from tessera import errors, placement
from tessera.client import Client
from tessera.cluster import ClusterSpec, LocalCluster
from tessera.layout import TILE_BUCKET_NS
from tessera.v1 import storage_pb2, storage_pb2_grpc
from tests.integration.conftest import own_cluster
from tests.integration.replicas import maintain, replica_rows

HOURS = 6
WAIT_S = 90.0


@pytest.fixture(scope="module")
def solo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalCluster, Client]]:
    with own_cluster(ClusterSpec(data_dir=pathlib.Path(tmp_path_factory.mktemp("removal")), cells=("solo",),
                                 ingest_per_cell=1, query_per_cell=1, lease_ttl_s=4,
                                 storage_args=("--test-hooks", "--repair-interval-s", "1"))) as running:
        yield running


def incomplete(address: str, table_id: str) -> bool:
    with grpc.insecure_channel(address) as ch:
        reply = storage_pb2_grpc.StorageStub(ch).TileDigests(storage_pb2.TileDigestsRequest(
            table_id=table_id, min_bucket=0, max_bucket=0, slice_ns=TILE_BUCKET_NS), timeout=20, wait_for_ready=True)
    return bool(reply.incomplete)


def wait_for(what: str, check: object) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT_S:.0f} s: {what}")
        time.sleep(0.5)


def placed_on(client: Client, node_id: str, times_ns: list[int], table_id: str) -> int:
    """How many of the rows (one per time, one range) placement puts on ``node_id``."""
    (cell,) = client.cells()
    members = [n for n in cell.nodes if n.role == "storage"]
    route = client.route("rmdb", "tbl", refresh=True)
    (rng,) = route.ranges
    return sum(1 for t in times_ns if node_id in {n.node_id for n in placement.replicas(
        placement.tile_name(table_id, rng.lo, t // TILE_BUCKET_NS), members)})


def test_a_dead_storage_node_is_replaced_and_removed_without_losing_a_row(
        solo: tuple[LocalCluster, Client]) -> None:
    cluster, client = solo
    client.create_database("rmdb")
    client.create_table("rmdb", "tbl", memory_retention_hours=24)
    end_ms = (int(time.time() * 1000) // 1000) * 1000
    times_ms = [end_ms - i * 60_000 for i in range(HOURS * 60)]  # a row a minute for 6 hours: 6+ tiles
    client.write_arrow("rmdb", "tbl", pa.table({"time": times_ms, "host": ["h"] * len(times_ms),
                                            "v": list(range(len(times_ms)))}), ["host"], measure_name="m")
    maintain(cluster, "solo", flush_all=True)  # to segments: moved tiles are then cut out of them
    route = client.route("rmdb", "tbl")
    times_ns = [t * 1_000_000 for t in times_ms]
    n = len(times_ms)

    # A second zone-a node joins: it takes some tiles, and copies them before it counts.
    new = cluster.add_node("solo", "storage", "a", "solo-storage-a2")
    wait_for("the new node counts as a replica", lambda: not incomplete(new.address, route.table_id))
    wait_for("the new node holds the rows of its tiles",
             lambda: replica_rows(new.address, route).num_rows == placed_on(client, new.name, times_ns, route.table_id))
    assert 0 < placed_on(client, new.name, times_ns, route.table_id) < n  # rendezvous: a share of the tiles
    # A writer with a view from before the join would send a moved tile to the old node: it refuses.
    (rng,) = route.ranges
    moved = next(t // TILE_BUCKET_NS for t in times_ns if "solo-storage-a" not in {nd.node_id for nd in placement.replicas(
        placement.tile_name(route.table_id, rng.lo, t // TILE_BUCKET_NS), [x for c in client.cells() for x in c.nodes
                                                                           if x.role == "storage"])})
    old_node = next(p for p in cluster.nodes("storage", "solo") if p.name == "solo-storage-a")

    def refuses_moved_tile() -> bool:
        """The old node refuses the (empty) append at its placement check, once its own view of the cell
        shows the new node (it looks every two seconds); before that the empty payload fails validation."""
        with grpc.insecure_channel(old_node.address) as ch:
            try:
                storage_pb2_grpc.StorageStub(ch).Append(storage_pb2.AppendRequest(tile=storage_pb2.TileId(
                    table_id=route.table_id, range_lo=rng.lo, bucket=moved)), timeout=20)
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.FAILED_PRECONDITION:
                    return "is not a replica of tile" in (exc.details() or "")
                assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, exc  # past the check: no rows, refused
                return False
        raise AssertionError("an append without rows was accepted")

    wait_for("the old node refuses appends for a tile that moved", refuses_moved_tile)
    # The moved tile takes more rows after the move: the old node's copy falls behind (nothing only there).
    later = [t + 1 for t in times_ms if (t + 1) * 1_000_000 // TILE_BUCKET_NS == moved][:10]
    assert later
    client.write_arrow("rmdb", "tbl", pa.table({"time": later, "host": ["h"] * len(later),
                                                "v": list(range(n, n + len(later)))}), ["host"], measure_name="m")
    times_ms += later
    times_ns = [t * 1_000_000 for t in times_ms]
    n = len(times_ms)
    # The old zone-a node deletes its copies of the tiles that moved once their replicas hold every row it
    # holds: the same rows, or (the tile that took more rows) more.
    old_address = next(p.address for p in cluster.nodes("storage", "solo") if p.name == "solo-storage-a")
    wait_for("the old node deletes the moved tiles' copies", lambda: replica_rows(old_address, route).num_rows
             == placed_on(client, "solo-storage-a", times_ns, route.table_id))
    assert client.query('SELECT count(*) AS n FROM "rmdb"."tbl"').to_pylist() == [{"n": n}]

    # The old zone-a node dies for good; once its lease is gone it can be removed.
    old = "solo-storage-a"
    with pytest.raises(errors.FailedPrecondition, match="is live"):
        client.remove_node("solo", old)
    cluster.kill(old, signal.SIGKILL)
    wait_for("the old node's lease expires", lambda: not any(
        nd.live for c in client.cells() for nd in c.nodes if nd.node_id == old))
    with pytest.raises(errors.FailedPrecondition, match="zone b of cell solo without a storage node"):
        client.remove_node("solo", "solo-storage-b", force=True)  # force does not override the zone rule
    assert client.remove_node("solo", old).node_id == old
    assert old not in {nd.node_id for c in client.cells() for nd in c.nodes}

    # Every tile's zone-a replica is now the new node: it notices, rebuilds, and copies the tiles it never held.
    new_log = cluster.spec.data_dir / "logs" / f"{new.name}.log"
    wait_for("the new node notices the removal and rebuilds", lambda: "left the cell" in new_log.read_text())
    assert placed_on(client, new.name, times_ns, route.table_id) == n
    got = client.query('SELECT count(*) AS n, sum(v) AS s FROM "rmdb"."tbl"').to_pylist()
    assert got == [{"n": n, "s": sum(range(n))}]  # correct at once: the other two replicas hold every row
    wait_for("the new node holds every row", lambda: replica_rows(new.address, route).num_rows == n)
    wait_for("the new node counts as a replica again", lambda: not incomplete(new.address, route.table_id))

    # The zone-b node dies too: the new node and zone c answer alone, completely.
    cluster.kill("solo-storage-b", signal.SIGKILL)
    got = client.query('SELECT count(*) AS n, sum(v) AS s FROM "rmdb"."tbl"').to_pylist()
    assert got == [{"n": n, "s": sum(range(n))}]
    cluster.restart("solo-storage-b")

    # The removed node cannot come back with its stale copy.
    with pytest.raises(RuntimeError, match="exited"):
        cluster.restart(old)
    log = (cluster.spec.data_dir / "logs" / f"{old}.log").read_text()
    assert "removed storage node cannot rejoin" in log
