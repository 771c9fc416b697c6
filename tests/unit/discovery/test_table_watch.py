"""WatchTables and DescribeTableById over the in-memory store: the snapshot, one event per change, a new
snapshot after a lost etcd watch, heartbeats, and errors mapped like every other discovery call."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine
from typing import Any

import grpc
import pytest

from services.discovery import catalog as catalog_module
from services.discovery.catalog import Catalog
from services.discovery.client import DiscoveryClient
from services.discovery.kv import MemoryStore
from services.discovery.registry import Registry
from services.discovery.server import DiscoveryServicer
from tessera import errors
from tessera.runtime import GRPC_OPTIONS
from tessera.v1 import catalog_pb2, catalog_pb2_grpc, common_pb2

Kind = catalog_pb2.TableEvent.Kind


async def _catalog() -> tuple[Catalog, MemoryStore]:
    store = MemoryStore()
    registry = Registry(store)
    for role, count in (("storage", 3), ("ingest", 1), ("query", 1)):
        for i in range(count):
            await registry.register(common_pb2.NodeInfo(
                node_id=f"c1-{role}-{i}", cell="c1", role=role, zone="abc"[i], address=f"h:{i}"), 10)
    catalog = Catalog(store, registry)
    await catalog.create_database("dbx", "")
    return catalog, store


async def _table(catalog: Catalog, name: str, hours: int = 6) -> str:
    req = catalog_pb2.CreateTableRequest(database_name="dbx", table_name=name,
                                         retention_properties=catalog_pb2.RetentionProperties(
                                             memory_store_retention_period_in_hours=hours,
                                             magnetic_store_retention_period_in_days=30))
    return (await catalog.create_table(req)).table_id


async def _next(events: AsyncIterator[catalog_pb2.TableEvent], count: int) -> list[catalog_pb2.TableEvent]:
    return [await asyncio.wait_for(anext(events), 2) for _ in range(count)]


def _run(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(body())


def test_a_watch_starts_with_every_table_its_columns_and_retention_then_marks_the_snapshot_complete() -> None:
    async def body() -> None:
        catalog, store = await _catalog()
        t1 = await _table(catalog, "one", hours=12)
        t2 = await _table(catalog, "two")
        await catalog.register_columns(t1, [common_pb2.Column(name="host", kind="DIMENSION", type="VARCHAR"),
                                            common_pb2.Column(name="cpu", kind="MEASURE", type="DOUBLE")])
        async with contextlib.aclosing(catalog.watch_tables()) as events:
            begin, *tables, end = await _next(events, 4)
        assert begin.kind == Kind.SNAPSHOT_BEGIN and end.kind == Kind.SNAPSHOT_END
        assert begin.revision == end.revision == store.revision
        assert [e.kind for e in tables] == [Kind.SNAPSHOT_TABLE, Kind.SNAPSHOT_TABLE]
        by_id = {e.table_id: e for e in tables}
        one = by_id[t1].table
        assert (one.database_name, one.table_name) == ("dbx", "one")
        assert one.retention_properties.memory_store_retention_period_in_hours == 12
        assert one.retention_properties.magnetic_store_retention_period_in_days == 30
        # By schema key: a single-measure name's is measure_name::<name>.
        assert [(c.name, c.kind, c.type) for c in one.columns] == [("host", "DIMENSION", "VARCHAR"),
                                                                    ("cpu", "MEASURE", "DOUBLE")]
        assert by_id[t2].table.columns == [] and by_id[t1].revision > by_id[t2].revision

    _run(body)


def test_each_create_update_new_column_and_delete_becomes_one_event_with_a_growing_revision() -> None:
    async def body() -> None:
        catalog, _ = await _catalog()
        async with contextlib.aclosing(catalog.watch_tables()) as events:
            await _next(events, 2)  # an empty snapshot
            table_id = await _table(catalog, "tab")
            created, = await _next(events, 1)
            await catalog.update_table(catalog_pb2.UpdateTableRequest(
                database_name="dbx", table_name="tab", retention_properties=catalog_pb2.RetentionProperties(
                    memory_store_retention_period_in_hours=48, magnetic_store_retention_period_in_days=7),
                magnetic_store_write_properties=catalog_pb2.MagneticStoreWriteProperties(
                    enable_magnetic_store_writes=True)))
            updated, = await _next(events, 1)
            await catalog.register_columns(table_id,
                                           [common_pb2.Column(name="m", kind="MULTI", type="BIGINT")])
            column, = await _next(events, 1)
            await catalog.delete_table("dbx", "tab")
            deleted, = await _next(events, 1)
            with pytest.raises(TimeoutError):  # the columns deleted with the table make no further event
                await asyncio.wait_for(anext(events), 0.2)
        assert [e.kind for e in (created, updated, column, deleted)] == [
            Kind.CREATED, Kind.UPDATED, Kind.UPDATED, Kind.DELETED]
        assert {e.table_id for e in (created, updated, column, deleted)} == {table_id}
        assert updated.table.retention_properties.memory_store_retention_period_in_hours == 48
        assert updated.table.magnetic_store_write_properties.enable_magnetic_store_writes
        assert [c.name for c in column.table.columns] == ["m"]
        assert created.revision < updated.revision < column.revision < deleted.revision
        assert not deleted.HasField("table")

    _run(body)


def test_a_lost_etcd_watch_sends_a_new_snapshot_so_a_deletion_meanwhile_is_not_missed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog_module, "WATCH_RESYNC_DELAY_S", 0.0)

    async def body() -> None:
        catalog, store = await _catalog()
        kept = await _table(catalog, "kept")
        await _table(catalog, "gone")
        async with contextlib.aclosing(catalog.watch_tables()) as events:
            assert len(await _next(events, 4)) == 4
            pending = asyncio.ensure_future(anext(events))
            await asyncio.sleep(0.05)  # the etcd watch is open now
            store.lose_watches()
            await catalog.delete_table("dbx", "gone")  # no watch sees this
            begin = await asyncio.wait_for(pending, 2)
            table, end = await _next(events, 2)
        assert [e.kind for e in (begin, table, end)] == [Kind.SNAPSHOT_BEGIN, Kind.SNAPSHOT_TABLE,
                                                          Kind.SNAPSHOT_END]
        assert table.table_id == kept and end.revision == store.revision

    _run(body)


def test_a_watch_whose_start_was_compacted_away_sends_a_new_snapshot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog_module, "WATCH_RESYNC_DELAY_S", 0.0)

    async def body() -> None:
        catalog, store = await _catalog()
        gone = await _table(catalog, "gone")
        async with contextlib.aclosing(catalog.watch_tables()) as events:
            assert [e.table_id for e in await _next(events, 3)] == ["", gone, ""]
            await catalog.delete_table("dbx", "gone")
            store.lose_watches()  # the deletion is compacted before the watch starts from it
            kinds = [e.kind for e in await _next(events, 2)]
        assert kinds == [Kind.SNAPSHOT_BEGIN, Kind.SNAPSHOT_END]

    _run(body)


def test_describe_table_by_id_finds_the_table_and_answers_not_found_once_it_is_deleted() -> None:
    async def body() -> None:
        catalog, store = await _catalog()
        table_id = await _table(catalog, "tab", hours=3)
        await _table(catalog, "other")
        table, revision = await catalog.table_by_id(table_id)
        assert (table.table_name, table.table_id, revision) == ("tab", table_id, store.revision)
        assert table.retention_properties.memory_store_retention_period_in_hours == 3
        await catalog.delete_table("dbx", "tab")
        with pytest.raises(errors.NotFound, match=f"table id {table_id}"):
            await catalog.table_by_id(table_id)
        with pytest.raises(errors.ValidationError, match="TableId is required"):
            await catalog.table_by_id("")

    _run(body)


@contextlib.asynccontextmanager
async def _serving(catalog: Catalog, registry: Registry) -> AsyncGenerator[DiscoveryClient, None]:
    server = grpc.aio.server(options=GRPC_OPTIONS)
    catalog_pb2_grpc.add_DiscoveryServicer_to_server(DiscoveryServicer(catalog, registry), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    client = DiscoveryClient(f"127.0.0.1:{port}", timeout_s=2)
    try:
        yield client
    finally:
        await client.close()
        await server.stop(None)


def test_an_idle_stream_gets_heartbeats_and_still_every_change_over_grpc() -> None:
    async def body() -> None:
        catalog, store = await _catalog()
        async with _serving(catalog, Registry(store)) as client, \
                contextlib.aclosing(client.watch_tables(heartbeat_s=0.1)) as events:
            assert [e.kind for e in await _next(events, 2)] == [Kind.SNAPSHOT_BEGIN, Kind.SNAPSHOT_END]
            assert [e.kind for e in await _next(events, 2)] == [Kind.HEARTBEAT, Kind.HEARTBEAT]
            table_id = await _table(catalog, "tab")
            kinds = []
            while Kind.CREATED not in kinds:
                event, = await _next(events, 1)
                kinds.append(event.kind)
            assert event.table_id == table_id and set(kinds) <= {Kind.HEARTBEAT, Kind.CREATED}

    _run(body)


def test_discovery_errors_reach_the_client_as_typed_errors() -> None:
    async def body() -> None:
        catalog, store = await _catalog()
        async with _serving(catalog, Registry(store)) as client:
            with pytest.raises(errors.NotFound, match="table id nope"):
                await client.describe_table_by_id("nope")
            with pytest.raises(errors.ValidationError, match="heartbeat_ms 50 is out of range: 100..60000"):
                async with contextlib.aclosing(client.watch_tables(heartbeat_s=0.05)) as events:
                    await anext(events)
            table_id = await _table(catalog, "tab")
            table, revision = await client.describe_table_by_id(table_id)
            assert table.table_name == "tab" and revision == store.revision

    _run(body)
