"""Writes through the real ingest path: both forms, every type, all three replicas, rejections, dedup."""

from __future__ import annotations

import time
from typing import Any

import pyarrow as pa
import pytest

from tessera import errors
from tessera.client import Client
from tests.integration.replicas import replica_rows, storage_addresses


def _now_ms() -> int:
    return int(time.time() * 1000)


def test_records_of_every_type_land_on_all_three_replicas(client: Client, database: str) -> None:
    client.create_table(database, "types")
    now = _now_ms()
    dims = [{"Name": "device", "Value": "d1"}]
    records = [
        {"Dimensions": dims, "MeasureName": "temp", "MeasureValue": "21.5", "MeasureValueType": "DOUBLE",
         "Time": str(now)},
        {"Dimensions": dims, "MeasureName": "count", "MeasureValue": "-9007199254740993", "MeasureValueType": "BIGINT",
         "Time": str(now)},
        {"Dimensions": dims, "MeasureName": "state", "MeasureValue": "running", "MeasureValueType": "VARCHAR",
         "Time": str(now)},
        {"Dimensions": dims, "MeasureName": "ok", "MeasureValue": "TRUE", "MeasureValueType": "BOOLEAN",
         "Time": str(now)},
        {"Dimensions": dims, "MeasureName": "multi", "MeasureValueType": "MULTI", "Time": str(now * 1000),
         "TimeUnit": "MICROSECONDS", "MeasureValues": [
             {"Name": "m_double", "Value": "1.25", "Type": "DOUBLE"},
             {"Name": "m_bigint", "Value": "42", "Type": "BIGINT"},
             {"Name": "m_varchar", "Value": "x", "Type": "VARCHAR"},
             {"Name": "m_bool", "Value": "false", "Type": "BOOLEAN"},
             {"Name": "m_ts", "Value": str((now - 5) * 1000), "Type": "TIMESTAMP"}]},
    ]
    assert client.write_records(database, "types", records).total == 5
    route = client.route(database, "types", refresh=True)
    for address in storage_addresses(client, route.ranges[0].cell):
        rows = replica_rows(address, route)
        assert rows.num_rows == 5
        by_name = {r["measure_name"]: r for r in rows.drop_columns(["time"]).to_pylist()}
        assert by_name["temp"]["measure_value::double"] == 21.5
        assert by_name["count"]["measure_value::bigint"] == -9007199254740993
        assert by_name["state"]["measure_value::varchar"] == "running"
        assert by_name["ok"]["measure_value::boolean"] is True
        multi = by_name["multi"]
        assert (multi["m_double"], multi["m_bigint"], multi["m_varchar"], multi["m_bool"]) == (1.25, 42, "x", False)
    q = client.query(f'SELECT to_milliseconds(m_ts) AS ts FROM "{database}"."types" WHERE measure_name = \'multi\'')
    assert q.column("ts").to_pylist() == [now - 5]


def test_arrow_batches_of_every_type_land_on_all_three_replicas(client: Client, database: str) -> None:
    client.create_table(database, "arrow")
    now = _now_ms()
    data = pa.table({
        "time": pa.array([now - 2000, now - 1000, now], pa.int64()),
        "site": ["s1", "s2", "s1"],
        "d": pa.array([1.5, 2.5, 3.5], pa.float64()),
        "b": pa.array([1, 2, 3], pa.int64()),
        "v": ["a", "b", "c"],
        "flag": [True, False, True],
        "at": pa.array([now * 1_000_000, now * 1_000_000, now * 1_000_000], pa.timestamp("ns")),
    })
    assert client.write_arrow(database, "arrow", data, ["site"], measure_name="metrics").total == 3
    route = client.route(database, "arrow", refresh=True)
    for address in storage_addresses(client, route.ranges[0].cell):
        rows = replica_rows(address, route).sort_by("ts_series")
        assert rows.num_rows == 3
        assert sorted(rows.column("d").to_pylist()) == [1.5, 2.5, 3.5]
        assert sorted(rows.column("v").to_pylist()) == ["a", "b", "c"]
    total = client.query(f'SELECT sum(b) AS s, count_if(flag) AS f FROM "{database}"."arrow"')
    assert total.to_pylist() == [{"s": 6, "f": 2}]


def test_a_batch_with_bad_records_stores_the_good_ones_and_names_each_bad_one(client: Client, database: str) -> None:
    client.create_table(database, "mixed")
    now = _now_ms()
    good = {"Dimensions": [{"Name": "host", "Value": "h1"}], "MeasureName": "cpu", "MeasureValue": "1.0",
            "Time": str(now)}
    records = [
        good,
        {**good, "MeasureValue": "NaN"},                                     # 1: NaN is not writable
        {**good, "Time": str(now + 3_600_000)},                              # 2: an hour in the future
        {**good, "Time": str(now - 48 * 3_600_000)},                         # 3: older than memory retention
        {**good, "Dimensions": [{"Name": "ts_bad", "Value": "x"}]},          # 4: reserved prefix
        {**good, "Version": 0},                                              # 5: version must be >= 1
        {**good, "MeasureValue": "2.0", "Time": str(now - 1)},               # 6: fine
        {**good, "MeasureValue": "abc"},                                     # 7: not a double
        {**good, "MeasureValueType": "TIMESTAMP"},                           # 8: scalar TIMESTAMP
    ]
    with pytest.raises(errors.RejectedRecords) as info:
        client.write_records(database, "mixed", records)
    rejected = {r.record_index: r.reason for r in info.value.rejected_records}
    assert sorted(rejected) == [1, 2, 3, 4, 5, 7, 8]
    assert info.value.records_ingested == 2
    assert "NaN" in rejected[1] or "finite" in rejected[1]
    assert "more than 15 minutes ahead" in rejected[2]
    assert "retention" in rejected[3]
    assert "ts_" in rejected[4]
    assert "Version" in rejected[5] or "version" in rejected[5]
    assert "TIMESTAMP is an invalid measure value type" in rejected[8]
    got = client.query(f'SELECT "measure_value::double" AS v FROM "{database}"."mixed" ORDER BY v')
    assert got.column("v").to_pylist() == [1.0, 2.0]


def test_more_than_100_records_in_one_request_is_a_validation_error_via_the_raw_api(client: Client,
                                                                                    database: str) -> None:
    import grpc

    from tessera.v1 import common_pb2, ingest_pb2, ingest_pb2_grpc

    client.create_table(database, "toomany")
    route = client.route(database, "toomany")
    ingest = next(n for c in route.cells for n in c.nodes if n.role == "ingest" and c.cell == route.ranges[0].cell)
    rec = common_pb2.Record(dimensions=[common_pb2.Dimension(name="h", value="1")], measure_name="m",
                            measure_value="1", time=str(_now_ms()))
    with grpc.insecure_channel(ingest.address) as ch, pytest.raises(grpc.RpcError) as info:
        ingest_pb2_grpc.IngestStub(ch).WriteRecords(ingest_pb2.WriteRecordsRequest(
            database_name=database, table_name="toomany", records=[rec] * 101), timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "100" in info.value.details()
    assert client.query(f'SELECT count(*) AS n FROM "{database}"."toomany"').column("n").to_pylist() == [0]


@pytest.mark.parametrize("form", ["dicts", "messages"])
def test_sdk_writes_large_record_lists_in_chunks_and_maps_rejections_back(client: Client, database: str,
                                                                          form: str) -> None:
    """Dicts travel as Arrow columns (2,500 a request), Record messages as protobuf (100 a request); either
    way every record is stored once and a rejection names the caller's index."""
    from tessera.records import to_record

    table = f"many_{form}"
    client.create_table(database, table)
    now = _now_ms()
    n = 6_000
    records: list[Any] = [{"Dimensions": [{"Name": "h", "Value": f"h{i % 7}"}], "MeasureName": "m",
                           "MeasureValue": str(i), "MeasureValueType": "BIGINT", "Time": str(now - i)} for i in range(n)]
    bad = [2_700, 5_999]  # past the first Arrow request and the first 100
    for i in bad:
        records[i] = {**records[i], "MeasureValue": "not-a-number"}
    if form == "messages":
        records = [to_record(r) for r in records]
    with pytest.raises(errors.RejectedRecords) as info:
        client.write_records(database, table, records)
    assert [r.record_index for r in info.value.rejected_records] == bad
    assert all("not-a-number" in r.reason and "BIGINT" in r.reason for r in info.value.rejected_records)
    assert info.value.records_ingested == n - len(bad)
    got = client.query(f'SELECT count(*) AS n, sum("measure_value::bigint") AS s FROM "{database}"."{table}"')
    assert got.to_pylist() == [{"n": n - len(bad), "s": sum(range(n)) - sum(bad)}]


def test_records_arrow_with_a_foreign_schema_is_an_invalid_argument_via_the_raw_api(client: Client,
                                                                                   database: str) -> None:
    import grpc

    from tessera import arrowipc
    from tessera.v1 import ingest_pb2, ingest_pb2_grpc

    client.create_table(database, "foreign")
    route = client.route(database, "foreign")
    ingest = next(n for c in route.cells for n in c.nodes if n.role == "ingest" and c.cell == route.ranges[0].cell)
    payload = arrowipc.to_ipc(pa.table({"Time": [str(_now_ms())], "MeasureName": ["m"], "MeasureValue": ["1"]}))
    with grpc.insecure_channel(ingest.address) as ch, pytest.raises(grpc.RpcError) as info:
        ingest_pb2_grpc.IngestStub(ch).WriteRecords(ingest_pb2.WriteRecordsRequest(
            database_name=database, table_name="foreign", records_arrow=payload), timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "records_arrow has schema" in info.value.details() and "Dimensions" in info.value.details()
    assert client.query(f'SELECT count(*) AS n FROM "{database}"."foreign"').column("n").to_pylist() == [0]


def test_the_dedup_rule_holds_end_to_end(client: Client, database: str) -> None:
    client.create_table(database, "dedup")
    t = str(_now_ms())
    base = {"Dimensions": [{"Name": "h", "Value": "a"}], "MeasureName": "m", "Time": t}
    client.write_records(database, "dedup", [{**base, "MeasureValue": "1.0", "Version": 3}])
    # An exact duplicate (a retry) is accepted again, idempotently.
    assert client.write_records(database, "dedup", [{**base, "MeasureValue": "1.0", "Version": 3}]).total == 1
    # Same version, different value: rejected with the existing version.
    with pytest.raises(errors.RejectedRecords) as info:
        client.write_records(database, "dedup", [{**base, "MeasureValue": "2.0", "Version": 3}])
    r = info.value.rejected_records[0]
    assert r.existing_version == 3 and "same time, dimensions, measure name, and record version" in r.reason
    # Lower version: rejected, naming both versions.
    with pytest.raises(errors.RejectedRecords) as info:
        client.write_records(database, "dedup", [{**base, "MeasureValue": "2.0", "Version": 2}])
    assert info.value.rejected_records[0].existing_version == 3
    assert "lower than the existing version 3" in info.value.rejected_records[0].reason
    # Higher version: an upsert; the query sees only the new value.
    client.write_records(database, "dedup", [{**base, "MeasureValue": "5.0", "Version": 4}])
    got = client.query(f'SELECT "measure_value::double" AS v FROM "{database}"."dedup"')
    assert got.column("v").to_pylist() == [5.0]


def test_a_type_conflict_with_the_table_schema_is_rejected(client: Client, database: str) -> None:
    client.create_table(database, "schema")
    now = str(_now_ms())
    rec = {"Dimensions": [{"Name": "h", "Value": "a"}], "MeasureName": "load", "MeasureValue": "1.5", "Time": now}
    client.write_records(database, "schema", [rec])
    with pytest.raises(errors.RejectedRecords) as info:
        client.write_records(database, "schema", [{**rec, "MeasureValue": "2", "MeasureValueType": "BIGINT"}])
    assert "DOUBLE" in info.value.rejected_records[0].reason


def test_a_column_first_written_a_moment_ago_is_queryable_at_once(client: Client, database: str) -> None:
    client.create_table(database, "fresh")
    now = _now_ms()
    rec = {"Dimensions": [{"Name": "h", "Value": "a"}], "MeasureName": "m", "MeasureValue": "1", "Time": str(now)}
    client.write_records(database, "fresh", [rec])
    assert client.query(f'SELECT count(*) AS n FROM "{database}"."fresh"').column("n").to_pylist() == [1]
    # The coordinators now hold a cached schema without 'rack'; the next query must still see it.
    client.write_records(database, "fresh", [{**rec, "Dimensions": [{"Name": "h", "Value": "a"},
                                                                    {"Name": "rack", "Value": "r9"}]}])
    for _ in range(2):  # both coordinators
        got = client.query(f'SELECT rack FROM "{database}"."fresh" WHERE rack = \'r9\'')
        assert got.column("rack").to_pylist() == ["r9"]
