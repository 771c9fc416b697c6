"""The restart, scan and series-memory reports: medians per scenario, rates per CPU second, fitted slopes."""

from __future__ import annotations

import pytest

from loadtest import restart, series_memory


def _restart_out() -> dict[str, object]:
    disk = {"wal": 4096, "magnetic": 1_000_000, "other": 4096}
    return {
        "rows": 1000, "values": 10_000, "tail_rows": 100, "load": {"rows_per_s": 5000.0},
        "settle": {"seconds": 2.5, "rounds": 2}, "disk_settled": {"a": disk, "b": disk, "c": disk},
        "disk_with_tail": {"wal": 2 * 2**20, "magnetic": 1_000_000, "other": 4096},
        "tail_memory_bytes": 2**20, "tail_memory_bytes_after_restart": 2**20,
        "restarts": [{"scenario": "flushed", "ready_s": s, "first_answer_s": s + 0.1, "open_s": 0.05,
                      "replayed_entries": 0} for s in (1.0, 3.0, 2.0)]
                    + [{"scenario": "WAL tail", "ready_s": 4.0, "first_answer_s": 4.2, "open_s": 2.0,
                        "replayed_entries": 12}],
        "scans": [{"tier": "magnetic", "rows": 1000, "seconds": s, "cpu_seconds": 2 * s} for s in (0.1, 0.3, 0.2)],
        "failures": {},
    }


def test_restarts_are_reported_as_medians_per_scenario_with_every_run() -> None:
    md = restart.markdown(_restart_out())
    assert "| flushed | 3 | 2.00 (1.00 / 3.00 / 2.00) | 2.10 | 0.05 | 0 |" in md
    assert "| WAL tail | 1 | 4.00 (4.00) | 4.20 | 2.00 | 12 |" in md
    assert "100 rows, 2.0 MiB of WAL on the node, 1.0 MiB in its memory stores" in md


def test_scans_are_reported_per_wall_second_and_per_cpu_second() -> None:
    md = restart.markdown(_restart_out())
    assert "| magnetic | 1,000 | 3 | 0.200 | 5,000 | 0.40 | 2,500 |" in md
    assert "100.819 bytes per value per replica" in md and "Warnings and errors the storage nodes logged: none." in md


def test_a_scan_knows_its_rates() -> None:
    scan = restart.Scan("magnetic", 1000, 0.5, 2.0)
    assert (scan.rows_per_s, scan.rows_per_cpu_s) == (2000.0, 500.0)
    assert restart.Scan("magnetic", 1000, 0.5, 0.0).rows_per_cpu_s == 0.0


def test_the_series_cost_is_the_slope_of_memory_over_series_held() -> None:
    assert series_memory.slope([0.001, 0.101, 0.201], [150.0, 450.0, 750.0]) == pytest.approx(3000.0)
    out = {"steps": [{"hosts": h, "rows": 6 * h, "rss_mb": r, "memory_store_mb": m}
                     for h, r, m in ((0, 100.0, 0.0), (1000, 150.0, 1.0), (101_000, 450.0, 127.0))],
           "epochs": 6, "rss_mb_per_million_hosts": 3000.0, "rss_mb_per_million_field_series": 300.0,
           "memory_store_mb_per_million_hosts": 1260.0}
    md = series_memory.markdown(out)
    assert "| empty | 0 | 0 | 100 | 0 |" in md and "| + table 1 | 101,000 | 606,000 | 450 | 127 |" in md
    assert "RSS 3,000 MB per million hosts" in md and "300 MB per million single-measure series" in md
