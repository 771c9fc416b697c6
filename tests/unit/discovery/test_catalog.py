"""Catalog, registry and routing map over the in-memory store (no etcd, no network)."""

from __future__ import annotations

import asyncio

import pytest

from services.discovery import keys, routing_map
from services.discovery.catalog import Catalog
from services.discovery.kv import MemoryStore
from services.discovery.registry import Registry
from tessera import errors
from tessera.layout import HASH_SPACE
from tessera.v1 import catalog_pb2, common_pb2


def _catalog_with_cells(*cells: str) -> tuple[Catalog, Registry]:
    store = MemoryStore()
    registry = Registry(store)
    catalog = Catalog(store, registry)

    async def register() -> None:
        for cell in cells:
            for role, count in (("storage", 3), ("ingest", 1), ("query", 1)):
                for i in range(count):
                    await registry.register(common_pb2.NodeInfo(
                        node_id=f"{cell}-{role}-{i}", cell=cell, role=role, zone="abc"[i], address=f"h:{i}"), 10)

    asyncio.run(register())
    return catalog, registry


def test_tables_are_spread_over_cells_by_fewest_tables() -> None:
    catalog, _ = _catalog_with_cells("c1", "c2")

    async def run() -> list[str]:
        await catalog.create_database("dbx", "")
        owners = []
        for i in range(4):
            t = await catalog.create_table(catalog_pb2.CreateTableRequest(database_name="dbx", table_name=f"tab{i}"))
            route = await catalog.resolve("dbx", t.table_name)
            owners.append(route.ranges[0].cell)
        return owners

    assert sorted(asyncio.run(run())) == ["c1", "c1", "c2", "c2"]


def test_creating_a_table_with_no_ready_cell_is_unavailable_and_stores_nothing() -> None:
    catalog, _ = _catalog_with_cells()

    async def run() -> None:
        await catalog.create_database("dbx", "")
        with pytest.raises(errors.Unavailable, match="no cell is ready"):
            await catalog.create_table(catalog_pb2.CreateTableRequest(database_name="dbx", table_name="tab"))
        assert (await catalog.list_tables("dbx", 0, ""))[0] == []

    asyncio.run(run())


def test_columns_are_first_writer_wins() -> None:
    catalog, _ = _catalog_with_cells("c1")

    async def run() -> list[common_pb2.Column]:
        await catalog.create_database("dbx", "")
        t = await catalog.create_table(catalog_pb2.CreateTableRequest(database_name="dbx", table_name="tab"))
        await catalog.register_columns(t.table_id, [common_pb2.Column(name="temp", kind="MEASURE", type="DOUBLE")])
        return await catalog.register_columns(t.table_id, [
            common_pb2.Column(name="temp", kind="MEASURE", type="BIGINT"),
            common_pb2.Column(name="host", kind="DIMENSION", type="VARCHAR")])

    cols = {c.name: c.type for c in asyncio.run(run())}
    assert cols == {"temp": "DOUBLE", "host": "VARCHAR"}


def test_splitting_a_table_bumps_the_epoch_and_keeps_former_owners_as_readers() -> None:
    doc = routing_map.initial("c1")
    new = routing_map.split_evenly(doc, ["c1", "c2"])
    assert new["epoch"] == 2
    assert [(r["lo"], r["hi"], r["cell"]) for r in new["ranges"]] == [(0, HASH_SPACE // 2, "c1"),
                                                                      (HASH_SPACE // 2, 0, "c2")]
    assert new["ranges"][1]["readers"] == ["c2", "c1"]  # c1 may still hold rows of that half
    again = routing_map.split_evenly(new, ["c2"])
    assert again["ranges"][0]["readers"] == ["c2", "c1"]


def test_list_pages_hold_at_most_max_results_and_reject_bad_limits() -> None:
    catalog, _ = _catalog_with_cells("c1")

    async def run() -> None:
        for i in range(5):
            await catalog.create_database(f"db{i}", "")
        page, token = await catalog.list_databases(2, "")
        assert [d.database_name for d in page] == ["db0", "db1"] and token
        page, token = await catalog.list_databases(2, token)
        assert [d.database_name for d in page] == ["db2", "db3"]
        with pytest.raises(errors.ValidationError, match="MaxResults 21 is out of range: 1..20"):
            await catalog.list_databases(21, "")
        with pytest.raises(errors.ValidationError, match="NextToken is invalid"):
            await catalog.list_databases(2, "%%%")

    asyncio.run(run())


def test_an_expired_lease_is_replaced_on_keep_alive_and_liveness_is_reported() -> None:
    _, registry = _catalog_with_cells("c1")

    async def run() -> None:
        node = common_pb2.NodeInfo(node_id="x", cell="c1", role="ingest", zone="a", address="h:1")
        lease = await registry.register(node, 10)
        await registry.deregister(lease)
        cells = await registry.cells("c1")
        assert not next(n for n in cells[0].nodes if n.node_id == "x").live
        new = await registry.keep_alive(lease, node, 10)
        assert new != lease
        cells = await registry.cells("c1")
        assert next(n for n in cells[0].nodes if n.node_id == "x").live

    asyncio.run(run())


def test_a_table_created_over_several_cells_has_no_former_owners_as_readers() -> None:
    doc = routing_map.spread(["c1", "c2"])
    assert doc["epoch"] == 1
    assert [(r["cell"], r["readers"]) for r in doc["ranges"]] == [("c1", ["c1"]), ("c2", ["c2"])]


def test_creating_a_table_over_unknown_cells_is_rejected_and_stores_nothing() -> None:
    catalog, _ = _catalog_with_cells("c1")

    async def run() -> None:
        await catalog.create_database("dbx", "")
        with pytest.raises(errors.ValidationError, match="not ready cells"):
            await catalog.create_table(catalog_pb2.CreateTableRequest(database_name="dbx", table_name="tab",
                                                                      cells=["c1", "nope"]))
        assert (await catalog.list_tables("dbx", 0, ""))[0] == []

    asyncio.run(run())


def test_schema_entries_of_single_measure_names_under_bare_keys_move_to_their_namespace() -> None:
    """etcd written before single-measure names had a namespace of their own keeps them under their bare
    name, where a multi-measure attribute of that name now goes: discovery moves them at start."""
    catalog, _ = _catalog_with_cells("c1")
    store = catalog._store  # the test seeds entries as an older version wrote them

    async def run() -> tuple[int, int, list[tuple[str, str, str]], list[str]]:
        await catalog.create_database("dbm", "")
        table = await catalog.create_table(catalog_pb2.CreateTableRequest(database_name="dbm", table_name="tab"))
        tid = table.table_id
        await store.put(keys.column(tid, "cpu"), b'{"name": "cpu", "kind": "MEASURE", "type": "DOUBLE"}')
        await store.put(keys.column(tid, "host"), b'{"name": "host", "kind": "DIMENSION", "type": "VARCHAR"}')
        moved = await catalog.migrate_column_keys()
        again = await catalog.migrate_column_keys()
        schema = await catalog.register_columns(tid, [common_pb2.Column(name="cpu", kind="MULTI", type="BIGINT")])
        stored = [k.rsplit("/", 1)[1] for k, _ in await store.get_prefix(keys.columns_of(tid))]
        return moved, again, sorted((c.name, c.kind, c.type) for c in schema), stored

    moved, again, schema, stored = asyncio.run(run())
    assert (moved, again) == (1, 0)
    assert schema == [("cpu", "MEASURE", "DOUBLE"), ("cpu", "MULTI", "BIGINT"), ("host", "DIMENSION", "VARCHAR")]
    assert sorted(stored) == ["cpu", "host", "measure_name%3A%3Acpu"]
