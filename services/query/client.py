"""Client for query coordinators: CellScan from one cell's coordinator to another's."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
import pyarrow as pa

from services.query.fanout import CellRead, ScanSpec
from tessera import arrowipc, errors
from tessera.runtime import GRPC_OPTIONS
from tessera.v1 import common_pb2, query_pb2, query_pb2_grpc


class RemoteCellReader:
    """Reads a table's rows from another cell through one of its live coordinators."""

    def __init__(self, timeout_s: float = 30.0) -> None:
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._timeout = timeout_s

    def _stub(self, address: str) -> query_pb2_grpc.QueryStub:
        if address not in self._channels:
            self._channels[address] = grpc.aio.insecure_channel(address, options=GRPC_OPTIONS)
        return query_pb2_grpc.QueryStub(self._channels[address])

    async def cell_scan(self, nodes: Sequence[common_pb2.NodeInfo], spec: ScanSpec, allow_partial: bool) -> CellRead:
        """The cell's deduplicated rows for the spec; tries each of its coordinators, live ones first."""
        coordinators = sorted((n for n in nodes if n.role == "query"), key=lambda n: not n.live)
        request = query_pb2.CellScanRequest(
            table_id=spec.table_id, schema=spec.schema, columns=spec.columns, predicate=spec.predicate,
            start_ns=spec.start_ns, end_ns=spec.end_ns, allow_partial=allow_partial, with_keys=spec.with_keys)
        failures = []
        for node in coordinators:
            try:
                return await self._scan(node.address, request)
            except grpc.aio.AioRpcError as exc:
                err = errors.from_rpc_error(exc)
                if not isinstance(err, errors.Unavailable):
                    raise err from exc
                failures.append(f"{node.node_id}: {err}")
        cell = nodes[0].cell if nodes else "?"
        raise errors.Unavailable(f"no coordinator of cell {cell} answered: {'; '.join(failures) or 'none known'}")

    async def _scan(self, address: str, request: query_pb2.CellScanRequest) -> CellRead:
        out = CellRead()
        async for chunk in self._stub(address).CellScan(request, timeout=self._timeout):
            if chunk.arrow_ipc:
                table: pa.Table = arrowipc.from_ipc(chunk.arrow_ipc)
                if table.num_rows:
                    out.tables.append(table)
            if chunk.last:
                out.bytes_scanned = chunk.bytes_scanned
                out.partial_reasons = list(chunk.partial_reasons)
        return out

    async def close(self) -> None:
        for ch in self._channels.values():
            await ch.close()
