"""gRPC servicer for discovery: proto in, catalog call, proto out."""

from __future__ import annotations

import grpc

from services.discovery.catalog import Catalog
from services.discovery.registry import Registry
from tessera.runtime import rpc
from tessera.v1 import catalog_pb2, catalog_pb2_grpc, common_pb2

ENDPOINT_CACHE_MINUTES = 1440


class DiscoveryServicer(catalog_pb2_grpc.DiscoveryServicer):
    """Thin translation between the Discovery RPCs and Catalog/Registry."""

    def __init__(self, catalog: Catalog, registry: Registry) -> None:
        self._catalog = catalog
        self._registry = registry
        self.address = ""

    @rpc
    async def CreateDatabase(self, request: catalog_pb2.CreateDatabaseRequest, context: grpc.aio.ServicerContext
                             ) -> catalog_pb2.DatabaseResponse:
        db = await self._catalog.create_database(request.database_name, request.kms_key_id)
        return catalog_pb2.DatabaseResponse(database=db)

    @rpc
    async def DescribeDatabase(self, request: catalog_pb2.DescribeDatabaseRequest,
                               context: grpc.aio.ServicerContext) -> catalog_pb2.DatabaseResponse:
        return catalog_pb2.DatabaseResponse(database=await self._catalog.describe_database(request.database_name))

    @rpc
    async def UpdateDatabase(self, request: catalog_pb2.UpdateDatabaseRequest, context: grpc.aio.ServicerContext
                             ) -> catalog_pb2.DatabaseResponse:
        db = await self._catalog.update_database(request.database_name, request.kms_key_id)
        return catalog_pb2.DatabaseResponse(database=db)

    @rpc
    async def DeleteDatabase(self, request: catalog_pb2.DeleteDatabaseRequest, context: grpc.aio.ServicerContext
                             ) -> catalog_pb2.DeleteResponse:
        await self._catalog.delete_database(request.database_name)
        return catalog_pb2.DeleteResponse()

    @rpc
    async def ListDatabases(self, request: catalog_pb2.ListDatabasesRequest, context: grpc.aio.ServicerContext
                            ) -> catalog_pb2.ListDatabasesResponse:
        dbs, token = await self._catalog.list_databases(request.max_results, request.next_token)
        return catalog_pb2.ListDatabasesResponse(databases=dbs, next_token=token)

    @rpc
    async def CreateTable(self, request: catalog_pb2.CreateTableRequest, context: grpc.aio.ServicerContext
                          ) -> catalog_pb2.TableResponse:
        return catalog_pb2.TableResponse(table=await self._catalog.create_table(request))

    @rpc
    async def DescribeTable(self, request: catalog_pb2.DescribeTableRequest, context: grpc.aio.ServicerContext
                            ) -> catalog_pb2.TableResponse:
        doc = await self._catalog.table_doc(request.database_name, request.table_name)
        return catalog_pb2.TableResponse(table=await self._catalog.table_proto(doc))

    @rpc
    async def UpdateTable(self, request: catalog_pb2.UpdateTableRequest, context: grpc.aio.ServicerContext
                          ) -> catalog_pb2.TableResponse:
        return catalog_pb2.TableResponse(table=await self._catalog.update_table(request))

    @rpc
    async def DeleteTable(self, request: catalog_pb2.DeleteTableRequest, context: grpc.aio.ServicerContext
                          ) -> catalog_pb2.DeleteResponse:
        await self._catalog.delete_table(request.database_name, request.table_name)
        return catalog_pb2.DeleteResponse()

    @rpc
    async def ListTables(self, request: catalog_pb2.ListTablesRequest, context: grpc.aio.ServicerContext
                         ) -> catalog_pb2.ListTablesResponse:
        tables, token = await self._catalog.list_tables(request.database_name, request.max_results,
                                                        request.next_token)
        return catalog_pb2.ListTablesResponse(tables=tables, next_token=token)

    @rpc
    async def ResolveTable(self, request: catalog_pb2.ResolveTableRequest, context: grpc.aio.ServicerContext
                           ) -> common_pb2.TableRoute:
        return await self._catalog.resolve(request.database_name, request.table_name)

    @rpc
    async def RegisterColumns(self, request: catalog_pb2.RegisterColumnsRequest,
                              context: grpc.aio.ServicerContext) -> catalog_pb2.RegisterColumnsResponse:
        cols = await self._catalog.register_columns(request.table_id, list(request.columns))
        return catalog_pb2.RegisterColumnsResponse(columns=cols)

    @rpc
    async def SplitTable(self, request: catalog_pb2.SplitTableRequest, context: grpc.aio.ServicerContext
                         ) -> common_pb2.TableRoute:
        return await self._catalog.split(request.database_name, request.table_name, list(request.cells))

    @rpc
    async def RegisterNode(self, request: catalog_pb2.RegisterNodeRequest, context: grpc.aio.ServicerContext
                           ) -> catalog_pb2.RegisterNodeResponse:
        lease = await self._registry.register(request.node, int(request.ttl_seconds))
        return catalog_pb2.RegisterNodeResponse(lease_id=lease)

    @rpc
    async def KeepAlive(self, request: catalog_pb2.KeepAliveRequest, context: grpc.aio.ServicerContext
                        ) -> catalog_pb2.KeepAliveResponse:
        lease = await self._registry.keep_alive(request.lease_id, request.node, int(request.ttl_seconds))
        return catalog_pb2.KeepAliveResponse(lease_id=lease)

    @rpc
    async def DeregisterNode(self, request: catalog_pb2.DeregisterNodeRequest, context: grpc.aio.ServicerContext
                             ) -> catalog_pb2.DeleteResponse:
        await self._registry.deregister(request.lease_id)
        return catalog_pb2.DeleteResponse()

    @rpc
    async def ListCells(self, request: catalog_pb2.ListCellsRequest, context: grpc.aio.ServicerContext
                        ) -> catalog_pb2.ListCellsResponse:
        cells = await self._registry.cells(request.cell)
        counts = await self._catalog.table_counts()
        for c in cells:
            c.table_count = counts.get(c.cell, 0)
        return catalog_pb2.ListCellsResponse(cells=cells)

    @rpc
    async def DescribeEndpoints(self, request: catalog_pb2.DescribeEndpointsRequest,
                                context: grpc.aio.ServicerContext) -> catalog_pb2.DescribeEndpointsResponse:
        return catalog_pb2.DescribeEndpointsResponse(
            endpoints=[catalog_pb2.Endpoint(address=self.address, cache_period_in_minutes=ENDPOINT_CACHE_MINUTES)])

