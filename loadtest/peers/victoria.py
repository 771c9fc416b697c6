"""VictoriaMetrics 1.79 (Debian's ``victoria-metrics``, binary ``/usr/bin/victoria-metrics``).

Writes use its InfluxDB line-protocol endpoint ``POST /write?precision=ns`` on the HTTP port (the same
payload as InfluxDB's); each field becomes a metric ``cpu_<field>`` (e.g. ``cpu_usage_user``) carrying the
10 tags as labels, stored at millisecond precision. Queries are TSBS's MetricsQL through
``/api/v1/query_range``. VictoriaMetrics supports only single-groupby-*, cpu-max-all-* and double-groupby-*
(TSBS dropped high-cpu as not comparable and never had lastpoint / groupby-orderby-limit):
:func:`metricsql` returns None for the others.

Bucket alignment: a range query's point at ``t`` with ``[1m]`` covers ``(t - 1m, t]``, whereas a SQL bucket
``[b, b + 1m)``. Evaluating at ``t = b + 1m - 1 ms`` (``nocache=1`` keeps VictoriaMetrics from aligning the
start to the step) covers ``(b - 1 ms, b + 1m - 1 ms]``, which is exactly ``[b, b + 1m)`` for millisecond
data; the normaliser maps ``t`` back to ``b``. TSBS itself queries at step-aligned times and never checks
answers. Partial first/last buckets (a window that does not start on a minute) are trimmed by the
normaliser to the spec's window only where all of a bucket is inside it: see :func:`normalise`.
"""

from __future__ import annotations

import json
import math
import pathlib
from dataclasses import dataclass
from typing import Any

from loadtest.peers import Row, canonical, kind_of, runner
from loadtest.peers.influx import InfluxSink
from loadtest.tsbs_queries import QuerySpec

MS = 1_000_000
BUCKET_NS = {"1m": 60_000_000_000, "1h": 3_600_000_000_000}
SETTINGS = {
    "durability": "acknowledges /write before the data is on disk: ingested rows are buffered in memory for "
                  "about a second, then written as parts (fsynced when a part is registered); its docs warn "
                  "that an unclean shutdown (OOM, kill -9, power loss) can lose the last seconds of data. "
                  "1.79 has no fsync-per-write option",
    "precision": "milliseconds (the line protocol's ns timestamps are truncated)",
    "non-defaults": "-retentionPeriod=100y (the default 1 month would drop TSBS's 2016 timestamps), "
                    "-search.disableCache, -loggerLevel=ERROR",
}


def start(data_dir: pathlib.Path) -> runner.Started:
    """Start victoria-metrics with data in DIR/vm on a fresh loopback port; wait for /health."""
    home = data_dir / "vm"
    home.mkdir(parents=True, exist_ok=True)
    port = runner.free_port()
    log = data_dir / "vm.log"
    argv = [runner.BINARIES["victoria"], f"-storageDataPath={home}", f"-httpListenAddr=127.0.0.1:{port}",
            "-retentionPeriod=100y", "-search.disableCache", "-loggerLevel=ERROR"]
    proc = runner.spawn(argv, log)
    client = runner.HttpClient(f"http://127.0.0.1:{port}", timeout_s=2)
    try:
        runner.wait_ready(lambda: client.request("GET", "/health")[0] == 200, proc, "victoria-metrics", log)
        version = _version(client)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        client.close()
    return runner.Started("victoria", proc.pid, runner.proc_start_ticks(proc.pid) or 0, port, str(home),
                          version=f"VictoriaMetrics {version}", settings=dict(SETTINGS, argv=" ".join(argv)))


def _version(client: runner.HttpClient) -> str:
    _, _, body = client.request("GET", "/metrics")
    for line in body.decode(errors="replace").splitlines():
        if line.startswith("vm_app_version{"):
            version = line.split('version="', 1)[1].split('"', 1)[0]
            if version:
                return version
    return runner.package_version("victoria-metrics") + " (Debian package; the binary reports no version)"


def data_paths(started: runner.Started) -> list[pathlib.Path]:
    return [pathlib.Path(started.data_dir)]


class VictoriaSink(InfluxSink):
    """A Sink posting the same line protocol to VictoriaMetrics' ``/write``."""

    def __init__(self, url: str) -> None:
        super().__init__(url, database="benchmark")


@dataclass(frozen=True)
class VictoriaSinkFactory:
    """Builds a :class:`VictoriaSink` in a driver worker process (picklable)."""

    url: str

    def __call__(self) -> VictoriaSink:
        return VictoriaSink(self.url)


def flush(url: str) -> None:
    """Make everything acknowledged so far searchable (``/internal/force_flush``)."""
    http = runner.HttpClient(url)
    try:
        http.ok("GET", "/internal/force_flush", "force_flush")
    finally:
        http.close()


# -- MetricsQL -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RangeQuery:
    """One ``/api/v1/query_range`` call: expression, evaluation start/end (seconds, ms precision), step."""

    query: str
    start: str
    end: str
    step: str
    bucket_ns: int

    def params(self) -> dict[str, str]:
        return {"query": self.query, "start": self.start, "end": self.end, "step": self.step, "nocache": "1"}


def _seconds(ns: int) -> str:
    return f"{ns // MS / 1000:.3f}"


def metricsql(spec: QuerySpec) -> RangeQuery | None:
    """TSBS's MetricsQL for the spec, evaluated at bucket ends (module doc); None if VM has no such query."""
    k = kind_of(spec.kind)
    if k.aggregate not in ("max", "avg") or k.limit:
        return None
    bucket = BUCKET_NS[k.bucket]
    names = "|".join(f[len("usage_"):] for f in k.fields)
    if len(k.fields) == 1:
        selector = [f"__name__='cpu_{k.fields[0]}'"]
    else:
        selector = [f"__name__=~'cpu_usage_({names})'"]
    if spec.hosts:
        selector.append("hostname=~'" + "|".join(spec.hosts) + "'")
    series = "{" + ", ".join(selector) + "}"
    window = k.bucket
    if k.by_host:
        expr = f"avg(avg_over_time({series}[{window}]) keep_metric_names) by (__name__, hostname)"
    else:
        expr = f"max(max_over_time({series}[{window}]) keep_metric_names) by (__name__)"
    first = spec.start_ns - spec.start_ns % bucket  # the bucket holding the window's start
    last = (spec.end_ns - 1) - (spec.end_ns - 1) % bucket
    return RangeQuery(expr, _seconds(first + bucket - MS), _seconds(last + bucket - MS), str(bucket // 10**9),
                      bucket)


def normalise(kind: str, spec: QuerySpec, answer: dict[str, Any]) -> list[Row]:
    """Canonical rows from a query_range answer: series per metric (and host) pivoted into rows.

    VictoriaMetrics cannot clip a bucket to the window, so its first and last buckets may cover more than
    ``[start, end)`` when the window is not bucket-aligned; :func:`loadtest.peers.compare.agree` is told to
    skip those edge buckets (see ``edge_buckets``).
    """
    k = kind_of(kind)
    if answer.get("status") != "success":
        raise RuntimeError(f"VictoriaMetrics error: {answer}")
    q = metricsql(spec)
    assert q is not None
    index = {f"cpu_{f}": i for i, f in enumerate(k.fields)}
    grid: dict[tuple[Any, ...], list[float | None]] = {}
    for s in answer["data"]["result"]:
        metric = s["metric"]
        col = index[metric["__name__"]]
        for t, v in s["values"]:
            bucket = round(float(t) * 1000) * MS + MS - q.bucket_ns
            key = (bucket, metric.get("hostname")) if k.by_host else (bucket,)
            value = float(v)
            grid.setdefault(key, [None] * len(k.fields))[col] = None if math.isnan(value) else value
    return canonical(kind, [(*key, *vals) for key, vals in grid.items()])


def edge_buckets(spec: QuerySpec) -> set[int]:
    """Buckets only partly inside the spec's window (VictoriaMetrics answers them over the whole bucket)."""
    k = kind_of(spec.kind)
    if not k.bucket:
        return set()
    b = BUCKET_NS[k.bucket]
    out = set()
    if spec.start_ns % b:
        out.add(spec.start_ns - spec.start_ns % b)
    if spec.end_ns % b:
        out.add(spec.end_ns - spec.end_ns % b)
    return out


def query(http: runner.HttpClient, q: RangeQuery) -> dict[str, Any]:
    """Run a range query; the JSON answer."""
    body = http.ok("POST", "/api/v1/query_range", f"MetricsQL {q.query}", params=q.params())
    answer: dict[str, Any] = json.loads(body)
    return answer


class VictoriaQuerier:
    """Runs specs as MetricsQL range queries on one keep-alive connection."""

    def __init__(self, url: str) -> None:
        self._http = runner.HttpClient(url)

    def supports(self, spec: QuerySpec) -> bool:
        return metricsql(spec) is not None

    def run(self, spec: QuerySpec) -> int:
        q = metricsql(spec)
        if q is None:
            raise ValueError(f"VictoriaMetrics has no {spec.kind} query")
        return sum(len(s["values"]) for s in query(self._http, q)["data"]["result"])

    def answer(self, spec: QuerySpec) -> list[Row] | None:
        q = metricsql(spec)
        return None if q is None else normalise(spec.kind, spec, query(self._http, q))

    def close(self) -> None:
        self._http.close()
