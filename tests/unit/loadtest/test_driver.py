"""The driver splits the data between workers, paces and bounds runs, and counts errors, with a fake sink."""

from __future__ import annotations

import dataclasses
from typing import Any

import pyarrow as pa
import pytest

from loadtest.driver import (
    IngestConfig,
    interleave,
    run_ingest,
    run_queries,
    run_side_by_side,
    worker_batches,
)
from loadtest.iot import Iot, to_records
from loadtest.tsbs import DEFAULT_START_NS, CpuOnly
from loadtest.tsbs_queries import QuerySpec

SMALL = CpuOnly(scale=10, end_ns=DEFAULT_START_NS + 3_600 * 1_000_000_000)  # 3,600 rows


class FakeSink:
    """Accepts every batch, except every ``fail_every``-th one."""

    def __init__(self, fail_every: int = 0, prepare: bool = False) -> None:
        self.fail_every = fail_every
        self.calls = 0
        if prepare:
            self.prepare = lambda b: to_records(b, ("hostname",), "cpu")

    def write(self, batch: Any) -> None:
        self.calls += 1
        if self.fail_every and self.calls % self.fail_every == 0:
            raise RuntimeError("injected failure")

    def close(self) -> None:
        pass


@dataclasses.dataclass(frozen=True)
class FakeFactory:
    fail_every: int = 0
    prepare: bool = False

    def __call__(self) -> FakeSink:
        return FakeSink(self.fail_every, self.prepare)


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_workers_own_disjoint_shares_that_cover_the_data_set(workers: int) -> None:
    shares = [pa.concat_tables(worker_batches(SMALL, 700, workers, i)) for i in range(workers)]
    assert sum(s.num_rows for s in shares) == SMALL.rows
    keys = [(t, h) for s in shares for t, h in zip(s.column("time").to_pylist(), s.column("hostname").to_pylist())]
    assert len(set(keys)) == SMALL.rows


def test_batches_have_the_batch_size_except_the_last() -> None:
    sizes = [b.num_rows for b in worker_batches(SMALL, 700, 1, 0)]
    assert sizes[:-1] == [700] * (len(sizes) - 1) and 0 < sizes[-1] <= 700
    assert sum(sizes) == SMALL.rows


def test_a_row_limit_takes_the_first_rows_of_the_data_set() -> None:
    rows = [pa.concat_tables(worker_batches(SMALL, 100, 2, i, max_rows=250)) for i in range(2)]
    assert sum(r.num_rows for r in rows) == 250
    first = pa.concat_tables(SMALL.chunks()).slice(0, 250)
    assert sorted(pa.concat_tables(rows).column("time").to_pylist()) == first.column("time").to_pylist()


def test_batches_of_the_iot_scenario_work_too() -> None:
    data = Iot(end_ns=DEFAULT_START_NS + 600 * 1_000_000_000)
    assert sum(b.num_rows for b in worker_batches(data, 1000, 2, 0)) + \
        sum(b.num_rows for b in worker_batches(data, 1000, 2, 1)) == data.rows


def test_a_run_writes_every_row_once_and_reports_its_figures() -> None:
    result = run_ingest(SMALL, FakeFactory(), IngestConfig(workers=2, batch_rows=500, progress=False), form="fake")
    assert (result.rows, result.values, result.errors) == (SMALL.rows, SMALL.rows * 10, 0)
    assert result.timing == "pregenerated"
    assert result.latency["count"] == result.batches == 8
    assert sum(result.timeline) == SMALL.rows
    assert result.rows_per_s > 0 and result.as_dict()["values_per_s"] > 0


def test_failed_writes_are_counted_and_their_rows_left_out() -> None:
    result = run_ingest(SMALL, FakeFactory(fail_every=2), IngestConfig(workers=1, batch_rows=600, progress=False),
                        form="fake")
    assert result.errors == 3
    assert result.rows == 1800
    assert result.error_messages[0] == "RuntimeError: injected failure"


def test_a_worker_stops_after_max_errors() -> None:
    config = IngestConfig(workers=1, batch_rows=100, max_errors=3, progress=False)
    result = run_ingest(SMALL, FakeFactory(fail_every=1), config, form="fake")
    assert result.errors == 3 and result.rows == 0
    assert "--max-errors" in result.error_messages[-1]


def test_a_target_rate_paces_the_run() -> None:
    config = IngestConfig(workers=2, batch_rows=200, rate=2_000, max_rows=2_000, progress=False)
    result = run_ingest(SMALL, FakeFactory(), config, form="fake")
    assert result.rows == 2_000
    assert 0.7 <= result.seconds <= 2.5  # the last batch is due at 0.8 s


def test_a_duration_bounds_the_run() -> None:
    config = IngestConfig(workers=1, batch_rows=100, rate=500, duration_s=0.5, progress=False)
    result = run_ingest(SMALL, FakeFactory(), config, form="fake")
    assert 0 < result.rows < SMALL.rows
    assert result.seconds < 1.5


def test_inline_timing_prepares_the_first_batch_before_the_clock_and_the_rest_just_before_their_writes() -> None:
    config = IngestConfig(workers=1, batch_rows=1000, timing="inline", progress=False)
    result = run_ingest(SMALL, FakeFactory(prepare=True), config, form="fake")
    assert result.timing == "inline" and result.prepare_seconds > 0.0 and result.rows == SMALL.rows
    assert result.batches == 4


def test_bad_settings_are_refused_with_the_flag_to_change() -> None:
    with pytest.raises(ValueError, match="--workers"):
        IngestConfig(workers=0)
    with pytest.raises(ValueError, match="--rate"):
        IngestConfig(rate=0)


class FakeRunner:
    def run(self, spec: QuerySpec) -> int:
        if spec.hosts == ("host_bad",):
            raise RuntimeError("no such host")
        return 3

    def close(self) -> None:
        pass


def test_query_load_keeps_one_histogram_per_type_and_one_for_all() -> None:
    specs = interleave([[QuerySpec("lastpoint", 0, 1, ())] * 5, [QuerySpec("high-cpu-1", 0, 1, ("host_1",))] * 3,
                        [QuerySpec("high-cpu-1", 0, 1, ("host_bad",))]])
    result = run_queries(specs, FakeRunner, concurrency=3, progress=False)
    assert list(result.per_kind) == ["high-cpu-1", "lastpoint", "all"]
    assert result.per_kind["lastpoint"]["count"] == 5 and result.per_kind["all"]["count"] == 8
    assert result.rows == {"lastpoint": 15, "high-cpu-1": 9}
    assert result.errors == 1 and "no such host" in result.error_messages[0]


class RecordingRunner:
    def __init__(self, name: str, calls: list[tuple[str, str]]) -> None:
        self.name, self.calls = name, calls

    def run(self, spec: QuerySpec) -> int:
        self.calls.append((self.name, spec.kind))
        if self.name == "b" and spec.kind == "lastpoint":
            raise RuntimeError("b cannot")
        return 2

    def close(self) -> None:
        pass


def test_side_by_side_runs_each_query_on_every_path_in_rotating_order() -> None:
    calls: list[tuple[str, str]] = []
    specs = [QuerySpec("high-cpu-1", 0, 1, ("host_1",)), QuerySpec("lastpoint", 0, 1, ()),
             QuerySpec("high-cpu-1", 0, 1, ("host_2",))]
    paths = run_side_by_side(specs, {"a": lambda: RecordingRunner("a", calls), "b": lambda: RecordingRunner("b", calls)},
                             concurrency=1, progress=False)
    assert calls == [("a", "high-cpu-1"), ("b", "high-cpu-1"), ("b", "lastpoint"), ("a", "lastpoint"),
                     ("a", "high-cpu-1"), ("b", "high-cpu-1")]
    assert paths["a"].per_kind["all"]["count"] == 3 and paths["a"].errors == 0
    assert paths["b"].per_kind["all"]["count"] == 2 and paths["b"].errors == 1
    assert paths["b"].rows == {"high-cpu-1": 4} and "b cannot" in paths["b"].error_messages[0]
