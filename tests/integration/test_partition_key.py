"""A table partitioned by a dimension, on real processes: writes land in the range of their key value, a query
pinning the key returns exactly what a full scan returns for it while reading only the cell that holds it."""

from __future__ import annotations

import json
import signal
import time
from typing import Any

import pyarrow as pa
import pytest

from tessera import cli, errors, placement
from tessera.client import Client
from tessera.cluster import LocalCluster
from tessera.layout import ABSENT_KEY_HASH
from tessera.partition_key import PartitionKey, missing_reason
from tests.integration.conftest import unique
from tests.integration.replicas import replica_rows, storage_addresses

KEY = PartitionKey("DIMENSION", "device", "REQUIRED")
DEVICES = [f"d{i:02d}" for i in range(40)]
Row = tuple[str, str, int, str, int]  # device, site, time ms, measure name, value


@pytest.fixture(scope="module")
def keyed(client: Client) -> tuple[str, list[Row]]:
    """A table partitioned by `device` over both cells, with rows of 40 devices written in both SDK forms."""
    db = unique("pk")
    client.create_database(db)
    client.create_table(db, "devices", memory_retention_hours=24, cells=["cell-a", "cell-b"],
                        partition_key="device", partition_key_enforcement="REQUIRED")
    now = int(time.time() * 1000) // 1000 * 1000
    rows: list[Row] = []
    records: list[dict[str, Any]] = []
    for i, device in enumerate(DEVICES[:20]):  # boto3 dicts: Arrow record columns on the wire
        for k in range(15):
            t, site = now - k * 60_000 - i, f"s{(i + k) % 4}"
            records.append({"Dimensions": [{"Name": "site", "Value": site}, {"Name": "device", "Value": device}],
                            "MeasureName": "reading", "MeasureValue": str(i * 100 + k), "MeasureValueType": "BIGINT",
                            "Time": str(t)})
            rows.append((device, site, t, "reading", i * 100 + k))
    assert client.write_records(db, "devices", records).total == len(records)
    table: dict[str, list[Any]] = {"time": [], "device": [], "site": [], "level": []}
    for i, device in enumerate(DEVICES[20:], start=20):  # write_arrow: multi-measure rows
        for k in range(15):
            t, site = now - k * 60_000 - i, f"s{k % 3}"
            for name, value in (("time", t), ("device", device), ("site", site), ("level", i * 100 + k)):
                table[name].append(value)
            rows.append((device, site, t, "metrics", i * 100 + k))
    assert client.write_arrow(db, "devices", pa.table(table), ["device", "site"], measure_name="metrics").total == 300
    return db, rows


def _select(db: str, where: str) -> str:
    return (f'SELECT device, site, to_milliseconds(time) AS ms, measure_name, '
            f'coalesce("measure_value::bigint", level) AS v FROM "{db}"."devices" {where}')


def _rows(client: Client, sql: str) -> list[Row]:
    return sorted((r["device"], r["site"], r["ms"], r["measure_name"], r["v"]) for r in client.query(sql).to_pylist())


def _cell_of(client: Client, db: str, value: str) -> str:
    return placement.range_for(client.route(db, "devices").ranges, KEY.hash_of(value)).cell


def _bytes_scanned(client: Client, sql: str) -> int:
    return next(client.query_pages(sql)).query_status.cumulative_bytes_scanned


def test_describe_and_list_tables_echo_the_partition_key(client: Client, keyed: tuple[str, list[Row]]) -> None:
    db, _ = keyed
    expected = [KEY.to_proto()]
    assert list(client.describe_table(db, "devices").schema.composite_partition_key) == expected
    (listed,) = client.list_tables(db)
    assert list(listed.schema.composite_partition_key) == expected


def test_every_row_is_stored_in_the_cell_its_partition_key_value_hashes_to(
        client: Client, keyed: tuple[str, list[Row]]) -> None:
    db, _ = keyed
    route = client.route(db, "devices", refresh=True)
    assert {r.cell for r in route.ranges} == {"cell-a", "cell-b"}
    for cell in ("cell-a", "cell-b"):
        held = set(replica_rows(storage_addresses(client, cell)[0], route).column("device").to_pylist())
        assert held == {d for d in DEVICES if _cell_of(client, db, d) == cell}
    assert len({_cell_of(client, db, d) for d in DEVICES}) == 2  # the devices really are spread


def test_a_query_pinning_the_key_returns_exactly_the_rows_a_full_scan_filtered_in_python_returns(
        client: Client, keyed: tuple[str, list[Row]]) -> None:
    db, rows = keyed
    full = _rows(client, _select(db, ""))
    assert full == sorted(rows)
    for device in ("d03", "d27"):
        assert _rows(client, _select(db, f"WHERE device = '{device}'")) == [r for r in full if r[0] == device]
    picked = {"d01", "d11", "d22", "d39"}
    where = f"WHERE device IN ({', '.join(repr(d) for d in sorted(picked))}) AND site <> 's1'"
    assert _rows(client, _select(db, where)) == [r for r in full if r[0] in picked and r[1] != "s1"]
    assert _rows(client, _select(db, "WHERE device = 'd01' AND device = 'd02'")) == []


def test_a_pinned_query_reads_only_the_cell_of_its_key_and_answers_with_the_other_cell_down(
        cluster: LocalCluster, client: Client, keyed: tuple[str, list[Row]]) -> None:
    db, rows = keyed
    in_a = [d for d in DEVICES if _cell_of(client, db, d) == "cell-a"]
    pinned = _select(db, f"WHERE device IN ('{in_a[0]}', '{in_a[-1]}')")
    expected = sorted(r for r in rows if r[0] in (in_a[0], in_a[-1]))
    # Bytes scanned: the pinned query reads one cell's tiles, the unpinned one both cells'.
    assert 0 < _bytes_scanned(client, pinned) < _bytes_scanned(client, _select(db, "WHERE device LIKE 'd%'"))
    victims = [p.name for p in cluster.nodes("query", "cell-b") + cluster.nodes("storage", "cell-b")]
    for name in victims:
        cluster.kill(name, signal.SIGTERM)
    try:
        assert _rows(client, pinned) == expected  # cell-b's coordinator and replicas are gone
        with pytest.raises(errors.Unavailable):
            client.query(_select(db, f"WHERE device LIKE '{in_a[0]}'"))  # not pinned: needs cell-b too
    finally:
        for name in victims:
            cluster.restart(name)
    deadline = time.monotonic() + 30
    while True:  # the other coordinators reconnect to the restarted nodes
        try:
            assert _rows(client, _select(db, "")) == sorted(rows)
            break
        except errors.Unavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_a_required_key_rejects_records_without_it_until_enforcement_is_made_optional(
        client: Client, database: str) -> None:
    client.create_table(database, "strict", partition_key="device", partition_key_enforcement="REQUIRED",
                        cells=["cell-a", "cell-b"])
    now = int(time.time() * 1000)
    records = [{"Dimensions": [{"Name": "device", "Value": "d1"}], "MeasureName": "m", "MeasureValue": "1",
                "Time": str(now)},
               {"Dimensions": [{"Name": "site", "Value": "s1"}], "MeasureName": "m", "MeasureValue": "2",
                "Time": str(now)}]
    with pytest.raises(errors.RejectedRecords) as info:
        client.write_records(database, "strict", records)
    (rejected,) = info.value.rejected_records
    assert rejected.record_index == 1 and info.value.records_ingested == 1
    # Records[i] counts in the request its cell received, which may have held that record alone.
    assert rejected.reason in (missing_reason("Records[0]", "device"), missing_reason("Records[1]", "device"))
    updated = client.update_table(database, "strict", partition_key_enforcement="OPTIONAL")
    assert updated.schema.composite_partition_key[0].enforcement_in_record == "OPTIONAL"
    deadline = time.monotonic() + 15  # ingest nodes pick up the new enforcement with their route (5 s TTL)
    while True:
        try:
            client.write_records(database, "strict", records[1:])
            break
        except errors.RejectedRecords:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    got = client.query(f'SELECT site, "measure_value::double" AS v FROM "{database}"."strict" WHERE device IS NULL')
    assert got.to_pylist() == [{"site": "s1", "v": 2.0}]
    route = client.route(database, "strict")
    assert placement.range_for(route.ranges, ABSENT_KEY_HASH).cell == "cell-b"  # where key-less rows go


def test_the_cli_creates_a_table_with_a_partition_key(
        cluster: LocalCluster, client: Client, database: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--discovery", cluster.discovery_address, "table", "create", database, "fromcli",
                  "--partition-key", "device", "--partition-key-enforcement", "OPTIONAL"])
    assert done.value.code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["schema"] == {"composite_partition_key": [
        {"type": "DIMENSION", "name": "device", "enforcement_in_record": "OPTIONAL"}]}
    assert client.describe_table(database, "fromcli").schema.composite_partition_key[0].name == "device"
