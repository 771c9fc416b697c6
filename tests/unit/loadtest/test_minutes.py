"""A long run's timeline, process samples, disk samples and flushes become one row per minute."""

from __future__ import annotations

import pytest

from loadtest.engine import DiskUse
from loadtest.minutes import Minute, minutes_table, per_minute, steadiness
from loadtest.storage_logs import FlushEvent

START = 1_000.0
MIB = 1 << 20


def _minutes() -> list[Minute]:
    timeline = [100] * 60 + [50] * 60 + [10] * 15  # two full minutes and 15 s
    storage = {"a": [(START + 5, 10.0, 1024 * 100), (START + 65, 30.0, 1024 * 300)],
               "b": [(START + 6, 20.0, 1024 * 200), (START + 70, 50.0, 1024 * 100)]}
    disk = [(START + 30, DiskUse(wal=MIB, magnetic=2 * MIB)), (START + 59, DiskUse(wal=3 * MIB, magnetic=4 * MIB))]
    flushes = [FlushEvent(START + 61, "a", 7, 70, ("bucket ended and idle",)),
               FlushEvent(START + 62, "b", 3, 30, ("memory above the flush mark", "older than memory retention"))]
    return per_minute(START, timeline, storage, disk, flushes)


def test_each_minute_has_its_rate_memory_cpu_disk_and_flushes() -> None:
    first, second, third = _minutes()
    assert (first.index, first.seconds, first.rows_per_s) == (1, 60, 100.0)
    assert (first.rss_max_mb, first.rss_total_mb, first.cpu_mean_pct) == (200.0, 300.0, 15.0)
    assert (first.wal_mb, first.magnetic_mb, first.flushes, first.flushed_rows) == (3.0, 4.0, {}, 0)
    assert (second.rows_per_s, second.rss_max_mb, second.rss_total_mb, second.cpu_mean_pct) == (50.0, 300.0, 400.0,
                                                                                             40.0)
    assert second.wal_mb is None
    assert second.flushes == {"idle": 1, "pressure": 1, "retention": 1} and second.flushed_rows == 10
    assert (third.seconds, third.rows_per_s) == (15, 10.0)


def test_a_last_minute_under_ten_seconds_is_left_out() -> None:
    assert len(per_minute(START, [1] * 65, {})) == 1


def test_the_table_has_a_row_per_minute_and_marks_a_short_one() -> None:
    table = minutes_table(_minutes()).splitlines()
    assert len(table) == 5
    assert table[2].startswith("| 1 | 100 | 200 | 300 | 15 | 3 | 4 | — | 0 |")
    assert table[3].startswith("| 2 | 50 | 300 | 400 | 40 | — | — | idle 1, pressure 1, retention 1 | 10 |")
    assert table[4].startswith("| 3 (15 s) | 10 |")


def test_steadiness_compares_full_minutes_with_the_reference() -> None:
    steady = steadiness(_minutes(), 100.0)
    assert steady == pytest.approx({"min": 0.5, "median": 1.0, "last": 0.5})
    assert steadiness(_minutes(), 0.0) == {}
