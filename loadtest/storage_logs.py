"""What storage nodes said they did, read back from their JSON logs (``LocalCluster``'s ``logs/<node>.log``).

Benchmarks use these lines as evidence beside their own figures: each flush of memory stores to the
magnetic store (rows, bytes, and the tiering rule that caused it: memory retention, idleness or memory
pressure), each opening of the tile store after a start (WAL entries replayed and the seconds it took), and
every warning and error (failed flushes and maintenance rounds, RPCs that failed inside the node, WAL
corruption).
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

FLUSHED = "flushed memory stores to the magnetic store"
OPENED = "tile store opened"
PROBLEM_LEVELS = ("warning", "error", "critical")


@dataclass(frozen=True)
class FlushEvent:
    """One flush of one partition's memory stores into a segment."""

    at_unix: float
    node: str
    rows: int
    bytes: int
    reasons: tuple[str, ...]
    """The tiering rules that made the buckets due (``forced`` for the Maintain hook)."""


@dataclass(frozen=True)
class OpenEvent:
    """One opening of a node's tile store (start-up: manifests loaded, WAL replayed)."""

    at_unix: float
    node: str
    replayed_entries: int
    partitions: int
    seconds: float


def lines(path: pathlib.Path, node: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(node, record)`` for every JSON line of a log (other lines, e.g. tracebacks, are skipped)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            yield node, record


def node_logs(log_dir: pathlib.Path, nodes: Iterable[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The JSON records of every named node's log under ``log_dir``."""
    for node in nodes:
        yield from lines(log_dir / f"{node}.log", node)


def _at(record: dict[str, Any]) -> float:
    stamp = str(record.get("timestamp", ""))
    try:
        moment = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return 0.0
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


def flushes(records: Iterable[tuple[str, dict[str, Any]]]) -> list[FlushEvent]:
    """Every flush, in time order."""
    out = [FlushEvent(_at(r), node, int(r.get("rows", 0)), int(r.get("bytes", 0)),
                      tuple(sorted(part.strip() for part in str(r.get("reason", "")).split(",") if part.strip())))
           for node, r in records if r.get("event") == FLUSHED]
    return sorted(out, key=lambda e: e.at_unix)


def openings(records: Iterable[tuple[str, dict[str, Any]]]) -> list[OpenEvent]:
    """Every opening of a tile store, in time order."""
    out = [OpenEvent(_at(r), node, int(r.get("replayed_entries", 0)), int(r.get("partitions", 0)),
                     float(r.get("seconds", 0.0)))
           for node, r in records if r.get("event") == OPENED]
    return sorted(out, key=lambda e: e.at_unix)


def failures(records: Iterable[tuple[str, dict[str, Any]]]) -> Counter[str]:
    """How often each warning or error line appeared (by its event text)."""
    return Counter(str(r.get("event", "")) for _, r in records if r.get("level") in PROBLEM_LEVELS)


def flush_summary(events: Iterable[FlushEvent]) -> dict[str, dict[str, int]]:
    """Per tiering rule: flushes, rows and bytes (a flush due under two rules counts under both)."""
    out: dict[str, dict[str, int]] = {}
    for e in events:
        for reason in e.reasons or ("unknown",):
            entry = out.setdefault(reason, {"flushes": 0, "rows": 0, "bytes": 0})
            entry["flushes"] += 1
            entry["rows"] += e.rows
            entry["bytes"] += e.bytes
    return out
