"""Entry point: python -m services.query.main --discovery HOST:PORT --cell C --zone Z --node-id N."""

from __future__ import annotations

import grpc

from services.common_config import NodeConfig, node_arg_parser, node_config
from services.discovery.client import CellMembership
from services.query import budget
from services.query.admission import DEFAULT_QUEUED, DEFAULT_RUNNING, Admission
from services.query.client import RemoteCellReader
from services.query.coordinator import Coordinator
from services.query.fanout import TileReader
from services.query.metadata import DiscoveryCatalog
from services.query.server import QueryServicer
from services.storage.client import StoragePool
from tessera import objectstore, runtime
from tessera.objectstore import ObjectStore
from tessera.v1 import query_pb2_grpc


class QueryService:
    """A query coordinator as a runtime.Service."""

    name = "tessera.v1.Query"

    def __init__(self, config: NodeConfig, gate: Admission | None = None,
                 read_limit_mb: int = budget.DEFAULT_READ_LIMIT_MB, object_store: ObjectStore | None = None) -> None:
        self._member = CellMembership(config, "query")
        self._pool = StoragePool()
        self._remote = RemoteCellReader()
        routes = self._member.routes
        coordinator = Coordinator(routes, self._member.cell, TileReader(self._pool), self._remote,
                                  catalog=DiscoveryCatalog(self._member.discovery, routes),
                                  read_limit_bytes=read_limit_mb * budget.MIB, object_store=object_store)
        self._servicer = QueryServicer(coordinator, gate)

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
    parser = node_arg_parser("tessera-query")
    parser.add_argument("--max-running-queries", type=int, default=DEFAULT_RUNNING,
                        help=f"queries executing at once (default {DEFAULT_RUNNING})")
    parser.add_argument("--max-queued-queries", type=int, default=DEFAULT_QUEUED,
                        help="queries waiting for a slot before more are refused with ThrottlingException "
                             f"(default {DEFAULT_QUEUED})")
    parser.add_argument("--query-read-limit-mb", type=int, default=budget.DEFAULT_READ_LIMIT_MB,
                        help="rows one query may read into this coordinator before it fails with an error "
                             f"naming the limit (default {budget.DEFAULT_READ_LIMIT_MB})")
    objectstore.add_arguments(parser, "UNLOAD writes there; none: UNLOAD is refused with an error saying so")
    args = parser.parse_args(argv)
    object_store = objectstore.from_arguments(parser, args)
    config = node_config(parser, args)
    if not 16 <= args.query_read_limit_mb <= 1_048_576:
        parser.error("--query-read-limit-mb must be 16..1048576")
    if not 1 <= args.max_running_queries <= 1024:
        parser.error("--max-running-queries must be 1..1024")
    if not 0 <= args.max_queued_queries <= 100_000:
        parser.error("--max-queued-queries must be 0..100000")
    gate = Admission(args.max_running_queries, args.max_queued_queries)
    runtime.configure_logging("query", config.node_id)
    runtime.run(lambda: runtime.serve(QueryService(config, gate, args.query_read_limit_mb, object_store), config.listen,
                                      config.ready_file,
                                      advertise=config.advertise))


if __name__ == "__main__":
    main()
