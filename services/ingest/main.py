"""Entry point: python -m services.ingest.main --discovery HOST:PORT --cell C --zone Z --node-id N."""

from __future__ import annotations

import grpc

from services.common_config import NodeConfig, parse_node_args
from services.discovery.client import CellMembership
from services.ingest.columns import NewColumns
from services.ingest.hints import RepairHints
from services.ingest.replication import QuorumWriter
from services.ingest.server import IngestServicer
from services.ingest.writer import Writer
from services.storage.client import StoragePool
from tessera import runtime
from tessera.v1 import common_pb2, ingest_pb2_grpc, storage_pb2


class PoolAppender:
    """Appender over a shared pool of storage clients."""

    def __init__(self, pool: StoragePool) -> None:
        self._pool = pool

    async def append(self, node: common_pb2.NodeInfo, payload: bytes, timeout_s: float
                     ) -> storage_pb2.AppendResponse:
        return await self._pool.get(node.address).append(payload, timeout_s)


class IngestService:
    """An ingest node as a runtime.Service."""

    name = "tessera.v1.Ingest"

    def __init__(self, config: NodeConfig) -> None:
        self._member = CellMembership(config, "ingest")
        self._pool = StoragePool()
        self._hints = RepairHints(self._pool, members=lambda: (n.node_id for n in self._member.cell.by_role("storage")))
        self._quorum = QuorumWriter(PoolAppender(self._pool), hints=self._hints)
        discovery = self._member.discovery
        self._new_columns = NewColumns(config.cell, discovery, self._member.cell, self._pool)
        writer = Writer(config.cell, self._member.routes, self._new_columns, self._member.cell, self._quorum)
        self._servicer = IngestServicer(writer)

    def add_to_server(self, server: grpc.aio.Server) -> None:
        ingest_pb2_grpc.add_IngestServicer_to_server(self._servicer, server)

    async def start(self, address: str) -> None:
        await self._member.start(address)
        self._hints.start()

    async def stop(self) -> None:
        await self._new_columns.stop()
        await self._member.stop()
        await self._quorum.drain()
        await self._hints.stop()
        await self._pool.close()


def main(argv: list[str] | None = None) -> None:
    """Run one ingest node until SIGTERM."""
    config = parse_node_args("tessera-ingest", argv)
    runtime.configure_logging("ingest", config.node_id)
    runtime.run(lambda: runtime.serve(IngestService(config), config.listen, config.ready_file,
                                      advertise=config.advertise))


if __name__ == "__main__":
    main()
