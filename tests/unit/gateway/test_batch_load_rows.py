"""A batch-load task's data model: what it refuses when the task is created, the record each CSV row makes,
and the CSV and report rules of the task runner."""

from __future__ import annotations

from typing import Any

import pytest

from services.gateway import batch_load_run
from services.gateway.batch_load_rows import DataModel, RowError
from services.gateway.batch_load_run import Csv, Report
from tessera import errors

MULTI: dict[str, Any] = {
    "TimeColumn": "t", "DimensionMappings": [{"SourceColumn": "host", "DestinationColumn": "hostname"}],
    "MultiMeasureMappings": {"TargetMultiMeasureName": "m", "MultiMeasureAttributeMappings": [
        {"SourceColumn": "cpu", "MeasureValueType": "DOUBLE"},
        {"SourceColumn": "n", "TargetMultiMeasureAttributeName": "count", "MeasureValueType": "BIGINT"}]}}


def test_a_multi_measure_row_becomes_one_record_without_its_empty_cells() -> None:
    model = DataModel.parse(MULTI)
    assert model.columns() == {"t", "host", "cpu", "n"}
    assert model.record({"t": "1700000000000", "host": "h1", "cpu": "1.5", "n": None}) == {
        "Time": "1700000000000", "TimeUnit": "MILLISECONDS",
        "Dimensions": [{"Name": "hostname", "Value": "h1", "DimensionValueType": "VARCHAR"}],
        "MeasureName": "m", "MeasureValueType": "MULTI", "MeasureValues": [{"Name": "cpu", "Value": "1.5", "Type": "DOUBLE"}]}
    for bad, reason in (({"t": "soon", "host": "h", "cpu": "1", "n": "1"}, "integer epoch"),
                        ({"t": "-5", "host": "h", "cpu": "1", "n": "1"}, "integer epoch"),
                        ({"t": "1", "host": "h", "cpu": None, "n": None}, "Every measure column")):
        with pytest.raises(RowError, match=reason):
            model.record(bad)


def test_mixed_mappings_pick_by_measure_name_with_a_catch_all() -> None:
    model = DataModel.parse({
        "TimeColumn": "t", "TimeUnit": "SECONDS", "DimensionMappings": [{"SourceColumn": "site"}],
        "MeasureNameColumn": "kind", "MixedMeasureMappings": [
            {"MeasureName": "temp", "SourceColumn": "v", "TargetMeasureName": "temperature", "MeasureValueType": "DOUBLE"},
            {"SourceColumn": "v", "MeasureValueType": "VARCHAR"}]})
    row = {"t": "5", "site": "s", "kind": "temp", "v": "21.5"}
    assert model.record(row)["MeasureName"] == "temperature"
    other = model.record({**row, "kind": "status"})
    assert (other["MeasureName"], other["MeasureValueType"], other["MeasureValue"]) == ("status", "VARCHAR", "21.5")
    with pytest.raises(RowError, match="measure name column kind is empty"):
        model.record({**row, "kind": None})


@pytest.mark.parametrize(("change", "message"), [
    ({"TimeColumn": None}, "TimeColumn is required"),
    ({"DimensionMappings": []}, "DimensionMappings"),
    ({"MultiMeasureMappings": None}, "exactly one of"),
    ({"MixedMeasureMappings": [{"MeasureValueType": "DOUBLE", "SourceColumn": "x"}]}, "exactly one of"),
    ({"MultiMeasureMappings": {"MultiMeasureAttributeMappings": [{"SourceColumn": "x"}]}}, "TargetMultiMeasureName"),
    ({"MultiMeasureMappings": {"TargetMultiMeasureName": "m", "MultiMeasureAttributeMappings": [
        {"SourceColumn": "x"}, {"SourceColumn": "y", "TargetMultiMeasureAttributeName": "x"}]}}, "twice"),
    ({"DimensionMappings": [{"SourceColumn": "a", "DestinationColumn": "d"},
                            {"SourceColumn": "b", "DestinationColumn": "d"}]}, "twice"),
])
def test_models_that_cannot_work_are_refused_naming_the_member(change: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.ValidationError, match=message):
        DataModel.parse({**MULTI, **change})


def test_mixed_mappings_need_a_measure_name_column_and_a_source() -> None:
    base = {"TimeColumn": "t", "DimensionMappings": [{"SourceColumn": "d"}]}
    with pytest.raises(errors.ValidationError, match="MeasureNameColumn"):
        DataModel.parse({**base, "MixedMeasureMappings": [{"MeasureValueType": "DOUBLE", "SourceColumn": "v"}]})
    with pytest.raises(errors.ValidationError, match=r"MixedMeasureMappings\[0\].SourceColumn"):
        DataModel.parse({**base, "MeasureNameColumn": "k", "MixedMeasureMappings": [{"MeasureValueType": "DOUBLE"}]})


def test_csv_cells_and_report_line_ranges() -> None:
    layout = Csv.parse({"NullValue": "NA", "TrimWhiteSpace": True})
    assert [layout.cell(c) for c in (" x ", "NA", " NA ", "", "0")] == ["x", None, None, None, "0"]
    assert Csv.parse(None).cell(" x ") == " x "
    report = Report()
    for line in (3, 4, 5, 5, 7, 9):  # the loader reads each file's lines in order
        report.add("f.csv", "bad", line)
    report.add("g.csv", "no header")
    assert report.to_json("T") == {"taskId": "T", "taskErrors": [], "fileErrors": [
        {"fileName": "f.csv", "errors": [{"reason": "bad", "lineRanges": [[3, 5], [7, 7], [9, 9]]}]},
        {"fileName": "g.csv", "errors": [{"reason": "no header", "lineRanges": []}]}]}
    assert Report.from_state(report.to_state()) == report  # kept in the task's document across a resume


def test_a_report_lists_a_bounded_number_of_line_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch_load_run, "MAX_REPORTED_RANGES", 3)
    report = Report()
    for line in range(2, 20, 2):
        report.add("f.csv", "bad", line)
    doc = report.to_json("T")
    assert doc["fileErrors"][0]["errors"][0]["lineRanges"] == [[2, 2], [4, 4], [6, 6]]
    assert doc["taskErrors"] == [{"reason": "6 more failing lines are counted but not listed"}]
