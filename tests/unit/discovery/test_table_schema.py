"""CreateTable/UpdateTable with Schema.CompositePartitionKey: validation, echo, immutability, routing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

import pytest

from services.discovery.catalog import CATALOG_PREFIX, Catalog, TableStates
from services.discovery.kv import MemoryStore
from services.discovery.registry import Registry
from tessera import errors
from tessera.v1 import catalog_pb2, common_pb2

T = TypeVar("T")


def _run(coro: Awaitable[T]) -> T:
    async def wrapped() -> T:
        return await coro

    return asyncio.run(wrapped())


def _catalog() -> tuple[Catalog, MemoryStore]:
    store = MemoryStore()
    registry = Registry(store)
    catalog = Catalog(store, registry)

    async def setup() -> None:
        for role, count in (("storage", 3), ("ingest", 1), ("query", 1)):
            for i in range(count):
                await registry.register(common_pb2.NodeInfo(
                    node_id=f"c1-{role}-{i}", cell="c1", role=role, zone="abc"[i], address=f"h:{i}"), 10)
        await catalog.create_database("dbx", "")

    asyncio.run(setup())
    return catalog, store


def _key(type_: str = "DIMENSION", name: str = "host", enforcement: str = "REQUIRED") -> common_pb2.PartitionKey:
    return common_pb2.PartitionKey(type=type_, name=name, enforcement_in_record=enforcement)


def _create(catalog: Catalog, *keys: common_pb2.PartitionKey, empty_schema: bool = False) -> catalog_pb2.Table:
    req = catalog_pb2.CreateTableRequest(database_name="dbx", table_name="tab")
    if keys or empty_schema:
        req.schema.composite_partition_key.extend(keys)
        req.schema.SetInParent()
    return _run(catalog.create_table(req))


@pytest.mark.parametrize("key", [_key(), _key(enforcement="OPTIONAL"), _key(enforcement=""),
                                 _key("MEASURE", "", ""), _key("MEASURE", "", "REQUIRED")],
                         ids=["dimension required", "dimension optional", "dimension without enforcement",
                              "measure", "measure with enforcement"])
def test_describe_and_list_echo_the_partition_key_exactly_as_it_was_sent(key: common_pb2.PartitionKey) -> None:
    catalog, _ = _catalog()
    created = _create(catalog, key)
    described = _run(catalog.table_proto(_run(catalog.table_doc("dbx", "tab"))))  # as DescribeTable does
    (listed,) = _run(catalog.list_tables("dbx", 0, ""))[0]
    by_id, _ = _run(catalog.table_by_id(created.table_id))
    for table in (created, described, listed, by_id):
        assert list(table.schema.composite_partition_key) == [key]


def test_a_table_created_without_a_schema_describes_without_one_and_routes_by_every_dimension() -> None:
    catalog, _ = _catalog()
    created = _create(catalog)
    assert not created.HasField("schema")
    route = _run(catalog.resolve("dbx", "tab"))
    assert not route.HasField("partition_key")
    doc = _run(catalog.table_doc("dbx", "tab"))
    assert "partition_key" not in doc  # documents of tables without a key are exactly as before


def test_the_route_carries_the_partition_key_for_writers_and_coordinators() -> None:
    catalog, _ = _catalog()
    _create(catalog, _key(enforcement="OPTIONAL"))
    assert _run(catalog.resolve("dbx", "tab")).partition_key == _key(enforcement="OPTIONAL")


@pytest.mark.parametrize(("keys", "message"), [
    ([], "Schema.CompositePartitionKey must hold exactly 1 partition key; it has 0"),
    ([_key(), _key(name="region")], "Schema.CompositePartitionKey must hold exactly 1 partition key; it has 2"),
    ([_key(type_="")], "Schema.CompositePartitionKey[0].Type '' is invalid: expected one of DIMENSION, MEASURE"),
    ([_key(type_="TIME")], "Schema.CompositePartitionKey[0].Type 'TIME' is invalid"),
    ([_key(name="")], "Schema.CompositePartitionKey[0].Name is required for a DIMENSION partition key"),
    ([_key(name="h" * 61)], "Schema.CompositePartitionKey[0].Name '" + "h" * 61 + "' is not a valid dimension name: "
                            "names are limited to 60 UTF-8 bytes; this one has 61"),
    ([_key(name="ts_host")], "names may not begin with 'ts_'"),
    ([_key(name="measure_value")], "it is a reserved name"),
    ([_key("MEASURE", "cpu")], "Schema.CompositePartitionKey[0].Name 'cpu' must be empty for a MEASURE partition key"),
    ([_key(enforcement="ALWAYS")], ("Schema.CompositePartitionKey[0].EnforcementInRecord 'ALWAYS' is invalid: "
                                    "expected one of REQUIRED, OPTIONAL")),
], ids=["no key", "two keys", "no type", "unknown type", "dimension without name", "name too long",
        "name with the reserved prefix", "reserved name", "measure key with a name", "unknown enforcement"])
def test_an_invalid_partition_key_is_refused_naming_the_field_and_limit_and_creates_nothing(
        keys: list[common_pb2.PartitionKey], message: str) -> None:
    catalog, _ = _catalog()
    with pytest.raises(errors.ValidationError) as info:
        _create(catalog, *keys, empty_schema=True)
    assert message in info.value.message
    assert _run(catalog.list_tables("dbx", 0, ""))[0] == []


def _update(catalog: Catalog, *keys: common_pb2.PartitionKey) -> catalog_pb2.Table:
    req = catalog_pb2.UpdateTableRequest(database_name="dbx", table_name="tab")
    req.schema.composite_partition_key.extend(keys)
    return _run(catalog.update_table(req))


def test_update_table_may_change_only_the_enforcement_and_the_route_follows() -> None:
    catalog, _ = _catalog()
    _create(catalog, _key(enforcement="OPTIONAL"))
    updated = _update(catalog, _key(enforcement="REQUIRED"))
    assert list(updated.schema.composite_partition_key) == [_key(enforcement="REQUIRED")]
    assert _run(catalog.resolve("dbx", "tab")).partition_key.enforcement_in_record == "REQUIRED"


@pytest.mark.parametrize("key", [_key(name="region"), _key("MEASURE", "", "REQUIRED")],
                         ids=["another dimension", "another type"])
def test_update_table_refuses_to_change_the_keys_type_or_name(key: common_pb2.PartitionKey) -> None:
    catalog, _ = _catalog()
    _create(catalog, _key())
    with pytest.raises(errors.ValidationError, match="cannot change .*DIMENSION 'host'.*only EnforcementInRecord"):
        _update(catalog, key)
    assert _run(catalog.resolve("dbx", "tab")).partition_key == _key()


def test_update_table_refuses_to_add_a_partition_key_to_a_table_created_without_one() -> None:
    catalog, _ = _catalog()
    _create(catalog)
    with pytest.raises(errors.ValidationError, match="created without a partition key and one cannot be added"):
        _update(catalog, _key())


def test_update_table_without_a_schema_keeps_the_partition_key() -> None:
    catalog, _ = _catalog()
    _create(catalog, _key())
    req = catalog_pb2.UpdateTableRequest(database_name="dbx", table_name="tab")
    req.retention_properties.memory_store_retention_period_in_hours = 12
    req.retention_properties.magnetic_store_retention_period_in_days = 30
    assert list(_run(catalog.update_table(req)).schema.composite_partition_key) == [_key()]


def test_the_table_watch_sends_the_schema_to_storage_nodes() -> None:
    catalog, store = _catalog()
    _create(catalog, _key())
    snapshot = _run(store.scan(CATALOG_PREFIX))
    (event,) = TableStates(snapshot).snapshot()
    assert list(event.table.schema.composite_partition_key) == [_key()]
