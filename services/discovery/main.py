"""Entry point: python -m services.discovery.main --listen HOST:PORT --etcd HOST:PORT."""

from __future__ import annotations

import asyncio

import grpc
import structlog

from services.discovery.catalog import Catalog
from services.discovery.config import DiscoveryConfig
from services.discovery.kv import EtcdStore
from services.discovery.registry import Registry
from services.discovery.server import DiscoveryServicer
from tessera import errors, runtime
from tessera.v1 import catalog_pb2_grpc

log = structlog.get_logger()
MIGRATION_RETRY_S = 5.0


class DiscoveryService:
    """Discovery as a runtime.Service."""

    name = "tessera.v1.Discovery"

    def __init__(self, config: DiscoveryConfig) -> None:
        self._store = EtcdStore(config.etcd)
        registry = Registry(self._store)
        self._catalog = Catalog(self._store, registry)
        self._servicer = DiscoveryServicer(self._catalog, registry)
        self._migration: asyncio.Task[None] | None = None

    def add_to_server(self, server: grpc.aio.Server) -> None:
        catalog_pb2_grpc.add_DiscoveryServicer_to_server(self._servicer, server)

    async def start(self, address: str) -> None:
        self._servicer.address = address
        self._migration = asyncio.create_task(self._migrate_column_keys())

    async def _migrate_column_keys(self) -> None:
        """Once etcd answers (discovery serves meanwhile: etcd may be down when it starts)."""
        while True:
            try:
                await self._catalog.migrate_column_keys()
                return
            except errors.TesseraError as exc:
                log.warning("cannot move old schema entries to their keys yet; retrying", error=str(exc))
                await asyncio.sleep(MIGRATION_RETRY_S)

    async def stop(self) -> None:
        if self._migration is not None:
            self._migration.cancel()
            await asyncio.gather(self._migration, return_exceptions=True)
        await self._store.close()


def main(argv: list[str] | None = None) -> None:
    """Run one discovery process until SIGTERM."""
    config = DiscoveryConfig.from_args(argv)
    runtime.configure_logging("discovery", config.node_id)
    runtime.run(lambda: runtime.serve(DiscoveryService(config), config.listen, config.ready_file))


if __name__ == "__main__":
    main()
