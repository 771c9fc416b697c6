"""Test helpers that read one storage replica directly, bypassing the coordinator."""

from __future__ import annotations

from typing import Any

import grpc
import pyarrow as pa

from tessera import arrowipc, layout
from tessera.client import Client
from tessera.cluster import LocalCluster
from tessera.runtime import GRPC_OPTIONS
from tessera.v1 import common_pb2, storage_pb2, storage_pb2_grpc


def replica_rows(address: str, route: common_pb2.TableRoute) -> pa.Table:
    """Every row of the table held by the replica at ``address`` (deduplicated, with key columns). The calls
    wait (within their timeouts) for a connection, so a node that an earlier test restarted, or a busy one
    still handshaking, is read rather than failed at the first refused connection."""
    schema = [common_pb2.Column(name=n, type=t) for n, t in layout.stored_columns(route.columns)]
    with grpc.insecure_channel(address, options=GRPC_OPTIONS) as ch:  # chunks can exceed gRPC's default 4 MiB
        stub = storage_pb2_grpc.StorageStub(ch)
        tiles = stub.ListTiles(storage_pb2.ListTilesRequest(table_id=route.table_id, min_bucket=0,
                                                            max_bucket=(1 << 62)), timeout=20,
                              wait_for_ready=True).tiles
        if not tiles:
            return pa.table({})  # an empty (or wiped) replica: nothing to scan
        req = storage_pb2.ScanRequest(tiles=tiles, schema=schema, start_ns=0, end_ns=(1 << 63) - 1,
                                      mode=storage_pb2.SCAN_MERGE)
        parts = [arrowipc.from_ipc(c.arrow_ipc) for c in stub.Scan(req, timeout=30, wait_for_ready=True)
                 if c.arrow_ipc]
    parts = [p for p in parts if p.num_rows] or parts[:1]
    return pa.concat_tables(parts, promote_options="default") if parts else pa.table({})


def storage_addresses(client: Client, cell: str) -> list[str]:
    """Addresses of the storage replicas of a cell."""
    return [n.address for c in client.cells() if c.cell == cell for n in c.nodes if n.role == "storage"]


def maintain(cluster: LocalCluster, cell: str, **kw: Any) -> list[storage_pb2.MaintainResponse]:
    """Run one maintenance round (the storage nodes' test hook) on every storage node of the cell."""
    out = []
    for node in cluster.nodes("storage", cell):
        with grpc.insecure_channel(node.address) as channel:
            out.append(storage_pb2_grpc.StorageStub(channel).Maintain(storage_pb2.MaintainRequest(**kw), timeout=60))
    return out
