"""PostgreSQL 15 (Debian's ``postgresql-15``): a private cluster (initdb + postgres), COPY sink, SQL, normaliser.

Schema: TSBS's flat variant, one table ``cpu(time timestamptz, <10 tags text>, <10 fields double precision>)``
(the TimescaleDB loader's field type, whatever the generator's form) with indexes on ``(hostname, time)`` and
``(time)`` (the flat analogue of TimescaleDB's default ``(tags_id, time DESC)`` and ``(time DESC)``), both
created before loading as TSBS does. Rows go in with ``COPY cpu FROM STDIN`` (text format), one transaction
per batch, through psycopg 3. Queries are TSBS's SQL (shared/reference/tsbs.md §2.3) on the flat schema,
with ``date_bin`` for 1-minute/1-hour buckets.

PostgreSQL keeps microseconds: window bounds are rounded *up* to the microsecond, which selects exactly the
same rows as the nanosecond bound does for microsecond-precision data (TSBS data is whole seconds).
"""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from loadtest.peers import Row, canonical, kind_of, runner
from loadtest.peers.influx import concat_strings
from loadtest.tsbs import FIELDS, TAGS
from loadtest.tsbs_queries import QuerySpec

TABLE = "cpu"
DATABASE = "postgres"
ORIGIN = "TIMESTAMPTZ '1970-01-01 00:00:00+00'"
SETTINGS_SHOWN = ("server_version", "fsync", "synchronous_commit", "wal_level", "full_page_writes",
                  "shared_buffers", "max_wal_size", "checkpoint_timeout")


def _user() -> str | None:
    """PostgreSQL refuses to run as root: as root, run it as the Debian ``postgres`` user."""
    return "postgres" if os.geteuid() == 0 else None


def start(data_dir: pathlib.Path) -> runner.Started:
    """initdb DIR/pg (trust auth, UTF8, C locale) if needed, then start postgres on a fresh loopback port."""
    home, sock = data_dir / "pg", data_dir / "pgsock"
    user = _user()
    runner.make_traversable(data_dir)
    for d in (home, sock):
        d.mkdir(parents=True, exist_ok=True)
        if user:
            runner.chown_tree(d, user)
    home.chmod(0o700)
    log = data_dir / "postgres.log"
    if not (home / "PG_VERSION").exists():
        with open(log, "ab") as out:
            subprocess.run([str(runner.PG_BIN / "initdb"), "-D", str(home), "-U", "postgres", "--auth=trust",
                            "-E", "UTF8", "--locale=C"], check=True, stdout=out, stderr=out,
                           **_as(user))
    port = runner.free_port()
    argv = [runner.BINARIES["postgres"], "-D", str(home), "-p", str(port), "-k", str(sock),
            "-c", "listen_addresses=127.0.0.1", "-c", "TimeZone=UTC"]
    proc = runner.spawn(argv, log, user=user)
    isready = [str(runner.PG_BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)]
    try:
        runner.wait_ready(lambda: subprocess.run(isready, check=False).returncode == 0, proc, "postgres", log)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    started = runner.Started("postgres", proc.pid, runner.proc_start_ticks(proc.pid) or 0, port, str(home))
    with connect(started.port) as conn:
        shown = {name: str(conn.execute(f"SHOW {name}").fetchone()[0]) for name in SETTINGS_SHOWN}
    started.version = f"PostgreSQL {shown.pop('server_version')}"
    started.settings = {
        "durability": f"fsync={shown['fsync']}, synchronous_commit={shown['synchronous_commit']} (defaults: "
                      "each COPY transaction's WAL is flushed to disk before COMMIT returns)",
        **{k: v for k, v in shown.items() if k not in ("fsync", "synchronous_commit")},
        "non-defaults": "listen_addresses=127.0.0.1, TimeZone=UTC, trust authentication on loopback",
    }
    return started


def _as(user: str | None) -> dict[str, Any]:
    if not user:
        return {}
    import pwd

    pw = pwd.getpwnam(user)
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": [], "cwd": "/"}


def connect(port: int) -> Any:
    """A psycopg 3 connection (autocommit) over loopback TCP."""
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("the PostgreSQL peer needs psycopg 3: pip install 'psycopg[binary]>=3.2'") from exc
    return psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname=DATABASE, autocommit=True,
                           options="-c TimeZone=UTC")


def data_bytes(port: int) -> int:
    """Bytes of the table with its indexes (``pg_total_relation_size``), after a CHECKPOINT."""
    with connect(port) as conn:
        conn.execute("CHECKPOINT")
        return int(conn.execute(f"SELECT pg_total_relation_size('{TABLE}')").fetchone()[0])


def schema_sql(batch_schema: pa.Schema | None = None) -> list[str]:
    """DROP + CREATE of the flat table and its two indexes."""
    cols = ["time timestamptz NOT NULL", *(f"{t} text" for t in TAGS), *(f"{f} double precision" for f in FIELDS)]
    return [f"DROP TABLE IF EXISTS {TABLE}",
            f"CREATE TABLE {TABLE} ({', '.join(cols)})",
            f"CREATE INDEX {TABLE}_hostname_time ON {TABLE} (hostname, time DESC)",
            f"CREATE INDEX {TABLE}_time ON {TABLE} (time DESC)"]


def create_table(port: int) -> None:
    with connect(port) as conn:
        for stmt in schema_sql():
            conn.execute(stmt)


# -- COPY ------------------------------------------------------------------------------------------------
COPY_SQL = f"COPY {TABLE} ({', '.join(('time', *TAGS, *FIELDS))}) FROM STDIN"


def _text_escape(col: Any) -> Any:
    for ch, rep in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
        col = pc.replace_substring(col, ch, rep)
    return col


def copy_payload(batch: pa.Table, columns: Sequence[str] = ("time", *TAGS, *FIELDS)) -> bytes:
    """The batch in COPY text format: tab-separated, ``\\N`` for NULL, backslash escapes, one row per line.

    Timestamps are written as UTC microseconds (``2016-01-01 00:00:00.000000+00``).
    """
    if batch.num_rows == 0:
        return b""
    parts: list[Any] = []
    for i, name in enumerate(columns):
        col = batch.column(name)
        if pa.types.is_timestamp(col.type):
            us = pc.cast(col.cast(pa.timestamp("ns", tz=col.type.tz)), pa.int64())
            us = pc.divide(pc.add(us, 999), 1000)  # ceil to the microsecond (whole seconds are unchanged)
            text = pc.binary_join_element_wise(
                pc.strftime(pc.cast(us, pa.timestamp("us", tz="UTC")), format="%Y-%m-%d %H:%M:%S"), "+00", "")
        elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            text = _text_escape(col)
        else:
            text = pc.cast(col, pa.string())
        parts.append(pc.fill_null(text, "\\N"))
        parts.append("\t" if i < len(columns) - 1 else "\n")
    return concat_strings(pc.binary_join_element_wise(*parts, ""))


class PostgresSink:
    """A Sink writing each batch with one ``COPY ... FROM STDIN`` (its own transaction) on one connection."""

    def __init__(self, port: int) -> None:
        self._conn = connect(port)

    def prepare(self, batch: pa.Table) -> bytes:
        """The batch's COPY text (before the driver's clock, like the peers' line protocol)."""
        return copy_payload(batch)

    def write(self, batch: pa.Table | bytes) -> None:
        """COPY one batch (an Arrow table or its prepared COPY text) in its own transaction."""
        payload = batch if isinstance(batch, bytes) else copy_payload(batch)
        with self._conn.cursor() as cur, cur.copy(COPY_SQL) as copy:
            copy.write(payload)

    def close(self) -> None:
        self._conn.close()


@dataclass(frozen=True)
class PostgresSinkFactory:
    """Builds a :class:`PostgresSink` in a driver worker process (picklable)."""

    port: int

    def __call__(self) -> PostgresSink:
        return PostgresSink(self.port)


class PostgresQuerier:
    """Runs specs as SQL on one connection."""

    def __init__(self, port: int) -> None:
        self._conn = connect(port)

    def supports(self, spec: QuerySpec) -> bool:
        return True

    def run(self, spec: QuerySpec) -> int:
        return len(run(self._conn, sql(spec))[1])

    def answer(self, spec: QuerySpec) -> list[Row]:
        return normalise(spec.kind, *run(self._conn, sql(spec)))

    def close(self) -> None:
        self._conn.close()


# -- SQL -------------------------------------------------------------------------------------------------
def timestamp_literal(ns: int) -> str:
    """``'2016-01-01 02:17:08.646326+00'``: the bound rounded up to the microsecond (module doc)."""
    us = -(-ns // 1000)
    sec, frac = divmod(us, 1_000_000)
    text = dt.datetime.fromtimestamp(sec, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    if frac:
        text += "." + f"{frac:06d}".rstrip("0")
    return f"'{text}+00'"


def sql(spec: QuerySpec) -> str:
    """TSBS's flat-schema SQL for the spec."""
    k = kind_of(spec.kind)
    where = [f"time >= {timestamp_literal(spec.start_ns)}", f"time < {timestamp_literal(spec.end_ns)}"]
    if spec.hosts:
        where.insert(0, "hostname IN (" + ", ".join(f"'{h}'" for h in spec.hosts) + ")")
    if k.aggregate == "rows":
        return f"SELECT * FROM {TABLE} WHERE usage_user > 90.0 AND {' AND '.join(where)}"
    if k.aggregate == "last":
        return f"SELECT DISTINCT ON (hostname) * FROM {TABLE} ORDER BY hostname, time DESC"
    alias = "minute" if k.bucket == "1m" else "hour"
    bucket = f"date_bin('{'1 minute' if k.bucket == '1m' else '1 hour'}', time, {ORIGIN})"
    prefix = "mean" if k.aggregate == "avg" else "max"
    aggs = ", ".join(f"{k.aggregate}({f}) AS {prefix}_{f}" for f in k.fields)
    if k.limit:
        return (f"SELECT {bucket} AS {alias}, {aggs} FROM {TABLE} WHERE time < {timestamp_literal(spec.end_ns)} "
                f"GROUP BY {alias} ORDER BY {alias} DESC LIMIT {k.limit}")
    if k.by_host:
        return (f"SELECT {bucket} AS {alias}, hostname, {aggs} FROM {TABLE} WHERE {' AND '.join(where)} "
                f"GROUP BY 1, 2 ORDER BY 1, 2")
    return (f"SELECT {bucket} AS {alias}, {aggs} FROM {TABLE} WHERE {' AND '.join(where)} "
            f"GROUP BY {alias} ORDER BY {alias} ASC")


def run(conn: Any, q: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run a query; (column names, rows), every row fetched."""
    with conn.cursor() as cur:
        cur.execute(q)
        names = [d.name for d in cur.description]
        return names, cur.fetchall()


def _ns(t: dt.datetime) -> int:
    delta = t - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def normalise(kind: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[Row]:
    """Canonical rows from a (columns, rows) answer of :func:`sql`."""
    k = kind_of(kind)
    idx = {c: i for i, c in enumerate(columns)}
    out: list[Row] = []
    for r in rows:
        if k.aggregate in ("rows", "last"):
            fields = [r[idx[f]] for f in FIELDS]
            t, host = _ns(r[idx["time"]]), r[idx["hostname"]]
            out.append((host, t, *fields) if k.aggregate == "last" else (t, host, *fields))
        else:
            out.append((_ns(r[0]), *r[1:]))
    return canonical(kind, out)
