"""The storage-size benchmark builds rows as ingest does, reports every span, and round-trips them exactly."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from loadtest import storage_size
from loadtest.storage_size import HOUR_NS, TwoDecimals, build, identical, measure
from tessera import layout


def test_the_report_has_a_row_per_span_with_every_figure_and_an_exact_round_trip(
        capsys: pytest.CaptureFixture[str]) -> None:
    storage_size.main(["--dataset", "tsbs", "--scale", "3", "--hours", "2", "--span-hours", "1", "2"])
    lines = capsys.readouterr().out.splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["dataset", "span", "tiles", "rows", "values", "bytes", "bytes/value", "plain Parquet",
                      "tuned Parquet", "manifest info B/value", "encode rows/s", "full-read rows/s", "exact round trip"]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:4]]
    assert [r[:5] for r in rows] == [["tsbs", "1 h", "2", "2,160", "21,600"], ["tsbs", "2 h", "1", "2,160", "21,600"]]
    for r in rows:
        assert 0 < float(r[6].strip("*")) < float(r[7]) and float(r[8]) > 0 and r[12] == "yes"  # under plain Parquet
    assert "Zero-order floor of the measures" in lines[-1]


def test_two_decimal_devices_report_on_their_own_periods_with_two_decimal_doubles() -> None:
    gen = TwoDecimals(devices=20, end_ns=TwoDecimals.start_ns + HOUR_NS)
    table = gen.table()
    times = table.column("time").cast(pa.int64()).to_numpy()
    device = table.column("device").to_numpy(zero_copy_only=False)
    for d in np.unique(device):
        gaps = set(np.diff(times[device == d]) // 10**9)
        assert len(gaps) == 1 and gaps.pop() in TwoDecimals.PERIODS_S
    for name in TwoDecimals.MEASURES:
        v = table.column(name).to_numpy()
        assert table.schema.field(name).type == pa.float64()
        assert np.array_equal(np.rint(v * 100) / 100, v)
    assert table.equals(TwoDecimals(devices=20, end_ns=TwoDecimals.start_ns + HOUR_NS).table())


def test_every_dataset_round_trips_exactly_tile_by_tile() -> None:
    for dataset, scale in (("tsbs", 2), ("decimals2", 10), ("iot", 1)):
        data = build(dataset, scale, 1)
        assert set(layout.FIXED_COLUMNS) <= set(data.rows.column_names)
        result = measure(data, 1)
        assert result.exact, dataset
        assert result.values == data.rows.num_rows * len(data.measures)
    jittered = build("decimals2", 10, 1, jitter_ms=300)
    assert measure(jittered, 1).exact


def test_identical_tells_negative_zero_and_nan_payloads_apart() -> None:
    a = pa.table({"x": pa.array([0.0, np.nan])})
    b = pa.table({"x": pa.array([-0.0, np.nan])})
    payload = np.array([0.0, np.nan])
    payload.view(np.uint64)[1] |= np.uint64(1)
    assert identical(a, a)
    assert not identical(a, b)
    assert not identical(a, pa.table({"x": pa.array(payload)}))


def test_one_hour_of_100_tsbs_hosts_takes_at_most_040_bytes_a_value() -> None:
    result = measure(build("tsbs", 100, 1), 1)
    assert result.exact
    assert result.bytes_per_value <= 0.40
