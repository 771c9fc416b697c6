"""A storage replica runs scan predicates in a sandbox: SQL sent straight to its gRPC port, bypassing the
coordinator's checks, cannot read files, list directories or load extensions."""

from __future__ import annotations

import time

import grpc
import pytest

from tessera import layout
from tessera.client import Client
from tessera.v1 import common_pb2, storage_pb2, storage_pb2_grpc
from tests.integration.conftest import unique
from tests.integration.replicas import storage_addresses

ESCAPES = [
    "k IN (SELECT column0 FROM read_csv('/etc/hostname'))",
    "k IN (SELECT file FROM glob('/etc/*'))",
    "k IN (SELECT content FROM read_text('/etc/passwd'))",
]


@pytest.mark.parametrize("predicate", ESCAPES)
def test_a_predicate_that_reads_files_is_refused_by_the_replica(client: Client, predicate: str) -> None:
    db = unique("sandbox")
    client.create_database(db)
    client.create_table(db, "tab")
    client.write_records(db, "tab", [{"Dimensions": [{"Name": "k", "Value": "a"}], "MeasureName": "m",
                                    "MeasureValue": "1", "Time": str(time.time_ns() // 1_000_000)}])
    route = client.route(db, "tab", refresh=True)
    schema = [common_pb2.Column(name=n, type=t) for n, t in layout.stored_columns(route.columns)]
    address = storage_addresses(client, route.ranges[0].cell)[0]
    request = storage_pb2.ScanRequest(table_id=route.table_id, min_bucket=0, max_bucket=1 << 62, schema=schema,
                                      start_ns=0, end_ns=(1 << 63) - 1, predicate=predicate)
    with grpc.insecure_channel(address) as channel:
        stub = storage_pb2_grpc.StorageStub(channel)
        ok = storage_pb2.ScanRequest(table_id=route.table_id, min_bucket=0, max_bucket=1 << 62, schema=schema,
                                     start_ns=0, end_ns=(1 << 63) - 1, predicate="k = 'a'")
        assert sum(c.rows for c in stub.Scan(ok, timeout=30)) == 1  # the same scan with a plain predicate runs
        with pytest.raises(grpc.RpcError) as refused:
            list(stub.Scan(request, timeout=30))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "disabled by configuration" in (refused.value.details() or "")
