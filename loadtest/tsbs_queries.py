"""The TSBS devops query types as data, and their Timestream SQL for Tessera (shared/reference/tsbs.md §2).

A :class:`QuerySpec` is one concrete query: its type, its time window and the hosts it selects. It is
target-neutral; each system renders it in its own language (:func:`tessera_sql` here, InfluxQL, MetricsQL
and PostgreSQL in ``loadtest/peers/``). What each type computes is in :data:`KINDS`:

========================  ===============  ======  ======  ======  =====================================
kind                      aggregate        fields  hosts   window  grouping
========================  ===============  ======  ======  ======  =====================================
single-groupby-M-H-T      max              M       H       T h     1-minute buckets over the hosts
cpu-max-all-H             max              10      H       8 h     1-hour buckets
double-groupby-M          avg              M       all     12 h    (1-hour bucket, hostname)
high-cpu-all / -1         rows             all     all/1   12 h    raw rows with usage_user > 90
lastpoint                 latest row       all     all     all     one row per host, by hostname
groupby-orderby-limit     max(usage_user)  1       all     (1 h)   1-minute buckets, ``time < end``, the
                                                                   newest 5
========================  ===============  ======  ======  ======  =====================================

Conventions every renderer follows:

- ``hosts == ()`` means every host (no host filter).
- The window is ``start_ns <= time < end_ns``, except for ``lastpoint`` (no time filter: the spec's window
  is the whole data set, for information) and ``groupby-orderby-limit`` (only ``time < end_ns``; TSBS draws
  a random 1-hour window and keeps its end; ``start_ns`` is the data set's start, for information).
- Aggregate aliases are ``max_<field>`` and ``mean_<field>``; bucket aliases ``minute`` and ``hour``.

Draws follow TSBS's mechanics (window first, then hosts; the window start is uniform in
``[data start, data end - W)``; hosts are drawn with replacement skipping duplicates) but use numpy's PCG64,
so the concrete windows differ from TSBS's Go ``math/rand`` ones. TSBS sets the query range's end to the
data end plus 1 s; here it is the data end itself (exclusive), which already covers the last point.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from loadtest.tsbs import FIELDS, TAGS, CpuOnly

MINUTE_NS = 60 * 1_000_000_000
HOUR_NS = 60 * MINUTE_NS


@dataclass(frozen=True)
class QueryKind:
    """What a TSBS devops query type computes."""

    name: str
    aggregate: str
    """``max`` or ``avg`` over buckets; ``rows`` (high-cpu), ``last`` (lastpoint)."""
    fields: tuple[str, ...]
    """The fields aggregated (or, for ``rows``/``last``, every field)."""
    hosts: int
    """Hosts selected at random; 0 = every host."""
    window_ns: int
    """Length of the random window; 0 = the whole data set (lastpoint)."""
    bucket: str
    """``1m``, ``1h`` or '' (no time bucket)."""
    by_host: bool = False
    """Group by hostname too (double-groupby)."""
    limit: int = 0
    """Keep the newest ``limit`` buckets (groupby-orderby-limit); 0 = all."""

    @property
    def label(self) -> str:
        """A human label in TSBS's spirit, for reports."""
        hosts = "all" if self.hosts == 0 else str(self.hosts)
        window = "all" if self.window_ns == 0 else f"{self.window_ns // HOUR_NS}h"
        return f"{self.aggregate} of {len(self.fields)} metric(s), {hosts} host(s), {window} by {self.bucket or '-'}"


def _kinds() -> dict[str, QueryKind]:
    out: dict[str, QueryKind] = {}
    for m, h, t in ((1, 1, 1), (1, 1, 12), (1, 8, 1), (5, 1, 1), (5, 1, 12), (5, 8, 1)):
        name = f"single-groupby-{m}-{h}-{t}"
        out[name] = QueryKind(name, "max", FIELDS[:m], h, t * HOUR_NS, "1m")
    for h in (1, 8):
        out[f"cpu-max-all-{h}"] = QueryKind(f"cpu-max-all-{h}", "max", FIELDS, h, 8 * HOUR_NS, "1h")
    for suffix, fields in (("1", FIELDS[:1]), ("5", FIELDS[:5]), ("all", FIELDS)):
        name = f"double-groupby-{suffix}"
        out[name] = QueryKind(name, "avg", fields, 0, 12 * HOUR_NS, "1h", by_host=True)
    out["high-cpu-all"] = QueryKind("high-cpu-all", "rows", FIELDS, 0, 12 * HOUR_NS, "")
    out["high-cpu-1"] = QueryKind("high-cpu-1", "rows", FIELDS, 1, 12 * HOUR_NS, "")
    out["lastpoint"] = QueryKind("lastpoint", "last", FIELDS, 0, 0, "")
    out["groupby-orderby-limit"] = QueryKind("groupby-orderby-limit", "max", FIELDS[:1], 0, HOUR_NS, "1m",
                                             limit=5)
    return out


KINDS: dict[str, QueryKind] = _kinds()
"""Every supported query type by name, in TSBS's order."""


@dataclass(frozen=True)
class QuerySpec:
    """One concrete query: type, window ``[start_ns, end_ns)`` and hosts (``()`` = all); see the module doc."""

    kind: str
    start_ns: int
    end_ns: int
    hosts: tuple[str, ...]


def random_specs(kind: str, dataset: CpuOnly, count: int, seed: int = 123) -> list[QuerySpec]:
    """``count`` queries of one type over ``dataset``: random windows inside its range, random distinct hosts.

    A window longer than the data set is shortened to the data set's span (small test data sets).
    """
    k = _kind(kind)
    if k.hosts > dataset.scale:
        raise ValueError(f"{kind} selects {k.hosts} hosts but the data set has only {dataset.scale} (--scale)")
    rng = np.random.default_rng([seed, _stable_hash(kind)])
    span = dataset.end_ns - dataset.start_ns
    out = []
    for _ in range(count):
        if k.window_ns == 0:
            start, end = dataset.start_ns, dataset.end_ns
        else:
            length = min(k.window_ns, span)
            start = dataset.start_ns + (int(rng.integers(0, span - length)) if span > length else 0)
            end = start + length
            if k.limit:  # groupby-orderby-limit keeps only the window's end
                start = dataset.start_ns
        hosts: list[str] = []
        while len(hosts) < k.hosts:
            name = f"host_{int(rng.integers(0, dataset.scale))}"
            if name not in hosts:
                hosts.append(name)
        out.append(QuerySpec(kind, start, end, tuple(hosts)))
    return out


def tessera_sql(spec: QuerySpec, database: str, table: str) -> str:
    """Timestream SQL for Tessera's layout: tags are dimension columns, fields multi-measure columns of "cpu"."""
    k = _kind(spec.kind)
    source = f'"{database}"."{table}"'
    where = _where(spec, k)
    if k.aggregate == "rows":
        return f"SELECT * FROM {source} WHERE usage_user > 90.0 AND {where}"
    if k.aggregate == "last":
        columns = ", ".join(("time", *TAGS, *FIELDS))
        return (f"SELECT {columns} FROM (SELECT {columns}, row_number() OVER (PARTITION BY hostname "
                f"ORDER BY time DESC) AS rn FROM {source}) WHERE rn = 1 ORDER BY hostname")
    bucket_alias = "minute" if k.bucket == "1m" else "hour"
    bucket = f"bin(time, {k.bucket})"
    prefix = "mean" if k.aggregate == "avg" else "max"
    aggregates = ", ".join(f"{k.aggregate}({f}) AS {prefix}_{f}" for f in k.fields)
    if k.by_host:
        return (f"SELECT {bucket} AS {bucket_alias}, hostname, {aggregates} FROM {source} WHERE {where} "
                f"GROUP BY {bucket}, hostname ORDER BY {bucket_alias}, hostname")
    order = f"{bucket_alias} DESC LIMIT {k.limit}" if k.limit else f"{bucket_alias} ASC"
    return (f"SELECT {bucket} AS {bucket_alias}, {aggregates} FROM {source} WHERE {where} "
            f"GROUP BY {bucket} ORDER BY {order}")


def _where(spec: QuerySpec, k: QueryKind) -> str:
    if k.limit:
        conditions = [f"time < from_nanoseconds({spec.end_ns})"]
    else:
        conditions = [f"time >= from_nanoseconds({spec.start_ns})", f"time < from_nanoseconds({spec.end_ns})"]
    if spec.hosts:
        conditions.insert(0, "hostname IN (" + ", ".join(f"'{h}'" for h in spec.hosts) + ")")
    return " AND ".join(conditions)


def _kind(kind: str) -> QueryKind:
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown TSBS query type {kind!r}; known: {', '.join(KINDS)}") from None


def _stable_hash(text: str) -> int:
    # Python's hash() of a str changes per process; the seed of each type's draws must not.
    return zlib.crc32(text.encode())
