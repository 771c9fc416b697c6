"""The async client other services use to talk to discovery, with caches that outlive a control-plane outage.

Static stability: when discovery or etcd is down, ``RouteCache`` and ``CellView`` keep answering from the
last good answer, so the data plane keeps serving; only control-plane calls fail.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar, cast

import grpc
import structlog

from services.common_config import NodeConfig
from services.discovery.tables import TableCatalog, TableChange
from tessera import errors
from tessera.runtime import GRPC_OPTIONS
from tessera.v1 import catalog_pb2, catalog_pb2_grpc, common_pb2

T = TypeVar("T")
log = structlog.get_logger()


class DiscoveryClient:
    """Typed calls to the Discovery service; every call has a deadline and raises TesseraError."""

    def __init__(self, address: str, timeout_s: float = 5.0) -> None:
        self._channel = grpc.aio.insecure_channel(address, options=GRPC_OPTIONS)
        self._stub = catalog_pb2_grpc.DiscoveryStub(self._channel)
        self._timeout = timeout_s

    async def _call(self, fn: Callable[..., Awaitable[T]], request: object) -> T:
        try:
            return await fn(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as exc:
            raise errors.from_rpc_error(exc) from exc

    async def resolve(self, db: str, table: str) -> common_pb2.TableRoute:
        return await self._call(self._stub.ResolveTable,
                                catalog_pb2.ResolveTableRequest(database_name=db, table_name=table))

    async def register_columns(self, table_id: str, columns: list[common_pb2.Column]) -> list[common_pb2.Column]:
        resp = await self._call(self._stub.RegisterColumns,
                                catalog_pb2.RegisterColumnsRequest(table_id=table_id, columns=columns))
        return list(resp.columns)

    async def list_databases(self) -> list[str]:
        """Every database's name (all pages)."""
        return [d.database_name for d in await self._pages(
            lambda token: self._call(self._stub.ListDatabases, catalog_pb2.ListDatabasesRequest(next_token=token)),
            "databases")]

    async def list_tables(self, db: str) -> list[str]:
        """Every table's name in a database (all pages); NotFound if the database does not exist."""
        return [t.table_name for t in await self._pages(
            lambda token: self._call(self._stub.ListTables,
                                     catalog_pb2.ListTablesRequest(database_name=db, next_token=token)), "tables")]

    @staticmethod
    async def _pages(page: Callable[[str], Awaitable[Any]], field: str) -> list[Any]:
        """The items of every page of a paged List call, following NextToken."""
        items: list[Any] = []
        token = ""
        while True:
            resp = await page(token)
            items += getattr(resp, field)
            if not resp.next_token:
                return items
            token = resp.next_token

    async def describe_table_by_id(self, table_id: str) -> tuple[catalog_pb2.Table, int]:
        """A table by id, with an etcd revision its description is at least as new as; NotFound if deleted."""
        resp = await self._call(self._stub.DescribeTableById,
                                catalog_pb2.DescribeTableByIdRequest(table_id=table_id))
        return resp.table, int(resp.revision)

    async def watch_tables(self, heartbeat_s: float) -> AsyncGenerator[catalog_pb2.TableEvent, None]:
        """Every table as a snapshot, then each change, until the stream breaks with a TesseraError.

        A stream has no deadline; instead discovery sends a heartbeat every ``heartbeat_s`` when idle, and a
        stream silent for three heartbeats (a hung discovery, a silently dropped connection) raises
        Unavailable. Close the generator (``contextlib.aclosing``) to end the call.
        """
        call = self._stub.WatchTables(catalog_pb2.WatchTablesRequest(heartbeat_ms=round(heartbeat_s * 1000)))
        idle_s = 3 * heartbeat_s
        try:
            while True:
                try:
                    async with asyncio.timeout(idle_s):  # not wait_for: it can swallow a cancellation (3.11)
                        event = await call.read()
                except TimeoutError as exc:
                    raise errors.Unavailable(f"discovery sent nothing on WatchTables for {idle_s:.1f} s "
                                             "(three heartbeats): the stream is presumed dead") from exc
                except grpc.aio.AioRpcError as exc:
                    raise errors.from_rpc_error(exc) from exc
                if event is grpc.aio.EOF:
                    raise errors.Unavailable("discovery ended the WatchTables stream")
                yield cast(catalog_pb2.TableEvent, event)
        finally:
            call.cancel()

    async def list_cells(self, cell: str = "") -> list[common_pb2.CellInfo]:
        return list((await self._call(self._stub.ListCells, catalog_pb2.ListCellsRequest(cell=cell))).cells)

    async def register(self, node: common_pb2.NodeInfo, ttl: int) -> int:
        resp = await self._call(self._stub.RegisterNode, catalog_pb2.RegisterNodeRequest(node=node, ttl_seconds=ttl))
        return int(resp.lease_id)

    async def keep_alive(self, lease_id: int, node: common_pb2.NodeInfo, ttl: int) -> int:
        req = catalog_pb2.KeepAliveRequest(lease_id=lease_id, node=node, ttl_seconds=ttl)
        return int((await self._call(self._stub.KeepAlive, req)).lease_id)

    async def deregister(self, lease_id: int, node: common_pb2.NodeInfo) -> None:
        req = catalog_pb2.DeregisterNodeRequest(lease_id=lease_id, cell=node.cell, node_id=node.node_id)
        await self._call(self._stub.DeregisterNode, req)

    async def close(self) -> None:
        await self._channel.close()


class NodeRegistration:
    """Keeps one node registered in its cell: registers at start, refreshes its lease, deregisters at stop."""

    def __init__(self, client: DiscoveryClient, node_id: str, cell: str, role: str, zone: str,
                 ttl_s: int = 10) -> None:
        self._client = client
        self.node = common_pb2.NodeInfo(node_id=node_id, cell=cell, role=role, zone=zone)
        self._ttl = ttl_s
        self._lease = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self, address: str) -> None:
        """Register at ``address`` (waiting for discovery if it is not up yet) and keep the lease alive."""
        self.node.address = address
        delay = 0.1
        while True:
            try:
                self._lease = await self._client.register(self.node, self._ttl)
                break
            except (errors.Unavailable, errors.DeadlineExceeded) as exc:
                log.warning("register_retry", error=str(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._ttl / 3)
            try:
                self._lease = await self._client.keep_alive(self._lease, self.node, self._ttl)
            except errors.FailedPrecondition as exc:  # removed from its cell: it must not serve on
                log.error("removed_from_cell_stopping", error=str(exc))
                os.kill(os.getpid(), signal.SIGTERM)
                return
            except errors.TesseraError as exc:  # control plane down: keep serving, keep trying
                log.warning("keepalive_failed", error=str(exc))

    async def stop(self) -> None:
        """Stop refreshing and drop liveness; safe to call twice."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
            try:
                await self._client.deregister(self._lease, self.node)
            except errors.TesseraError as exc:
                log.warning("deregister_failed", error=str(exc))


FRESH_S = 1.0
"""How long a lookup that found a caller's epoch or table id outdated stands for later such callers."""


class RouteCache:
    """Table routes by (database, table). A route older than ``ttl_s`` is still served while a refresh runs
    in the background (stale while revalidate), so a discovery or etcd outage costs writes nothing: the last
    good route survives it. Only a route the caller knows to be older (``min_epoch``) is fetched inline.

    With a ``catalog`` (the node's watch of every table), a route goes from the cache the moment the catalog
    says its table was deleted or that its name now belongs to another table: a table deleted and created
    again under the same name is never written or read through the old one's route (its id), however
    recently that route was cached. A table that changed (retention, partition key, columns) has its route
    fetched again at once, the cached one served until the new one arrives (or for as long as etcd is
    down)."""

    def __init__(self, client: DiscoveryClient, ttl_s: float = 5.0, catalog: TableCatalog | None = None) -> None:
        self._client = client
        self._ttl = ttl_s
        self._catalog = catalog
        self._routes: dict[tuple[str, str], tuple[float, common_pb2.TableRoute]] = {}
        self._refreshing: dict[tuple[str, str], asyncio.Task[None]] = {}
        # key -> (when, epoch, table id) of the last caller whose knowledge a lookup found outdated
        self._outdated_callers: dict[tuple[str, str], tuple[float, int, str]] = {}
        if catalog is not None:
            catalog.subscribe(self._table_changed)

    async def get(self, db: str, table: str, min_epoch: int = 0, table_id: str = "") -> common_pb2.TableRoute:
        """The route; looked up inline when missing, of a deleted table, or behind what the caller knows (an
        epoch above it, or another ``table_id``: one of the two routes is stale and the catalog says which),
        else refreshed in the background once older than the TTL."""
        key = (db, table)
        cached = self._routes.get(key)
        if cached and self._deleted(cached[1]):
            self.invalidate(db, table)
            cached = None
        if cached and self._answers(key, cached[1], min_epoch, table_id):
            if time.monotonic() - cached[0] >= self._ttl:
                self._start_refresh(db, table)
            return cached[1]
        route = await self._fetch(db, table)
        if route.epoch < min_epoch or (table_id and route.table_id != table_id):
            self._outdated_callers[key] = (time.monotonic(), min_epoch, table_id)
        return route

    def _answers(self, key: tuple[str, str], route: common_pb2.TableRoute, min_epoch: int, table_id: str) -> bool:
        """Whether ``route`` serves a caller that knows ``min_epoch`` and ``table_id``: it is as new, or a
        lookup a moment ago already found the caller's knowledge outdated (its route names a table deleted
        since; looking up again on every call would not help)."""
        if route.epoch >= min_epoch and (not table_id or route.table_id == table_id):
            return True
        outdated = self._outdated_callers.get(key)
        return (outdated is not None and time.monotonic() - outdated[0] < FRESH_S and min_epoch <= outdated[1]
                and table_id in ("", outdated[2]))

    def _start_refresh(self, db: str, table: str) -> None:
        key = (db, table)
        if key not in self._refreshing:
            task = asyncio.create_task(self._refresh(db, table))
            self._refreshing[key] = task
            task.add_done_callback(lambda _t: self._refreshing.pop(key, None))

    def _table_changed(self, change: TableChange) -> None:
        if change.kind == "added":  # a new table: a cached route of another table under its name is stale
            if change.info is not None:
                key = (change.info.database_name, change.info.table_name)
                cached = self._routes.get(key)
                if cached is not None and cached[1].table_id != change.table_id:
                    self._routes.pop(key, None)
            return
        for key, (_, route) in list(self._routes.items()):
            if route.table_id != change.table_id:
                continue
            if change.kind == "deleted":
                self._routes.pop(key, None)
            elif _only_columns_grew(change):  # a new column, the common change: taken from the event itself
                self.update_columns(*key, [common_pb2.Column(name=c.name, kind=c.kind, type=c.type)
                                           for c in change.info.columns])  # type: ignore[union-attr]
            else:  # retention, partition key: fetched again at once, the old route served meanwhile
                self._routes[key] = (float("-inf"), route)
                self._start_refresh(*key)

    async def _refresh(self, db: str, table: str) -> None:
        try:
            await self._fetch(db, table)
        except errors.NotFound:
            self.invalidate(db, table)  # dropped: the next write asks again and gets NotFound
        except errors.TesseraError as exc:
            log.debug("route_refresh_failed", database=db, table=table, error=str(exc))

    async def _fetch(self, db: str, table: str) -> common_pb2.TableRoute:
        key = (db, table)
        cached = self._routes.get(key)
        try:
            route = await self._client.resolve(db, table)
        except (errors.Unavailable, errors.DeadlineExceeded):
            cached = self._routes.get(key)  # as it is now: the watch may have dropped it meanwhile
            if cached and not self._deleted(cached[1]):
                return cached[1]
            raise
        latest = self._routes.get(key)  # a concurrent refresh may have stored a newer one of this table
        if latest is not None and latest[1].table_id == route.table_id and latest[1].epoch > route.epoch:
            return latest[1]
        if self._deleted(route):
            raise errors.NotFound(f"the table {db}.{table} was deleted while its route was being read")
        self._routes[key] = (time.monotonic(), route)
        return route

    def _deleted(self, route: common_pb2.TableRoute) -> bool:
        return self._catalog is not None and self._catalog.deleted(route.table_id)

    def invalidate(self, db: str, table: str) -> None:
        """Forget a route (after NotFound or a schema change)."""
        self._routes.pop((db, table), None)

    def update_columns(self, db: str, table: str, columns: list[common_pb2.Column]) -> None:
        """Record newly registered columns in the cached route: a new route object, since writes validating
        in worker threads may be reading the old one."""
        cached = self._routes.get((db, table))
        if cached:
            route = common_pb2.TableRoute()
            route.CopyFrom(cached[1])
            del route.columns[:]
            route.columns.extend(columns)
            self._routes[(db, table)] = (cached[0], route)


def _only_columns_grew(change: TableChange) -> bool:
    """A change that only registered columns (the route's other facts stay as they are)."""
    return (change.info is not None and change.previous is not None
            and replace(change.previous, columns=change.info.columns) == change.info)


class CellView:
    """The nodes of one cell, refreshed in the background; keeps the last good view if discovery is down."""

    def __init__(self, client: DiscoveryClient, cell: str, refresh_s: float = 2.0) -> None:
        self._client = client
        self.cell = cell
        self._refresh = refresh_s
        self.nodes: list[common_pb2.NodeInfo] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Load the view once (waiting for discovery) and keep it fresh."""
        while not self.nodes:
            await self._load()
            if not self.nodes:
                await asyncio.sleep(0.2)
        self._task = asyncio.create_task(self._loop())

    async def _load(self) -> None:
        try:
            cells = await self._client.list_cells(self.cell)
        except errors.TesseraError as exc:
            log.warning("cell_view_refresh_failed", error=str(exc))
            return
        if cells:
            self.nodes = list(cells[0].nodes)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._refresh)
            await self._load()

    def by_role(self, role: str) -> list[common_pb2.NodeInfo]:
        """Member nodes of a role, live or not, sorted by id."""
        return sorted((n for n in self.nodes if n.role == role), key=lambda n: n.node_id)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None


class CellMembership:
    """What a cell's ingest or query node needs from discovery: a client, a live view of its cell, its own
    registration under a lease, and a watch of every table that keeps its route cache honest."""

    def __init__(self, config: NodeConfig, role: str) -> None:
        self.discovery = DiscoveryClient(config.discovery)
        self.cell = CellView(self.discovery, config.cell)
        self.tables = TableCatalog(self.discovery)
        self.routes = RouteCache(self.discovery, catalog=self.tables)
        self._registration = NodeRegistration(self.discovery, config.node_id, config.cell, role, config.zone,
                                              config.lease_ttl_s)

    async def start(self, address: str) -> None:
        """Register at the bound address, then load the cell's view and start watching the tables."""
        await self._registration.start(address)
        await self.cell.start()
        await self.tables.start()

    async def stop(self) -> None:
        """Deregister, stop refreshing the view and the watch, and close the client; safe to call twice."""
        await self._registration.stop()
        await self.cell.stop()
        await self.tables.stop()
        await self.discovery.close()
