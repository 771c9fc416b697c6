"""Crash safety of one storage replica on real processes: SIGKILL at random moments during sustained appends,
during flushes to the magnetic store and during compactions; after each restart every row the replica
acknowledged is there exactly once, with its acknowledged value, read from that replica itself."""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Iterator
from typing import Self

import grpc
import pyarrow as pa
import pytest

from tessera import arrowipc, layout
from tessera.client import Client
from tessera.cluster import LocalCluster, Process
from tessera.v1 import common_pb2, storage_pb2, storage_pb2_grpc
from tests.integration.conftest import unique

HOUR_NS = layout.TILE_BUCKET_NS
ROWS_PER_APPEND = 200
SCHEMA = [common_pb2.Column(name="host", type="VARCHAR"), common_pb2.Column(name="measure_value::double", type="DOUBLE")]


def _rows(first: int, start_ns: int) -> pa.Table:
    """Rows with keys first..first+ROWS_PER_APPEND-1: host h{k % 50}, a time per key, value k / 4."""
    keys = range(first, first + ROWS_PER_APPEND)
    table = pa.table({
        layout.TIME: pa.array([start_ns + k * 1_000_000 for k in keys], pa.int64()).cast(layout.TIME_TYPE),
        layout.MEASURE_NAME: pa.array(["m"] * ROWS_PER_APPEND),
        "host": pa.array([f"h{k % 50}" for k in keys]),
        "measure_value::double": pa.array([k / 4 for k in keys], pa.float64()),
    })
    out, _ = layout.with_key_columns(table, ["host"], ["measure_value::double"], pa.array([1] * ROWS_PER_APPEND))
    return out


class Writer:
    """Appends batches of fresh keys to one replica, as fast as it answers, remembering what it acknowledged."""

    def __init__(self, address: str, table_id: str, start_ns: int) -> None:
        self.address, self.table_id, self.start_ns = address, table_id, start_ns
        self.acked: list[int] = []  # first key of every acknowledged batch
        self.retried = 0
        self.errors: list[str] = []  # answers that break the contract (a retry rejected, say)
        self._next = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _tile(self, first: int) -> storage_pb2.TileId:
        t_ns = self.start_ns + first * 1_000_000
        return storage_pb2.TileId(table_id=self.table_id, range_lo=(first % 3) << 62, bucket=t_ns // HOUR_NS)

    def _append(self, stub: storage_pb2_grpc.StorageStub, first: int) -> None:
        request = storage_pb2.AppendRequest(tile=self._tile(first), arrow_ipc=arrowipc.to_ipc(
            _rows(first, self.start_ns)))
        response = stub.Append(request, timeout=5)
        if response.accepted != ROWS_PER_APPEND or response.rejected:
            self.errors.append(f"append of keys {first}..: {response}")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with grpc.insecure_channel(self.address) as channel:
                    stub = storage_pb2_grpc.StorageStub(channel)
                    while not self._stop.is_set():
                        first = self._next
                        self._append(stub, first)
                        self.acked.append(first)
                        self._next += ROWS_PER_APPEND
                        if len(self.acked) % 7 == 0:  # an exact retry of an acknowledged batch: idempotent
                            self._append(stub, self.acked[len(self.acked) // 2])
                            self.retried += 1
            except grpc.RpcError:
                self._next += ROWS_PER_APPEND  # unacknowledged: may or may not be stored, never twice
                time.sleep(0.05)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


def _maintain(address: str, **kw: bool) -> None:
    try:
        with grpc.insecure_channel(address) as channel:
            storage_pb2_grpc.StorageStub(channel).Maintain(storage_pb2.MaintainRequest(**kw), timeout=30)
    except grpc.RpcError:
        pass  # killed part-way: that is the point


def _replica_keys(address: str, table_id: str) -> pa.Table:
    with grpc.insecure_channel(address) as channel:
        stub = storage_pb2_grpc.StorageStub(channel)
        request = storage_pb2.ScanRequest(table_id=table_id, min_bucket=0, max_bucket=1 << 62, schema=SCHEMA,
                                          start_ns=0, end_ns=(1 << 63) - 1, mode=storage_pb2.SCAN_MERGE)
        parts = [arrowipc.from_ipc(c.arrow_ipc) for c in stub.Scan(request, timeout=60) if c.arrow_ipc]
    return pa.concat_tables(parts, promote_options="default")


@pytest.fixture
def victim(cluster: LocalCluster) -> Iterator[Process]:
    node = cluster.nodes("storage", "cell-b")[2]
    yield node
    if not cluster.processes[node.name].alive():
        cluster.restart(node.name)


def test_every_acknowledged_append_survives_sigkill_during_writes_flushes_and_compactions(
        cluster: LocalCluster, client: Client, victim: Process) -> None:
    rng = random.Random(7)
    db = unique("crash")
    client.create_database(db)
    client.create_table(db, "crashed")
    table_id = client.route(db, "crashed").table_id  # a replica refuses rows of a table the catalog does not have
    start_ns = (time.time_ns() // HOUR_NS - 30) * HOUR_NS  # 30 hours back: closed buckets, flushable
    address = victim.address
    rounds = 0
    with Writer(address, table_id, start_ns) as writer:
        for phase in ("appends", "flush", "compaction", "flush", "appends", "compaction"):
            time.sleep(rng.uniform(0.3, 0.8))
            if phase != "appends":
                kw = {"flush_all": True, "compact": phase == "compaction"}
                threading.Thread(target=_maintain, args=(address,), kwargs=kw, daemon=True).start()
                time.sleep(rng.uniform(0.0, 0.12))
            cluster.kill(victim.name, signal.SIGKILL)
            cluster.restart(victim.name)
            rounds += 1
        time.sleep(0.5)
    assert rounds == 6 and len(writer.acked) > 20 and writer.retried > 0
    assert not writer.errors, writer.errors[:3]
    _maintain(address, flush_all=True, compact=True)  # and once more through a clean flush and compaction
    rows = _replica_keys(address, table_id)
    times = rows.column(layout.TIME).cast(pa.int64()).to_numpy()
    keys = (times - start_ns) // 1_000_000
    assert len(set(keys.tolist())) == rows.num_rows, "a key is stored twice"
    stored = dict(zip(keys.tolist(), rows.column("measure_value::double").to_pylist()))
    missing = [first for first in writer.acked if any(k not in stored for k in range(first, first + ROWS_PER_APPEND))]
    assert not missing, f"acknowledged batches lost: {missing[:5]} of {len(writer.acked)}"
    wrong = [k for k, v in stored.items() if v != k / 4]
    assert not wrong, f"keys with a value nobody wrote: {wrong[:5]}"
