"""The TSBS cpu-only generator keeps TSBS's structural facts (shared/reference/tsbs.md §1) and is seeded."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from loadtest.tsbs import ARCH, DEFAULT_START_NS, ENVIRONMENTS, FIELDS, OS, REGIONS, TAGS, TEAMS, CpuOnly

DAY_NS = 86_400 * 1_000_000_000


def _all(data: CpuOnly, epochs_per_chunk: int = 360) -> pa.Table:
    return pa.concat_tables(data.chunks(epochs_per_chunk))


def small(**kw: object) -> CpuOnly:
    return CpuOnly(**{"scale": 5, "end_ns": DEFAULT_START_NS + 3_600 * 1_000_000_000, **kw})  # type: ignore[arg-type]


def test_the_same_seed_gives_identical_tables() -> None:
    assert _all(small(seed=123)).equals(_all(small(seed=123)))


def test_a_different_seed_gives_different_values_and_tags() -> None:
    a, b = _all(small(seed=123)), _all(small(seed=124))
    assert not a.select(FIELDS).equals(b.select(FIELDS))
    assert not a.select(TAGS[1:]).equals(b.select(TAGS[1:]))


def test_chunking_does_not_change_the_data() -> None:
    assert _all(small(), 7).equals(_all(small(), 360))


def test_the_standard_data_set_has_25920_epochs_and_103680000_rows() -> None:
    data = CpuOnly(scale=4000, end_ns=DEFAULT_START_NS + 3 * DAY_NS)
    assert data.epochs == 25_920
    assert data.rows == 103_680_000
    assert data.rows * len(FIELDS) == 1_036_800_000


def test_100_hosts_over_24_hours_give_864000_rows() -> None:
    data = CpuOnly(scale=100)
    assert data.rows == 864_000
    assert sum(c.num_rows for c in data.chunks()) == 864_000


def test_the_first_timestamp_is_the_start_and_the_last_is_one_interval_before_the_end() -> None:
    data = small()
    times = _all(data).column("time").cast(pa.int64()).to_numpy()
    assert times[0] == data.start_ns
    assert times[-1] == data.start_ns + (data.epochs - 1) * data.interval_ns
    assert times[-1] < data.end_ns


def test_rows_are_time_ordered_with_host_order_inside_an_epoch() -> None:
    data = small()
    table = _all(data)
    times = table.column("time").cast(pa.int64()).to_numpy()
    assert np.all(np.diff(times) >= 0)
    hosts = table.column("hostname").to_pylist()
    assert hosts == [f"host_{i}" for i in range(data.scale)] * data.epochs


def test_integer_values_lie_in_0_to_100_and_are_truncated() -> None:
    integer, floats = _all(small(integer=True)), _all(small(integer=False))
    for f in FIELDS:
        i, x = integer.column(f).to_numpy(), floats.column(f).to_numpy()
        assert integer.schema.field(f).type == pa.int64()
        assert i.min() >= 0 and i.max() <= 100
        assert x.min() >= 0.0 and x.max() <= 100.0
        assert np.all(np.abs(np.floor(x) - i) <= 1)  # two-decimal rounding can cross an integer boundary


def test_two_decimal_values_have_at_most_two_decimals() -> None:
    x = _all(small(integer=False)).column("usage_user").to_numpy()
    assert np.allclose(x, np.round(x, 2))


def test_host_tags_come_from_the_tsbs_vocabularies() -> None:
    hosts = CpuOnly(scale=500).hosts().to_pylist()
    for h in hosts:
        assert h["region"] in REGIONS
        assert h["datacenter"] in REGIONS[h["region"]]
        assert 0 <= int(h["rack"]) < 100
        assert h["os"] in OS and h["arch"] in ARCH and h["team"] in TEAMS
        assert 0 <= int(h["service"]) < 20 and h["service_version"] in ("0", "1")
        assert h["service_environment"] in ENVIRONMENTS
    assert {h["region"] for h in hosts} == set(REGIONS)


def test_a_host_keeps_its_tags_for_the_whole_run() -> None:
    table = _all(small()).to_pylist()
    first = {r["hostname"]: tuple(r[t] for t in TAGS) for r in table[:5]}
    assert all(tuple(r[t] for t in TAGS) == first[r["hostname"]] for r in table)


def test_epoch_0_is_the_initial_state_and_each_step_moves_by_a_clamped_normal_draw() -> None:
    data = small(integer=False)
    table = _all(data)
    x = np.stack([table.column(f).to_numpy() for f in FIELDS], axis=1).reshape(data.epochs, data.scale, len(FIELDS))
    initial = np.random.default_rng([data.seed, 2]).random((data.scale, len(FIELDS))) * 100.0
    assert np.allclose(x[0], np.round(initial, 2))
    steps = np.abs(np.diff(x, axis=0))
    assert steps.max() < 6.0  # N(0,1) steps: > 6 sigma never happens in 3,600 draws
