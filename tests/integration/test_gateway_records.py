"""WriteRecords and Query through the HTTP gateway with boto3: ingestion counts, rejections, typed results
of every column kind, paging that any gateway continues, and query errors."""

from __future__ import annotations

import base64
import concurrent.futures
import json
import time
from typing import Any

import pytest

from tessera import errors
from tessera.client import Client
from tessera.cluster import LocalCluster
from tessera.credentials import RELOAD_EVERY_S, ensure_profile
from tests.integration import aws
from tests.integration.conftest import unique

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def write(cluster: LocalCluster) -> Any:
    return aws.client(cluster, "timestream-write")


@pytest.fixture(scope="module")
def query(cluster: LocalCluster) -> Any:
    return aws.client(cluster, "timestream-query")


@pytest.fixture(scope="module")
def table(write: Any) -> tuple[str, str, int]:
    """A table with 60 single-measure records (host h00..h59) and one multi-measure record; its start time."""
    db = unique("gwrec")
    write.create_database(DatabaseName=db)
    write.create_table(DatabaseName=db, TableName="metrics")
    start = int(time.time() * 1000) - 60_000
    records = [{"Dimensions": [{"Name": "host", "Value": f"h{i:02d}"}], "MeasureName": "cpu",
                "MeasureValue": str(i + 0.5), "Time": str(start + i)} for i in range(60)]
    for chunk in (records[:30], records[30:]):
        out = write.write_records(DatabaseName=db, TableName="metrics", Records=chunk,
                                  CommonAttributes={"MeasureValueType": "DOUBLE", "TimeUnit": "MILLISECONDS"})
        assert out["RecordsIngested"] == {"Total": 30, "MemoryStore": 30, "MagneticStore": 0}
    write.write_records(DatabaseName=db, TableName="metrics", Records=[{
        "Dimensions": [{"Name": "host", "Value": "multi"}], "MeasureName": "stats", "MeasureValueType": "MULTI",
        "Time": str(start // 1000), "TimeUnit": "SECONDS", "MeasureValues": [
            {"Name": "big", "Value": "9007199254740993", "Type": "BIGINT"},
            {"Name": "ok", "Value": "true", "Type": "BOOLEAN"},
            {"Name": "note", "Value": "hello", "Type": "VARCHAR"}]}])
    return db, "metrics", start


def test_rejected_records_carry_index_reason_and_existing_version(write: Any, table: tuple[str, str, int]) -> None:
    db, name, start = table
    same_key = {"Dimensions": [{"Name": "host", "Value": "h05"}], "MeasureName": "cpu", "MeasureValueType": "DOUBLE",
                "Time": str(start + 5)}
    fresh = {**same_key, "Dimensions": [{"Name": "host", "Value": "fresh"}], "MeasureValue": "1.0"}
    with pytest.raises(write.exceptions.RejectedRecordsException) as info:
        write.write_records(DatabaseName=db, TableName=name, Records=[fresh, {**same_key, "MeasureValue": "99.0"}])
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 419
    rejected = info.value.response["RejectedRecords"]
    assert [(r["RecordIndex"], r["ExistingVersion"]) for r in rejected] == [(1, 1)]
    assert "higher record version" in rejected[0]["Reason"]
    upsert = write.write_records(DatabaseName=db, TableName=name,
                                 Records=[{**same_key, "MeasureValue": "99.0", "Version": 2}])
    assert upsert["RecordsIngested"]["Total"] == 1
    retry = write.write_records(DatabaseName=db, TableName=name, Records=[fresh])  # an exact retry is accepted
    assert retry["RecordsIngested"]["Total"] == 1
    with pytest.raises(write.exceptions.RejectedRecordsException) as bad:  # a bad value rejects its record
        write.write_records(DatabaseName=db, TableName=name, Records=[{**fresh, "MeasureValue": "not a number"}])
    assert bad.value.response["RejectedRecords"][0]["RecordIndex"] == 0
    with pytest.raises(write.exceptions.ResourceNotFoundException):
        write.write_records(DatabaseName=db, TableName="missing", Records=[fresh])


def test_a_single_measure_name_may_also_name_a_multi_measure_attribute(write: Any, query: Any) -> None:
    """AWS's composite-partition-key sample: cpu_utilization written as a single measure and as an attribute
    of a multi-measure record in one table, and queried both ways."""
    db = unique("gwns")
    write.create_database(DatabaseName=db)
    write.create_table(DatabaseName=db, TableName="host_metrics")
    now = str(int(time.time() * 1000))
    common = {"Dimensions": [{"Name": "region", "Value": "us-east-1"}, {"Name": "hostId", "Value": "host1"}],
              "Time": now}
    records = [
        {"MeasureName": "cpu_utilization", "MeasureValue": "13.5", "MeasureValueType": "DOUBLE"},
        {"MeasureName": "memory_utilization", "MeasureValue": "40", "MeasureValueType": "DOUBLE"},
        {"MeasureName": "disk_io", "MeasureValue": "7", "MeasureValueType": "BIGINT"},
        {"MeasureName": "cpu_memory", "MeasureValueType": "MULTI", "MeasureValues": [
            {"Name": "cpu_utilization", "Value": "13", "Type": "BIGINT"},
            {"Name": "memory_utilization", "Value": "40", "Type": "DOUBLE"}]}]
    out = write.write_records(DatabaseName=db, TableName="host_metrics", Records=records, CommonAttributes=common)
    assert out["RecordsIngested"]["Total"] == 4
    source = f'"{db}"."host_metrics"'
    rows = query.query(QueryString=f'SELECT measure_name, cpu_utilization FROM {source} WHERE "cpu_utilization" = 13')
    assert [[d.get("ScalarValue") for d in r["Data"]] for r in rows["Rows"]] == [["cpu_memory", "13"]]
    single = query.query(QueryString=f"SELECT measure_value::double FROM {source} "
                                     "WHERE measure_name = 'cpu_utilization'")
    assert [r["Data"][0]["ScalarValue"] for r in single["Rows"]] == ["13.5"]
    described = query.query(QueryString=f"DESCRIBE {source}")
    attributes = {r["Data"][0]["ScalarValue"]: (r["Data"][1]["ScalarValue"], r["Data"][2]["ScalarValue"])
                  for r in described["Rows"]}
    assert attributes["cpu_utilization"] == ("bigint", "MULTI")
    assert attributes["measure_value::double"] == ("double", "MEASURE_VALUE")
    # SELECT * lists the columns as DESCRIBE does, as Timestream: dimensions, measure_name, time, measures.
    star = [c["Name"] for c in query.query(QueryString=f"SELECT * FROM {source} LIMIT 1")["ColumnInfo"]]
    assert star == list(attributes) == ["hostId", "region", "measure_name", "time", "cpu_utilization",
                                        "measure_value::bigint", "measure_value::double", "memory_utilization"]
    measures = query.query(QueryString=f"SHOW MEASURES FROM {source}")
    assert {r["Data"][0]["ScalarValue"]: r["Data"][1]["ScalarValue"] for r in measures["Rows"]} == {
        "cpu_memory": "multi", "cpu_utilization": "double", "memory_utilization": "double", "disk_io": "bigint"}
    # A dimension still may not take a measure name of the table, nor the other way round.
    with pytest.raises(write.exceptions.RejectedRecordsException) as info:
        write.write_records(DatabaseName=db, TableName="host_metrics", Records=[
            {"Dimensions": [{"Name": "disk_io", "Value": "x"}], "MeasureName": "other",
             "MeasureValue": "1", "MeasureValueType": "DOUBLE", "Time": now},
            {"Dimensions": [{"Name": "hostId", "Value": "host2"}], "MeasureName": "region",
             "MeasureValue": "1", "MeasureValueType": "DOUBLE", "Time": now}])
    reasons = [r["Reason"] for r in info.value.response["RejectedRecords"]]
    assert "'disk_io' is a BIGINT measure in this table; the record uses it as a dimension" in reasons[0]
    assert "'region' is a dimension in this table; the record uses it as a DOUBLE measure" in reasons[1]


def test_query_results_are_typed_for_every_column_kind(query: Any, table: tuple[str, str, int]) -> None:
    db, name, start = table
    out = query.query(QueryString=f"""
        SELECT host, big, ok, note, time, CAST(NULL AS VARCHAR) AS nothing, ARRAY[1, 2] AS pair
        FROM "{db}"."{name}" WHERE measure_name = 'stats'""")
    kinds = {c["Name"]: c["Type"] for c in out["ColumnInfo"]}
    assert kinds == {"host": {"ScalarType": "VARCHAR"}, "big": {"ScalarType": "BIGINT"},
                     "ok": {"ScalarType": "BOOLEAN"}, "note": {"ScalarType": "VARCHAR"},
                     "time": {"ScalarType": "TIMESTAMP"}, "nothing": {"ScalarType": "VARCHAR"},
                     "pair": {"ArrayColumnInfo": {"Type": {"ScalarType": "INTEGER"}}}}
    (row,) = out["Rows"]
    seconds = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(start // 1000))
    assert row["Data"] == [{"ScalarValue": "multi"}, {"ScalarValue": "9007199254740993"}, {"ScalarValue": "true"},
                           {"ScalarValue": "hello"}, {"ScalarValue": f"{seconds}.000000000"}, {"NullValue": True},
                           {"ArrayValue": [{"ScalarValue": "1"}, {"ScalarValue": "2"}]}]
    assert out["QueryStatus"]["CumulativeBytesScanned"] > 0 and out["QueryId"]
    more = query.query(QueryString="SELECT DATE '2024-01-02' AS d, 1h + 1s AS i, CAST(7 AS INTEGER) AS n, "
                                   "CAST(1e20 AS DOUBLE) AS x, CAST(NULL AS BIGINT) AS z")
    assert [c["Type"]["ScalarType"] for c in more["ColumnInfo"]] == ["DATE", "INTERVAL_DAY_TO_SECOND", "INTEGER",
                                                                     "DOUBLE", "BIGINT"]
    assert more["Rows"] == [{"Data": [{"ScalarValue": "2024-01-02"}, {"ScalarValue": "0 01:00:01.000000000"},
                                      {"ScalarValue": "7"}, {"ScalarValue": "1.0E20"}, {"NullValue": True}]}]
    sums = query.query(QueryString=f"""SELECT sum(big) AS s, count_if(ok) AS n, 2.5 * 2 AS d
        FROM "{db}"."{name}" WHERE measure_name = 'stats'""")  # DuckDB's HUGEINT and DECIMAL, answered as Trino's
    assert [c["Type"]["ScalarType"] for c in sums["ColumnInfo"]] == ["BIGINT", "BIGINT", "DOUBLE"]
    assert sums["Rows"] == [{"Data": [{"ScalarValue": "9007199254740993"}, {"ScalarValue": "1"},
                                      {"ScalarValue": "5.0"}]}]
    measures = query.query(QueryString=f'SHOW MEASURES FROM "{db}"."{name}"')
    dims = next(c for c in measures["ColumnInfo"] if c["Name"] == "Dimensions")
    assert dims["Type"] == {"ArrayColumnInfo": {"Type": {"RowColumnInfo": [
        {"Name": "dimension_name", "Type": {"ScalarType": "VARCHAR"}},
        {"Name": "data_type", "Type": {"ScalarType": "VARCHAR"}}]}}}
    cpu = next(r["Data"] for r in measures["Rows"] if r["Data"][0] == {"ScalarValue": "cpu"})
    assert cpu[2] == {"ArrayValue": [{"RowValue": {"Data": [{"ScalarValue": "host"}, {"ScalarValue": "varchar"}]}}]}


def test_next_tokens_continue_on_any_gateway(cluster: LocalCluster, table: tuple[str, str, int]) -> None:
    db, name, _ = table
    gateways = [aws.client(cluster, "timestream-query", gateway=g) for g in (1, 2)]
    sql = f"SELECT host FROM \"{db}\".\"{name}\" WHERE measure_name = 'cpu' ORDER BY host"
    page = gateways[0].query(QueryString=sql, MaxRows=7)
    hosts = [r["Data"][0]["ScalarValue"] for r in page["Rows"]]
    turn = 1
    while "NextToken" in page:
        page = gateways[turn % 2].query(QueryString=sql, MaxRows=7, NextToken=page["NextToken"])
        hosts += [r["Data"][0]["ScalarValue"] for r in page["Rows"]]
        turn += 1
    assert hosts == sorted({f"h{i:02d}" for i in range(60)} | {"fresh"}) and turn >= 9


def test_bad_tokens_and_bad_queries_are_validation_errors(query: Any, table: tuple[str, str, int]) -> None:
    db, name, _ = table
    sql = f'SELECT host FROM "{db}"."{name}"'
    first = query.query(QueryString=sql, MaxRows=5)
    with pytest.raises(query.exceptions.ValidationException, match="different QueryString"):
        query.query(QueryString=sql + " WHERE true", MaxRows=5, NextToken=first["NextToken"])
    with pytest.raises(query.exceptions.ValidationException, match="pagination token"):
        query.query(QueryString=sql, NextToken="bm90IGEgdG9rZW4=")
    forged = base64.urlsafe_b64encode(json.dumps(["127.0.0.1:1", "x", "0" * 32]).encode()).decode()
    with pytest.raises(query.exceptions.ValidationException, match="pagination token"):
        query.query(QueryString=sql, NextToken=forged)
    with pytest.raises(query.exceptions.ValidationException, match="pagination token"):
        query.query(QueryString=sql, NextToken=base64.urlsafe_b64encode(b"[" * 1500).decode())
    with pytest.raises(query.exceptions.ValidationException, match="does not exist"):  # no ResourceNotFound
        query.query(QueryString=f'SELECT * FROM "{db}"."absent"')
    with pytest.raises(query.exceptions.ValidationException):
        query.query(QueryString="SELEC nonsense")
    assert "not running" in query.cancel_query(QueryId="nosuchquery")["CancellationMessage"]


def test_the_sdk_follows_a_token_only_to_a_registered_coordinator(client: Client) -> None:
    with pytest.raises(errors.ValidationError, match="coordinator that ran this query is gone"):
        client.query_page("SELECT 1", next_token="x", coordinator="127.0.0.1:1")


def test_query_insights_report_the_time_span_the_partitions_and_the_output_at_one_query_a_second(
        cluster: LocalCluster, table: tuple[str, str, int]) -> None:
    db, name, start = table
    query = aws.client(cluster, "timestream-query", retries={"max_attempts": 1})  # see the throttling itself
    sql = (f'SELECT host, measure_value::double AS v FROM "{db}"."{name}" WHERE measure_name = \'cpu\' '
           f"AND time >= from_milliseconds({start}) AND time < from_milliseconds({start + 30})")
    time.sleep(1.1)  # another test's insights query may have just used this second's allowance
    got = query.query(QueryString=sql, QueryInsights={"Mode": "ENABLED_WITH_RATE_CONTROL"})
    assert len(got["Rows"]) >= 30  # the fixture's 30 and what other tests of the module wrote in that span
    insights = got["QueryInsightsResponse"]
    table_arn = f"arn:aws:timestream:{aws.REGION}:000000000000:database/{db}/table/{name}"
    assert insights["QueryTableCount"] == 1 and insights["OutputBytes"] > 0
    assert insights["OutputRows"] == len(got["Rows"])
    assert insights["QueryTemporalRange"]["Max"] == {"Value": 30 * 1_000_000, "TableArn": table_arn}
    assert insights["QuerySpatialCoverage"]["Max"] == {"Value": 1.0, "TableArn": table_arn,
                                                       "PartitionKey": ["measure_name"]}
    # Two at once: whatever a query's own time on a busy machine, both fall into one second, which allows one
    # at most (none when the query above still holds that second's allowance).
    def with_insights() -> str:
        try:
            query.query(QueryString=sql, QueryInsights={"Mode": "ENABLED_WITH_RATE_CONTROL"})
            return "answered"
        except query.exceptions.ThrottlingException as exc:
            assert "1 query per second" in str(exc)
            return "throttled"

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(lambda _: with_insights(), range(2)))
    assert outcomes in (["answered", "throttled"], ["throttled", "throttled"])
    assert "QueryInsightsResponse" not in query.query(QueryString=sql, QueryInsights={"Mode": "DISABLED"})


def test_prepare_query_answers_columns_and_parameters(query: Any, table: tuple[str, str, int]) -> None:
    db, name, _ = table
    prepared = query.prepare_query(QueryString=f'SELECT host, measure_value::double AS v FROM "{db}"."{name}" '
                                   "WHERE time > @scheduled_runtime - 1h", ValidateOnly=True)
    assert [(c["Name"], c["Type"], c["Aliased"]) for c in prepared["Columns"]] == [
        ("host", {"ScalarType": "VARCHAR"}, False), ("v", {"ScalarType": "DOUBLE"}, True)]
    # ValidateOnly=false would also keep the prepared query for a scheduled query: the same answer.
    kept = query.prepare_query(QueryString=f'SELECT *, 1 AS one FROM "{db}"."{name}"', ValidateOnly=False)
    assert [c["Aliased"] for c in kept["Columns"]] == [False] * (len(kept["Columns"]) - 1) + [True]
    assert prepared["Parameters"] == [{"Name": "@scheduled_runtime", "Type": {"ScalarType": "TIMESTAMP"}}]
    with pytest.raises(query.exceptions.ValidationException):
        query.prepare_query(QueryString=f'SELECT nope FROM "{db}"."{name}"', ValidateOnly=True)
    unaliased = query.prepare_query(QueryString=f'SELECT host, count(*), max(time) FROM "{db}"."{name}" GROUP BY host',
                                    ValidateOnly=True)
    assert [c["Name"] for c in unaliased["Columns"]] == ["host", "_col1", "_col2"]  # Trino's names


def test_account_settings_are_the_same_on_every_gateway(cluster: LocalCluster) -> None:
    """They are kept in the catalog: what one gateway updates, another describes; Timestream's rules hold."""
    first, second = (aws.client(cluster, "timestream-query", gateway=g) for g in (1, 2))
    before = first.describe_account_settings()
    assert before["QueryPricingModel"] in ("BYTES_SCANNED", "COMPUTE_UNITS")
    compute = {"ComputeMode": "PROVISIONED", "ProvisionedCapacity": {"TargetQueryTCU": 8}}
    after = first.update_account_settings(MaxQueryTCU=8, QueryPricingModel="COMPUTE_UNITS", QueryCompute=compute)
    assert (after["MaxQueryTCU"], after["QueryPricingModel"]) == (8, "COMPUTE_UNITS")
    seen = second.describe_account_settings()
    assert (seen["MaxQueryTCU"], seen["QueryPricingModel"]) == (8, "COMPUTE_UNITS")
    assert seen["QueryCompute"] == {"ComputeMode": "PROVISIONED", "ProvisionedCapacity": {
        "ActiveQueryTCU": 8, "LastUpdate": {"TargetQueryTCU": 8, "Status": "SUCCEEDED"}}}
    # An update of one member keeps the others, whichever gateway it goes through.
    assert second.update_account_settings(MaxQueryTCU=12)["QueryPricingModel"] == "COMPUTE_UNITS"
    assert first.describe_account_settings()["MaxQueryTCU"] == 12
    with pytest.raises(first.exceptions.ValidationException):
        first.update_account_settings(QueryPricingModel="FREE")
    for tcu in (2, 6, 1004):
        with pytest.raises(second.exceptions.ValidationException, match="multiple of 4 from 4 to 1000"):
            second.update_account_settings(MaxQueryTCU=tcu)
    with pytest.raises(first.exceptions.ValidationException, match="one-way"):
        first.update_account_settings(QueryPricingModel="BYTES_SCANNED")
    assert first.describe_account_settings()["MaxQueryTCU"] == 12  # a refused update changed nothing


def test_a_next_token_serves_only_its_access_key_and_its_coordinator(cluster: LocalCluster,
                                                                     table: tuple[str, str, int]) -> None:
    db, name, _ = table
    second_id, second_secret = ensure_profile(cluster.spec.credentials, "second-user")
    time.sleep(RELOAD_EVERY_S + 0.5)  # the gateways re-read the credentials file
    first = aws.client(cluster, "timestream-query")
    other = aws.client(cluster, "timestream-query", gateway=2, key_id=second_id, secret=second_secret)
    sql = f'SELECT host FROM "{db}"."{name}"'
    page = first.query(QueryString=sql, MaxRows=5)
    with pytest.raises(other.exceptions.ValidationException, match="this access key"):
        other.query(QueryString=sql, MaxRows=5, NextToken=page["NextToken"])
    coordinator = json.loads(base64.urlsafe_b64decode(page["NextToken"]))[0]
    holder = next(p for p in cluster.nodes("query") if p.address == coordinator)
    cluster.kill(holder.name)
    try:
        with pytest.raises(first.exceptions.ValidationException, match="run the query again"):
            first.query(QueryString=sql, MaxRows=5, NextToken=page["NextToken"])
        assert len(first.query(QueryString=sql)["Rows"]) == 62  # a fresh run is served by the other coordinators
    finally:
        cluster.restart(holder.name)


def test_timeseries_results_come_typed_as_timeseries(query: Any, table: tuple[str, str, int]) -> None:
    db, name, start = table
    out = query.query(QueryString=f"""
        SELECT host, create_time_series(time, measure_value::double) AS ts,
               interpolate_linear(create_time_series(time, measure_value::double),
                                  sequence(min(time), max(time), 1ms)) AS filled
        FROM "{db}"."{name}" WHERE host IN ('h01', 'h02') AND measure_name = 'cpu' GROUP BY host ORDER BY host""")
    assert out["ColumnInfo"][1] == {"Name": "ts", "Type": {"TimeSeriesMeasureValueColumnInfo": {
        "Type": {"ScalarType": "DOUBLE"}}}}
    first = out["Rows"][0]["Data"]
    (point,) = first[1]["TimeSeriesValue"]
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime((start + 1) // 1000)) + f".{(start + 1) % 1000:03d}000000"
    assert point == {"Time": stamp, "Value": {"ScalarValue": "1.5"}}
    assert [p["Value"] for p in first[2]["TimeSeriesValue"]] == [{"ScalarValue": "1.5"}]
