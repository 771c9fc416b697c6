"""Records sent as Arrow columns (``records_arrow``) are judged exactly like the same records as protobuf."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from tessera import errors, limits, record_columns
from tessera._record_fastpath import validate_fast_columns
from tessera.records import routing_hash, to_record
from tessera.v1 import common_pb2, ingest_pb2
from tessera.validation import Validated, validate_write_records
from tests.unit.test_record_fastpath import CTX, NOW, _records


def as_dict(rec: common_pb2.Record) -> dict[str, Any]:
    """The boto3-shaped dict of a Record (absent fields left out)."""
    out: dict[str, Any] = {}
    if rec.dimensions:
        out["Dimensions"] = [{"Name": d.name, "Value": d.value, **({"DimensionValueType": d.dimension_value_type}
                                                                    if d.dimension_value_type else {})}
                             for d in rec.dimensions]
    for key, value in (("MeasureName", rec.measure_name), ("MeasureValue", rec.measure_value),
                       ("MeasureValueType", rec.measure_value_type), ("Time", rec.time), ("TimeUnit", rec.time_unit)):
        if value:
            out[key] = value
    if rec.measure_values:
        out["MeasureValues"] = [{"Name": m.name, "Value": m.value, "Type": m.type} for m in rec.measure_values]
    if rec.HasField("version"):
        out["Version"] = rec.version
    return out


def both_forms(records: list[common_pb2.Record], common: common_pb2.Record | None = None
               ) -> tuple[ingest_pb2.WriteRecordsRequest, ingest_pb2.WriteRecordsRequest]:
    batch = record_columns.encode([as_dict(r) for r in records])
    assert batch is not None
    proto = ingest_pb2.WriteRecordsRequest(records=records, common_attributes=common)
    arrow = ingest_pb2.WriteRecordsRequest(records_arrow=record_columns.to_ipc(batch), common_attributes=common)
    return proto, arrow


def assert_same(a: Validated, b: Validated) -> None:
    assert a.rows.equals(b.rows), (a.rows.schema, b.rows.schema)
    assert a.versions.equals(b.versions)
    assert (a.dimension_columns, a.measure_columns) == (b.dimension_columns, b.measure_columns)
    assert a.new_columns == b.new_columns
    assert a.source_index.tolist() == b.source_index.tolist()
    assert a.magnetic.tolist() == b.magnetic.tolist()
    assert [(r.record_index, r.reason) for r in a.rejected] == [(r.record_index, r.reason) for r in b.rejected]


@pytest.mark.parametrize("seed", range(20))
def test_valid_records_take_the_columnar_fast_path_and_equal_the_protobuf_form(seed: int,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from tessera import _record_fastpath

    monkeypatch.setattr(_record_fastpath, "MAX_RECORDS_PER_SHAPE_GROUP", 1)  # these records have many shapes
    records = _records(seed, n=80)
    proto, arrow = both_forms(records)
    fast = validate_fast_columns(record_columns.decode(arrow.records_arrow), CTX)
    assert fast is not None
    assert_same(fast, validate_write_records(proto, CTX))
    assert_same(validate_write_records(arrow, CTX), validate_write_records(proto, CTX))


SPOILERS = [
    lambda r: setattr(r, "measure_value", "NaN") if r.measure_value else r.measure_values[0].__setattr__("value", "x"),
    lambda r: setattr(r, "time", "12ab"),
    lambda r: setattr(r, "time", str(NOW // 10**6 + 3_600_000)),          # an hour in the future
    lambda r: setattr(r, "time", str((NOW - 7 * 3600 * 10**9) // 10**6)),  # magnetic store
    lambda r: setattr(r, "version", 0),
    lambda r: r.dimensions.append(common_pb2.Dimension(name="ts_bad", value="x")),
    lambda r: r.dimensions.append(common_pb2.Dimension(name=r.dimensions[0].name, value="dup")),
    lambda r: setattr(r, "measure_value_type", "TIMESTAMP"),
    lambda r: setattr(r, "measure_name", ""),
    lambda r: setattr(r, "time_unit", "WEEKS"),
    lambda r: r.measure_values.append(common_pb2.MeasureValue(name="x", value="1", type="BIGINT")),
]


@pytest.mark.parametrize("spoil", range(len(SPOILERS)))
def test_spoiled_records_get_the_same_rejections_in_both_forms(spoil: int) -> None:
    records = _records(11, n=30)
    for i in (3, 17):
        SPOILERS[spoil](records[i])
    proto, arrow = both_forms(records)
    expected = validate_write_records(proto, CTX)
    assert {r.record_index for r in expected.rejected} & {3, 17}, "the spoiler should reject something"
    assert_same(validate_write_records(arrow, CTX), expected)


def test_a_name_holding_the_shape_key_separator_is_judged_exactly_and_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    from tessera import _record_fastpath

    monkeypatch.setattr(_record_fastpath, "MAX_RECORDS_PER_SHAPE_GROUP", 1)  # so the separator is what declines
    records = _records(11, n=30)
    records[3].dimensions.append(common_pb2.Dimension(name="a\x1fb", value="x"))
    proto, arrow = both_forms(records)
    assert validate_fast_columns(record_columns.decode(arrow.records_arrow), CTX) is None
    assert_same(validate_write_records(arrow, CTX), validate_write_records(proto, CTX))
    assert validate_write_records(arrow, CTX).rejected == []


def test_common_attributes_apply_alike_and_a_clash_names_the_record() -> None:
    records = _records(5, n=20)
    for r in records:
        del r.dimensions[:]
        r.dimensions.append(common_pb2.Dimension(name="host", value="h1"))
    common = common_pb2.Record(dimensions=[common_pb2.Dimension(name="site", value="s1")])
    proto, arrow = both_forms(records, common)
    assert_same(validate_write_records(arrow, CTX), validate_write_records(proto, CTX))
    records[7].dimensions.append(common_pb2.Dimension(name="site", value="s2"))
    proto, arrow = both_forms(records, common)
    for request in (proto, arrow):
        with pytest.raises(errors.ValidationError, match=r"Records\[7\]\.Dimensions\[1\]\.Name 'site' is also in"):
            validate_write_records(request, CTX)


def test_request_level_problems_are_errors_naming_the_field_and_limit() -> None:
    with pytest.raises(errors.ValidationError, match="records_arrow is not a valid Arrow IPC stream"):
        validate_write_records(ingest_pb2.WriteRecordsRequest(records_arrow=b"nope"), CTX)
    other = pa.table({"Time": ["1"]})
    with pytest.raises(errors.ValidationError, match="records_arrow has schema"):
        validate_write_records(ingest_pb2.WriteRecordsRequest(records_arrow=record_columns.to_ipc(
            other.to_batches()[0])), CTX)
    proto, arrow = both_forms(_records(1, n=2))
    arrow.records.extend(proto.records)
    with pytest.raises(errors.ValidationError, match="Records and records_arrow are both set"):
        validate_write_records(arrow, CTX)
    too_many = record_columns.encode([{"Time": "1"}] * (limits.MAX_RECORDS_PER_ARROW_WRITE + 1))
    assert too_many is not None
    with pytest.raises(errors.ValidationError, match="records_arrow has 10001 records; the limit is 10000"):
        validate_write_records(ingest_pb2.WriteRecordsRequest(records_arrow=record_columns.to_ipc(too_many)), CTX)


@pytest.mark.parametrize("record", [
    {"Time": 5},                                         # an integer: to_record stringifies it
    {"Version": "3"},                                    # a string version: to_record converts it
    {"Dimensions": [{"Value": "x"}]},                    # no Name: to_record explains
    {"MeasureValues": [{"Name": "a", "Value": "1"}]},    # no Type
    {"Bogus": 1},                                        # an unknown field
])
def test_what_the_columns_cannot_say_exactly_falls_back_to_the_per_record_form(record: dict[str, Any]) -> None:
    assert record_columns.encode([{"Time": "1"}, record]) is None


def test_routing_hashes_equal_the_per_record_hash() -> None:
    records = _records(3, n=50)
    batch = record_columns.encode([as_dict(r) for r in records])
    assert batch is not None
    common = common_pb2.Record(dimensions=[common_pb2.Dimension(name="site", value="s9")])
    for c in (None, common):
        expected = np.array([routing_hash(r, c) for r in records], dtype=np.uint64)
        assert record_columns.routing_hashes(batch, c).tolist() == expected.tolist()


def test_rows_come_back_as_the_same_records() -> None:
    records = _records(9, n=40)
    batch = record_columns.encode([as_dict(r) for r in records])
    assert batch is not None
    assert record_columns.to_records(record_columns.decode(record_columns.to_ipc(batch))) == records
    assert [to_record(as_dict(r)) for r in records] == records


# Regressions from review: shapes that only the list lengths tell apart, NULL list items, many shapes.
T = str(NOW // 10**6)


def _rec(dims: list[tuple[str, str]], **fields: Any) -> common_pb2.Record:
    rec = common_pb2.Record(dimensions=[common_pb2.Dimension(name=n, value=v) for n, v in dims], time=T, **fields)
    return rec


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_no_dimensions_and_one_dimension_named_empty_are_different_shapes(order: tuple[int, int]) -> None:
    pair = [_rec([], measure_name="cpu", measure_value="1.0"), _rec([("", "x")], measure_name="cpu", measure_value="2.0")]
    records = [pair[i] for i in order]
    proto, arrow = both_forms(records)
    expected = validate_write_records(proto, CTX)
    assert [r.record_index for r in expected.rejected] == [order.index(1)]
    assert_same(validate_write_records(arrow, CTX), expected)


def test_an_empty_named_measure_value_and_no_measure_values_are_different_shapes() -> None:
    records = [_rec([("h", "a")], measure_name="m", measure_value_type="MULTI",
                    measure_values=[common_pb2.MeasureValue(name="", value="1", type="")]),
               _rec([("h", "b")], measure_name="m", measure_value_type="MULTI")]
    proto, arrow = both_forms(records)
    expected = validate_write_records(proto, CTX)
    assert [r.record_index for r in expected.rejected] == [0, 1]
    assert_same(validate_write_records(arrow, CTX), expected)


def test_a_null_item_in_a_list_is_rejected_like_an_item_without_fields() -> None:
    dims = pa.array([[None], [{"Name": "h", "Value": "a", "DimensionValueType": None}]],
                    record_columns.RECORDS_SCHEMA.field("Dimensions").type)
    values = pa.array([None, [None]], record_columns.RECORDS_SCHEMA.field("MeasureValues").type)
    n = 2
    columns = {"Dimensions": dims, "MeasureName": pa.array(["cpu", "m"]), "MeasureValue": pa.array(["1.0", None]),
               "MeasureValueType": pa.array([None, "MULTI"]), "MeasureValues": values, "Time": pa.array([T] * n),
               "TimeUnit": pa.nulls(n, pa.string()), "Version": pa.nulls(n, pa.int64())}
    batch = pa.RecordBatch.from_pydict(columns, schema=record_columns.RECORDS_SCHEMA)
    got = validate_write_records(ingest_pb2.WriteRecordsRequest(records_arrow=record_columns.to_ipc(batch)), CTX)
    assert [r.record_index for r in got.rejected] == [0, 1]
    assert "Dimensions[0].Name" in got.rejected[0].reason and "MeasureValues[0].Name" in got.rejected[1].reason


def test_a_shape_per_record_goes_to_the_exact_path_and_agrees() -> None:
    records = [_rec([(f"d{i}", "x")], measure_name="cpu", measure_value="1.0") for i in range(64)]
    proto, arrow = both_forms(records)
    assert validate_fast_columns(record_columns.decode(arrow.records_arrow), CTX) is None
    assert_same(validate_write_records(arrow, CTX), validate_write_records(proto, CTX))
