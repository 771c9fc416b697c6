"""The benchmarks.md section is replaced in place between its markers; process records spot reused pids."""

from __future__ import annotations

import os
import pathlib

from loadtest.peers import compare, runner


def test_the_section_is_appended_once_then_replaced_leaving_the_rest_alone(tmp_path: pathlib.Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nearlier text\n")
    compare.update_doc(doc, "first\n")
    compare.update_doc(doc, "second\n")
    text = doc.read_text()
    assert text == f"# Benchmarks\n\nearlier text\n\n{compare.BEGIN}\nsecond\n{compare.END}\n"
    doc.write_text(text + "\n## later section\n")
    compare.update_doc(doc, "third\n")
    assert doc.read_text().endswith(f"{compare.BEGIN}\nthird\n{compare.END}\n## later section\n")


def test_a_recorded_process_is_ours_only_with_the_same_start_time() -> None:
    me = runner.Started("x", os.getpid(), runner.proc_start_ticks(os.getpid()) or 0, 0, "")
    assert runner.is_ours_and_alive(me)
    assert not runner.is_ours_and_alive(runner.Started("x", os.getpid(), me.start_ticks + 1, 0, ""))


def test_stop_leaves_a_process_that_is_not_ours_alone() -> None:
    impostor = runner.Started("x", os.getpid(), (runner.proc_start_ticks(os.getpid()) or 0) + 1, 0, "")
    assert runner.stop(impostor, timeout_s=0.1) == "not running"


def test_state_round_trips_through_peers_json(tmp_path: pathlib.Path) -> None:
    started = {"influx": runner.Started("influx", 12, 34, 5678, "/d", "InfluxDB 1.6.7", {"k": "v"})}
    runner.write_state(tmp_path, started)
    assert runner.read_state(tmp_path) == started
    assert runner.down(tmp_path) == {"influx": "not running"}
    assert not (tmp_path / runner.STATE_FILE).exists()


def test_markdown_reports_per_replica_bytes_and_disagreements() -> None:
    ingest = {"rows_per_s": 1000.0, "values_per_s": 10000.0, "seconds": 1.0}
    systems = {
        "tessera": compare.SystemResult("tessera", "Tessera", {"durability": "quorum"}, ingest, 3000, "all",
                                        {"lastpoint": {"p50_ms": 1.0, "p95_ms": 2.0}},
                                        more_ingest=[{"version": "Tessera; spread", **ingest, "rows_per_s": 900.0}]
                                        ).__dict__,
        "victoria": compare.SystemResult("victoria", "VictoriaMetrics 1.79", {"durability": "async"}, ingest, 100,
                                         "dir", {}, checked=2, agreed=1, disagreements=["double-groupby-1 ...: x"]
                                         ).__dict__,
    }
    report = {"date": "2026-01-01", "machine": "m", "dataset": "d", "workers": 2, "batch_rows": 10, "count": 1,
              "seed": 1, "systems": systems, "values": 100}
    md = compare.markdown(report)
    assert "| 30.00 (10.00 per replica) |" in md
    assert "| Tessera; spread | 900 | 10,000 | 1.00 | — | n/a | n/a | ingest figure of another layout, same run |" in md
    assert "| lastpoint | 1.0 / 2.0 | n/a |" in md
    assert "- VictoriaMetrics: 1/2 queries agree (1 DISAGREE)." in md and "  - double-groupby-1 ...: x" in md


def test_the_median_round_is_reported_with_every_round_and_the_first_rounds_disk() -> None:
    def result(rows_per_s: float, disk: int | None, more: float) -> compare.SystemResult:
        ingest = {"rows_per_s": rows_per_s, "values_per_s": rows_per_s * 10, "seconds": 1.0}
        return compare.SystemResult("tessera", "Tessera", {}, ingest, disk, "all" if disk else "",
                                    more_ingest=[{"version": "spread", **ingest, "rows_per_s": more}])

    chosen = compare.median_round([result(300.0, 3000, 90.0), result(100.0, None, 70.0), result(200.0, None, 80.0)])
    assert chosen.ingest["rows_per_s"] == 200.0
    assert chosen.rounds == [300.0, 100.0, 200.0]
    assert (chosen.disk_bytes, chosen.disk_note) == (3000, "all")
    assert chosen.more_ingest[0]["rows_per_s"] == 80.0 and chosen.more_ingest[0]["rounds"] == [90.0, 70.0, 80.0]
    report = {"date": "2026-01-01", "machine": "m", "dataset": "d", "workers": 2, "batch_rows": 10, "count": 1,
              "seed": 1, "rounds": 3, "systems": {"tessera": chosen.__dict__}, "values": 100}
    md = compare.markdown(report)
    assert "Ingest ran 3 rounds, interleaved" in md
    assert "| Tessera | 200 | 2,000 | 1.00 | 300 / 100 / 200 |" in md
    assert "| spread | 80 | 2,000 | 1.00 | 90 / 70 / 80 | n/a | n/a |" in md


def test_other_layouts_ride_along_as_ingest_only_rows() -> None:
    ingest = {"rows_per_s": 5.0, "values_per_s": 50.0, "seconds": 1.0}
    first = compare.SystemResult("tessera", "Tessera (x; table on 1 cell)", {}, dict(ingest), 10, "all")
    other = compare.SystemResult("tessera", "Tessera (x; table on 2 cells)", {}, {**ingest, "rows_per_s": 4.0})
    merged = compare.with_other_layouts(first, [other])
    assert merged is first and merged.more_ingest == [
        {"rows_per_s": 4.0, "values_per_s": 50.0, "seconds": 1.0, "version": "Tessera (x; table on 2 cells; ingest only)"}]


def test_markdown_splits_tesseras_settled_bytes_into_magnetic_and_wal_per_replica() -> None:
    ingest = {"rows_per_s": 1000.0, "values_per_s": 10000.0, "seconds": 1.0}
    tessera = compare.SystemResult("tessera", "Tessera", {}, ingest, 3000, "settled",
                                   disk_parts={"wal": 300, "magnetic": 2400, "other": 300, "before": 30})
    report = {"date": "2026-01-01", "machine": "m", "dataset": "d", "workers": 2, "batch_rows": 10, "count": 1,
              "seed": 1, "systems": {"tessera": tessera.__dict__}, "values": 100}
    assert "| 30.00 (10.00 per replica); magnetic 8.000, WAL 1.000 per replica | settled |" in compare.markdown(report)
