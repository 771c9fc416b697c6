"""Entry point: python -m services.storage.main --discovery H:P --cell C --zone Z --node-id N --data-dir D."""

from __future__ import annotations

import grpc

from services.common_config import NodeConfig, node_arg_parser, node_config
from services.discovery.client import CellView, DiscoveryClient, NodeRegistration
from services.discovery.tables import TableCatalog
from services.storage import config as storage_config
from services.storage.antientropy import AntiEntropy
from services.storage.client import StoragePool
from services.storage.column_claims import ClaimSync, ColumnClaims, adopt_peers_claims
from services.storage.config import StorageConfig
from services.storage.server import StorageServicer
from services.storage.tilekey import TileKey
from services.storage.tilestore import TileStore
from tessera import memory, placement, runtime
from tessera.errors import ValidationError
from tessera.v1 import storage_pb2_grpc


class StorageService:
    """A storage replica as a runtime.Service: recovers every tile from its WAL before serving."""

    name = "tessera.v1.Storage"

    def __init__(self, config: NodeConfig, storage: StorageConfig, store: TileStore, discovery: DiscoveryClient,
                 tables: TableCatalog) -> None:
        self._config = config
        self._storage = storage
        self._store = store
        self._discovery = discovery
        self._tables = tables
        store.await_membership_check()  # until compared with the last view: no complete vote
        self._registration = NodeRegistration(self._discovery, config.node_id, config.cell, "storage", config.zone,
                                              config.lease_ttl_s)
        self._cell = CellView(discovery, config.cell)
        self._pool = StoragePool()
        self._claims = ColumnClaims(store.store, store.table_deleted)
        self._repair = AntiEntropy(store, tables.tables, lambda: tables.synced, self._pool,
                                   lambda: self._cell.by_role("storage"), config.node_id,
                                   storage.repair_interval_s, storage.repair_slice_s,
                                   before_complete=lambda: adopt_peers_claims(
                                       self._claims, self._pool, self._cell.by_role("storage"), config.node_id))
        self._claim_sync = ClaimSync(self._claims, self._pool, lambda: self._cell.by_role("storage"), discovery)

    def add_to_server(self, server: grpc.aio.Server) -> None:
        storage_pb2_grpc.add_StorageServicer_to_server(StorageServicer(self._store, self._storage.test_hooks,
                                                                              self._repair.repair_tiles,
                                                                              self._claims, self._not_mine), server)

    def _not_mine(self, key: TileKey) -> str | None:
        """Why this node is no replica of the tile in its view of the cell (see placement.not_a_replica)."""
        name = placement.tile_name(key.table_id, key.range_lo, key.bucket)
        return placement.not_a_replica(self._config.node_id, name, self._cell.by_role("storage"))

    async def start(self, address: str) -> None:
        await self._registration.start(address)
        await self._cell.start()
        await self._repair.note_membership()
        self._repair.start()
        self._claim_sync.start()

    async def stop(self) -> None:
        await self._claim_sync.stop()
        await self._repair.stop()
        await self._registration.stop()
        await self._cell.stop()
        await self._pool.close()
        await self._store.close()
        await self._tables.stop()
        await self._discovery.close()


async def _serve(config: NodeConfig, storage: StorageConfig) -> None:
    discovery = DiscoveryClient(config.discovery)
    tables = TableCatalog(discovery)
    await tables.start()  # returns at once: retention and deletions apply once the catalog has answered
    store = TileStore(storage, tables)
    await store.open()  # WAL recovery happens before the port opens: no request sees a half-recovered tile
    await runtime.serve(StorageService(config, storage, store, discovery, tables), config.listen, config.ready_file,
                        advertise=config.advertise)


def main(argv: list[str] | None = None) -> None:
    """Run one storage replica until SIGTERM."""
    parser = node_arg_parser("tessera-storage", needs_data_dir=True)
    storage_config.add_arguments(parser)
    args = parser.parse_args(argv)
    config = node_config(parser, args)
    try:
        storage = storage_config.from_arguments(args.data_dir, args)
    except ValidationError as exc:
        parser.error(exc.message)
    runtime.configure_logging("storage", config.node_id)
    # The node promises --memory-limit-mb: its free heap goes back to the kernel (see TileStore.maintain).
    runtime.run(lambda: _serve(config, storage), memory.BOUNDED_HEAP)


if __name__ == "__main__":
    main()
