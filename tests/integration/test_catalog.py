"""Catalog calls against the real discovery service and etcd, including each error."""

from __future__ import annotations

import pytest

from tessera import errors
from tessera.client import Client
from tests.integration.conftest import unique


def test_a_database_can_be_created_described_updated_listed_and_deleted(client: Client) -> None:
    name = unique("crud")
    created = client.create_database(name)
    assert created.database_name == name and created.table_count == 0 and created.arn.endswith(name)
    assert client.describe_database(name).database_name == name
    assert client.update_database(name, "key-1").kms_key_id == "key-1"
    assert name in [d.database_name for d in client.list_databases()]
    client.delete_database(name)
    with pytest.raises(errors.NotFound, match=f"The database {name} does not exist"):
        client.describe_database(name)


def test_creating_a_database_twice_is_a_conflict(client: Client, database: str) -> None:
    with pytest.raises(errors.Conflict, match="already exists"):
        client.create_database(database)


@pytest.mark.parametrize("bad, message", [
    ("ab", "must be 3 to 256 bytes"),
    ("has space", "may contain only letters"),
    ("x" * 257, "must be 3 to 256 bytes"),
])
def test_an_invalid_database_name_is_rejected_with_the_rule(client: Client, bad: str, message: str) -> None:
    with pytest.raises(errors.ValidationError, match=message):
        client.create_database(bad)


def test_a_table_gets_timestream_defaults_and_can_be_updated(client: Client, database: str) -> None:
    t = client.create_table(database, "defaults")
    assert t.retention_properties.memory_store_retention_period_in_hours == 6
    assert t.retention_properties.magnetic_store_retention_period_in_days == 73000
    assert not t.magnetic_store_write_properties.enable_magnetic_store_writes
    assert t.table_status == "ACTIVE"
    u = client.update_table(database, "defaults", memory_retention_hours=12, magnetic_writes=True)
    assert u.retention_properties.memory_store_retention_period_in_hours == 12
    assert u.retention_properties.magnetic_store_retention_period_in_days == 73000
    assert u.magnetic_store_write_properties.enable_magnetic_store_writes
    assert client.describe_database(database).table_count == 1


@pytest.mark.parametrize("hours, days, message", [
    (0, 10, "MemoryStoreRetentionPeriodInHours 0 is out of range: 1..8766"),
    (8767, 10, "MemoryStoreRetentionPeriodInHours 8767 is out of range"),
    (6, 0, "MagneticStoreRetentionPeriodInDays 0 is out of range: 1..73000"),
    (6, 73001, "MagneticStoreRetentionPeriodInDays 73001 is out of range"),
])
def test_retention_out_of_range_is_rejected_and_creates_nothing(client: Client, database: str, hours: int,
                                                                days: int, message: str) -> None:
    with pytest.raises(errors.ValidationError, match=message):
        client.create_table(database, "retention", memory_retention_hours=hours, magnetic_retention_days=days)
    assert client.list_tables(database) == []


def test_table_errors_name_the_problem(client: Client, database: str) -> None:
    client.create_table(database, "twice")
    with pytest.raises(errors.Conflict, match="The table twice already exists"):
        client.create_table(database, "twice")
    with pytest.raises(errors.NotFound, match="The table nope does not exist"):
        client.describe_table(database, "nope")
    with pytest.raises(errors.NotFound, match="The database no_such_db does not exist"):
        client.create_table("no_such_db", "anything")
    with pytest.raises(errors.ValidationError, match="is not empty"):
        client.delete_database(database)
    client.delete_table(database, "twice")
    with pytest.raises(errors.NotFound):
        client.describe_table(database, "twice")
    client.delete_database(database)


def test_listing_more_tables_than_a_page_follows_next_token(client: Client, database: str) -> None:
    names = [f"tbl{i:02d}" for i in range(23)]
    for n in names:
        client.create_table(database, n)
    assert [t.table_name for t in client.list_tables(database)] == names


def test_new_tables_go_to_the_cell_with_the_fewest_tables(client: Client, database: str) -> None:
    before = {c.cell: c.table_count for c in client.cells()}
    client.create_table(database, "placed")
    owner = client.route(database, "placed").ranges[0].cell
    assert before[owner] == min(before.values())


def test_status_shows_two_cells_each_with_three_zones(client: Client) -> None:
    cells = client.cells()
    assert len(cells) == 2
    for c in cells:
        storage = [n for n in c.nodes if n.role == "storage"]
        assert sorted(n.zone for n in storage) == ["a", "b", "c"]
        assert sum(n.role == "ingest" for n in c.nodes) == 2
        assert sum(n.role == "query" for n in c.nodes) == 2
        assert all(n.live for n in c.nodes)
