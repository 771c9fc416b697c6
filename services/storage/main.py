"""Entry point: python -m services.storage.main --discovery H:P --cell C --zone Z --node-id N --data-dir D."""

from __future__ import annotations

import grpc

from services.common_config import NodeConfig, parse_node_args
from services.discovery.client import DiscoveryClient, NodeRegistration
from services.storage.server import StorageServicer
from services.storage.tilestore import TileStore
from tessera import runtime
from tessera.v1 import storage_pb2_grpc


class StorageService:
    """A storage replica as a runtime.Service: recovers every tile from its WAL before serving."""

    name = "tessera.v1.Storage"

    def __init__(self, config: NodeConfig, store: TileStore) -> None:
        self._config = config
        self._store = store
        self._discovery = DiscoveryClient(config.discovery)
        self._registration = NodeRegistration(self._discovery, config.node_id, config.cell, "storage", config.zone,
                                              config.lease_ttl_s)

    def add_to_server(self, server: grpc.aio.Server) -> None:
        storage_pb2_grpc.add_StorageServicer_to_server(StorageServicer(self._store), server)

    async def start(self, address: str) -> None:
        await self._registration.start(address)

    async def stop(self) -> None:
        await self._registration.stop()
        await self._store.close()
        await self._discovery.close()


async def _serve(config: NodeConfig) -> None:
    assert config.data_dir is not None
    store = TileStore(config.data_dir)
    await store.open()  # WAL recovery happens before the port opens: no request sees a half-recovered tile
    await runtime.serve(StorageService(config, store), config.listen, config.ready_file)


def main(argv: list[str] | None = None) -> None:
    """Run one storage replica until SIGTERM."""
    config = parse_node_args("tessera-storage", argv, needs_data_dir=True)
    runtime.configure_logging("storage", config.node_id)
    runtime.run(lambda: _serve(config))


if __name__ == "__main__":
    main()
