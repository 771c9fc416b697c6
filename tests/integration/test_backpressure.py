"""Back-pressure on real processes: storage nodes with a small memory limit and a slow background mover
refuse appends with RESOURCE_EXHAUSTED and a retry hint (not growth, not a crash); the hint reaches the
client through ingest, the SDK waits it out, and every acknowledged row is there once the mover flushes."""

from __future__ import annotations

import pathlib
import time
from collections.abc import Iterator

import grpc
import numpy as np
import pyarrow as pa
import pytest

from tessera import arrowipc, errors
from tessera.client import Client
from tessera.cluster import ClusterSpec, LocalCluster
from tessera.v1 import ingest_pb2, ingest_pb2_grpc, storage_pb2, storage_pb2_grpc
from tests.integration.conftest import own_cluster

LIMIT_MB = 16
MOVER_EVERY_S = 12


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    spec = ClusterSpec(data_dir=pathlib.Path(tmp_path_factory.mktemp("small")), cells=("cell-a",), lease_ttl_s=4,
                       ingest_per_cell=1,
                       storage_args=("--memory-limit-mb", str(LIMIT_MB), "--tier-interval-s", str(MOVER_EVERY_S),
                                     "--test-hooks"))
    with own_cluster(spec) as (cluster, _):
        yield cluster


def batch(start: int, n: int, now_ms: int) -> pa.Table:
    rng = np.random.default_rng(start)
    return pa.table({
        "time": pa.array(now_ms - 3_600_000 + (np.arange(start, start + n) % 3_000_000), pa.int64()),
        "device": pa.array([f"d{(start + i) // 3_000_000}-{(start + i) % 500}" for i in range(n)]),
        **{f"m{k}": rng.random(n) for k in range(6)},
    })


def test_appends_beyond_the_memory_limit_are_refused_with_a_hint_and_the_sdk_waits_them_out(
        small: LocalCluster) -> None:
    with Client(small.discovery_address, timeout_s=120) as client:
        client.create_database("bpdb")
        client.create_table("bpdb", "tab", memory_retention_hours=12)
        now_ms = int(time.time() * 1000)
        ingest = small.nodes("ingest")[0].address
        sent = 0
        refused: grpc.RpcError | None = None
        with grpc.insecure_channel(ingest) as channel:
            stub = ingest_pb2_grpc.IngestStub(channel)
            for _ in range(40):  # ~2 MB of memory-store rows each: the 16 MB limit is met well before the end
                request = ingest_pb2.WriteBatchRequest(database_name="bpdb", table_name="tab",
                                                       dimension_columns=["device"], measure_name="env",
                                                       arrow_ipc=arrowipc.to_ipc(batch(sent, 20_000, now_ms)))
                try:
                    stub.WriteBatch(request, timeout=30)
                except grpc.RpcError as exc:
                    refused = exc
                    break
                sent += 20_000
        assert refused is not None and refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, refused
        err = errors.from_rpc_error(refused)
        assert isinstance(err, errors.Throttled) and err.retry_after_ms > 0
        assert "--memory-limit-mb" in err.message
        for node in small.nodes("storage"):  # refused, not grown
            with grpc.insecure_channel(node.address) as channel:
                held = storage_pb2_grpc.StorageStub(channel).Maintain(storage_pb2.MaintainRequest(), timeout=30)
            assert held.memory_bytes < LIMIT_MB << 20
        # The SDK retries while the nodes push back; the background mover then flushes and the write goes in.
        started = time.monotonic()
        ingested = client.write_arrow("bpdb", "tab", batch(sent, 20_000, now_ms), dimension_columns=["device"],
                                      measure_name="env")
        assert ingested.total == 20_000
        assert time.monotonic() - started < 60
        got = client.query('SELECT count(*) AS n, count(DISTINCT device) AS d FROM "bpdb"."tab"').to_pylist()
        assert got[0]["n"] == sent + 20_000

