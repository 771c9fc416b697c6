"""Entry point: python -m services.query.main --discovery HOST:PORT --cell C --zone Z --node-id N."""

from __future__ import annotations

import grpc

from services.common_config import NodeConfig, parse_node_args
from services.discovery.client import CellMembership, RouteCache
from services.query.client import RemoteCellReader
from services.query.coordinator import Coordinator
from services.query.fanout import TileReader
from services.query.metadata import DiscoveryCatalog
from services.query.server import QueryServicer
from services.storage.client import StoragePool
from tessera import runtime
from tessera.v1 import query_pb2_grpc


class QueryService:
    """A query coordinator as a runtime.Service."""

    name = "tessera.v1.Query"

    def __init__(self, config: NodeConfig) -> None:
        self._member = CellMembership(config, "query")
        self._pool = StoragePool()
        self._remote = RemoteCellReader()
        routes = RouteCache(self._member.discovery)
        coordinator = Coordinator(routes, self._member.cell, TileReader(self._pool), self._remote,
                                  catalog=DiscoveryCatalog(self._member.discovery, routes))
        self._servicer = QueryServicer(coordinator)

    def add_to_server(self, server: grpc.aio.Server) -> None:
        query_pb2_grpc.add_QueryServicer_to_server(self._servicer, server)

    async def start(self, address: str) -> None:
        await self._member.start(address)

    async def stop(self) -> None:
        await self._member.stop()
        await self._remote.close()
        await self._pool.close()


def main(argv: list[str] | None = None) -> None:
    """Run one query coordinator until SIGTERM."""
    config = parse_node_args("tessera-query", argv)
    runtime.configure_logging("query", config.node_id)
    runtime.run(lambda: runtime.serve(QueryService(config), config.listen, config.ready_file))


if __name__ == "__main__":
    main()
