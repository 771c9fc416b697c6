"""TableCatalog against a fake discovery served by a real grpc.aio server on port 0: the snapshot, changes,
deletion (only when the catalog says so), reconnection after a restart, and the cache kept through outages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest

from services.discovery.client import DiscoveryClient
from services.discovery.tables import ColumnInfo, TableCatalog, TableCatalogConfig, TableChange, TableInfo
from tessera import errors
from tessera.runtime import GRPC_OPTIONS, rpc, stream_rpc
from tessera.v1 import catalog_pb2, catalog_pb2_grpc, common_pb2

Kind = catalog_pb2.TableEvent.Kind
FAST = TableCatalogConfig(heartbeat_s=0.2, reconnect_initial_s=0.05, reconnect_max_s=0.2)


def _table(table_id: str, hours: int = 6, days: int = 30, columns: tuple[tuple[str, str, str], ...] = (),
           magnetic: bool = False) -> catalog_pb2.Table:
    return catalog_pb2.Table(
        table_id=table_id, database_name="db1", table_name=f"tab_{table_id}",
        retention_properties=catalog_pb2.RetentionProperties(memory_store_retention_period_in_hours=hours,
                                                             magnetic_store_retention_period_in_days=days),
        magnetic_store_write_properties=catalog_pb2.MagneticStoreWriteProperties(
            enable_magnetic_store_writes=magnetic),
        columns=[common_pb2.Column(name=n, kind=k, type=t) for n, k, t in columns])


class FakeDiscovery(catalog_pb2_grpc.DiscoveryServicer):
    """WatchTables and DescribeTableById over a dict of tables; can cut snapshots short or fall silent."""

    def __init__(self) -> None:
        self.tables: dict[str, tuple[catalog_pb2.Table, int]] = {}
        self.revision = 100
        self.streams_opened = 0
        self.describe_calls = 0
        self.describe_delay_s = 0.0
        self.cut_snapshot_after: int | None = None  # abort a snapshot after this many tables
        self.silent = False  # after the snapshot, send nothing at all (not even heartbeats)
        self._streams: list[asyncio.Queue[catalog_pb2.TableEvent | None]] = []

    def put(self, table: catalog_pb2.Table, announce: bool = True) -> int:
        """Create or replace a table; announce it on open streams unless told not to."""
        self.revision += 1
        kind = Kind.UPDATED if table.table_id in self.tables else Kind.CREATED
        self.tables[table.table_id] = (table, self.revision)
        if announce:
            self.send(catalog_pb2.TableEvent(kind=kind, table_id=table.table_id, table=table,
                                             revision=self.revision))
        return self.revision

    def delete(self, table_id: str, announce: bool = True) -> None:
        self.revision += 1
        del self.tables[table_id]
        if announce:
            self.send(catalog_pb2.TableEvent(kind=Kind.DELETED, table_id=table_id, revision=self.revision))

    def send(self, event: catalog_pb2.TableEvent | None) -> None:
        """Put an event on every open stream (None: abort the streams with UNAVAILABLE)."""
        for queue in self._streams:
            queue.put_nowait(event)

    @stream_rpc
    async def WatchTables(self, request: catalog_pb2.WatchTablesRequest, context: grpc.aio.ServicerContext
                          ) -> AsyncIterator[catalog_pb2.TableEvent]:
        self.streams_opened += 1
        queue: asyncio.Queue[catalog_pb2.TableEvent | None] = asyncio.Queue()
        self._streams.append(queue)
        try:
            yield catalog_pb2.TableEvent(kind=Kind.SNAPSHOT_BEGIN, revision=self.revision)
            for i, (table, revision) in enumerate(list(self.tables.values())):
                if i == self.cut_snapshot_after:
                    raise errors.Unavailable("snapshot cut short")
                yield catalog_pb2.TableEvent(kind=Kind.SNAPSHOT_TABLE, table_id=table.table_id, table=table,
                                             revision=revision)
            yield catalog_pb2.TableEvent(kind=Kind.SNAPSHOT_END, revision=self.revision)
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), request.heartbeat_ms / 1000)
                except TimeoutError:
                    if not self.silent:
                        yield catalog_pb2.TableEvent(kind=Kind.HEARTBEAT)
                    continue
                if event is None:
                    raise errors.Unavailable("stream broken by the test")
                yield event
        finally:
            self._streams.remove(queue)

    @rpc
    async def DescribeTableById(self, request: catalog_pb2.DescribeTableByIdRequest,
                                context: grpc.aio.ServicerContext) -> catalog_pb2.DescribeTableByIdResponse:
        self.describe_calls += 1
        await asyncio.sleep(self.describe_delay_s)
        if request.table_id not in self.tables:
            raise errors.NotFound(f"no table has id {request.table_id}: it was deleted")
        table, revision = self.tables[request.table_id]
        return catalog_pb2.DescribeTableByIdResponse(table=table, revision=revision)


class Harness:
    """A fake discovery on a fixed loopback port that can be stopped and started again."""

    def __init__(self, fake: FakeDiscovery) -> None:
        self.fake = fake
        self.port = 0
        self._server: grpc.aio.Server | None = None

    async def start(self) -> None:
        server = grpc.aio.server(options=GRPC_OPTIONS)
        catalog_pb2_grpc.add_DiscoveryServicer_to_server(self.fake, server)
        self.port = server.add_insecure_port(f"127.0.0.1:{self.port}")
        assert self.port, "cannot bind the fake discovery's port"
        await server.start()
        self._server = server

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(None)
            self._server = None


Scenario = Callable[[Harness, TableCatalog], Awaitable[None]]


def _run(scenario: Scenario, fake: FakeDiscovery | None = None, config: TableCatalogConfig = FAST) -> None:
    async def body() -> None:
        harness = Harness(fake or FakeDiscovery())
        await harness.start()
        client = DiscoveryClient(f"127.0.0.1:{harness.port}", timeout_s=1)
        tables = TableCatalog(client, config)
        await tables.start()
        try:
            await scenario(harness, tables)
        finally:
            await tables.stop()
            await client.close()
            await harness.stop()

    asyncio.run(body())


async def _until(predicate: Callable[[], bool], timeout_s: float = 3.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.01)


def _with_tables(*tables: catalog_pb2.Table) -> FakeDiscovery:
    fake = FakeDiscovery()
    for t in tables:
        fake.put(t)
    return fake


def test_the_first_snapshot_fills_the_cache_with_each_tables_schema_and_retention() -> None:
    async def scenario(h: Harness, tables: TableCatalog) -> None:
        assert await tables.wait_synced(3)
        info = tables.get("t1")
        assert info == TableInfo("t1", "db1", "tab_t1", (ColumnInfo("host", "DIMENSION", "VARCHAR"),),
                                 memory_retention_hours=12, magnetic_retention_days=30, magnetic_writes=True)
        assert info.revision == h.fake.tables["t1"][1]
        assert [t.table_id for t in sorted(tables.tables(), key=lambda t: t.table_id)] == ["t1", "t2"]
        assert tables.get("t3") is None and not tables.deleted("t3")

    first = _table("t1", hours=12, columns=(("host", "DIMENSION", "VARCHAR"),), magnetic=True)
    _run(scenario, _with_tables(first, _table("t2")))


def test_a_retention_change_a_new_column_and_a_deletion_reach_the_cache_and_subscribers() -> None:
    async def scenario(h: Harness, tables: TableCatalog) -> None:
        changes: list[TableChange] = []
        tables.subscribe(changes.append)
        assert await tables.wait_synced(3)
        h.fake.put(_table("t1", hours=48, days=7))
        await _until(lambda: getattr(tables.get("t1"), "memory_retention_hours", 0) == 48)
        h.fake.put(_table("t1", hours=48, days=7, columns=(("cpu", "MEASURE", "DOUBLE"),)))
        await _until(lambda: len(changes) == 3)
        h.fake.delete("t1")
        await _until(lambda: tables.deleted("t1"))
        info = tables.get("t1")
        assert info is not None and info.deleted and info.magnetic_retention_days == 7
        assert tables.tables() == []
        assert [c.kind for c in changes] == ["added", "changed", "changed", "deleted"]
        assert changes[2].info is not None and changes[2].info.measure_columns() == ("measure_value::double",)
        assert changes[3].previous is not None and not changes[3].previous.deleted

    _run(scenario, _with_tables(_table("t1")))


def test_after_discovery_restarts_the_fresh_snapshot_applies_changes_and_deletions_it_missed() -> None:
    async def scenario(h: Harness, tables: TableCatalog) -> None:
        assert await tables.wait_synced(3)
        await h.stop()
        h.fake.delete("gone", announce=False)
        h.fake.put(_table("kept", hours=24), announce=False)
        h.fake.put(_table("new"), announce=False)
        await asyncio.sleep(0.3)  # a few failed reconnection attempts
        await h.start()
        await _until(lambda: tables.deleted("gone") and tables.get("new") is not None)
        kept = tables.get("kept")
        assert kept is not None and kept.memory_retention_hours == 24 and not kept.deleted
        assert h.fake.streams_opened == 2

    _run(scenario, _with_tables(_table("kept"), _table("gone")))


def test_a_snapshot_cut_short_deletes_nothing_and_a_complete_one_does() -> None:
    async def scenario(h: Harness, tables: TableCatalog) -> None:
        assert await tables.wait_synced(3)
        h.fake.delete("t2", announce=False)
        h.fake.cut_snapshot_after = 0
        h.fake.send(None)  # break the stream: every new one now ends before its snapshot does
        await _until(lambda: h.fake.streams_opened >= 4)
        assert not tables.deleted("t2") and not tables.deleted("t1")
        h.fake.cut_snapshot_after = None
        await _until(lambda: tables.deleted("t2"))
        assert not tables.deleted("t1")

    _run(scenario, _with_tables(_table("t1"), _table("t2")))


def test_a_snapshot_from_an_etcd_whose_revision_went_backwards_deletes_nothing() -> None:
    async def scenario(h: Harness, tables: TableCatalog) -> None:
        assert await tables.wait_synced(3)
        await h.stop()
        h.fake.tables.clear()  # discovery now points at an empty (or restored) etcd
        h.fake.revision = 3
        await h.start()
        await _until(lambda: h.fake.streams_opened >= 2)
        await asyncio.sleep(0.3)
        assert not tables.deleted("t1") and tables.get("t1") is not None

    _run(scenario, _with_tables(_table("t1")))


def test_the_cache_is_kept_and_nothing_is_deleted_while_discovery_is_down() -> None:
    async def scenario(h: Harness, tables: TableCatalog) -> None:
        assert await tables.wait_synced(3)
        await h.stop()
        await asyncio.sleep(0.5)
        info = tables.get("t1")
        assert info is not None and info.memory_retention_hours == 6 and not tables.deleted("t1")
        with pytest.raises(errors.Unavailable):
            await tables.fetch("t1")
        with pytest.raises(errors.Unavailable):
            await tables.fetch("unknown")
        assert not tables.deleted("t1") and not tables.deleted("unknown")
        assert tables.tables() == [info]

    _run(scenario, _with_tables(_table("t1")))


def test_fetch_brings_a_table_the_watch_has_not_sent_yet_in_one_call_for_concurrent_callers() -> None:
    async def scenario(h: Harness, tables: TableCatalog) -> None:
        assert await tables.wait_synced(3)
        h.fake.put(_table("fresh", hours=2), announce=False)
        h.fake.describe_delay_s = 0.1
        first, second = await asyncio.gather(tables.fetch("fresh"), tables.fetch("fresh"))
        assert first is not None and first == second and first.memory_retention_hours == 2
        assert tables.get("fresh") == first and h.fake.describe_calls == 1

    _run(scenario)


def test_fetch_of_an_id_the_catalog_does_not_have_records_it_as_deleted() -> None:
    async def scenario(h: Harness, tables: TableCatalog) -> None:
        changes: list[TableChange] = []
        tables.subscribe(changes.append)
        assert await tables.fetch("gone") is None
        assert tables.deleted("gone") and tables.get("gone") is None
        assert await tables.fetch("gone") is None and h.fake.describe_calls == 1
        assert changes == [TableChange("deleted", "gone", None, None)]

    _run(scenario)


def test_an_older_state_never_replaces_a_newer_one_and_a_deleted_table_never_returns() -> None:
    async def scenario(h: Harness, tables: TableCatalog) -> None:
        assert await tables.wait_synced(3)
        newer = h.fake.put(_table("t1", hours=10), announce=False)
        assert (await tables.fetch("t1")) is not None
        h.fake.send(catalog_pb2.TableEvent(kind=Kind.UPDATED, table_id="t1", table=_table("t1", hours=3),
                                           revision=newer - 1))
        h.fake.delete("t1")
        await _until(lambda: tables.deleted("t1"))
        h.fake.send(catalog_pb2.TableEvent(kind=Kind.CREATED, table_id="t1", table=_table("t1"),
                                           revision=10**6))
        h.fake.send(None)  # and a reconnect whose snapshot still had it
        h.fake.tables["t1"] = (_table("t1"), 10**6)
        await _until(lambda: h.fake.streams_opened >= 2)
        await asyncio.sleep(0.1)
        info = tables.get("t1")
        assert info is not None and info.deleted and info.memory_retention_hours == 10

    _run(scenario, _with_tables(_table("t1")))


def test_a_stream_silent_for_three_heartbeats_is_replaced() -> None:
    async def scenario(h: Harness, tables: TableCatalog) -> None:
        assert await tables.wait_synced(3)
        await _until(lambda: h.fake.streams_opened >= 2, timeout_s=2)

    fake = _with_tables(_table("t1"))
    fake.silent = True
    _run(scenario, fake, TableCatalogConfig(heartbeat_s=0.1, reconnect_initial_s=0.05, reconnect_max_s=0.1))


def test_a_failing_subscriber_does_not_stop_the_others_or_the_watch() -> None:
    async def scenario(h: Harness, tables: TableCatalog) -> None:
        seen: list[str] = []

        def broken(change: TableChange) -> None:
            raise RuntimeError("subscriber bug")

        tables.subscribe(broken)
        unsubscribe = tables.subscribe(lambda c: seen.append(c.table_id))
        assert await tables.wait_synced(3)
        h.fake.put(_table("t2"))
        await _until(lambda: seen == ["t1", "t2"])
        unsubscribe()
        unsubscribe()
        h.fake.put(_table("t3"))
        await _until(lambda: tables.get("t3") is not None)
        assert seen == ["t1", "t2"]

    _run(scenario, _with_tables(_table("t1")))


def test_stop_is_safe_twice_and_leaves_the_cache_readable() -> None:
    async def scenario(h: Harness, tables: TableCatalog) -> None:
        assert await tables.wait_synced(3)
        await tables.stop()
        await tables.stop()
        assert tables.get("t1") is not None and tables.synced

    _run(scenario, _with_tables(_table("t1")))


def test_table_info_names_stored_columns_as_the_layout_does_and_retention_in_nanoseconds() -> None:
    info = TableInfo.from_proto(_table("t1", hours=2, days=3, columns=(
        ("host", "DIMENSION", "VARCHAR"), ("cpu", "MEASURE", "DOUBLE"), ("mem", "MEASURE", "DOUBLE"),
        ("up", "MEASURE", "BOOLEAN"), ("load", "MULTI", "BIGINT"), ("region", "DIMENSION", "VARCHAR"))), 7)
    assert info.dimension_columns() == ("host", "region")
    assert info.measure_columns() == ("measure_value::double", "measure_value::boolean", "load")
    assert dict(info.stored_columns())["load"] == "BIGINT"
    assert info.memory_retention_ns == 2 * 3600 * 10**9
    assert info.magnetic_retention_ns == 3 * 86400 * 10**9
    assert info.revision == 7 and info == TableInfo.from_proto(_table("t1", hours=2, days=3, columns=(
        ("host", "DIMENSION", "VARCHAR"), ("cpu", "MEASURE", "DOUBLE"), ("mem", "MEASURE", "DOUBLE"),
        ("up", "MEASURE", "BOOLEAN"), ("load", "MULTI", "BIGINT"), ("region", "DIMENSION", "VARCHAR"))), 8)


def test_an_invalid_config_names_the_setting() -> None:
    with pytest.raises(errors.ValidationError, match="heartbeat_s is 0.01"):
        TableCatalogConfig(heartbeat_s=0.01).validate()
    with pytest.raises(errors.ValidationError, match="reconnect_initial_s"):
        TableCatalogConfig(reconnect_initial_s=10, reconnect_max_s=1).validate()

