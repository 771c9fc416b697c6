"""Timestream's catalog operations through the HTTP gateway with boto3: shapes, paging and error types."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tessera.cluster import LocalCluster
from tests.integration import aws
from tests.integration.conftest import unique

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def write(cluster: LocalCluster) -> Any:
    return aws.client(cluster, "timestream-write")


def test_database_lifecycle_with_shapes_arns_and_errors(write: Any) -> None:
    name = unique("gwdb")
    created = write.create_database(DatabaseName=name)["Database"]
    assert created["Arn"] == f"arn:aws:timestream:{aws.REGION}:000000000000:database/{name}"
    assert created["DatabaseName"] == name and created["TableCount"] == 0
    assert created["CreationTime"].year >= 2026
    assert write.describe_database(DatabaseName=name)["Database"]["Arn"] == created["Arn"]
    updated = write.update_database(DatabaseName=name, KmsKeyId="alias/tessera-test")["Database"]
    assert updated["KmsKeyId"] == "alias/tessera-test"
    with pytest.raises(write.exceptions.ConflictException, match="already exists"):
        write.create_database(DatabaseName=name)
    write.delete_database(DatabaseName=name)
    with pytest.raises(write.exceptions.ResourceNotFoundException):
        write.describe_database(DatabaseName=name)


def test_list_databases_pages_with_max_results_and_next_token(write: Any) -> None:
    names = {unique("gwpage") for _ in range(5)}
    for n in names:
        write.create_database(DatabaseName=n)
    seen: list[str] = []
    pages = 0
    token: dict[str, str] = {}
    while True:
        page = write.list_databases(MaxResults=2, **token)
        assert len(page["Databases"]) <= 2
        seen += [d["DatabaseName"] for d in page["Databases"]]
        pages += 1
        if "NextToken" not in page:
            break
        token = {"NextToken": page["NextToken"]}
    assert names <= set(seen) and len(seen) == len(set(seen)) and pages >= 3


def test_table_lifecycle_echoes_properties_exactly(write: Any) -> None:
    db = unique("gwtdb")
    write.create_database(DatabaseName=db)
    defaults = write.create_table(DatabaseName=db, TableName="plain")["Table"]
    assert defaults["RetentionProperties"] == {"MemoryStoreRetentionPeriodInHours": 6,
                                               "MagneticStoreRetentionPeriodInDays": 73000}
    assert defaults["MagneticStoreWriteProperties"] == {"EnableMagneticStoreWrites": False}
    assert defaults["Schema"] == {"CompositePartitionKey": [{"Type": "MEASURE"}]}
    assert defaults["Arn"].endswith(f":database/{db}/table/plain") and defaults["TableStatus"] == "ACTIVE"
    magnetic = {"EnableMagneticStoreWrites": True, "MagneticStoreRejectedDataLocation": {"S3Configuration": {
        "BucketName": "rejects", "ObjectKeyPrefix": "tessera/", "EncryptionOption": "SSE_S3"}}}
    key = [{"Type": "DIMENSION", "Name": "host", "EnforcementInRecord": "REQUIRED"}]
    table = write.create_table(DatabaseName=db, TableName="keyed", MagneticStoreWriteProperties=magnetic,
                               RetentionProperties={"MemoryStoreRetentionPeriodInHours": 12,
                                                    "MagneticStoreRetentionPeriodInDays": 30},
                               Schema={"CompositePartitionKey": key})["Table"]
    assert table["MagneticStoreWriteProperties"] == magnetic
    assert table["Schema"]["CompositePartitionKey"] == key
    described = write.describe_table(DatabaseName=db, TableName="keyed")["Table"]
    assert described["MagneticStoreWriteProperties"] == magnetic
    assert described["RetentionProperties"]["MemoryStoreRetentionPeriodInHours"] == 12
    updated = write.update_table(DatabaseName=db, TableName="keyed", RetentionProperties={
        "MemoryStoreRetentionPeriodInHours": 24, "MagneticStoreRetentionPeriodInDays": 60},
        Schema={"CompositePartitionKey": [{**key[0], "EnforcementInRecord": "OPTIONAL"}]})["Table"]
    assert updated["RetentionProperties"] == {"MemoryStoreRetentionPeriodInHours": 24,
                                              "MagneticStoreRetentionPeriodInDays": 60}
    assert updated["Schema"]["CompositePartitionKey"][0]["EnforcementInRecord"] == "OPTIONAL"
    with pytest.raises(write.exceptions.ValidationException, match="cannot change"):
        write.update_table(DatabaseName=db, TableName="keyed",
                           Schema={"CompositePartitionKey": [{"Type": "DIMENSION", "Name": "region"}]})
    listed = write.list_tables(DatabaseName=db)["Tables"]
    assert sorted(t["TableName"] for t in listed) == ["keyed", "plain"]
    with pytest.raises(write.exceptions.ValidationException):  # a database with tables cannot go
        write.delete_database(DatabaseName=db)
    write.delete_table(DatabaseName=db, TableName="plain")
    with pytest.raises(write.exceptions.ResourceNotFoundException):
        write.describe_table(DatabaseName=db, TableName="plain")
    with pytest.raises(write.exceptions.ResourceNotFoundException):
        write.create_table(DatabaseName=unique("nodb"), TableName="orphan")


def test_requests_breaking_the_model_are_refused_in_aws_words(write: Any) -> None:
    with pytest.raises(write.exceptions.ValidationException) as info:
        write.create_database(DatabaseName="has space")
    assert info.value.response["Error"]["Message"] == (
        "1 validation error detected: Value 'has space' at 'databaseName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+")
    with pytest.raises(write.exceptions.ValidationException, match="at 'tags.1.member.key' failed to satisfy constraint"):
        write.create_database(DatabaseName=unique("tagged"), Tags=[{"Key": "k" * 129, "Value": "v"}])


def test_tags_of_databases_and_tables(cluster: LocalCluster, write: Any) -> None:
    db = unique("gwtags")
    arn = write.create_database(DatabaseName=db, Tags=[{"Key": "team", "Value": "storage"}])["Database"]["Arn"]
    table_arn = write.create_table(DatabaseName=db, TableName="tagged",
                                   Tags=[{"Key": "tier", "Value": "gold"}])["Table"]["Arn"]
    assert write.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "team", "Value": "storage"}]
    write.tag_resource(ResourceARN=arn, Tags=[{"Key": "team", "Value": "query"}, {"Key": "env", "Value": "dev"}])
    write.untag_resource(ResourceARN=table_arn, TagKeys=["tier"])
    query = aws.client(cluster, "timestream-query")  # the query service's tag calls reach the same catalog
    assert query.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "env", "Value": "dev"},
                                                                     {"Key": "team", "Value": "query"}]
    assert write.list_tags_for_resource(ResourceARN=table_arn)["Tags"] == []
    with pytest.raises(write.exceptions.ResourceNotFoundException):
        write.list_tags_for_resource(ResourceARN=arn + "-gone")
    with pytest.raises(write.exceptions.ResourceNotFoundException):
        write.tag_resource(ResourceARN="arn:aws:s3:::bucket", Tags=[{"Key": "a", "Value": "b"}])


def test_list_tables_without_a_database_lists_every_database(write: Any) -> None:
    dbs = [unique("gwall"), unique("gwall")]
    for db in dbs:
        write.create_database(DatabaseName=db)
        write.create_table(DatabaseName=db, TableName="same")
    found: list[tuple[str, str]] = []
    token: dict[str, str] = {}
    while True:
        page = write.list_tables(MaxResults=3, **token)
        found += [(t["DatabaseName"], t["TableName"]) for t in page["Tables"]]
        if "NextToken" not in page:
            break
        token = {"NextToken": page["NextToken"]}
    assert {(db, "same") for db in dbs} <= set(found) and len(found) == len(set(found))


def test_operations_of_later_features_answer_a_clear_error(cluster: LocalCluster) -> None:
    query = aws.client(cluster, "timestream-query")
    with pytest.raises(query.exceptions.ValidationException, match="scheduled queries"):
        query.list_scheduled_queries()


def test_describe_endpoints_returns_this_gateway_with_its_scheme(cluster: LocalCluster, write: Any) -> None:
    endpoints = write.describe_endpoints()["Endpoints"]
    assert endpoints == [{"Address": aws.endpoint(cluster), "CachePeriodInMinutes": 1440}]


def test_a_table_deleted_and_created_again_under_its_name_takes_every_write_and_read(cluster: LocalCluster,
                                                                                   write: Any) -> None:
    """AWS's sample applications reuse one table name run after run. Every node had cached the old table's
    route (its id): no write may land in the old table (acknowledged, then unreadable) and no read may
    answer from it, on either gateway."""
    query = [aws.client(cluster, "timestream-query", gateway=g) for g in (1, 2)]
    writers = [write, aws.client(cluster, "timestream-write", gateway=2)]
    db = unique("recreate")
    write.create_database(DatabaseName=db)
    now = int(time.time() * 1000)

    def record(dimension: str, i: int) -> dict[str, Any]:
        return {"Dimensions": [{"Name": dimension, "Value": f"v{i}"}], "MeasureName": "m",
                "MeasureValue": str(i), "MeasureValueType": "DOUBLE", "Time": str(now - i)}

    for run, dimension in enumerate(("host", "user_id", "host")):
        write.create_table(DatabaseName=db, TableName="reused")
        for i in range(6):  # at once, through both gateways: every route cached last round is stale
            writers[i % 2].write_records(DatabaseName=db, TableName="reused", Records=[record(dimension, i)])
        for q in query:
            rows = q.query(QueryString=f'SELECT {dimension}, measure_value::double FROM "{db}"."reused" ORDER BY 2')
            assert [[d["ScalarValue"] for d in r["Data"]] for r in rows["Rows"]] == \
                [[f"v{i}", f"{i}.0"] for i in range(6)], (run, dimension)
        write.delete_table(DatabaseName=db, TableName="reused")
    write.delete_database(DatabaseName=db)
