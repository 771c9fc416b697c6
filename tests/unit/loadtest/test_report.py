"""Reports write JSON, markdown and PNG files, and the sampler reads CPU and RSS from /proc."""

from __future__ import annotations

import json
import os
import pathlib
import time

from loadtest.driver import IngestResult, QueryResult
from loadtest.report import ProcessSampler, Report, machine_info

LATENCY = {"count": 4, "mean_ms": 10.0, "p50_ms": 9.0, "p95_ms": 15.0, "p99_ms": 16.0, "p999_ms": 16.0,
           "max_ms": 16.0, "min_ms": 5.0, "clamped": 0}


def ingest(form: str) -> IngestResult:
    return IngestResult(dataset="TSBS cpu-only, 10 hosts", form=form, workers=2, batch_rows=1000, target_rate=None,
                        timing="pregenerated", rows=4000, values=40000, batches=4, seconds=2.0, write_seconds=3.5,
                        prepare_seconds=0.1, latency=LATENCY, timeline=[2500, 1500], errors=0, verified_rows=4000)


def test_a_report_writes_json_markdown_and_plots(tmp_path: pathlib.Path) -> None:
    queries = QueryResult(concurrency=2, queries=4, seconds=1.0, errors=0,
                          per_kind={"lastpoint": LATENCY, "all": LATENCY}, rows={"lastpoint": 40})
    report = Report(command="python -m loadtest ingest --scale 10", settings={"scale": 10},
                    ingest=[ingest("tessera-arrow"), ingest("tessera-records")], queries=queries,
                    resources={"per_role": {"ingest": {"processes": 2, "cpu_mean_pct": 50.0, "cpu_max_pct": 90.0,
                                                       "rss_max_mb": 120.0}}})
    paths = report.write(tmp_path / "out")
    assert {p.name for p in paths} == {"result.json", "summary.md", "throughput.png", "latency.png",
                                       "query_latency.png"}
    assert all(p.stat().st_size > 0 for p in paths)
    doc = json.loads((tmp_path / "out" / "result.json").read_text())
    assert doc["ingest"][0]["rows_per_s"] == 2000.0 and doc["ingest"][0]["values_per_s"] == 20000.0
    assert doc["queries"]["queries_per_s"] == 4.0
    md = (tmp_path / "out" / "summary.md").read_text()
    assert "python -m loadtest ingest --scale 10" in md
    assert "| tessera-records | 2 | 1,000 | 4,000 | 40,000 | 2.00 | 2,000 | 20,000 |" in md
    assert "| lastpoint | 4 |" in md and "| ingest | 2 | 50.0 | 90.0 | 120 |" in md
    assert (tmp_path / "out" / "throughput.png").read_bytes()[:4] == b"\x89PNG"


def test_an_ingest_only_report_has_no_query_plot(tmp_path: pathlib.Path) -> None:
    paths = Report(command="x", settings={}, ingest=[ingest("a")]).write(tmp_path)
    assert "query_latency.png" not in {p.name for p in paths}


def test_machine_info_names_the_cpus_memory_and_stack() -> None:
    info = machine_info()
    assert info["nproc"] == os.cpu_count() and info["memory_gb"] > 0
    assert info["versions"]["pyarrow"] != "not installed" and info["python"]


def test_the_sampler_reports_cpu_and_rss_per_role() -> None:
    sampler = ProcessSampler(interval_s=0.05)
    sampler.add("me", "loadgen", os.getpid())
    sampler.add("gone", "storage", 2**22 + 12345)  # no such process: sampled as nothing, not an error
    sampler.start()
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:  # keep one core busy
        sum(range(10_000))
    sampler.stop()
    sampler.stop()
    summary = sampler.summary()
    me = summary["per_role"]["loadgen"]
    assert me["processes"] == 1 and me["cpu_max_pct"] > 20 and me["rss_max_mb"] > 10
    assert summary["per_process"]["gone"]["cpu_mean_pct"] == 0.0


def test_the_sampler_counts_only_samples_inside_the_measured_windows() -> None:
    sampler = ProcessSampler(interval_s=0.05)
    sampler.add("me", "loadgen", os.getpid())
    sampler.start()
    time.sleep(0.3)
    sampler.stop()
    before = time.time() - 3600
    summary = sampler.summary(windows=[(before, before + 1)])
    assert summary["per_process"]["me"] == {"role": "loadgen", "pid": os.getpid(), "cpu_mean_pct": 0.0,
                                            "cpu_max_pct": 0.0, "rss_max_mb": 0.0}
    assert sampler.summary(windows=[(before, time.time())])["per_role"]["loadgen"]["rss_max_mb"] > 10
