"""Entry point: python -m services.discovery.main --listen HOST:PORT --etcd HOST:PORT."""

from __future__ import annotations

import grpc

from services.discovery.catalog import Catalog
from services.discovery.config import DiscoveryConfig
from services.discovery.kv import EtcdStore
from services.discovery.registry import Registry
from services.discovery.server import DiscoveryServicer
from tessera import runtime
from tessera.v1 import catalog_pb2_grpc


class DiscoveryService:
    """Discovery as a runtime.Service."""

    name = "tessera.v1.Discovery"

    def __init__(self, config: DiscoveryConfig) -> None:
        self._store = EtcdStore(config.etcd)
        registry = Registry(self._store)
        self._servicer = DiscoveryServicer(Catalog(self._store, registry), registry)

    def add_to_server(self, server: grpc.aio.Server) -> None:
        catalog_pb2_grpc.add_DiscoveryServicer_to_server(self._servicer, server)

    async def start(self, address: str) -> None:
        self._servicer.address = address

    async def stop(self) -> None:
        await self._store.close()


def main(argv: list[str] | None = None) -> None:
    """Run one discovery process until SIGTERM."""
    config = DiscoveryConfig.from_args(argv)
    runtime.configure_logging("discovery", config.node_id)
    runtime.run(lambda: runtime.serve(DiscoveryService(config), config.listen, config.ready_file))


if __name__ == "__main__":
    main()
