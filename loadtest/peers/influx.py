"""InfluxDB 1.6 (Debian's ``influxdb``): its own influxd, line-protocol sink, InfluxQL renderer, normaliser.

Writes go to ``POST /write?db=DB&precision=ns`` as line protocol (measurement ``cpu``, the 10 tags, the 10
fields with the ``i`` suffix when the column is an integer), built column-wise with pyarrow compute.
Queries go to ``POST /query?db=DB&epoch=ns`` in TSBS's InfluxQL (``GROUP BY time(1m)``/``time(1h)``/
``time(1h),hostname``) with ``fill(none)`` (so empty buckets are absent, as in SQL) and nanosecond RFC3339
time literals (so the window is exactly the spec's).
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loadtest.peers import Row, canonical, kind_of, runner
from loadtest.tsbs import FIELDS, TAGS
from loadtest.tsbs_queries import QuerySpec

DATABASE = "benchmark"
MEASUREMENT = "cpu"

CONFIG = """\
# Written by loadtest.peers: a private influxd on loopback, data under {dir}. Defaults unless noted.
reporting-enabled = false
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{dir}/meta"

[data]
  dir = "{dir}/data"
  wal-dir = "{dir}/wal"
  # default: 0s = fsync the WAL on every write before acknowledging it
  wal-fsync-delay = "0s"
  index-version = "inmem"
  query-log-enabled = false
  # default 10m: snapshot an idle cache to TSM sooner, so bytes on disk are measured on TSM files
  cache-snapshot-write-cold-duration = "10s"

[monitor]
  # default true: no _internal database competing for the disk
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false

[ifql]
  enabled = false

[continuous_queries]
  enabled = false
"""

SETTINGS = {
    "durability": "WAL fsync on every write before the ack (wal-fsync-delay = 0s, the default)",
    "index": "inmem (default)",
    "non-defaults": "monitor store off, continuous queries off, cache-snapshot-write-cold-duration 10s, "
                    "HTTP/query logging off",
}


# -- process ---------------------------------------------------------------------------------------------
def start(data_dir: pathlib.Path) -> runner.Started:
    """Write DIR/influx/influxdb.conf and start influxd with it; wait for /ping."""
    home = data_dir / "influx"
    home.mkdir(parents=True, exist_ok=True)
    http_port, rpc_port = runner.free_port(), runner.free_port()
    conf = home / "influxdb.conf"
    conf.write_text(CONFIG.format(dir=home, http_port=http_port, rpc_port=rpc_port))
    log = home / "influxd.log"
    proc = runner.spawn([runner.BINARIES["influx"], "-config", str(conf)], log)
    client = runner.HttpClient(f"http://127.0.0.1:{http_port}", timeout_s=2)
    headers: dict[str, str] = {}

    def ready() -> bool:
        status, h, _ = client.request("GET", "/ping")
        headers.update(h)
        return status == 204

    try:
        runner.wait_ready(ready, proc, "influxd", log)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        client.close()
    version = headers.get("x-influxdb-version", "") or runner.package_version("influxdb")
    return runner.Started("influx", proc.pid, runner.proc_start_ticks(proc.pid) or 0, http_port, str(home),
                          version=f"InfluxDB {version}", settings=dict(SETTINGS, config=str(conf)))


def data_paths(started: runner.Started) -> list[pathlib.Path]:
    """Where the series data lives (TSM files and WAL), for bytes on disk."""
    home = pathlib.Path(started.data_dir)
    return [home / "data", home / "wal"]


# -- line protocol ---------------------------------------------------------------------------------------
def _escape(arr: pa.ChunkedArray | pa.Array, specials: str) -> pa.Array:
    out = arr
    for ch in specials:
        out = pc.replace_substring(out, ch, "\\" + ch)
    return out


def _escape_key(name: str) -> str:
    for ch in ", =":
        name = name.replace(ch, "\\" + ch)
    return name


def _number_text(col: pa.ChunkedArray) -> tuple[pa.Array, bool]:
    """A numeric column as text; True if integer (needs the ``i`` suffix)."""
    t = col.type
    if pa.types.is_integer(t):
        return pc.cast(col, pa.string()), True
    if pa.types.is_floating(t):
        return pc.cast(pc.cast(col, pa.float64()), pa.string()), False
    if pa.types.is_boolean(t):
        return pc.if_else(col, "true", "false"), False
    raise TypeError(f"line protocol: unsupported field type {t}")


def line_protocol(batch: pa.Table, measurement: str = MEASUREMENT, tags: tuple[str, ...] = TAGS,
                  fields: tuple[str, ...] = FIELDS, time_column: str = "time") -> bytes:
    """The batch as InfluxDB line protocol, one ``\\n``-terminated line per row, timestamps in ns.

    Tag keys/values and field keys escape commas, equals signs and spaces; a null or empty tag value leaves
    the tag out (InfluxDB rejects ``k=``); a null field is left out. Integers get the ``i`` suffix.
    """
    if batch.num_rows == 0:
        return b""
    parts: list[Any] = [measurement.replace(",", "\\,").replace(" ", "\\ ")]
    for tag in tags:
        col = batch.column(tag)
        if not pa.types.is_string(col.type):
            col = pc.cast(col, pa.string())
        piece = pc.binary_join_element_wise(f",{_escape_key(tag)}=", _escape(col, " ,="), "")
        keep = pc.fill_null(pc.not_equal(pc.utf8_length(col), 0), False)
        parts.append(pc.if_else(keep, piece, ""))
    pieces = []
    for field in fields:
        text, integer = _number_text(batch.column(field))
        pieces.append(pc.binary_join_element_wise(f"{_escape_key(field)}=", text, "i" if integer else "", ""))
    field_set = pc.binary_join_element_wise(*pieces, ",", null_handling="skip")
    ts = pc.cast(pc.cast(batch.column(time_column), pa.timestamp("ns")), pa.int64())
    parts += [" ", field_set, " ", pc.cast(ts, pa.string()), "\n"]
    return concat_strings(pc.binary_join_element_wise(*parts, ""))


def concat_strings(arr: pa.ChunkedArray | pa.Array) -> bytes:
    """All values of a string array back to back, straight from its data buffer (no per-row Python)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.null_count:
        arr = pc.fill_null(arr, "")
    if pa.types.is_large_string(arr.type):
        offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)
    else:
        offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)
    lo, hi = int(offsets[arr.offset]), int(offsets[arr.offset + len(arr)])
    data = arr.buffers()[2]
    return data[lo:hi].to_pybytes() if data is not None else b""


class InfluxSink:
    """A Sink (``write(batch)``/``close()``) that posts line protocol to ``/write`` over one keep-alive
    connection. ``path`` lets VictoriaMetrics reuse it (its ``/write`` speaks the same protocol)."""

    def __init__(self, url: str, database: str = DATABASE, path: str = "/write") -> None:
        self._http = runner.HttpClient(url)
        self._params = {"db": database, "precision": "ns"}
        self._path = path

    def prepare(self, batch: pa.Table) -> bytes:
        """The batch's line protocol (the driver calls this before its clock starts, as TSBS loads
        pre-generated line-protocol files)."""
        return line_protocol(batch)

    def write(self, batch: pa.Table | bytes) -> None:
        """POST one batch (an Arrow table, or its prepared line protocol); raises unless 204."""
        body = batch if isinstance(batch, bytes) else line_protocol(batch)
        self._http.ok("POST", self._path, "line protocol write", params=self._params, body=body,
                      headers={"Content-Type": "text/plain; charset=utf-8"})

    def close(self) -> None:
        self._http.close()


@dataclass(frozen=True)
class InfluxSinkFactory:
    """Builds an :class:`InfluxSink` in a driver worker process (picklable)."""

    url: str
    database: str = DATABASE

    def __call__(self) -> InfluxSink:
        return InfluxSink(self.url, self.database)


class InfluxQuerier:
    """Runs specs as InfluxQL on one keep-alive connection: ``run`` (row count, for timing) and ``answer``."""

    def __init__(self, url: str, database: str = DATABASE) -> None:
        self._http = runner.HttpClient(url)
        self._database = database

    def supports(self, spec: QuerySpec) -> bool:
        return True

    def run(self, spec: QuerySpec) -> int:
        answer = query(self._http, influxql(spec), self._database)
        return sum(len(s.get("values") or []) for r in answer.get("results", []) for s in r.get("series") or [])

    def answer(self, spec: QuerySpec) -> list[Row]:
        return normalise(spec.kind, query(self._http, influxql(spec), self._database))

    def close(self) -> None:
        self._http.close()


def create_database(url: str, database: str = DATABASE, drop: bool = True) -> None:
    """(Re)create the database."""
    http = runner.HttpClient(url)
    try:
        if drop:
            query(http, f'DROP DATABASE "{database}"')
        query(http, f'CREATE DATABASE "{database}"')
    finally:
        http.close()


def query(http: runner.HttpClient, q: str, database: str = DATABASE) -> dict[str, Any]:
    """Run InfluxQL; the JSON answer (timestamps as ns integers). Raises on a statement error."""
    body = http.ok("POST", "/query", "InfluxQL", params={"db": database, "epoch": "ns", "q": q})
    answer: dict[str, Any] = json.loads(body)
    for res in answer.get("results", []):
        if "error" in res:
            raise RuntimeError(f"InfluxQL error: {res['error']}\n{q}")
    return answer


# -- InfluxQL --------------------------------------------------------------------------------------------
def rfc3339(ns: int) -> str:
    """``2016-01-01T02:17:08.646325123Z`` (fraction only when non-zero, up to 9 digits)."""
    sec, frac = divmod(ns, 1_000_000_000)
    text = dt.datetime.fromtimestamp(sec, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    return text + "Z"


def influxql(spec: QuerySpec) -> str:
    """TSBS's InfluxQL for the spec (see the module doc for fill(none) and exact time literals)."""
    k = kind_of(spec.kind)
    hosts = ""
    if spec.hosts:
        hosts = "(" + " or ".join(f"hostname = '{h}'" for h in spec.hosts) + ") and "
    window = f"time >= '{rfc3339(spec.start_ns)}' and time < '{rfc3339(spec.end_ns)}'"
    if k.aggregate == "rows":
        return f"SELECT * from cpu where {hosts}usage_user > 90.0 and {window}"
    if k.aggregate == "last":
        return 'SELECT * from cpu group by "hostname" order by time desc limit 1'
    fn, prefix = ("mean", "mean") if k.aggregate == "avg" else ("max", "max")
    selects = ", ".join(f"{fn}({f}) AS {prefix}_{f}" for f in k.fields)
    if k.limit:
        return (f"SELECT {selects} from cpu where time < '{rfc3339(spec.end_ns)}' group by time({k.bucket}) "
                f"fill(none) order by time desc limit {k.limit}")
    group = f"time({k.bucket}),hostname" if k.by_host else f"time({k.bucket})"
    return f"SELECT {selects} from cpu where {hosts}{window} group by {group} fill(none)"


def normalise(kind: str, answer: dict[str, Any]) -> list[Row]:
    """Canonical rows (see :func:`loadtest.peers.canonical`) from a ``/query`` JSON answer."""
    k = kind_of(kind)
    rows: list[Row] = []
    for res in answer.get("results", []):
        for series in res.get("series", []) or []:
            cols: list[str] = series["columns"]
            tags: dict[str, str] = series.get("tags") or {}
            idx = {c: i for i, c in enumerate(cols)}
            for v in series.get("values", []) or []:
                if k.aggregate in ("rows", "last"):
                    host = tags.get("hostname", v[idx["hostname"]] if "hostname" in idx else None)
                    fields = [v[idx[f]] for f in FIELDS]
                    rows.append((host, v[0], *fields) if k.aggregate == "last" else (v[0], host, *fields))
                elif k.by_host:
                    rows.append((v[0], tags.get("hostname"), *v[1:]))
                else:
                    rows.append(tuple(v))
    return canonical(kind, rows)
