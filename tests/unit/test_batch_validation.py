"""WriteBatch validation: the Arrow form of the write rules, and its agreement with WriteRecords."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from tessera import layout, limits
from tessera.errors import ValidationError
from tessera.v1 import common_pb2, ingest_pb2
from tessera.validation import (
    ColumnSpec,
    TableContext,
    Validated,
    validate_write_batch,
    validate_write_records,
)
from tests.unit.test_validation import HOUR_MS, NOW_MS, NOW_NS, ctx  # one context


def ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def batch(data: pa.Table | dict[str, Any], context: TableContext | None = None, **kw: Any) -> Validated:
    table = data if isinstance(data, pa.Table) else pa.table(data)
    kw.setdefault("dimension_columns", [c for c in ("host",) if c in table.column_names])
    req = ingest_pb2.WriteBatchRequest(database_name="db", table_name="t", arrow_ipc=ipc(table), **kw)
    return validate_write_batch(req, context or ctx())


def ms(*offsets: int) -> pa.Array:
    return pa.array([NOW_MS + o for o in offsets], pa.int64())


def rejected(v: Validated) -> dict[int, str]:
    return {r.record_index: r.reason for r in v.rejected}


# --- accepted rows ----------------------------------------------------------------------------------------


def test_every_other_column_becomes_a_multi_measure_attribute_in_its_layout_type() -> None:
    v = batch({
        "time": ms(0, 1), "host": ["a", None],
        "f32": pa.array([1.5, 2.5], pa.float32()), "i8": pa.array([1, -2], pa.int8()),
        "u64": pa.array([3, None], pa.uint64()), "s": pa.array(["x", "y"], pa.large_string()),
        "ok": [True, False], "seen": pa.array([5, 6], pa.timestamp("s", tz="Europe/Paris")),
    })
    assert v.rejected == []
    assert v.rows.column_names == ["time", "measure_name", "host", "f32", "i8", "ok", "s", "seen", "u64"]
    types = {f.name: f.type for f in v.rows.schema}
    assert types == {"time": pa.timestamp("ns"), "measure_name": pa.string(), "host": pa.string(),
                     "f32": pa.float64(), "i8": pa.int64(), "u64": pa.int64(), "s": pa.string(),
                     "ok": pa.bool_(), "seen": pa.timestamp("ns")}
    assert v.rows.column("host").to_pylist() == ["a", None]
    assert v.rows.column("u64").to_pylist() == [3, None]
    assert v.rows.column("seen").cast(pa.int64()).to_pylist() == [5 * 10**9, 6 * 10**9]
    assert v.rows.column("measure_name").to_pylist() == ["metrics", "metrics"]
    assert v.new_columns["seen"] == ColumnSpec("MULTI", "TIMESTAMP")
    assert v.new_columns["host"] == ColumnSpec("DIMENSION", "VARCHAR")
    assert v.versions.to_pylist() == [1, 1]


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_a_timestamp_time_column_of_any_unit_becomes_nanoseconds(unit: str) -> None:
    factor = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[unit]
    v = batch({"time": pa.array([NOW_NS // factor], pa.timestamp(unit, tz="UTC")), "x": [1.0]})
    assert v.rows.column("time").type == pa.timestamp("ns")
    assert v.rows.column("time").cast(pa.int64()).to_pylist() == [NOW_NS // factor * factor]


@pytest.mark.parametrize(("unit", "factor"), list(limits.TIME_UNITS.items()))
def test_an_integer_time_column_uses_the_time_unit(unit: str, factor: int) -> None:
    v = batch({"ts": pa.array([NOW_NS // factor]), "x": [1.0]}, time_column="ts", time_unit=unit)
    assert v.rows.column("time").cast(pa.int64()).to_pylist() == [NOW_NS // factor * factor]


def test_measure_names_come_from_a_column_or_a_constant() -> None:
    v = batch({"time": ms(0, 1), "name": ["cpu", "mem"], "x": [1.0, 2.0]}, measure_name_column="name")
    assert v.rows.column("measure_name").to_pylist() == ["cpu", "mem"]
    assert "name" not in v.rows.column_names
    v = batch({"time": ms(0), "x": [1.0]}, measure_name="load")
    assert v.rows.column("measure_name").to_pylist() == ["load"]


def test_versions_come_from_the_version_column_and_null_means_one() -> None:
    v = batch({"time": ms(0, 1), "v": pa.array([None, 4], pa.int32()), "x": [1.0, 2.0]}, version_column="v")
    assert v.versions.type == pa.int64()
    assert v.versions.to_pylist() == [1, 4]
    assert "v" not in v.rows.column_names


def test_dictionary_encoded_dimensions_are_accepted() -> None:
    v = batch({"time": ms(0, 1), "host": pa.array(["a", "a"]).dictionary_encode(), "x": [1.0, 2.0]})
    assert v.rows.column("host").type == pa.string()
    assert v.rows.column("host").to_pylist() == ["a", "a"]


def test_columns_with_no_value_in_accepted_rows_are_left_out() -> None:
    v = batch({"time": ms(0), "host": pa.array([None], pa.string()), "x": [1.0], "y": pa.array([None], pa.int64()),
               "z": pa.array([None], pa.null())})
    assert v.rows.column_names == ["time", "measure_name", "x"]
    assert v.dimension_columns == [] and v.measure_columns == ["x"]
    assert v.new_columns == {"x": ColumnSpec("MULTI", "DOUBLE")}


def test_key_columns_can_be_added_to_the_result() -> None:
    v = batch({"time": ms(0, 1), "host": ["a", "b"], "x": [1.0, 2.0]})
    table, _ = layout.with_key_columns(v.rows, v.dimension_columns, v.measure_columns, v.versions)
    assert table.column(layout.VERSION).to_pylist() == [1, 1]
    assert len(set(table.column(layout.SERIES).to_pylist())) == 2


# --- request-level errors -----------------------------------------------------------------------------------


def request(data: dict[str, Any], **kw: Any) -> ingest_pb2.WriteBatchRequest:
    return ingest_pb2.WriteBatchRequest(arrow_ipc=ipc(pa.table(data)), **kw)


GOOD = {"time": ms(0), "host": ["a"], "x": [1.0]}


@pytest.mark.parametrize(("req", "fragment"), [
    (ingest_pb2.WriteBatchRequest(arrow_ipc=b"not arrow"), "arrow_ipc is not a readable Arrow IPC stream"),
    (ingest_pb2.WriteBatchRequest(), "arrow_ipc is not a readable Arrow IPC stream"),
    (request({"time": pa.array([], pa.int64()), "x": pa.array([], pa.float64())}), "arrow_ipc holds no rows"),
    (request({"t": ms(0), "x": [1.0]}), "time_column 'time' is not in the batch"),
    (request({"time": [1.5], "x": [1.0]}), "time column 'time' has Arrow type double"),
    (request(GOOD, time_unit="HOURS"), "time_unit 'HOURS' is invalid"),
    (request(GOOD, dimension_columns=["zone"]), "dimension column 'zone' is not in the batch"),
    (request({**GOOD, "n": [1]}, dimension_columns=["n"]), "dimension column 'n' has Arrow type int64"),
    (request(GOOD, dimension_columns=["host", "host"]), "dimension_columns lists a column more than once"),
    (request({**GOOD, "b": [b"\x00"]}), "column 'b' has Arrow type binary, which cannot be stored"),
    (request({**GOOD, "l": [[1, 2]]}), "column 'l' has Arrow type list<item: int64>, which cannot be stored"),
    (request(GOOD, measure_name="m", measure_name_column="host"), "give measure_name or measure_name_column"),
    (request(GOOD, measure_name_column="name"), "measure_name_column 'name' is not in the batch"),
    (request({**GOOD, "name": [1]}, measure_name_column="name"), "measure_name_column 'name' has Arrow type int64"),
    (request(GOOD, measure_name="ts_m"), "measure_name 'ts_m' is invalid: names may not begin with 'ts_'"),
    (request(GOOD, version_column="v"), "version_column 'v' is not in the batch"),
    (request({**GOOD, "v": [1.0]}, version_column="v"), "version_column 'v' has Arrow type double"),
    (request(GOOD, dimension_columns=["host"], measure_name_column="host"), "a column may have only one role"),
])
def test_a_malformed_batch_fails_the_whole_request(req: ingest_pb2.WriteBatchRequest, fragment: str) -> None:
    with pytest.raises(ValidationError) as err:
        validate_write_batch(req, ctx())
    assert fragment in err.value.message


def test_duplicate_column_names_fail_the_request() -> None:
    table = pa.Table.from_arrays([ms(0), pa.array([1.0]), pa.array([2.0])], names=["time", "x", "x"])
    with pytest.raises(ValidationError, match="duplicate column names: 'x'"):
        validate_write_batch(ingest_pb2.WriteBatchRequest(arrow_ipc=ipc(table)), ctx())


# --- per-row rejections -------------------------------------------------------------------------------------

I64_MAX = (1 << 63) - 1


@pytest.mark.parametrize(("column", "bad", "fragment"), [
    ("time", None, "Invalid time for record. Column 'time' is NULL"),
    ("time", -5, "Column 'time' value -5 is negative"),
    ("time", I64_MAX, "past the latest time that fits in 64-bit nanoseconds"),
    ("time", NOW_MS + 15 * 60_000 + 1, "is more than 15 minutes ahead of the server time"),
    ("time", NOW_MS - 6 * HOUR_MS - 1, "older than the memory store retention of 6 hours and magnetic store writes"),
    ("x", float("nan"), "Column 'x' value nan is not a finite DOUBLE"),
    ("x", float("inf"), "Column 'x' value inf is not a finite DOUBLE"),
    ("x", float("-inf"), "value -inf is not a finite DOUBLE"),
    ("s", "é" * 1025, "Column 's' value is 2050 bytes; the limit is 2048 bytes per VARCHAR"),
    ("s", "", "Column 's' value may not be empty"),
    ("v", 0, "Column 'v' version 0 is invalid: versions start at 1"),
    ("v", -1, "version -1 is invalid"),
    ("name", None, "Column 'name': the measure name is NULL"),
    ("name", "", "measure name '' is invalid: names may not be empty"),
    ("name", "ts_cpu", "Column 'name' measure name 'ts_cpu' is invalid: names may not begin with 'ts_'"),
    ("name", "measure_value", "it is a reserved name"),
    ("name", "m" * 257, "limited to 256 UTF-8 bytes; this one has 257"),
    ("host", "", "Column 'host': dimension values may not be empty"),
    ("u", 1 << 63, "Column 'u' value does not fit in a BIGINT"),
    ("seen", -1, "Column 'seen' value is out of range for a TIMESTAMP"),
])
def test_a_bad_value_rejects_only_its_row(column: str, bad: Any, fragment: str) -> None:
    data: dict[str, pa.Array] = {
        "time": ms(0, 1, 2), "host": pa.array(["a", "b", "c"]), "name": pa.array(["m", "m", "m"]),
        "v": pa.array([1, 2, 3]), "x": pa.array([1.0, 2.0, 3.0]), "s": pa.array(["p", "q", "r"]),
        "u": pa.array([1, 2, 3], pa.uint64()), "seen": pa.array([1, 2, 3], pa.timestamp("ms")),
    }
    values = data[column].to_pylist()
    values[1] = bad
    data[column] = pa.array(values, data[column].type)
    v = batch(data, measure_name_column="name", version_column="v")
    assert list(rejected(v)) == [1], v.rejected
    assert fragment in rejected(v)[1]
    assert v.source_index.tolist() == [0, 2]
    assert v.rows.column("time").cast(pa.int64()).to_pylist() == [NOW_NS, NOW_NS + 2 * 10**6]


def test_a_row_where_every_measure_is_null_is_rejected() -> None:
    v = batch({"time": ms(0, 1), "x": pa.array([1.0, None]), "y": pa.array([None, None], pa.int64())})
    assert rejected(v) == {1: "every measure of the row is NULL; a row needs at least one measure value"}


def test_late_rows_go_to_the_magnetic_store_when_magnetic_writes_are_on() -> None:
    too_old = -(6 + 240) * HOUR_MS - 1
    v = batch({"time": ms(0, -7 * HOUR_MS, too_old), "x": [1.0, 2.0, 3.0]}, context=ctx(magnetic_writes=True))
    assert v.magnetic.tolist() == [False, True]
    assert "older than the table's retention (memory store 6 hours + magnetic store 10 days)" in rejected(v)[2]


def test_a_row_with_more_than_128_dimensions_is_rejected() -> None:
    dims = {f"d{i}": pa.array(["v", None if i == 128 else "v"]) for i in range(129)}
    v = batch({"time": ms(0, 1), **dims, "x": [1.0, 2.0]}, dimension_columns=list(dims))
    assert rejected(v) == {0: "the row has 129 dimensions; the limit is 128 per record"}
    assert len(v.dimension_columns) == 128


def test_a_row_whose_dimensions_exceed_the_series_key_limit_is_rejected() -> None:
    v = batch({"time": ms(0, 1), "a": ["x" * 1000, "x"], "b": ["y" * 1050, "y"], "x": [1.0, 2.0]},
              dimension_columns=["a", "b"])
    assert "2052 bytes; the limit is 2048 bytes per series" in rejected(v)[0]
    assert list(rejected(v)) == [0]


def test_a_row_larger_than_2048_bytes_is_rejected() -> None:
    v = batch({"time": ms(0, 1), "host": ["h" * 1000, "h"], "s": ["v" * 1100, "v"]})
    assert "is 2112 bytes (dimensions, measure name and measure values); the limit is 2048" in rejected(v)[0]
    assert list(rejected(v)) == [0]


def test_a_row_whose_measure_values_exceed_2048_bytes_is_rejected() -> None:
    v = batch({"time": ms(0, 1), "a": ["x" * 1500, "x"], "b": ["y" * 549, "y"]}, measure_name="m")
    assert "measure values are 2049 bytes; the limit is 2048 bytes per multi-measure record" in rejected(v)[0]


@pytest.mark.parametrize("value, rejected_rows", [(1, []), (-(2**63), [0])])
def test_numeric_rows_are_sized_as_their_strings_when_near_the_limit(value: int, rejected_rows: list[int]) -> None:
    # 100 BIGINTs named m00..m99: 300 name bytes plus 100 (value 1) or 2,000 bytes (value -2**63), and the
    # default measure name.
    cols = {f"m{i:02d}": pa.array([value, 1], pa.int64()) for i in range(100)}
    v = batch({"time": ms(0, 1), **cols})
    assert list(rejected(v)) == rejected_rows
    if rejected_rows:
        assert "is 2307 bytes (dimensions, measure name and measure values)" in rejected(v)[0]


def test_no_double_is_longer_as_a_string_than_the_size_bound() -> None:
    from tessera._batch_validation import _MAX_TEXT_BYTES

    rng = np.random.default_rng(7)
    with np.errstate(all="ignore"):
        values = -(rng.random(100_000) * 10.0 ** rng.integers(-330, 309, 100_000).astype(float))
    values = values[np.isfinite(values)]
    longest = int(pa.compute.max(pa.compute.binary_length(pa.array(values).cast(pa.string()))).as_py())
    assert longest == _MAX_TEXT_BYTES["DOUBLE"]
    assert len(str(-(2**63))) == _MAX_TEXT_BYTES["BIGINT"]


def test_a_row_with_more_than_256_measures_is_rejected() -> None:
    cols = {f"m{i}": pa.array([1, None if i == 256 else 1], pa.int8()) for i in range(257)}
    v = batch({"time": ms(0, 1), **cols})
    assert rejected(v) == {0: "the row has 257 measure values; the limit is 256 per multi-measure record"}


# --- column names and schema --------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "dims", "fragment"), [
    ({"ts_host": ["a", None]}, ["ts_host"], "dimension column 'ts_host' is invalid: names may not begin with 'ts_'"),
    ({"d" * 61: ["a", None]}, ["d" * 61], "limited to 60 UTF-8 bytes"),
    ({"ts_x": [1.0, None]}, [], "column 'ts_x' is invalid as a measure name: names may not begin with 'ts_'"),
    ({"measure_value::double": [1.0, None]}, [], "it is a reserved name"),
])
def test_an_invalid_column_name_rejects_the_rows_that_use_it(data: dict[str, Any], dims: list[str],
                                                             fragment: str) -> None:
    v = batch({"time": ms(0, 1), **data, "x": [1.0, 2.0]}, dimension_columns=dims)
    assert list(rejected(v)) == [0]
    assert fragment in rejected(v)[0]


def test_an_attribute_may_take_a_single_measure_name_of_the_table() -> None:
    v = batch({"time": ms(0, 1), "host": ["a", "b"], "x": [1.0, 2.0]},
              context=ctx({"x": ColumnSpec("MEASURE", "BIGINT")}))
    assert rejected(v) == {}
    assert v.new_columns == {"host": ColumnSpec("DIMENSION", "VARCHAR"), "x": ColumnSpec("MULTI", "DOUBLE")}


@pytest.mark.parametrize(("columns", "fragment"), [
    ({"x": ColumnSpec("MULTI", "BIGINT")}, "Column 'x': measure 'x' is BIGINT in this table; the batch has DOUBLE"),
    ({"host": ColumnSpec("MEASURE", "DOUBLE")},
     "'host' is a DOUBLE measure in this table; the batch uses it as a dimension"),
    ({"host": ColumnSpec("MULTI", "VARCHAR")},
     "'host' is a VARCHAR multi-measure attribute in this table; the batch uses it as a dimension"),
])
def test_a_schema_conflict_rejects_every_row_that_uses_the_column(columns: dict[str, ColumnSpec],
                                                                  fragment: str) -> None:
    v = batch({"time": ms(0, 1), "host": ["a", "b"], "x": [1.0, 2.0]}, context=ctx(columns))
    assert sorted(rejected(v)) == [0, 1]
    assert all(fragment in reason for reason in rejected(v).values())
    assert v.rows.num_rows == 0


def test_the_table_limits_admit_new_columns_until_they_are_full() -> None:
    columns = {f"m{i}": ColumnSpec("MULTI", "DOUBLE") for i in range(1023)}
    v = batch({"time": ms(0, 1, 2), "a": [1.0, None, None], "b": [None, 2.0, None], "m0": [None, None, 3.0]},
              context=ctx(columns))
    assert list(rejected(v)) == [1]
    assert "too many unique multi-measure attribute names: the table has 1024 and the batch adds 1" in rejected(v)[1]
    assert v.new_columns == {"a": ColumnSpec("MULTI", "DOUBLE")}


def test_the_dimension_limit_counts_the_table_columns() -> None:
    columns = {f"d{i}": ColumnSpec("DIMENSION", "VARCHAR") for i in range(128)}
    v = batch({"time": ms(0, 1), "host": ["a", None], "x": [1.0, 2.0]}, context=ctx(columns))
    assert "too many dimensions: the table has 128 and the batch adds 1" in rejected(v)[0]
    assert v.source_index.tolist() == [1]


# --- the two write forms agree ------------------------------------------------------------------------------

MULTI_ROWS = [
    # host, zone, time offset (ms), cpu, mem, up, note, seen (ms), version
    ("a", "z1", 0, 1.5, 10, True, "ok", NOW_MS - 5, 1),
    ("b", None, 1, None, 20, False, None, None, 3),
    ("a", "z2", 2, -0.25, None, None, "héllo", NOW_MS, 2),
]


def records_form() -> Validated:
    records = []
    for host, zone, offset, cpu, mem, up, note, seen, version in MULTI_ROWS:
        r = common_pb2.Record(measure_name="metrics", measure_value_type="MULTI", time=str(NOW_MS + offset),
                              version=version)
        r.dimensions.extend(common_pb2.Dimension(name=n, value=v) for n, v in (("host", host), ("zone", zone)) if v)
        for name, value, type_name in (("cpu", cpu, "DOUBLE"), ("mem", mem, "BIGINT"), ("up", up, "BOOLEAN"),
                                       ("note", note, "VARCHAR"), ("seen", seen, "TIMESTAMP")):
            if value is not None:
                text = str(value).lower() if isinstance(value, bool) else str(value)
                r.measure_values.append(common_pb2.MeasureValue(name=name, value=text, type=type_name))
        records.append(r)
    return validate_write_records(ingest_pb2.WriteRecordsRequest(records=records), ctx())


def batch_form() -> Validated:
    cols = list(zip(*MULTI_ROWS, strict=True))
    table = pa.table({
        "zone": pa.array(cols[1], pa.string()), "ver": pa.array(cols[8], pa.int64()),
        "t": pa.array([NOW_MS + o for o in cols[2]], pa.timestamp("ms", tz="UTC")),
        "host": pa.array(cols[0], pa.large_string()), "up": pa.array(cols[5], pa.bool_()),
        "seen": pa.array(cols[7], pa.timestamp("ms")), "note": pa.array(cols[6], pa.string()),
        "mem": pa.array(cols[4], pa.int32()), "cpu": pa.array(cols[3], pa.float32()),
    })
    return batch(table, time_column="t", dimension_columns=["zone", "host"], version_column="ver")


def test_both_write_forms_produce_identical_rows_and_schema() -> None:
    records, batched = records_form(), batch_form()
    assert records.rejected == [] and batched.rejected == []
    assert records.rows.equals(batched.rows), (records.rows, batched.rows)
    assert records.dimension_columns == batched.dimension_columns == ["host", "zone"]
    assert records.measure_columns == batched.measure_columns == ["cpu", "mem", "note", "seen", "up"]
    assert records.versions.equals(batched.versions)
    assert records.new_columns == batched.new_columns
    assert records.source_index.tolist() == batched.source_index.tolist() == [0, 1, 2]


def test_both_write_forms_give_the_same_series_and_value_hashes() -> None:
    keyed = []
    for v in (records_form(), batch_form()):
        table, dim_hash = layout.with_key_columns(v.rows, v.dimension_columns, v.measure_columns, v.versions)
        keyed.append((table, dim_hash))
    (a, a_dims), (b, b_dims) = keyed
    for column in layout.KEY_COLUMNS:
        assert a.column(column).equals(b.column(column))
    assert a_dims.tolist() == b_dims.tolist()


def test_a_large_batch_of_mixed_types_validates_whole() -> None:
    # Its speed is measured by `python -m loadtest.micro` ("validate a 200,000-row mixed-type batch"), not here.
    n = 200_000
    rng = np.random.default_rng(1)
    table = pa.table({
        "time": pa.array(NOW_MS - rng.integers(0, HOUR_MS, n), pa.int64()),
        "host": pa.array([f"host-{i % 500}" for i in range(n)]),
        "cpu": rng.random(n), "mem": rng.integers(0, 1 << 40, n), "state": pa.array(["up", "down"] * (n // 2)),
    })
    v = batch(table)
    assert v.rows.num_rows == n and v.rejected == []
    assert v.rows.column("cpu").to_numpy().tolist() == table.column("cpu").to_numpy().tolist()