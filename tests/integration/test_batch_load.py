"""Batch-load tasks through the HTTP gateway with boto3: CSV files in the cluster's real object store
(SeaweedFS), loaded into a table and read back with queries; progress, failures and the error report; task
state shared by both gateways; a task whose gateway died, resumed; and the errors of bad requests."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tessera.cluster import LocalCluster
from tessera.local_s3 import BUCKET
from tests.integration import aws
from tests.integration.conftest import unique

pytestmark = pytest.mark.integration

ROWS = 250  # more than one WriteRecords call of 100


@pytest.fixture(scope="module")
def s3(cluster: LocalCluster) -> Any:
    return aws.s3(cluster)


@pytest.fixture(scope="module")
def write(cluster: LocalCluster) -> Any:
    return aws.client(cluster, "timestream-write")


@pytest.fixture(scope="module")
def query(cluster: LocalCluster) -> Any:
    return aws.client(cluster, "timestream-query")


@pytest.fixture()
def table(write: Any) -> tuple[str, str]:
    db = unique("bl")
    write.create_database(DatabaseName=db)
    write.create_table(DatabaseName=db, TableName="metrics")
    return db, "metrics"


def _put(s3: Any, key: str, lines: list[str]) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body="\n".join(lines).encode() + b"\n")


def _wait(client: Any, task_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        task = client.describe_batch_load_task(TaskId=task_id)["BatchLoadTaskDescription"]
        if task["TaskStatus"] in ("SUCCEEDED", "FAILED", "PROGRESS_STOPPED") or time.monotonic() > deadline:
            return task
        time.sleep(0.2)


def _multi_model(time_unit: str = "MILLISECONDS") -> dict[str, Any]:
    """awswrangler's form: dimensions by source name, the record's name from a column, typed attributes."""
    return {"DataModel": {
        "TimeColumn": "time", "TimeUnit": time_unit,
        "DimensionMappings": [{"SourceColumn": "region"}, {"SourceColumn": "host", "DestinationColumn": "hostname"}],
        "MeasureNameColumn": "measure_name",
        "MultiMeasureMappings": {"MultiMeasureAttributeMappings": [
            {"SourceColumn": "cpu", "MeasureValueType": "DOUBLE"},
            {"SourceColumn": "mem", "TargetMultiMeasureAttributeName": "memory", "MeasureValueType": "BIGINT"},
            {"SourceColumn": "note", "MeasureValueType": "VARCHAR"}]}}}


def _request(db: str, table: str, prefix: str, model: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"TargetDatabaseName": db, "TargetTableName": table, "DataModelConfiguration": model,
            "DataSourceConfiguration": {"DataSourceS3Configuration": {"BucketName": BUCKET, "ObjectKeyPrefix": prefix},
                                        "DataFormat": "CSV"},
            "ReportConfiguration": {"ReportS3Configuration": {"BucketName": BUCKET, "ObjectKeyPrefix": f"{prefix}-reports"}},
            **extra}


def test_csv_files_are_loaded_and_the_task_is_the_same_on_both_gateways(
        cluster: LocalCluster, s3: Any, write: Any, query: Any, table: tuple[str, str]) -> None:
    db, name = table
    now = int(time.time() * 1000) - 120_000
    prefix = unique("load")
    header = "time,region,host,measure_name,cpu,mem,note"
    first = [header] + [f"{now + i},{'eu' if i % 2 else 'us'},h{i % 10},usage,{i + 0.5},{i * 1000},\"n, {i}\""
                        for i in range(ROWS)]
    first[5] = f"{now + 4},us,h4,usage,4.5,,"  # empty cells: the attributes are left out, the row still loads
    _put(s3, f"{prefix}/part-1.csv", first)
    _put(s3, f"{prefix}/part-2.csv", [header, f"{now + ROWS},eu,h99,usage,1.25,7,last"])
    request = _request(db, name, prefix, _multi_model(), RecordVersion=3, ClientToken=prefix)
    task_id = write.create_batch_load_task(**request)["TaskId"]
    assert write.create_batch_load_task(**request)["TaskId"] == task_id  # the same ClientToken: the same task

    other = aws.client(cluster, "timestream-write", gateway=2)
    task = _wait(other, task_id)
    assert task["TaskStatus"] == "SUCCEEDED", task
    report = task["ProgressReport"]
    assert (report["RecordsProcessed"], report["RecordsIngested"]) == (ROWS + 1, ROWS + 1)
    assert report["ParseFailures"] == report["RecordIngestionFailures"] == report["FileFailures"] == 0
    assert report["BytesMetered"] > 0 and task["RecordVersion"] == 3
    assert task["DataModelConfiguration"] == request["DataModelConfiguration"]

    rows = query.query(QueryString=f'SELECT hostname, region, cpu, memory, note FROM "{db}"."{name}" '
                                   f"WHERE time = from_milliseconds({now + 7})")["Rows"]
    assert [[c.get("ScalarValue") for c in r["Data"]] for r in rows] == [["h7", "eu", "7.5", "7000", "n, 7"]]
    gap = query.query(QueryString=f'SELECT memory, note FROM "{db}"."{name}" WHERE time = from_milliseconds({now + 4})')
    assert [[c.get("NullValue", False) for c in r["Data"]] for r in gap["Rows"]] == [[True, True]]
    count = query.query(QueryString=f'SELECT count(*) FROM "{db}"."{name}"')["Rows"][0]["Data"][0]["ScalarValue"]
    assert int(count) == ROWS + 1

    listed = other.list_batch_load_tasks(TaskStatus="SUCCEEDED")["BatchLoadTasks"]
    assert {"TaskId": task_id, "DatabaseName": db, "TableName": name, "TaskStatus": "SUCCEEDED"}.items() <= next(
        t for t in listed if t["TaskId"] == task_id).items()
    with pytest.raises(write.exceptions.ValidationException, match="only a task in PROGRESS_STOPPED"):
        write.resume_batch_load_task(TaskId=task_id)


def test_bad_rows_fail_the_task_and_the_error_report_names_their_lines(
        s3: Any, write: Any, query: Any, table: tuple[str, str]) -> None:
    db, name = table
    now = int(time.time() * 1000) - 60_000
    prefix = unique("bad")
    _put(s3, f"{prefix}/data.csv", [
        "time,region,host,measure_name,cpu,mem,note",
        f"{now},us,h1,usage,1.5,10,ok",                     # line 2: loads
        "yesterday,us,h1,usage,1.5,10,bad time",           # line 3: parse failure
        f"{now + 1},us,h1,usage,1.5",                       # line 4: too few fields
        f"{now + 2},us,h1,usage,,,",                        # line 5: no measure at all
        f"{now - 400 * 86_400_000},us,h1,usage,1,1,old",    # line 6: older than the memory store, rejected
        f"{now + 3},us,h2,usage,2.5,20,ok"])                # line 7: loads
    _put(s3, f"{prefix}/other.csv", ["time,region,cpu", f"{now},us,1"])  # lacks mapped columns: a file failure
    task_id = write.create_batch_load_task(**_request(db, name, prefix, _multi_model()))["TaskId"]
    task = _wait(write, task_id)
    assert task["TaskStatus"] == "FAILED"
    report = task["ProgressReport"]
    assert report["RecordsIngested"] == 2 and report["ParseFailures"] == 3
    assert report["RecordIngestionFailures"] == 1 and report["FileFailures"] == 1
    key = f"{prefix}-reports/{task_id}/error-report.json"
    assert f"s3://{BUCKET}/{key}" in task["ErrorMessage"]
    doc = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert doc["taskId"] == task_id and doc["taskErrors"] == []
    by_file = {f["fileName"]: f["errors"] for f in doc["fileErrors"]}
    lines = sorted(line for e in by_file[f"{prefix}/data.csv"] for r in e["lineRanges"] for line in range(r[0], r[1] + 1))
    assert lines == [3, 4, 5, 6]
    assert "not in the header" in by_file[f"{prefix}/other.csv"][0]["reason"]
    count = query.query(QueryString=f'SELECT count(*) FROM "{db}"."{name}"')["Rows"][0]["Data"][0]["ScalarValue"]
    assert count == "2"


def test_mixed_mappings_and_a_data_model_read_from_the_object_store(
        s3: Any, write: Any, query: Any, table: tuple[str, str]) -> None:
    db, name = table
    now_s = int(time.time()) - 60
    prefix = unique("mixed")
    _put(s3, f"{prefix}/data.csv", ["ts;site;kind;reading;a;b",
                                    f"{now_s};s1;temp;21.5;;",
                                    f"{now_s};s1;pair;;1;2",
                                    f"{now_s + 1};s2;temp;NA;;"])  # NA is the NullValue: no measure, a parse failure
    model = {"TimeColumn": "ts", "TimeUnit": "SECONDS", "DimensionMappings": [{"SourceColumn": "site"}],
             "MeasureNameColumn": "kind",
             "MixedMeasureMappings": [
                 {"MeasureName": "temp", "SourceColumn": "reading", "TargetMeasureName": "temperature",
                  "MeasureValueType": "DOUBLE"},
                 {"MeasureName": "pair", "MeasureValueType": "MULTI", "MultiMeasureAttributeMappings": [
                     {"SourceColumn": "a", "MeasureValueType": "BIGINT"},
                     {"SourceColumn": "b", "MeasureValueType": "BIGINT"}]}]}
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}-model.json", Body=json.dumps(model).encode())
    request = _request(db, name, f"{prefix}/", {"DataModelS3Configuration": {"BucketName": BUCKET,
                                                                             "ObjectKey": f"{prefix}-model.json"}})
    request["DataSourceConfiguration"]["CsvConfiguration"] = {"ColumnSeparator": ";", "NullValue": "NA"}
    task = _wait(write, write.create_batch_load_task(**request)["TaskId"])
    assert task["TaskStatus"] == "FAILED" and task["ProgressReport"]["ParseFailures"] == 1
    assert task["ProgressReport"]["RecordsIngested"] == 2
    rows = query.query(QueryString=f'SELECT measure_name, measure_value::double, a, b FROM "{db}"."{name}" '
                                   "ORDER BY measure_name")["Rows"]
    assert [[c.get("ScalarValue") for c in r["Data"]] for r in rows] == [["pair", None, "1", "2"],
                                                                         ["temperature", "21.5", None, None]]


def test_a_task_whose_gateway_died_reads_as_stopped_and_resumes(
        cluster: LocalCluster, s3: Any, write: Any, query: Any, table: tuple[str, str]) -> None:
    """The task document of a gateway that died mid-task (its heartbeat stale) is written straight into the
    catalog, as that gateway left it; any gateway then resumes it and loads every row exactly once."""
    import tessera

    db, name = table
    now = int(time.time() * 1000) - 60_000
    prefix = unique("resume")
    _put(s3, f"{prefix}/data.csv", ["time,region,host,measure_name,cpu,mem,note"] +
         [f"{now + i},us,h{i},usage,{i},{i},x" for i in range(30)])
    request = _request(db, name, prefix, _multi_model(), RecordVersion=1)
    long_ago = time.time() - 3_600
    task_id = "DEADGATEWAY" + unique("t").upper().replace("_", "")[-12:]
    doc = {"TaskId": task_id, "TaskStatus": "IN_PROGRESS", "Owner": "gone", "TargetDatabaseName": db,
           "TargetTableName": name, "DataSourceConfiguration": request["DataSourceConfiguration"],
           "DataModelConfiguration": request["DataModelConfiguration"],
           "DataModel": request["DataModelConfiguration"]["DataModel"],
           "ReportConfiguration": request["ReportConfiguration"], "RecordVersion": 1, "ClientToken": None,
           "CreationTime": long_ago, "LastUpdatedTime": long_ago, "Heartbeat": long_ago,
           "ProgressReport": {"RecordsProcessed": 10, "RecordsIngested": 10, "ParseFailures": 0,
                              "RecordIngestionFailures": 0, "FileFailures": 0, "BytesMetered": 100}}
    with tessera.Client(cluster.discovery_address) as client:
        # the dead gateway had written the first 10 rows already
        client.write_records(db, name, [{"Time": str(now + i), "TimeUnit": "MILLISECONDS", "Version": 1,
                                         "Dimensions": [{"Name": "region", "Value": "us"},
                                                        {"Name": "hostname", "Value": f"h{i}"}],
                                         "MeasureName": "usage", "MeasureValueType": "MULTI",
                                         "MeasureValues": [{"Name": "cpu", "Value": str(i), "Type": "DOUBLE"},
                                                           {"Name": "memory", "Value": str(i), "Type": "BIGINT"},
                                                           {"Name": "note", "Value": "x", "Type": "VARCHAR"}]}
                                        for i in range(10)])
        assert client.put_gateway_document("batch-load-task", task_id, json.dumps(doc))[0]
    described = write.describe_batch_load_task(TaskId=task_id)["BatchLoadTaskDescription"]
    assert described["TaskStatus"] == "PROGRESS_STOPPED" and described["ResumableUntil"]
    stopped = write.list_batch_load_tasks(TaskStatus="PROGRESS_STOPPED")["BatchLoadTasks"]
    assert task_id in [t["TaskId"] for t in stopped]
    write.resume_batch_load_task(TaskId=task_id)
    task = _wait(aws.client(cluster, "timestream-write", gateway=2), task_id)
    assert task["TaskStatus"] == "SUCCEEDED", task
    assert task["ProgressReport"]["RecordsIngested"] == 30  # the 10 written before are accepted duplicates
    count = query.query(QueryString=f'SELECT count(*) FROM "{db}"."{name}"')["Rows"][0]["Data"][0]["ScalarValue"]
    assert count == "30"


def test_bad_requests_are_refused_with_aws_errors(write: Any, table: tuple[str, str]) -> None:
    db, name = table
    good = _request(db, name, "nothing-here", _multi_model())
    with pytest.raises(write.exceptions.ResourceNotFoundException):
        write.create_batch_load_task(**{**good, "TargetTableName": "no_such_table"})
    with pytest.raises(write.exceptions.ValidationException, match="does not exist in the object store"):
        write.create_batch_load_task(**{**good, "DataSourceConfiguration": {
            "DataSourceS3Configuration": {"BucketName": "no-such-bucket"}, "DataFormat": "CSV"}})
    both = json.loads(json.dumps(good["DataModelConfiguration"]))
    both["DataModel"]["MixedMeasureMappings"] = [{"MeasureName": "x", "SourceColumn": "cpu",
                                                  "MeasureValueType": "DOUBLE"}]
    with pytest.raises(write.exceptions.ValidationException, match="exactly one of"):
        write.create_batch_load_task(**{**good, "DataModelConfiguration": both})
    kms = {"ReportS3Configuration": {"BucketName": BUCKET, "EncryptionOption": "SSE_KMS"}}
    with pytest.raises(write.exceptions.ValidationException, match="SSE_KMS"):
        write.create_batch_load_task(**{**good, "ReportConfiguration": kms})
    with pytest.raises(write.exceptions.ResourceNotFoundException):
        write.describe_batch_load_task(TaskId="NOSUCHTASK")
    with pytest.raises(write.exceptions.ValidationException):
        write.list_batch_load_tasks(NextToken="garbage")
    # A prefix without files: the task runs and fails, saying so.
    task = _wait(write, write.create_batch_load_task(**good)["TaskId"])
    assert task["TaskStatus"] == "FAILED" and "No file under" in task["ErrorMessage"]
