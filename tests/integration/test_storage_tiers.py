"""The two tiers on real processes: queries answer the same after every replica moves its rows to the
magnetic store; late writes with and without magnetic writes; retention from the catalog, changed live;
a deleted table's files gone from every replica. Driven through the storage nodes' Maintain test hook."""

from __future__ import annotations

import random
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from tessera import errors
from tessera.client import Client
from tessera.cluster import LocalCluster
from tests.integration.conftest import unique
from tests.integration.replicas import maintain, replica_rows

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def records(now_ms: int, n: int, age_ms: int, tag: str, seed: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    return [{"Dimensions": [{"Name": "host", "Value": f"h{i % 7}"}, {"Name": "tag", "Value": tag}],
             "MeasureName": "metrics", "MeasureValueType": "MULTI", "Time": str(now_ms - age_ms - i * 1000),
             "MeasureValues": [{"Name": "cpu", "Value": f"{rng.uniform(0, 100):.2f}", "Type": "DOUBLE"},
                               {"Name": "mem", "Value": str(rng.randrange(1 << 40)), "Type": "BIGINT"},
                               {"Name": "state", "Value": rng.choice(["up", "down"]), "Type": "VARCHAR"}]}
            for i in range(n)]


QUERIES = [
    'SELECT count(*) AS n, sum(cpu) AS cpu, sum(mem) AS mem FROM "{db}"."{t}"',
    ('SELECT host, tag, count(*) AS n, max(cpu) AS top, min(mem) AS low FROM "{db}"."{t}" GROUP BY host, tag '
     "ORDER BY host, tag"),
    'SELECT host, time, cpu, mem, state FROM "{db}"."{t}" WHERE cpu > 50 AND state = \'up\' ORDER BY host, time',
    'SELECT tag, count(*) AS n FROM "{db}"."{t}" WHERE host IN (\'h1\', \'h3\') GROUP BY tag ORDER BY tag',
]


def normal(rows: list[dict[str, object]]) -> list[tuple[object, ...]]:
    """Rows as tuples, floats to 6 decimals (sums differ in the last bits by summation order)."""
    def value(v: object) -> object:
        if isinstance(v, float):
            return round(v, 6)
        return int(v) if isinstance(v, Decimal) else v

    return [tuple(value(v) for v in r.values()) for r in rows]


def answers(client: Client, db: str, table: str) -> list[list[tuple[object, ...]]]:
    return [normal(client.query(q.format(db=db, t=table)).to_pylist()) for q in QUERIES]


def reference(rows: list[dict[str, object]]) -> list[list[tuple[object, ...]]]:
    """The same queries in DuckDB over the raw records (the independent answer)."""
    flat = pa.table({
        "host": [r["Dimensions"][0]["Value"] for r in rows],  # type: ignore[index]
        "tag": [r["Dimensions"][1]["Value"] for r in rows],  # type: ignore[index]
        "time": pa.array([int(str(r["Time"])) * 1_000_000 for r in rows], pa.int64()).cast(pa.timestamp("ns")),
        "cpu": [float(r["MeasureValues"][0]["Value"]) for r in rows],  # type: ignore[index]
        "mem": [int(r["MeasureValues"][1]["Value"]) for r in rows],  # type: ignore[index]
        "state": [r["MeasureValues"][2]["Value"] for r in rows],  # type: ignore[index]
    })
    con = duckdb.connect()
    con.register("raw", flat)
    out = []
    for q in QUERIES:
        result = con.sql(q.format(db="x", t="y").replace('"x"."y"', "raw")).to_arrow_table()
        out.append(normal(result.to_pylist()))
    return out


def storage_files(cluster: LocalCluster, cell: str, table_id: str) -> list[Path]:
    return [p for node in cluster.nodes("storage", cell)
            for p in (cluster.spec.data_dir / "storage" / node.name / "magnetic" / table_id).glob("*/*.parquet")]


def test_queries_answer_the_same_after_every_replica_moves_the_rows_to_the_magnetic_store(
        cluster: LocalCluster, client: Client, database: str) -> None:
    table = "tiers"
    client.create_table(database, table, memory_retention_hours=2, magnetic_retention_days=30, magnetic_writes=True)
    route = client.route(database, table)
    cell, table_id = route.ranges[0].cell, route.table_id
    now = int(time.time() * 1000)
    recent = records(now, 300, 0, "recent", 1)
    late = records(now, 200, 5 * HOUR_MS, "late", 2)  # older than the 2 h memory retention
    ingested = client.write_records(database, table, recent + late)
    assert (ingested.total, ingested.memory_store, ingested.magnetic_store) == (500, 300, 200)
    expected = reference(recent + late)
    assert answers(client, database, table) == expected
    reports = maintain(cluster, cell, flush_all=True, compact=True)
    # (Other tests' tables of the cell are flushed too, and the background mover may already have moved the
    # late rows: they are older than memory retention.)
    assert all(r.memory_bytes == 0 for r in reports), reports
    assert len(storage_files(cluster, cell, table_id)) >= 3
    assert answers(client, database, table) == expected
    # Upserts of rows now in the magnetic store win across the tiers, and again after their own flush.
    upserts = [dict(r, Version=2, MeasureValues=[dict(r["MeasureValues"][0], Value="123.25"),  # type: ignore[index]
                                                   *r["MeasureValues"][1:]]) for r in late[:20]]  # type: ignore[index]
    assert client.write_records(database, table, upserts).total == 20
    changed = late[:20]
    for r, u in zip(changed, upserts):
        r["MeasureValues"] = u["MeasureValues"]
    expected = reference(recent + late)
    assert answers(client, database, table) == expected
    maintain(cluster, cell, flush_all=True, compact=True)
    assert answers(client, database, table) == expected
    for node in cluster.nodes("storage", cell):  # every replica holds each key once, with its newest value
        rows = replica_rows(node.address, client.route(database, table, refresh=True))
        assert rows.num_rows == 500
        assert sorted(rows.column("cpu").to_pylist()).count(123.25) == 20


def test_a_late_write_without_magnetic_writes_is_rejected_with_timestreams_reason(
        client: Client, database: str) -> None:
    client.create_table(database, "nolate", memory_retention_hours=1, magnetic_writes=False)
    now = int(time.time() * 1000)
    with pytest.raises(errors.RejectedRecords) as info:
        client.write_records(database, "nolate", records(now, 1, 3 * HOUR_MS, "x", 3) + records(now, 1, 0, "y", 4))
    assert info.value.records_ingested == 1
    [rejected] = info.value.rejected_records
    assert rejected.record_index == 0 and "magnetic store writes are disabled" in rejected.reason
    with pytest.raises(errors.RejectedRecords) as future:
        client.write_records(database, "nolate", records(now + 20 * 60 * 1000, 1, 0, "z", 5))
    assert "more than 15 minutes ahead" in future.value.rejected_records[0].reason


def test_retention_changed_live_deletes_old_rows_on_every_replica(
        cluster: LocalCluster, client: Client, database: str) -> None:
    table = "expiring"
    client.create_table(database, table, memory_retention_hours=1, magnetic_retention_days=5, magnetic_writes=True)
    route = client.route(database, table)
    cell = route.ranges[0].cell
    now = int(time.time() * 1000)
    old = records(now, 50, 3 * DAY_MS, "old", 6)
    new = records(now, 50, 0, "new", 7)
    client.write_records(database, table, old + new)
    maintain(cluster, cell, flush_all=True)
    maintain(cluster, cell, expire=True)
    assert answers(client, database, table)[0][0][0] == 100  # within 1 h + 5 d: nothing expires
    client.update_table(database, table, memory_retention_hours=1, magnetic_retention_days=1)
    deadline = time.time() + 20

    def tags_held() -> list[set[str]]:  # per replica, read directly (a background round may expire first)
        fresh = client.route(database, table, refresh=True)
        return [set(replica_rows(n.address, fresh).column("tag").to_pylist()) for n in cluster.nodes("storage", cell)]

    while time.time() < deadline and tags_held() != [{"new"}] * 3:  # the nodes see it through their catalog watch
        maintain(cluster, cell, expire=True)
        time.sleep(0.2)
    assert tags_held() == [{"new"}] * 3
    got = client.query(f'SELECT tag, count(*) AS n FROM "{database}"."{table}" GROUP BY tag').to_pylist()
    assert got == [{"tag": "new", "n": 50}]


def test_a_deleted_tables_files_are_removed_from_every_replica(
        cluster: LocalCluster, client: Client, database: str) -> None:
    table = unique("gone")
    client.create_table(database, table, memory_retention_hours=1, magnetic_writes=True)
    route = client.route(database, table)
    cell, table_id = route.ranges[0].cell, route.table_id
    now = int(time.time() * 1000)
    client.write_records(database, table, records(now, 40, 2 * HOUR_MS, "a", 8) + records(now, 40, 0, "b", 9))
    maintain(cluster, cell, flush_all=True)
    client.write_records(database, table, records(now, 10, 60_000, "c", 10))  # some in the memory store too
    assert storage_files(cluster, cell, table_id)
    client.delete_table(database, table)
    deadline = time.time() + 20
    while time.time() < deadline and storage_files(cluster, cell, table_id):  # a background round may go first
        maintain(cluster, cell)
        time.sleep(0.2)
    assert storage_files(cluster, cell, table_id) == []
