"""UNLOAD through the HTTP gateway with boto3, into the cluster's real S3-compatible object store (SeaweedFS),
read back with boto3's S3 client and pyarrow: Timestream's response, file layout, manifest, metadata, CSV
escaping and partitions, Parquet types, and the errors of bad statements."""

from __future__ import annotations

import csv
import gzip
import io
import json
import time
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tessera.cluster import LocalCluster
from tessera.local_s3 import BUCKET
from tests.integration import aws
from tests.integration.conftest import unique

pytestmark = pytest.mark.integration

HOSTS = 12


@pytest.fixture(scope="module")
def query(cluster: LocalCluster) -> Any:
    # QueryInsights are limited to one a second per gateway (ThrottlingException, which boto3 retries)
    return aws.client(cluster, "timestream-query", retries={"max_attempts": 10, "mode": "standard"})


@pytest.fixture(scope="module")
def s3(cluster: LocalCluster) -> Any:
    return aws.s3(cluster)


@pytest.fixture(scope="module")
def table(cluster: LocalCluster) -> str:
    """``db.readings``: 12 hosts in two regions, multi-measure (load DOUBLE, note VARCHAR with commas, quotes,
    backslashes and a line break, count BIGINT), one record each."""
    write = aws.client(cluster, "timestream-write")
    db = unique("unload")
    write.create_database(DatabaseName=db)
    write.create_table(DatabaseName=db, TableName="readings")
    now = int(time.time() * 1000) - 60_000
    notes = ['plain', 'a,b', 'say "hi"', 'back\\slash', 'two\nlines', '']
    records = [{"Dimensions": [{"Name": "region", "Value": "eu" if i % 2 else "us"},
                               {"Name": "host", "Value": f"h{i:02d}"}],
                "MeasureName": "m", "MeasureValueType": "MULTI", "Time": str(now + i),
                "MeasureValues": [{"Name": "load", "Value": str(i + 0.25), "Type": "DOUBLE"},
                                  {"Name": "note", "Value": notes[i % len(notes)] or "-", "Type": "VARCHAR"},
                                  {"Name": "count", "Value": str(9007199254740993 + i), "Type": "BIGINT"}]}
               for i in range(HOSTS)]
    write.write_records(DatabaseName=db, TableName="readings", Records=records)
    return f'"{db}"."readings"'


def _object(s3: Any, url: str) -> bytes:
    bucket, key = url.removeprefix("s3://").split("/", 1)
    body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def _unload(query: Any, sql: str) -> dict[str, str]:
    out = query.query(QueryString=sql, QueryInsights={"Mode": "ENABLED_WITH_RATE_CONTROL"})
    insights = out["QueryInsightsResponse"]
    assert insights["UnloadWrittenRows"] == int(out["Rows"][0]["Data"][0]["ScalarValue"])
    assert insights["UnloadWrittenBytes"] > 0 or insights["UnloadWrittenRows"] == 0
    assert [(c["Name"], c["Type"]["ScalarType"]) for c in out["ColumnInfo"]] == [
        ("rows", "BIGINT"), ("metadataFile", "VARCHAR"), ("manifestFile", "VARCHAR")]
    (row,) = out["Rows"]
    answer = {c["Name"]: d["ScalarValue"] for c, d in zip(out["ColumnInfo"], row["Data"])}
    return answer | {"partitions": str(insights["UnloadPartitionCount"])}


def _rows(query: Any, sql: str) -> list[list[str | None]]:
    out = query.query(QueryString=sql)
    return [[d.get("ScalarValue") for d in r["Data"]] for r in out["Rows"]]


def test_csv_partitioned_by_region_matches_the_query(query: Any, s3: Any, table: str) -> None:
    select = f"SELECT host, load, note, count, time, region FROM {table}"
    folder = f"{unique('csv')}/run"
    got = _unload(query, f"UNLOAD ({select}) TO 's3://{BUCKET}/{folder}/' "
                         "WITH (partitioned_by = ARRAY['region'], format = 'CSV', compression = 'GZIP')")
    assert got["rows"] == str(HOSTS)
    assert got["partitions"] == "2"
    assert got["manifestFile"].startswith(f"s3://{BUCKET}/{folder}/") and got["manifestFile"].endswith("_manifest.json")
    manifest = json.loads(_object(s3, got["manifestFile"]))
    metadata = json.loads(_object(s3, got["metadataFile"]))
    assert [c["Name"] for c in metadata["ColumnInfo"]] == ["host", "load", "note", "count", "time", "region"]
    assert metadata["ColumnInfo"][1]["Type"] == {"ScalarType": "DOUBLE"}
    assert manifest["query_metadata"]["total_row_count"] == HOSTS
    assert manifest["query_metadata"]["result_format"] == "CSV"
    assert manifest["author"] == {"name": "Amazon Timestream", "manifest_file_version": "1.0"}
    by_region: dict[str, list[list[str]]] = {}
    for entry in manifest["result_files"]:
        url = entry["url"]
        assert url.endswith(".gz") and "/results/region=" in url
        data = _object(s3, url)
        assert entry["file_metadata"]["content_length_in_bytes"] == len(data)
        text = gzip.decompress(data).decode()
        rows = list(csv.reader(io.StringIO(text), escapechar="\\", doublequote=False))
        assert entry["file_metadata"]["row_count"] == len(rows)
        by_region.setdefault(url.split("/results/region=")[1].split("/")[0], []).extend(rows)
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{folder}/results/")["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted(e["url"].split("/", 3)[3] for e in manifest["result_files"])
    expected = _rows(query, select)
    for region in ("eu", "us"):  # the partition column is in the folder name, not in the files
        want = sorted(r[:-1] for r in expected if r[-1] == region)
        assert sorted(by_region[region]) == want
    assert any('say "hi"' in r for rows in by_region.values() for r in rows)
    assert any("two\nlines" in r for rows in by_region.values() for r in rows)


def test_parquet_holds_the_query_result_with_its_types(query: Any, s3: Any, table: str) -> None:
    folder = unique("parquet")
    got = _unload(query, f"UNLOAD (SELECT host, load, count, time FROM {table} WHERE region = 'eu' ORDER BY host) "
                         f"TO 's3://{BUCKET}/{folder}' WITH (format = 'PARQUET')")
    assert got["rows"] == str(HOSTS // 2)
    manifest = json.loads(_object(s3, got["manifestFile"]))
    assert manifest["query_metadata"]["result_format"] == "PARQUET"
    (entry,) = manifest["result_files"]
    assert entry["url"].endswith(".parquet")
    data = pq.read_table(io.BytesIO(_object(s3, entry["url"])))
    assert data.schema.field("count").type == pa.int64() and data.schema.field("load").type == pa.float64()
    assert pa.types.is_timestamp(data.schema.field("time").type)
    assert data.column("host").to_pylist() == [f"h{i:02d}" for i in range(1, HOSTS, 2)]
    assert data.column("count").to_pylist() == [9007199254740993 + i for i in range(1, HOSTS, 2)]  # exact
    times = _rows(query, f"SELECT to_nanoseconds(time) FROM {table} WHERE region = 'eu' ORDER BY host")
    assert data.column("time").cast(pa.int64()).to_pylist() == [int(t[0] or 0) for t in times]


def test_header_delimiter_and_no_compression(query: Any, s3: Any, table: str) -> None:
    folder = unique("pipe")
    got = _unload(query, f"UNLOAD (SELECT host, note FROM {table} WHERE host = 'h02') TO 's3://{BUCKET}/{folder}' "
                         "WITH (field_delimiter = '|', include_header = 'true', compression = 'NONE')")
    (entry,) = json.loads(_object(s3, got["manifestFile"]))["result_files"]
    assert entry["url"].endswith(".csv")
    assert _object(s3, entry["url"]).decode() == 'host|note\nh02|say \\"hi\\"\n'


@pytest.mark.parametrize(("sql", "message"), [
    ("UNLOAD (SELECT host FROM {t}) TO 's3://{b}/x' WITH (format = 'JSON')", "format must be one of"),
    ("UNLOAD (SELECT region, host FROM {t}) TO 's3://{b}/x' WITH (partitioned_by = ARRAY['region'])",
     "must be the last columns"),
    ("UNLOAD (SELECT host FROM {t}) TO 's3://{b}/x' WITH (encryption = 'SSE_KMS', kms_key = 'k')", "KMS"),
    ("UNLOAD (SELECT host FROM {t}) TO 's3://{b}/x' WITH (max_file_size = '1MB')", "between 16MB and 78GB"),
    ("UNLOAD (SELECT host FROM {t}) TO '/tmp/x'", "not an S3 location"),
    ("UNLOAD (SELECT host FROM {t}) TO 's3://{b}/x' WITH (format = 'PARQUET', include_header = 'true')",
     "CSV' only"),
    ("UNLOAD (SELECT host, time FROM {t}) TO 's3://{b}/x' WITH (partitioned_by = ARRAY['nope'])",
     "not a column"),
    ("UNLOAD (SELECT host FROM {t}) TO 's3://no-such-bucket/x'", "the bucket 'no-such-bucket' does not exist"),
])
def test_bad_statements_are_refused_and_write_nothing(query: Any, s3: Any, table: str, sql: str,
                                                      message: str) -> None:
    with pytest.raises(query.exceptions.ValidationException) as info:
        query.query(QueryString=sql.format(t=table, b=BUCKET))
    assert message in info.value.response["Error"]["Message"]
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="x/")
