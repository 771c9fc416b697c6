"""Run reports: a JSON file, a markdown summary, PNG plots, machine facts, and CPU/RSS sampling of processes.

:class:`ProcessSampler` reads ``/proc/<pid>/stat`` (utime + stime) and ``/proc/<pid>/status`` (VmRSS) of
the processes it is given once a second in a background thread; CPU % is per process (100 % = one core).
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import pathlib
import platform
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from loadtest.driver import IngestResult, QueryResult

STACK = ("pyarrow", "numpy", "grpcio", "protobuf", "duckdb", "sqlglot", "hdrhistogram", "matplotlib", "tessera")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# --- machine facts ----------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    """nproc, memory, CPU model, OS, Python and the versions of the stack (for reproducing a figure)."""
    versions = {}
    for name in STACK:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {"nproc": os.cpu_count(), "memory_gb": _mem_total_gb(), "cpu_model": _cpu_model(),
            "os": platform.platform(), "python": platform.python_version(), "versions": versions,
            "git_commit": _git_commit()}


def _cpu_model() -> str:
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gb() -> float:
    try:
        for line in pathlib.Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return 0.0


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             check=False, cwd=pathlib.Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


# --- CPU and memory per process ---------------------------------------------------------------------------


@dataclass
class _Track:
    name: str
    role: str
    pid: int
    last: tuple[float, int] | None = None  # (monotonic time, cpu ticks)
    samples: list[tuple[float, float, int]] = field(default_factory=list)  # (unix time, cpu %, rss kB)

    def within(self, windows: list[tuple[float, float]] | None) -> list[tuple[float, float, int]]:
        if windows is None:
            return self.samples
        return [s for s in self.samples if any(lo <= s[0] <= hi for lo, hi in windows)]


class ProcessSampler:
    """Samples CPU % and RSS of named processes every ``interval_s`` until stopped."""

    def __init__(self, interval_s: float = 1.0) -> None:
        self._interval = interval_s
        self._tracks: dict[str, _Track] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, name: str, role: str, pid: int) -> None:
        """Sample process ``pid`` from now on, reported as ``name`` under ``role``."""
        with self._lock:
            track = _Track(name, role, pid)
            self._sample(track)
            self._tracks[name] = track

    def start(self) -> None:
        """Start sampling in a daemon thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="process-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Take a last sample and stop; safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
            self._sample_all()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample_all()

    def _sample_all(self) -> None:
        with self._lock:
            for track in self._tracks.values():
                self._sample(track)

    @staticmethod
    def _sample(track: _Track) -> None:
        try:
            stat = pathlib.Path(f"/proc/{track.pid}/stat").read_text()
            status = pathlib.Path(f"/proc/{track.pid}/status").read_text()
        except OSError:  # the process has exited
            return
        fields = stat.rsplit(")", 1)[1].split()  # the command name may hold spaces and parentheses
        ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        now = time.monotonic()
        rss_kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        if track.last is not None and now > track.last[0]:
            cpu = 100.0 * (ticks - track.last[1]) / _CLOCK_TICKS / (now - track.last[0])
            track.samples.append((time.time(), cpu, rss_kb))
        track.last = (now, ticks)

    def samples(self, role: str) -> dict[str, list[tuple[float, float, int]]]:
        """Every sample so far of the processes of ``role``, by name: (Unix time, CPU %, RSS kB)."""
        with self._lock:
            return {t.name: list(t.samples) for t in self._tracks.values() if t.role == role}

    def summary(self, windows: list[tuple[float, float]] | None = None) -> dict[str, Any]:
        """Per role: processes, mean and max CPU % (of one process), max RSS (MB); and per process.

        With ``windows`` (Unix start, end pairs), only samples taken inside them count: the measured runs,
        not the cluster start or data generation.
        """
        with self._lock:
            tracks = [(t, t.within(windows)) for t in self._tracks.values()]
        per_process: dict[str, dict[str, Any]] = {t.name: {"role": t.role, "pid": t.pid,
                                "cpu_mean_pct": round(sum(s[1] for s in ss) / len(ss), 1) if ss else 0.0,
                                "cpu_max_pct": round(max(s[1] for s in ss), 1) if ss else 0.0,
                                "rss_max_mb": round(max(s[2] for s in ss) / 1024, 1) if ss else 0.0}
                       for t, ss in tracks}
        per_role: dict[str, dict[str, Any]] = {}
        for role in sorted({t.role for t, _ in tracks}):
            procs = [p for p in per_process.values() if p["role"] == role]
            per_role[role] = {"processes": len(procs),
                              "cpu_mean_pct": round(sum(p["cpu_mean_pct"] for p in procs) / len(procs), 1),
                              "cpu_max_pct": max(p["cpu_max_pct"] for p in procs),
                              "rss_max_mb": max(p["rss_max_mb"] for p in procs)}
        return {"windows": windows, "per_role": per_role, "per_process": per_process}


# --- the report -------------------------------------------------------------------------------------------


@dataclass
class Report:
    """Everything one ``python -m loadtest`` run produced."""

    command: str
    settings: dict[str, Any]
    ingest: list[IngestResult] = field(default_factory=list)
    queries: QueryResult | None = None
    resources: dict[str, Any] = field(default_factory=dict)
    sections: list[tuple[str, str]] = field(default_factory=list)
    """Extra markdown sections (title, body) for summary.md, e.g. a long run minute by minute."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Extra figures for result.json, under their keys."""
    machine: dict[str, Any] = field(default_factory=machine_info)
    started_at: str = field(default_factory=lambda: datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))

    def as_dict(self) -> dict[str, Any]:
        """The JSON document."""
        return {"command": self.command, "started_at": self.started_at, "settings": self.settings,
                "machine": self.machine, "ingest": [r.as_dict() for r in self.ingest],
                "queries": self.queries.as_dict() if self.queries else None, "resources": self.resources,
                **self.extra}

    def write(self, out_dir: pathlib.Path) -> list[pathlib.Path]:
        """Write result.json, summary.md and the PNG plots into ``out_dir``; return the paths written."""
        out_dir.mkdir(parents=True, exist_ok=True)
        written = [out_dir / "result.json"]
        written[0].write_text(json.dumps(self.as_dict(), indent=2) + "\n")
        written += plot(self, out_dir)
        summary = out_dir / "summary.md"
        summary.write_text(markdown(self, [p.name for p in written if p.suffix == ".png"]))
        return [*written, summary]


def ingest_table(results: list[IngestResult]) -> str:
    """A markdown table of ingest figures."""
    lines = [("| form | workers | batch | rows | values | seconds | rows/s | values/s | p50 ms | p95 ms | p99 ms "
             "| p99.9 ms | max ms | errors |"),
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lat = r.latency
        lines.append(f"| {r.form} | {r.workers} | {r.batch_rows:,} | {r.rows:,} | {r.values:,} | {r.seconds:.2f} "
                     f"| {r.rows_per_s:,.0f} | {r.values_per_s:,.0f} | {lat['p50_ms']:.1f} | {lat['p95_ms']:.1f} "
                     f"| {lat['p99_ms']:.1f} | {lat['p999_ms']:.1f} | {lat['max_ms']:.1f} | {r.errors} |")
    return "\n".join(lines)


def query_table(result: QueryResult) -> str:
    """A markdown table of query latencies per type."""
    lines = ["| query type | count | mean ms | p50 ms | p95 ms | p99 ms | max ms | rows returned |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for kind, s in result.per_kind.items():
        rows = sum(result.rows.values()) if kind == "all" else result.rows.get(kind, 0)
        lines.append(f"| {kind} | {s['count']} | {s['mean_ms']:.1f} | {s['p50_ms']:.1f} | {s['p95_ms']:.1f} "
                     f"| {s['p99_ms']:.1f} | {s['max_ms']:.1f} | {rows:,} |")
    return "\n".join(lines)


def resources_table(resources: dict[str, Any]) -> str:
    """A markdown table of CPU % and RSS per role."""
    lines = ["| role | processes | mean CPU % | max CPU % | max RSS MB |", "|---|---:|---:|---:|---:|"]
    for role, r in resources.get("per_role", {}).items():
        lines.append(f"| {role} | {r['processes']} | {r['cpu_mean_pct']:.1f} | {r['cpu_max_pct']:.1f} "
                     f"| {r['rss_max_mb']:.0f} |")
    return "\n".join(lines)


def markdown(report: Report, plots: list[str]) -> str:
    """The markdown summary: figures, the exact command, settings and the machine."""
    m = report.machine
    parts = [f"# Load test, {report.started_at}", "", "```", report.command, "```", ""]
    for r in report.ingest:
        parts += [f"- **{r.form}**: {r.dataset}; timing: {r.timing} (generation took {r.prepare_seconds:.1f} s "
                  f"before the clock); {r.batches:,} batches; write calls {r.write_seconds:.1f} s over all workers"
                  + (f"; target rate {r.target_rate:,.0f} rows/s" if r.target_rate else "")
                  + (f"; rows counted back by a query: {r.verified_rows:,}" if r.verified_rows is not None else "")]
    if report.ingest:
        parts += ["", "## Ingest", "", ingest_table(report.ingest), ""]
        for r in report.ingest:
            if r.error_messages:
                parts += [f"Errors ({r.form}): " + "; ".join(f"`{e}`" for e in r.error_messages), ""]
    if report.queries is not None:
        q = report.queries
        parts += ["## Queries", "", (f"{q.queries} queries at concurrency {q.concurrency} in {q.seconds:.1f} s "
                  f"({q.queries_per_s:.2f} queries/s), {q.errors} errors"), "", query_table(q), ""]
        if q.error_messages:
            parts += ["Errors: " + "; ".join(f"`{e}`" for e in q.error_messages), ""]
    if report.resources.get("per_role"):
        parts += ["## CPU and memory per role (100 % = one core; sampled every second during the measured runs)",
                  "", "Mean CPU % is the mean over the role's processes of each one's mean.", "",
                  resources_table(report.resources), ""]
    for title, body in report.sections:
        parts += [f"## {title}", "", body, ""]
    parts += ["## Settings", "", *(f"- {k}: {v}" for k, v in report.settings.items()), "",
              "## Machine", "",
              f"- {m['nproc']} CPUs ({m['cpu_model']}), {m['memory_gb']} GB memory, {m['os']}",
              f"- Python {m['python']}; " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
              f"- commit {m.get('git_commit') or 'unknown'}", ""]
    if plots:
        parts += ["## Plots", "", *(f"![{p}]({p})" for p in plots), ""]
    return "\n".join(parts)


def plot(report: Report, out_dir: pathlib.Path) -> list[pathlib.Path]:
    """throughput.png (rows/s per second), latency.png (ingest percentiles), query_latency.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    if report.ingest:
        fig, ax = plt.subplots(figsize=(8, 4))
        for r in report.ingest:
            ax.plot(range(len(r.timeline)), r.timeline, marker=".", drawstyle="steps-post", label=r.form)
        ax.set(xlabel="seconds since start", ylabel="rows acknowledged per second", title="Ingest throughput")
        ax.grid(alpha=0.3)
        ax.legend()
        written.append(_save(fig, out_dir / "throughput.png"))
        fig, ax = plt.subplots(figsize=(8, 4))
        names = ("p50_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms")
        width = 0.8 / len(report.ingest)
        for i, r in enumerate(report.ingest):
            ax.bar([x + i * width for x in range(len(names))], [float(r.latency[n]) for n in names], width,
                   label=r.form)
        ax.set_xticks([x + width * (len(report.ingest) - 1) / 2 for x in range(len(names))],
                      ["p50", "p95", "p99", "p99.9", "max"])
        ax.set(ylabel="batch write latency (ms)", title="Ingest latency per batch")
        ax.legend()
        written.append(_save(fig, out_dir / "latency.png"))
    if report.queries is not None and report.queries.queries:
        kinds = [k for k in report.queries.per_kind if k != "all"]
        fig, ax = plt.subplots(figsize=(9, max(3.0, 0.4 * len(kinds) + 1)))
        p50 = [float(report.queries.per_kind[k]["p50_ms"]) for k in kinds]
        p95 = [float(report.queries.per_kind[k]["p95_ms"]) for k in kinds]
        ys = range(len(kinds))
        ax.barh([y + 0.2 for y in ys], p50, 0.4, label="p50")
        ax.barh([y - 0.2 for y in ys], p95, 0.4, label="p95")
        ax.set_yticks(list(ys), kinds)
        ax.set_xscale("log")
        ax.set(xlabel="latency (ms, log)", title=f"Query latency at concurrency {report.queries.concurrency}")
        ax.legend()
        written.append(_save(fig, out_dir / "query_latency.png"))
    return written


def _save(fig: Any, path: pathlib.Path) -> pathlib.Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
