"""gRPC servicer for discovery: proto in, catalog call, proto out."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import TypeVar

import grpc
import structlog

from services.discovery.catalog import Catalog
from services.discovery.registry import Registry
from tessera import errors
from tessera.runtime import rpc, stream_rpc
from tessera.v1 import catalog_pb2, catalog_pb2_grpc, common_pb2

T = TypeVar("T")
log = structlog.get_logger()
ENDPOINT_CACHE_MINUTES = 1440
HEARTBEAT_MS_DEFAULT, HEARTBEAT_MS_MIN, HEARTBEAT_MS_MAX = 5000, 100, 60_000


def _heartbeat_s(heartbeat_ms: int) -> float:
    if heartbeat_ms == 0:
        heartbeat_ms = HEARTBEAT_MS_DEFAULT
    if not HEARTBEAT_MS_MIN <= heartbeat_ms <= HEARTBEAT_MS_MAX:
        raise errors.ValidationError(
            f"WatchTablesRequest.heartbeat_ms {heartbeat_ms} is out of range: "
            f"{HEARTBEAT_MS_MIN}..{HEARTBEAT_MS_MAX}")
    return heartbeat_ms / 1000


async def _with_heartbeats(events: AsyncGenerator[T, None], interval_s: float,
                           heartbeat: Callable[[], T]) -> AsyncGenerator[T, None]:
    """``events`` as they come, plus ``heartbeat()`` whenever none came for ``interval_s``.

    The pending read of ``events`` is kept across heartbeats (never cancelled by a timeout), so no event is
    lost; closing this iterator cancels the read and closes ``events``.
    """
    async def next_event() -> tuple[T] | None:  # None once ``events`` is exhausted
        try:
            return (await anext(events),)
        except StopAsyncIteration:
            return None

    pending: asyncio.Task[tuple[T] | None] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(next_event())
            done, _ = await asyncio.wait({pending}, timeout=interval_s)
            if not done:
                yield heartbeat()
                continue
            got = pending.result()
            pending = None
            if got is None:
                return
            yield got[0]
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # its error, if any, was raised
                await pending
        await events.aclose()


class DiscoveryServicer(catalog_pb2_grpc.DiscoveryServicer):
    """Thin translation between the Discovery RPCs and Catalog/Registry."""

    def __init__(self, catalog: Catalog, registry: Registry) -> None:
        self._catalog = catalog
        self._registry = registry
        self.address = ""

    @rpc
    async def CreateDatabase(self, request: catalog_pb2.CreateDatabaseRequest, context: grpc.aio.ServicerContext
                             ) -> catalog_pb2.DatabaseResponse:
        db = await self._catalog.create_database(request.database_name, request.kms_key_id, request.tags)
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
    async def DescribeTableById(self, request: catalog_pb2.DescribeTableByIdRequest,
                                context: grpc.aio.ServicerContext) -> catalog_pb2.DescribeTableByIdResponse:
        table, revision = await self._catalog.table_by_id(request.table_id)
        return catalog_pb2.DescribeTableByIdResponse(table=table, revision=revision)

    @stream_rpc
    async def WatchTables(self, request: catalog_pb2.WatchTablesRequest, context: grpc.aio.ServicerContext
                          ) -> AsyncIterator[catalog_pb2.TableEvent]:
        interval_s = _heartbeat_s(request.heartbeat_ms)
        events = _with_heartbeats(self._catalog.watch_tables(), interval_s,
                                  lambda: catalog_pb2.TableEvent(kind=catalog_pb2.TableEvent.HEARTBEAT))
        async with contextlib.aclosing(events):
            async for event in events:
                yield event

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
    async def TagResource(self, request: catalog_pb2.TagResourceRequest, context: grpc.aio.ServicerContext
                          ) -> catalog_pb2.TagsResponse:
        return catalog_pb2.TagsResponse(tags=await self._catalog.change_tags(request.resource_arn, add=request.tags))

    @rpc
    async def UntagResource(self, request: catalog_pb2.UntagResourceRequest, context: grpc.aio.ServicerContext
                            ) -> catalog_pb2.TagsResponse:
        return catalog_pb2.TagsResponse(tags=await self._catalog.change_tags(request.resource_arn,
                                                                             remove=request.tag_keys))

    @rpc
    async def ListTagsForResource(self, request: catalog_pb2.ListTagsForResourceRequest,
                                  context: grpc.aio.ServicerContext) -> catalog_pb2.TagsResponse:
        return catalog_pb2.TagsResponse(tags=await self._catalog.list_tags(request.resource_arn))

    @rpc
    async def DescribeAccountSettings(self, request: catalog_pb2.DescribeAccountSettingsRequest,
                                      context: grpc.aio.ServicerContext) -> catalog_pb2.AccountSettingsResponse:
        return catalog_pb2.AccountSettingsResponse(settings_json=json.dumps(await self._catalog.account_settings()))

    @rpc
    async def UpdateAccountSettings(self, request: catalog_pb2.UpdateAccountSettingsRequest,
                                    context: grpc.aio.ServicerContext) -> catalog_pb2.AccountSettingsResponse:
        try:
            changes = json.loads(request.changes_json or "{}")
        except ValueError as exc:
            raise errors.ValidationError(f"changes_json is not JSON: {exc}") from exc
        if not isinstance(changes, dict):
            raise errors.ValidationError("changes_json must be a JSON object of account settings")
        settings = await self._catalog.update_account_settings(changes)
        return catalog_pb2.AccountSettingsResponse(settings_json=json.dumps(settings))

    @rpc
    async def GetGatewayDocument(self, request: catalog_pb2.GetGatewayDocumentRequest,
                                 context: grpc.aio.ServicerContext) -> catalog_pb2.GatewayDocument:
        text = await self._catalog.gateway_document(request.kind, request.id)
        return catalog_pb2.GatewayDocument(kind=request.kind, id=request.id, json=text)

    @rpc
    async def PutGatewayDocument(self, request: catalog_pb2.PutGatewayDocumentRequest,
                                 context: grpc.aio.ServicerContext) -> catalog_pb2.PutGatewayDocumentResponse:
        doc = request.document
        try:
            written, current = await self._catalog.put_gateway_document(doc.kind, doc.id, doc.json,
                                                                        request.expected_json)
        except ValueError as exc:
            raise errors.ValidationError(f"document.json is not JSON: {exc}") from exc
        return catalog_pb2.PutGatewayDocumentResponse(written=written, current_json=current)

    @rpc
    async def ListGatewayDocuments(self, request: catalog_pb2.ListGatewayDocumentsRequest,
                                   context: grpc.aio.ServicerContext) -> catalog_pb2.ListGatewayDocumentsResponse:
        docs = await self._catalog.gateway_documents(request.kind)
        return catalog_pb2.ListGatewayDocumentsResponse(documents=[
            catalog_pb2.GatewayDocument(kind=request.kind, id=i, json=text) for i, text in docs])

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
    async def RemoveNode(self, request: catalog_pb2.RemoveNodeRequest, context: grpc.aio.ServicerContext
                         ) -> catalog_pb2.RemoveNodeResponse:
        if not request.cell or not request.node_id:
            raise errors.ValidationError("cell and node_id are required")
        node = await self._registry.remove(request.cell, request.node_id, request.force)
        log.warning("node_removed", cell=request.cell, node_id=request.node_id, role=node.role, zone=node.zone,
                    forced=request.force)
        return catalog_pb2.RemoveNodeResponse(node=node)

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

