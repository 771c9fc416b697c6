"""The IoT scenario generator is seeded, whole-epoch, time-ordered, and its records are Timestream-shaped."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from loadtest.iot import DEFAULT_START_NS, DIMENSIONS, MEASURE_NAME, MEASURES, STATUSES, Iot, to_records
from loadtest.tsbs import TAGS, CpuOnly

HOUR_NS = 3_600 * 1_000_000_000


def one_hour(**kw: object) -> Iot:
    return Iot(**{"end_ns": DEFAULT_START_NS + HOUR_NS, **kw})  # type: ignore[arg-type]


def test_the_same_seed_gives_identical_tables_and_another_seed_does_not() -> None:
    a, b, c = (pa.concat_tables(one_hour(seed=s).chunks()) for s in (7, 7, 8))
    assert a.equals(b)
    assert not a.equals(c)


def test_rows_are_machines_times_epochs_in_whole_epoch_chunks() -> None:
    data = one_hour(factories=2, lines_per_factory=3, machines_per_line=4)
    chunks = list(data.chunks(epochs_per_chunk=50))
    assert data.machines == 24
    assert data.rows == 24 * 360
    assert sum(c.num_rows for c in chunks) == data.rows
    assert all(c.num_rows % data.machines == 0 for c in chunks)


def test_columns_are_time_the_dimensions_and_the_measures_with_their_types() -> None:
    chunk = next(one_hour().chunks())
    assert chunk.column_names == ["time", *DIMENSIONS, *MEASURES]
    assert chunk.schema.field("time").type == pa.timestamp("ns")
    assert chunk.schema.field("energy").type == pa.int64()
    assert chunk.schema.field("temperature").type == pa.float64()
    assert set(chunk.column("status").to_pylist()) <= set(STATUSES)


def test_rows_are_time_ordered_and_each_machine_appears_once_per_epoch() -> None:
    data = one_hour()
    table = pa.concat_tables(data.chunks(epochs_per_chunk=17))
    times = table.column("time").cast(pa.int64()).to_numpy()
    assert times[0] == data.start_ns and np.all(np.diff(times) >= 0)
    keys = list(zip(*(table.column(d).to_pylist() for d in DIMENSIONS)))
    assert len(set(keys[: data.machines])) == data.machines
    assert keys == keys[: data.machines] * data.epochs


def test_machine_m07_runs_hotter_than_the_others() -> None:
    table = pa.concat_tables(one_hour().chunks())
    hot = pc.equal(table.column("machine"), "m07")
    t = table.column("temperature").to_numpy()
    mask = hot.to_numpy(zero_copy_only=False)
    assert t[mask].mean() > t[~mask].mean() + 10


def test_idle_machines_report_no_rpm() -> None:
    table = pa.concat_tables(Iot().chunks())
    status = np.array(table.column("status").to_pylist())
    rpm = table.column("rpm").to_numpy()
    assert (status == "idle").any()
    assert np.all(rpm[status != "running"] == 0)
    assert np.all(rpm[status == "running"] > 0)


def test_a_chunk_becomes_multi_records_with_typed_measures_and_nanosecond_time() -> None:
    chunk = next(one_hour().chunks()).slice(0, 3)
    records = to_records(chunk, DIMENSIONS, MEASURE_NAME)
    assert len(records) == 3
    r = records[0]
    assert r["MeasureValueType"] == "MULTI" and r["MeasureName"] == MEASURE_NAME
    assert r["TimeUnit"] == "NANOSECONDS" and r["Time"] == str(DEFAULT_START_NS)
    assert [d["Name"] for d in r["Dimensions"]] == list(DIMENSIONS)
    types = {m["Name"]: m["Type"] for m in r["MeasureValues"]}
    assert types == {"temperature": "DOUBLE", "pressure": "DOUBLE", "vibration": "DOUBLE", "energy": "BIGINT",
                     "rpm": "BIGINT", "status": "VARCHAR"}
    assert float(r["MeasureValues"][0]["Value"]) == chunk.column("temperature")[0].as_py()


def test_any_chunk_converts_including_tsbs_rows() -> None:
    chunk = next(CpuOnly(scale=3).chunks(epochs_per_chunk=1))
    records = to_records(chunk, TAGS, "cpu")
    assert len(records) == 3
    assert {m["Type"] for m in records[0]["MeasureValues"]} == {"BIGINT"}
    assert records[2]["Dimensions"][0] == {"Name": "hostname", "Value": "host_2"}


def test_records_are_accepted_by_the_sdks_record_conversion() -> None:
    from tessera.records import to_record

    for r in to_records(next(one_hour().chunks()).slice(0, 5), DIMENSIONS, MEASURE_NAME):
        assert to_record(r).measure_value_type == "MULTI"


def test_an_empty_scenario_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Iot(factories=0)
