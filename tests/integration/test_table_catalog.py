"""A storage node's TableCatalog against the real discovery and etcd: it follows creation, a retention change
(within 3 s), new columns after a write, and deletion, whether it was watching at the time or not."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from services.discovery.client import DiscoveryClient
from services.discovery.tables import TableCatalog, TableCatalogConfig, TableInfo
from tessera.client import Client
from tessera.cluster import LocalCluster

CONFIG = TableCatalogConfig(heartbeat_s=1.0, reconnect_initial_s=0.1, reconnect_max_s=1.0)


async def _until(what: str, predicate: Callable[[], bool], timeout_s: float = 3.0) -> float:
    """Seconds until ``predicate`` held; fails naming ``what`` after ``timeout_s``."""
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout_s, f"{what} not seen within {timeout_s} s"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


def _with_catalog(cluster: LocalCluster, scenario: Callable[[TableCatalog], Awaitable[None]]) -> None:
    async def body() -> None:
        discovery = DiscoveryClient(cluster.discovery_address)
        tables = TableCatalog(discovery, CONFIG)
        await tables.start()
        try:
            assert await tables.wait_synced(10), "no snapshot from discovery within 10 s"
            await scenario(tables)
        finally:
            await tables.stop()
            await discovery.close()

    asyncio.run(body())


def _info(tables: TableCatalog, table_id: str) -> TableInfo:
    info = tables.get(table_id)
    assert info is not None, f"table {table_id} is not cached"
    return info


def test_a_table_catalog_follows_create_retention_change_new_columns_and_delete(
        cluster: LocalCluster, client: Client, database: str) -> None:
    async def scenario(tables: TableCatalog) -> None:
        created = await asyncio.to_thread(client.create_table, database, "followed", 6, 30)
        table_id = created.table_id
        await _until("the new table", lambda: tables.get(table_id) is not None)
        info = _info(tables, table_id)
        assert (info.database_name, info.table_name, info.columns) == (database, "followed", ())
        assert (info.memory_retention_hours, info.magnetic_retention_days) == (6, 30)
        assert not info.magnetic_writes and not info.deleted

        await asyncio.to_thread(client.update_table, database, "followed", memory_retention_hours=12,
                                magnetic_retention_days=40, magnetic_writes=True)
        await _until("the retention change", lambda: _info(tables, table_id).memory_retention_hours == 12)
        info = _info(tables, table_id)
        assert (info.magnetic_retention_days, info.magnetic_writes) == (40, True)
        assert info.memory_retention_ns == 12 * 3600 * 10**9

        now_ms = int(time.time() * 1000)
        await asyncio.to_thread(client.write_records, database, "followed", [
            {"Dimensions": [{"Name": "host", "Value": "h1"}], "MeasureName": "cpu", "MeasureValue": "0.5",
             "MeasureValueType": "DOUBLE", "Time": str(now_ms)},
            {"Dimensions": [{"Name": "host", "Value": "h1"}], "MeasureName": "metrics",
             "MeasureValueType": "MULTI", "Time": str(now_ms),
             "MeasureValues": [{"Name": "load", "Value": "3", "Type": "BIGINT"}]}])
        await _until("the new columns", lambda: len(_info(tables, table_id).columns) == 3)
        info = _info(tables, table_id)
        assert info.dimension_columns() == ("host",)
        assert sorted(info.measure_columns()) == ["load", "measure_value::double"]

        await asyncio.to_thread(client.delete_table, database, "followed")
        await _until("the deletion", lambda: tables.deleted(table_id))
        info = _info(tables, table_id)
        assert info.deleted and info.memory_retention_hours == 12
        assert table_id not in {t.table_id for t in tables.tables()}

    _with_catalog(cluster, scenario)


def test_a_retention_change_reaches_a_watching_node_within_three_seconds(
        cluster: LocalCluster, client: Client, database: str) -> None:
    async def scenario(tables: TableCatalog) -> None:
        table_id = (await asyncio.to_thread(client.create_table, database, "timed")).table_id
        await _until("the new table", lambda: tables.get(table_id) is not None)
        for hours in (7, 8, 9):
            started = time.monotonic()
            await asyncio.to_thread(client.update_table, database, "timed", memory_retention_hours=hours)

            def applied(hours: int = hours) -> bool:
                return _info(tables, table_id).memory_retention_hours == hours

            await _until(f"retention {hours} h", applied, timeout_s=3.0 - (time.monotonic() - started))

    _with_catalog(cluster, scenario)


def test_a_table_deleted_while_the_node_was_not_watching_is_deleted_by_the_next_snapshot(
        cluster: LocalCluster, client: Client, database: str) -> None:
    async def scenario(tables: TableCatalog) -> None:
        table_id = (await asyncio.to_thread(client.create_table, database, "missed")).table_id
        kept_id = (await asyncio.to_thread(client.create_table, database, "kept")).table_id
        await _until("both tables", lambda: None not in (tables.get(table_id), tables.get(kept_id)))
        await tables.stop()  # the node stops following; its cache stays
        await asyncio.to_thread(client.delete_table, database, "missed")
        assert not tables.deleted(table_id)
        await tables.start()
        await _until("the deletion", lambda: tables.deleted(table_id))
        assert not tables.deleted(kept_id)

    _with_catalog(cluster, scenario)


def test_fetch_finds_a_table_by_id_and_reports_a_deleted_one(
        cluster: LocalCluster, client: Client, database: str) -> None:
    async def body() -> None:
        discovery = DiscoveryClient(cluster.discovery_address)
        tables = TableCatalog(discovery, CONFIG)  # not started: fetch alone, as for a write before the watch
        try:
            table_id = (await asyncio.to_thread(client.create_table, database, "fetched", 3, 5)).table_id
            info = await tables.fetch(table_id)
            assert info is not None and (info.table_name, info.memory_retention_hours) == ("fetched", 3)
            await asyncio.to_thread(client.delete_table, database, "fetched")
            gone = await tables.fetch(table_id)  # the catalog answers NotFound: deleted, for good
            assert gone is not None and gone.deleted and tables.deleted(table_id)
            unknown = "0123456789abcdef"
            assert await tables.fetch(unknown) is None and tables.deleted(unknown)
        finally:
            await tables.stop()
            await discovery.close()

    asyncio.run(body())
