"""WriteRecords validation: Timestream's request- and record-level rules, and the rows it produces."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from tessera import layout, limits
from tessera.errors import ValidationError
from tessera.v1 import common_pb2, ingest_pb2
from tessera.validation import ColumnSpec, TableContext, Validated, validate_write_records

NOW_NS = 1_790_000_000_000_000_000
NOW_MS = NOW_NS // 1_000_000
HOUR_MS = 3_600_000
MEMORY_NS = 6 * 3600 * 10**9
MAGNETIC_NS = 10 * 86_400 * 10**9


def ctx(columns: dict[str, ColumnSpec] | None = None, magnetic_writes: bool = False) -> TableContext:
    """A table with these columns (by name: single-measure names are keyed in their own namespace here)."""
    keyed = {layout.schema_key(spec.kind, name): spec for name, spec in (columns or {}).items()}
    return TableContext(keyed, MEMORY_NS, MAGNETIC_NS, magnetic_writes, NOW_NS)


def new_by_name(v: Validated) -> dict[str, ColumnSpec]:
    """The columns a write adds, by name."""
    return {layout.schema_name(key): spec for key, spec in v.new_columns.items()}


def rec(**kw: Any) -> common_pb2.Record:
    """A valid single-measure record unless overridden; dims/values as lists of tuples."""
    dims = kw.pop("dims", [("host", "a")])
    values = kw.pop("values", None)
    fields: dict[str, Any] = {"measure_name": "cpu", "measure_value": "1.5", "time": str(NOW_MS)}
    fields.update(kw)
    r = common_pb2.Record(**{k: v for k, v in fields.items() if v is not None})
    r.dimensions.extend(common_pb2.Dimension(name=n, value=v) for n, v in dims)
    if values is not None:
        r.measure_values.extend(common_pb2.MeasureValue(name=n, value=v, type=t) for n, v, t in values)
    return r


def write(*records: common_pb2.Record, common: common_pb2.Record | None = None,
          context: TableContext | None = None) -> Validated:
    req = ingest_pb2.WriteRecordsRequest(database_name="db", table_name="t", records=records)
    if common is not None:
        req.common_attributes.CopyFrom(common)
    return validate_write_records(req, context or ctx())


def rejected_reason(record: common_pb2.Record, context: TableContext | None = None) -> str:
    """Write a valid record then ``record``; assert only index 1 is rejected and return its reason."""
    v = write(rec(), record, context=context)
    assert [r.record_index for r in v.rejected] == [1], v.rejected
    assert v.source_index.tolist() == [0]
    return v.rejected[0].reason


# --- accepted rows ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("type_name", "text", "expected"), [
    ("DOUBLE", "1.5", 1.5), ("DOUBLE", "-2e3", -2000.0), ("BIGINT", "-9223372036854775808", -(1 << 63)),
    ("VARCHAR", "héllo", "héllo"), ("BOOLEAN", "TRUE", True), ("BOOLEAN", "false", False),
])
def test_a_single_measure_value_lands_in_its_typed_column(type_name: str, text: str, expected: Any) -> None:
    v = write(rec(measure_value=text, measure_value_type=type_name))
    column = layout.SINGLE_VALUE_COLUMNS[type_name]
    assert v.rejected == []
    assert v.measure_columns == [column]
    assert v.rows.schema.field(column).type == layout.ARROW_TYPES[type_name]
    assert v.rows.column(column).to_pylist() == [expected]
    assert v.new_columns == {"host": ColumnSpec("DIMENSION", "VARCHAR"),
                             "measure_name::cpu": ColumnSpec("MEASURE", type_name)}


def test_the_measure_value_type_defaults_to_double() -> None:
    v = write(rec(measure_value="3"))
    assert v.rows.column("measure_value::double").to_pylist() == [3.0]


def test_a_multi_measure_record_stores_one_column_per_measure_with_its_type() -> None:
    values = [("d", "1.25", "DOUBLE"), ("b", "7", "BIGINT"), ("s", "up", "VARCHAR"), ("f", "True", "BOOLEAN"),
              ("t", "1700000000", "TIMESTAMP")]
    v = write(rec(measure_name="metrics", measure_value=None, measure_value_type="MULTI", values=values,
                  time=str(NOW_NS // 10**9), time_unit="SECONDS"))
    assert v.rejected == []
    assert v.measure_columns == ["b", "d", "f", "s", "t"]
    schema = v.rows.schema
    assert [schema.field(c).type for c in v.measure_columns] == [
        pa.int64(), pa.float64(), pa.bool_(), pa.string(), pa.timestamp("ns")]
    row = v.rows.to_pylist()[0]
    assert (row["d"], row["b"], row["s"], row["f"]) == (1.25, 7, "up", True)
    assert v.rows.column("t").cast(pa.int64()).to_pylist() == [1_700_000_000 * 10**9]
    assert v.rows.column("time").cast(pa.int64()).to_pylist() == [NOW_NS // 10**9 * 10**9]
    assert v.new_columns["t"] == ColumnSpec("MULTI", "TIMESTAMP")
    assert "metrics" not in v.new_columns  # the MULTI record's measure name is a label, not a column


@pytest.mark.parametrize(("unit", "factor"), list(limits.TIME_UNITS.items()))
def test_time_is_converted_to_nanoseconds_from_its_unit(unit: str, factor: int) -> None:
    v = write(rec(time=str(NOW_NS // factor), time_unit=unit))
    assert v.rows.column("time").type == pa.timestamp("ns")
    assert v.rows.column("time").cast(pa.int64()).to_pylist() == [NOW_NS // factor * factor]


def test_rows_have_layout_types_and_absent_dimensions_are_null() -> None:
    v = write(rec(dims=[("host", "a")]), rec(dims=[("zone", "z1")], measure_value="2"))
    assert v.dimension_columns == ["host", "zone"]
    assert v.rows.column_names == ["time", "measure_name", "host", "zone", "measure_value::double"]
    assert v.rows.column("host").to_pylist() == ["a", None]
    assert v.rows.column("zone").to_pylist() == [None, "z1"]
    assert v.rows.schema.field("measure_name").type == pa.string()


def test_version_defaults_to_one_and_is_kept_when_given() -> None:
    v = write(rec(), rec(version=7))
    assert v.versions.type == pa.int64()
    assert v.versions.to_pylist() == [1, 7]


def test_key_columns_can_be_added_to_the_result() -> None:
    v = write(rec(), rec(measure_name="mem", measure_value="3", measure_value_type="BIGINT", version=2))
    table, dim_hash = layout.with_key_columns(v.rows, v.dimension_columns, v.measure_columns, v.versions)
    assert table.column(layout.VERSION).to_pylist() == [1, 2]
    assert len(set(table.column(layout.SERIES).to_pylist())) == 2
    assert dim_hash[0] == dim_hash[1]


def test_rejected_records_are_reported_in_input_order_and_the_rest_are_kept() -> None:
    v = write(rec(time="x"), rec(), rec(measure_name=""), rec(measure_value="2"))
    assert [r.record_index for r in v.rejected] == [0, 2]
    assert v.source_index.tolist() == [1, 3]
    assert v.rows.column("measure_value::double").to_pylist() == [1.5, 2.0]
    assert v.magnetic.tolist() == [False, False]


# --- CommonAttributes -------------------------------------------------------------------------------------


def test_common_attributes_are_merged_into_every_record() -> None:
    common = common_pb2.Record(measure_name="temp", measure_value_type="BIGINT", time=str(NOW_MS), version=3)
    common.dimensions.append(common_pb2.Dimension(name="region", value="eu"))
    r1 = common_pb2.Record(measure_value="5", dimensions=[common_pb2.Dimension(name="host", value="a")])
    r2 = common_pb2.Record(measure_value="6", measure_name="hum", version=9, time=str(NOW_MS - 1000))
    v = write(r1, r2, common=common)
    assert v.rejected == []
    rows = v.rows.to_pylist()
    assert [r["measure_name"] for r in rows] == ["temp", "hum"]
    assert [r["region"] for r in rows] == ["eu", "eu"]
    assert [r["host"] for r in rows] == ["a", None]
    assert [r["measure_value::bigint"] for r in rows] == [5, 6]
    assert v.versions.to_pylist() == [3, 9]
    assert v.rows.column("time").cast(pa.int64()).to_pylist() == [NOW_MS * 10**6, (NOW_MS - 1000) * 10**6]


def test_common_measure_values_apply_to_records_that_have_none() -> None:
    common = common_pb2.Record(measure_name="metrics", measure_value_type="MULTI",
                               measure_values=[common_pb2.MeasureValue(name="x", value="1", type="BIGINT")])
    v = write(common_pb2.Record(time=str(NOW_MS)), common=common)
    assert v.rows.column("x").to_pylist() == [1]


def test_a_problem_in_an_inherited_field_names_common_attributes() -> None:
    v = write(common_pb2.Record(measure_value="1"), common=common_pb2.Record(measure_name="m", time=str(NOW_MS + HOUR_MS)))
    assert "CommonAttributes.Time" in v.rejected[0].reason


@pytest.mark.parametrize(("common", "fragment"), [
    (common_pb2.Record(measure_value_type="FLOAT"), "CommonAttributes.MeasureValueType 'FLOAT' is invalid"),
    (common_pb2.Record(measure_value_type="TIMESTAMP"), "TIMESTAMP is an invalid measure value type"),
    (common_pb2.Record(time_unit="HOURS"), "CommonAttributes.TimeUnit 'HOURS' is invalid"),
    (common_pb2.Record(version=0), "CommonAttributes.Version 0 is invalid"),
    (common_pb2.Record(time="soon"), "Invalid time for record. CommonAttributes.Time 'soon'"),
    (common_pb2.Record(measure_name="ts_m"), "CommonAttributes.MeasureName 'ts_m' is invalid"),
    (common_pb2.Record(dimensions=[common_pb2.Dimension(name="time", value="x")]),
     "CommonAttributes.Dimensions[0].Name 'time' is invalid"),
    (common_pb2.Record(measure_values=[common_pb2.MeasureValue(name="a", value="1", type="INT")]),
     "CommonAttributes.MeasureValues[0].Type 'INT' is invalid"),
])
def test_invalid_common_attributes_fail_the_whole_request(common: common_pb2.Record, fragment: str) -> None:
    with pytest.raises(ValidationError, match=None) as err:
        write(rec(), common=common)
    assert fragment in err.value.message


def test_a_dimension_in_both_common_attributes_and_a_record_fails_the_request() -> None:
    common = common_pb2.Record(dimensions=[common_pb2.Dimension(name="host", value="x")])
    with pytest.raises(ValidationError) as err:
        write(rec(dims=[("zone", "1")]), rec(dims=[("zone", "1"), ("host", "b")]), common=common)
    assert "Records[1].Dimensions[1].Name 'host' is also in CommonAttributes.Dimensions" in err.value.message


# --- request-level limits -----------------------------------------------------------------------------------


def test_a_request_without_records_is_invalid() -> None:
    with pytest.raises(ValidationError, match="Records is empty"):
        write()


def test_a_request_with_more_than_100_records_is_invalid() -> None:
    assert len(write(*[rec() for _ in range(100)]).source_index) == 100
    with pytest.raises(ValidationError, match="101 records; the limit is 100"):
        write(*[rec() for _ in range(101)])


# --- record-level rejections --------------------------------------------------------------------------------

DIMS_128 = [(f"d{i}", "v") for i in range(128)]


@pytest.mark.parametrize(("record", "fragment"), [
    (rec(dims=[(f"d{i}", "v") for i in range(129)]), "has 129 dimensions; the limit is 128"),
    (rec(dims=[("", "v")]), "Records[1].Dimensions[0].Name '' is invalid: names may not be empty"),
    (rec(dims=[("é" * 31, "v")]), "limited to 60 UTF-8 bytes; this one has 62"),
    (rec(dims=[("host", "a"), ("ts_host", "b")]),
     "Records[1].Dimensions[1].Name 'ts_host' is invalid: names may not begin with 'ts_'"),
    (rec(dims=[("measure_name_x", "b")]), "names may not begin with 'measure_name'"),
    (rec(dims=[("time", "b")]), "'time' is invalid: it is a reserved name"),
    (rec(dims=[("measure_value", "b")]), "'measure_value' is invalid: it is a reserved name"),
    (rec(dims=[("ts_non_existent_col", "b")]), "'ts_non_existent_col' is invalid"),
    (rec(dims=[("measure_value::double", "b")]), "it is a reserved name"),
    (rec(dims=[("host", "a"), ("host", "b")]), "Records[1].Dimensions[1].Name 'host' appears more than once"),
    (rec(dims=[("host", "")]), "Records[1].Dimensions[0].Value may not be empty"),
    (rec(dims=[("a", "x" * 700), ("b", "y" * 700), ("c", "z" * 700)]), "2103 bytes; the limit is 2048 bytes per series"),
])
def test_dimension_rules_reject_the_record(record: common_pb2.Record, fragment: str) -> None:
    assert fragment in rejected_reason(record)


def test_128_dimensions_are_accepted() -> None:
    assert write(rec(dims=DIMS_128)).rejected == []


def test_a_dimension_value_type_other_than_varchar_is_rejected() -> None:
    record = rec()
    record.dimensions[0].dimension_value_type = "BIGINT"
    assert "DimensionValueType 'BIGINT' is invalid" in rejected_reason(record)
    record.dimensions[0].dimension_value_type = "VARCHAR"
    assert write(record).rejected == []


@pytest.mark.parametrize(("record", "fragment"), [
    (rec(measure_name=""), "Records[1].MeasureName is required"),
    (rec(measure_name="m" * 257), "limited to 256 UTF-8 bytes; this one has 257"),
    (rec(measure_name="ts_cpu"), "Records[1].MeasureName 'ts_cpu' is invalid: names may not begin with 'ts_'"),
    (rec(measure_name="measure_name"), "names may not begin with 'measure_name'"),
    (rec(measure_name="time"), "it is a reserved name"),
    (rec(measure_value_type="FLOAT"), "Records[1].MeasureValueType 'FLOAT' is invalid"),
    (rec(measure_value_type="TIMESTAMP"), "TIMESTAMP is an invalid measure value type"),
    (rec(measure_value="NaN"), "Records[1].MeasureValue 'NaN' is not a finite DOUBLE"),
    (rec(measure_value="Infinity"), "is not a finite DOUBLE"),
    (rec(measure_value="-inf"), "is not a finite DOUBLE"),
    (rec(measure_value="1e400"), "is not a finite DOUBLE"),
    (rec(measure_value="12abc"), "'12abc' is not a finite DOUBLE"),
    (rec(measure_value="1_0"), "is not a finite DOUBLE"),
    (rec(measure_value=""), "Records[1].MeasureValue may not be empty"),
    (rec(measure_value="9223372036854775808", measure_value_type="BIGINT"), "is not a BIGINT"),
    (rec(measure_value="1.5", measure_value_type="BIGINT"), "'1.5' is not a BIGINT"),
    (rec(measure_value="yes", measure_value_type="BOOLEAN"), "'yes' is not a BOOLEAN"),
    (rec(measure_value="é" * 1025, measure_value_type="VARCHAR", dims=[]),
     "is 2050 bytes; the limit is 2048 bytes per VARCHAR"),
    (rec(values=[("a", "1", "DOUBLE")]), "Records[1].MeasureValues must be empty unless"),
])
def test_single_measure_rules_reject_the_record(record: common_pb2.Record, fragment: str) -> None:
    assert fragment in rejected_reason(record)


def test_a_record_of_exactly_2048_bytes_is_accepted() -> None:
    v = write(rec(measure_name="m", measure_value="x" * 2047, measure_value_type="VARCHAR", dims=[]))
    assert v.rejected == []


def multi(values: list[tuple[str, str, str]], **kw: Any) -> common_pb2.Record:
    return rec(measure_name="metrics", measure_value=kw.pop("measure_value", None), measure_value_type="MULTI",
               values=values, **kw)


@pytest.mark.parametrize(("record", "fragment"), [
    (multi([("a", "1", "DOUBLE")], measure_value="1"), "Records[1].MeasureValue must be empty when"),
    (multi([]), "Records[1].MeasureValues is empty; a MULTI record needs 1 to 256"),
    (multi([(f"m{i}", "1", "BIGINT") for i in range(257)]), "has 257 measure values; the limit is 256"),
    (multi([("a", "1", "DOUBLE"), ("a", "2", "DOUBLE")]), "Records[1].MeasureValues[1].Name 'a' appears more"),
    (multi([("ts_a", "1", "DOUBLE")]), "Records[1].MeasureValues[0].Name 'ts_a' is invalid"),
    (multi([("host", "1", "DOUBLE")], dims=[]), None),  # accepted: 'host' is free in an empty table
    (multi([("a", "1", "FLOAT")]), "Records[1].MeasureValues[0].Type 'FLOAT' is invalid"),
    (multi([("a", "1", "")]), "Records[1].MeasureValues[0].Type '' is invalid"),
    (multi([("a", "nan", "DOUBLE")]), "Records[1].MeasureValues[0].Value 'nan' is not a finite DOUBLE"),
    (multi([("a", "", "VARCHAR")]), "Records[1].MeasureValues[0].Value may not be empty"),
    (multi([("a", "-1", "TIMESTAMP")]), "out of range for a TIMESTAMP"),
    (multi([("a", "9223372036854776", "TIMESTAMP")]), "out of range for a TIMESTAMP"),
    (multi([("a", "x" * 1500, "VARCHAR"), ("b", "y" * 549, "VARCHAR")], dims=[]),
     "values are 2049 bytes; the limit is 2048 bytes per multi-measure record"),
])
def test_multi_measure_rules_reject_the_record(record: common_pb2.Record, fragment: str | None) -> None:
    if fragment is None:
        assert write(record).rejected == []
    else:
        assert fragment in rejected_reason(record)


def test_256_measure_values_are_accepted() -> None:
    v = write(multi([(f"m{i}", "1", "BIGINT") for i in range(256)], dims=[]))
    assert v.rejected == [] and len(v.measure_columns) == 256


@pytest.mark.parametrize(("record", "fragment"), [
    (rec(time=""), "Invalid time for record. Records[1].Time is required"),
    (rec(time="12.5"), "Invalid time for record. Records[1].Time '12.5' is not an integer"),
    (rec(time="1_000"), "'1_000' is not an integer"),
    (rec(time=" 1"), "is not an integer"),
    (rec(time="-5"), "Invalid time for record. Records[1].Time -5 is negative"),
    (rec(time="9223372036854776", time_unit="MILLISECONDS"), "is after 2262-04-11T23:47:16.854775807Z"),
    (rec(time_unit="HOURS"), "Records[1].TimeUnit 'HOURS' is invalid"),
    (rec(time=str(NOW_MS + 15 * 60_000 + 1)), "is more than 15 minutes ahead of the server time"),
    (rec(version=0), "Records[1].Version 0 is invalid: versions start at 1"),
    (rec(version=-3), "Records[1].Version -3 is invalid"),
])
def test_time_and_version_rules_reject_the_record(record: common_pb2.Record, fragment: str) -> None:
    assert fragment in rejected_reason(record)


def test_a_time_exactly_15_minutes_ahead_is_accepted() -> None:
    assert write(rec(time=str(NOW_MS + 15 * 60_000))).rejected == []


def test_a_time_older_than_memory_retention_is_rejected_when_magnetic_writes_are_off() -> None:
    old_ms = NOW_MS - 6 * HOUR_MS - 1
    reason = rejected_reason(rec(time=str(old_ms)))
    assert "is older than the memory store retention of 6 hours" in reason
    assert "MagneticStoreWriteProperties.EnableMagneticStoreWrites" in reason
    assert write(rec(time=str(NOW_MS - 6 * HOUR_MS))).rejected == []  # the boundary itself is in memory


def test_a_late_record_goes_to_the_magnetic_store_when_magnetic_writes_are_on() -> None:
    v = write(rec(), rec(time=str(NOW_MS - 7 * HOUR_MS)), context=ctx(magnetic_writes=True))
    assert v.rejected == []
    assert v.magnetic.tolist() == [False, True]


def test_a_record_older_than_the_whole_retention_is_rejected_even_with_magnetic_writes() -> None:
    too_old = NOW_MS - 6 * HOUR_MS - 10 * 24 * HOUR_MS - 1
    reason = rejected_reason(rec(time=str(too_old)), context=ctx(magnetic_writes=True))
    assert "older than the table's retention (memory store 6 hours + magnetic store 10 days)" in reason


def test_a_record_larger_than_2048_bytes_is_rejected() -> None:
    record = rec(dims=[("host", "h" * 1000)], measure_name="m", measure_value="v" * 1100,
                 measure_value_type="VARCHAR")
    assert "is 2105 bytes (dimensions, measure name and measure values); the limit is 2048" in rejected_reason(
        record)


# --- schema -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("columns", "record", "fragment"), [
    ({"cpu": ColumnSpec("MEASURE", "DOUBLE")}, rec(measure_value="3", measure_value_type="BIGINT"),
     "Records[0]: measure 'cpu' is DOUBLE in this table; the record has BIGINT"),
    ({"x": ColumnSpec("MULTI", "DOUBLE")}, multi([("x", "1", "BIGINT")]),
     "measure 'x' is DOUBLE in this table; the record has BIGINT"),
    ({"host": ColumnSpec("MEASURE", "DOUBLE")}, rec(measure_name="m"),
     "'host' is a DOUBLE measure in this table; the record uses it as a dimension"),
    ({"cpu": ColumnSpec("DIMENSION", "VARCHAR")}, rec(dims=[]),
     "'cpu' is a dimension in this table; the record uses it as a DOUBLE measure"),
    ({f"d{i}": ColumnSpec("DIMENSION", "VARCHAR") for i in range(128)}, rec(dims=[("new", "v")]),
     "too many dimensions: the table has 128 and the record adds 1; the limit is 128 per table"),
    ({f"m{i}": ColumnSpec("MEASURE", "DOUBLE") for i in range(8192)}, rec(measure_name="new"),
     "too many unique measure names: the table has 8192 and the record adds 1; the limit is 8192"),
    ({f"m{i}": ColumnSpec("MULTI", "DOUBLE") for i in range(1024)}, multi([("new", "1", "DOUBLE")]),
     "too many unique multi-measure attribute names: the table has 1024 and the record adds 1"),
])
def test_schema_rules_reject_the_record(columns: dict[str, ColumnSpec], record: common_pb2.Record,
                                        fragment: str) -> None:
    v = write(record, context=ctx(columns))
    assert [r.record_index for r in v.rejected] == [0], v.rejected
    assert fragment in v.rejected[0].reason


def test_a_name_introduced_earlier_in_the_request_binds_later_records() -> None:
    v = write(rec(measure_value="1"), rec(measure_value="2", measure_value_type="BIGINT"),
              rec(dims=[("cpu", "x")], measure_name="other"))
    assert [r.record_index for r in v.rejected] == [1, 2]
    assert "measure 'cpu' is DOUBLE in this table; the record has BIGINT" in v.rejected[0].reason
    assert "'cpu' is a DOUBLE measure in this table; the record uses it as a dimension" in v.rejected[1].reason
    assert new_by_name(v) == {"host": ColumnSpec("DIMENSION", "VARCHAR"), "cpu": ColumnSpec("MEASURE", "DOUBLE")}


@pytest.mark.parametrize(("columns", "record", "added"), [
    ({"cpu": ColumnSpec("MULTI", "BIGINT")}, rec(), {"measure_name::cpu": ColumnSpec("MEASURE", "DOUBLE")}),
    ({"cpu": ColumnSpec("MEASURE", "VARCHAR")}, multi([("cpu", "1", "BIGINT")]), {"cpu": ColumnSpec("MULTI", "BIGINT")}),
])
def test_a_single_measure_name_and_a_multi_measure_attribute_may_share_a_name(
        columns: dict[str, ColumnSpec], record: common_pb2.Record, added: dict[str, ColumnSpec]) -> None:
    """A single-measure name is a value of measure_name, not a column, so an attribute may take it (as in
    Timestream: AWS's composite-partition-key sample writes cpu_utilization both ways into one table)."""
    v = write(record, context=ctx(columns))
    assert v.rejected == []
    assert v.new_columns == {"host": ColumnSpec("DIMENSION", "VARCHAR"), **added}


def test_both_forms_of_one_name_in_one_request_are_accepted_and_registered_apart() -> None:
    v = write(rec(), multi([("cpu", "7", "BIGINT")]))
    assert v.rejected == []
    assert v.new_columns == {"host": ColumnSpec("DIMENSION", "VARCHAR"),
                             "measure_name::cpu": ColumnSpec("MEASURE", "DOUBLE"),
                             "cpu": ColumnSpec("MULTI", "BIGINT")}


def test_a_dimension_and_a_measure_name_registered_by_two_writers_at_once_both_stay_usable() -> None:
    both = ctx({"cpu": ColumnSpec("DIMENSION", "VARCHAR")})
    both = TableContext({**both.columns, "measure_name::cpu": ColumnSpec("MEASURE", "DOUBLE")},
                        MEMORY_NS, MAGNETIC_NS, False, NOW_NS)
    v = write(rec(measure_name="cpu", dims=[("host", "a")]), rec(measure_name="m", dims=[("cpu", "x")]),
              context=both)
    assert v.rejected == []


def test_a_rejected_record_registers_no_columns() -> None:
    v = write(rec(measure_name="bad", measure_value="x"), rec(measure_name="bad", measure_value="1",
                                                              measure_value_type="BIGINT"))
    assert [r.record_index for r in v.rejected] == [0]
    assert new_by_name(v)["bad"] == ColumnSpec("MEASURE", "BIGINT")


def test_columns_already_in_the_table_are_not_new() -> None:
    v = write(rec(), context=ctx({"host": ColumnSpec("DIMENSION", "VARCHAR")}))
    assert new_by_name(v) == {"cpu": ColumnSpec("MEASURE", "DOUBLE")}


@pytest.mark.parametrize(("record", "fragment"), [
    (rec(dims=[("cpu", "x")]), "the record uses 'cpu' both as a dimension and as a DOUBLE measure"),
    (multi([("host", "1", "BIGINT")]), "the record uses 'host' both as a dimension and as a BIGINT multi-measure"),
])
def test_a_record_may_not_use_one_name_as_both_dimension_and_measure(record: common_pb2.Record,
                                                                     fragment: str) -> None:
    v = write(record)
    assert [r.record_index for r in v.rejected] == [0]
    assert fragment in v.rejected[0].reason
    assert v.new_columns == {}


def test_table_limits_count_columns_added_earlier_in_the_request() -> None:
    columns = {f"d{i}": ColumnSpec("DIMENSION", "VARCHAR") for i in range(126)}
    v = write(rec(dims=[("a", "1")]), rec(dims=[("b", "1")]), rec(dims=[("c", "1")]), rec(dims=[("a", "2")]),
              context=ctx(columns))
    assert [r.record_index for r in v.rejected] == [2]
    assert "too many dimensions: the table has 128 and the record adds 1" in v.rejected[0].reason
    assert sorted(c for c, s in v.new_columns.items() if s.kind == "DIMENSION") == ["a", "b"]
