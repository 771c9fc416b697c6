"""SHOW DATABASES / SHOW TABLES / SHOW MEASURES / DESCRIBE through the SDK, with Timestream's result shapes."""

from __future__ import annotations

import time

import pytest

from tessera.client import Client
from tessera.errors import ValidationError
from tests.integration.conftest import unique


def test_metadata_statements_answer_from_the_catalog_and_the_rows(client: Client) -> None:
    db = unique("meta")
    client.create_database(db)
    client.create_table(db, "sensors", memory_retention_hours=24)
    client.create_table(db, "other", memory_retention_hours=24)
    now = int(time.time() * 1000)
    client.write_records(db, "sensors", [
        {"Dimensions": [{"Name": "host", "Value": "h1"}], "MeasureName": "cpu", "MeasureValue": "1.5",
         "MeasureValueType": "DOUBLE", "Time": str(now)},
        {"Dimensions": [{"Name": "host", "Value": "h1"}, {"Name": "rack", "Value": "r9"}], "MeasureName": "disk",
         "MeasureValue": "7", "MeasureValueType": "BIGINT", "Time": str(now)},
        {"Dimensions": [{"Name": "host", "Value": "h2"}], "MeasureName": "env", "MeasureValueType": "MULTI",
         "MeasureValues": [{"Name": "temp", "Value": "20.5", "Type": "DOUBLE"}], "Time": str(now)},
    ])

    assert client.query(f"SHOW DATABASES LIKE '{db}'").to_pylist() == [{"Database": db}]
    assert client.query(f'SHOW TABLES FROM "{db}"').to_pylist() == [{"Table": "other"}, {"Table": "sensors"}]
    assert client.query(f"SHOW TABLES IN {db} LIKE 'sen%'").to_pylist() == [{"Table": "sensors"}]

    describe = client.query(f'DESCRIBE "{db}"."sensors"').to_pylist()
    assert {(r["Column"], r["Type"], r["Timestream attribute type"]) for r in describe} == {
        ("host", "varchar", "DIMENSION"), ("rack", "varchar", "DIMENSION"),
        ("measure_name", "varchar", "MEASURE_NAME"), ("time", "timestamp", "TIMESTAMP"),
        ("measure_value::double", "double", "MEASURE_VALUE"), ("measure_value::bigint", "bigint", "MEASURE_VALUE"),
        ("temp", "double", "MULTI")}

    measures = client.query(f'SHOW MEASURES FROM "{db}"."sensors"').to_pylist()
    assert measures == [
        {"measure_name": "cpu", "data_type": "double",
         "Dimensions": [{"dimension_name": "host", "data_type": "varchar"}]},
        {"measure_name": "disk", "data_type": "bigint",
         "Dimensions": [{"dimension_name": "host", "data_type": "varchar"},
                        {"dimension_name": "rack", "data_type": "varchar"}]},
        {"measure_name": "env", "data_type": "multi",
         "Dimensions": [{"dimension_name": "host", "data_type": "varchar"}]},
    ]
    assert [r["measure_name"] for r in client.query(
        f'SHOW MEASURES FROM "{db}"."sensors" LIKE \'d%\'').to_pylist()] == ["disk"]


def test_a_malformed_metadata_statement_names_what_is_supported(client: Client) -> None:
    with pytest.raises(ValidationError, match="SHOW TABLES needs the database"):
        client.query("SHOW TABLES")
    with pytest.raises(ValidationError, match="the metadata statements are"):
        client.query("SHOW COLUMNS FROM x")


def test_metadata_results_page_as_rows_too(client: Client) -> None:
    db = unique("metarows")
    client.create_database(db)
    client.create_table(db, "tab", memory_retention_hours=24)
    client.write_records(db, "tab", [{"Dimensions": [{"Name": "host", "Value": "h1"}], "MeasureName": "cpu",
                                    "MeasureValue": "1", "MeasureValueType": "BIGINT",
                                    "Time": str(int(time.time() * 1000))}])
    rows = list(client.query_rows(f'SHOW MEASURES FROM "{db}"."tab"'))
    assert len(rows) == 1 and rows[0]["measure_name"] == "cpu" and rows[0]["data_type"] == "bigint"
    assert "host" in str(rows[0]["Dimensions"])
