"""Side-by-side runs of Tessera against the systems users would pick instead: InfluxDB 1.6, VictoriaMetrics
1.79 and PostgreSQL 15 (Debian 12 packages), on the same TSBS cpu-only data and the same devops queries.

    python -m loadtest.peers up      --data-dir DIR            # install if missing, start on loopback
    python -m loadtest.peers load    --data-dir DIR --scale 10 --hours 1
    python -m loadtest.peers query   --data-dir DIR --count 5
    python -m loadtest.peers compare --data-dir DIR --scale 10 --hours 1   # + Tessera, agreement, markdown
    python -m loadtest.peers down    --data-dir DIR            # stops only the pids in DIR/peers.json

Modules: :mod:`.runner` (install, processes, HTTP), :mod:`.influx`, :mod:`.victoria`, :mod:`.postgres`
(sinks, query renderers, result normalisers), :mod:`.compare` (the side-by-side run and its report).

Every normaliser turns an answer into *canonical rows* (see :func:`canonical`), so answers from different
systems compare row by row:

- bucketed kinds: ``(bucket_ns, value, ...)``, or ``(bucket_ns, hostname, value, ...)`` for double-groupby;
- high-cpu: ``(time_ns, hostname, 10 field values)``; lastpoint: ``(hostname, time_ns, 10 field values)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from loadtest.tsbs_queries import KINDS, QueryKind

Row = tuple[Any, ...]


def kind_of(name: str) -> QueryKind:
    """The :class:`~loadtest.tsbs_queries.QueryKind` of a query type name (ValueError if unknown)."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown TSBS query type {name!r}; known: {', '.join(KINDS)}") from None


def canonical(kind: str, rows: Iterable[Sequence[Any]]) -> list[Row]:
    """Rows in a system-independent order: by (bucket/time, hostname), lastpoint by hostname.

    Values become floats (None stays None); times ints (ns); hostnames strings.
    """
    k = kind_of(kind)
    out: list[Row] = []
    for r in rows:
        if k.aggregate == "last":
            out.append((str(r[0]), int(r[1]), *(_num(v) for v in r[2:])))
        elif k.aggregate == "rows" or k.by_host:
            out.append((int(r[0]), str(r[1]), *(_num(v) for v in r[2:])))
        else:
            out.append((int(r[0]), *(_num(v) for v in r[1:])))
    out.sort(key=lambda r: r[:2])
    return out


def _num(v: Any) -> float | None:
    return None if v is None else float(v)
