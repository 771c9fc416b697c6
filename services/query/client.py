"""Client for query coordinators: CellScan and CellQuery from one cell's coordinator to another's."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence

import grpc
import pyarrow as pa

from services.query.fanout import CellRead, ScanSpec, value_filters
from tessera import arrowipc, errors
from tessera.runtime import GRPC_OPTIONS
from tessera.v1 import common_pb2, query_pb2, query_pb2_grpc, storage_pb2

FORWARDED_TIMEOUT_S = 3600.0  # a forwarded query is bounded by its caller's own deadline, which cancels it


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
        request = query_pb2.CellScanRequest(
            table_id=spec.table_id, schema=spec.schema, columns=spec.columns, predicate=spec.predicate,
            start_ns=spec.start_ns, end_ns=spec.end_ns, allow_partial=allow_partial, with_keys=spec.with_keys,
            predicate_columns=spec.predicate_columns, range_los=spec.range_los,
            dimension_in=value_filters(spec), measure_names=spec.measure_names,
            latest_per_series=spec.latest_per_series)
        read = await self._on_any(nodes, lambda stub: stub.CellScan(request, timeout=self._timeout))
        read.tables = [t for t in read.tables if t.num_rows]
        return read

    async def cell_query(self, nodes: Sequence[common_pb2.NodeInfo], query_id: str, sql: str, allow_partial: bool,
                         epochs: Sequence[tuple[str, str, int, str]]) -> CellRead:
        """A whole query run by the cell's coordinator with routes at least as new as ``epochs`` (database,
        table, epoch); ``tables`` holds the result (at least one table, possibly empty, so the schema is
        known). The caller's cancellation cancels the remote query."""
        request = query_pb2.CellQueryRequest(
            query_id=query_id, query_string=sql, allow_partial=allow_partial,
            routes=[query_pb2.TableEpoch(database_name=d, table_name=t, epoch=e, table_id=i) for d, t, e, i in epochs])
        return await self._on_any(nodes, lambda stub: stub.CellQuery(request, timeout=FORWARDED_TIMEOUT_S))

    async def _on_any(self, nodes: Sequence[common_pb2.NodeInfo],
                      call: Callable[[query_pb2_grpc.QueryStub], AsyncIterator[storage_pb2.ScanChunk]]) -> CellRead:
        """Stream from each of the cell's coordinators in turn, live ones first, until one answers. Only a
        coordinator that could not be reached is passed over: an error it answered with (even Unavailable,
        e.g. tiles without quorum) is the cell's answer and is raised as it is."""
        coordinators = sorted((n for n in nodes if n.role == "query"), key=lambda n: not n.live)
        failures = []
        for node in coordinators:
            try:
                return await _collect(call(self._stub(node.address)))
            except grpc.aio.AioRpcError as exc:
                err = errors.from_rpc_error(exc)
                if not isinstance(err, errors.Unavailable) or _answered(exc):
                    raise err from exc
                failures.append(f"{node.node_id}: {err}")
        cell = nodes[0].cell if nodes else "?"
        raise errors.Unavailable(f"no coordinator of cell {cell} answered: {'; '.join(failures) or 'none known'}")

    async def close(self) -> None:
        for ch in self._channels.values():
            await ch.close()


async def _collect(chunks: AsyncIterator[storage_pb2.ScanChunk]) -> CellRead:
    out = CellRead()
    async for chunk in chunks:
        if chunk.arrow_ipc:
            table: pa.Table = arrowipc.from_ipc(chunk.arrow_ipc)
            out.tables.append(table)
        if chunk.last:
            out.bytes_scanned = chunk.bytes_scanned
            out.partial_reasons = list(chunk.partial_reasons)
    return out


def _answered(exc: grpc.aio.AioRpcError) -> bool:
    """Whether the error came from a Tessera handler (it carries an error detail) rather than the transport."""
    return any(key == errors.DETAIL_METADATA_KEY for key, _ in exc.trailing_metadata() or ())
