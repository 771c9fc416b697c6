"""The TSBS cpu-only generator keeps TSBS's structural facts (shared/reference/tsbs.md §1) and is seeded."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from loadtest.gorand import GoRand
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
    _, initial = data._setup(GoRand(data.seed))  # the hosts' initial states, as TSBS draws them
    assert np.allclose(x[0], np.round(initial, 2))
    steps = np.abs(np.diff(x, axis=0))
    assert steps.max() < 6.0  # N(0,1) steps: > 6 sigma never happens in 3,600 draws


# TSBS's golden vectors (tsbs.md §1.6): seed 123, start 2016-01-01, values as TSBS's Go generator prints them.
GOLDEN_HOSTS = [
    ("host_0", "eu-central-1", "eu-central-1a", "6", "Ubuntu15.10", "x86", "SF", "19", "1", "test",
     [58, 2, 24, 61, 22, 63, 6, 44, 80, 38]),
    ("host_1", "us-west-1", "us-west-1a", "41", "Ubuntu15.10", "x64", "NYC", "9", "1", "staging",
     [84, 11, 53, 87, 29, 20, 54, 77, 53, 74]),
    ("host_2", "sa-east-1", "sa-east-1a", "89", "Ubuntu16.04LTS", "x86", "LON", "13", "0", "staging",
     [29, 48, 5, 63, 17, 52, 60, 49, 93, 1]),
]


@pytest.mark.parametrize("scale", [3, 100])
def test_tsbs_golden_hosts_and_first_values(scale: int) -> None:
    first = next(CpuOnly(scale=scale, seed=123).chunks(1))
    assert first.column("time").cast(pa.int64()).to_pylist()[0] == 1_451_606_400_000_000_000
    for row, (host, *tags, values) in zip(first.to_pylist(), GOLDEN_HOSTS):
        assert row["hostname"] == host
        assert [row[t] for t in TAGS[1:]] == tags
        assert [row[f] for f in FIELDS] == values


def test_tsbs_golden_second_epoch_at_scale_2() -> None:
    row = next(CpuOnly(scale=2, seed=123).chunks(2)).slice(2, 1)
    assert row.column("time").cast(pa.int64()).to_pylist() == [1_451_606_410_000_000_000]
    second = row.drop_columns(["time"]).to_pylist()[0]
    assert second["hostname"] == "host_0"
    assert [second[f] for f in FIELDS] == [59, 4, 25, 60, 23, 62, 5, 47, 80, 38]


def test_go_math_rand_golden_draws() -> None:
    rng = GoRand(123)
    assert [rng.float64() * 100 for _ in range(10)] == [
        58.13171323049762, 2.6224297271376256, 24.99694950699479, 61.58544846337789, 22.94813932316394,
        63.64992071061983, 6.409877704830105, 44.879914050302744, 80.50287707611362, 38.24311829115428]
    rng = GoRand(123)
    assert [rng.intn(10) for _ in range(11)] == [5, 9, 3, 5, 9, 9, 5, 5, 1, 1, 7]


@pytest.mark.parametrize("seed", [123, 0, -5, 2**40 + 3])
def test_block_normals_equal_go_s_word_by_word_ziggurat(seed: int) -> None:
    block, single = GoRand(seed), GoRand(seed)
    drawn = np.concatenate([block.norm_float64s(k) for k in (1, 3000, 17, 40_000)])
    assert drawn.tolist() == [single.norm_float64() for _ in range(len(drawn))]
    assert block.int63() == single.int63()  # and both streams stand at the same word afterwards
