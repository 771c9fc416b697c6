"""Storage nodes' JSON log lines become flush, opening and failure records; other lines are skipped."""

from __future__ import annotations

import json
import pathlib

from loadtest import storage_logs


def _line(event: str, at: str, **fields: object) -> str:
    return json.dumps({"event": event, "timestamp": at, "level": "info", **fields})


def _write(tmp_path: pathlib.Path) -> None:
    (tmp_path / "n1.log").write_text("\n".join([
        _line(storage_logs.OPENED, "2026-01-01T00:00:00.500000Z", replayed_entries=0, partitions=0, seconds=0.01),
        _line(storage_logs.FLUSHED, "2026-01-01T00:01:00Z", rows=10, bytes=100,
              reason="bucket ended and idle, older than memory retention"),
        "Traceback (most recent call last):",
        "{not json",
        _line("rpc_failed", "2026-01-01T00:01:30Z", level="error"),
        _line("cannot flush memory stores; they stay in memory and the WAL", "2026-01-01T00:01:31Z", level="error"),
        _line("wal torn tail cut: never synced, so never acknowledged", "2026-01-01T00:01:32Z", level="warning"),
    ]) + "\n")
    (tmp_path / "n2.log").write_text("\n".join([
        _line(storage_logs.FLUSHED, "2026-01-01T00:00:30Z", rows=5, bytes=50, reason="memory above the flush mark"),
        _line(storage_logs.OPENED, "2026-01-01T00:02:00Z", replayed_entries=42, partitions=3, seconds=1.5),
    ]) + "\n")


def test_flushes_come_back_in_time_order_with_their_rules(tmp_path: pathlib.Path) -> None:
    _write(tmp_path)
    events = storage_logs.flushes(storage_logs.node_logs(tmp_path, ["n1", "n2", "missing"]))
    assert [(e.node, e.rows, e.bytes) for e in events] == [("n2", 5, 50), ("n1", 10, 100)]
    assert events[1].reasons == ("bucket ended and idle", "older than memory retention")
    assert events[0].at_unix == 1767225630.0


def test_a_flush_due_under_two_rules_counts_under_both(tmp_path: pathlib.Path) -> None:
    _write(tmp_path)
    summary = storage_logs.flush_summary(storage_logs.flushes(storage_logs.node_logs(tmp_path, ["n1", "n2"])))
    assert summary == {"bucket ended and idle": {"flushes": 1, "rows": 10, "bytes": 100},
                       "older than memory retention": {"flushes": 1, "rows": 10, "bytes": 100},
                       "memory above the flush mark": {"flushes": 1, "rows": 5, "bytes": 50}}


def test_openings_and_failures_are_found(tmp_path: pathlib.Path) -> None:
    _write(tmp_path)
    records = list(storage_logs.node_logs(tmp_path, ["n1", "n2"]))
    opened = storage_logs.openings(records)
    assert [(o.node, o.replayed_entries, o.partitions, o.seconds) for o in opened] == [
        ("n1", 0, 0, 0.01), ("n2", 42, 3, 1.5)]
    assert storage_logs.failures(records) == {"rpc_failed": 1,
                                              "cannot flush memory stores; they stay in memory and the WAL": 1,
                                              "wal torn tail cut: never synced, so never acknowledged": 1}


def test_a_timestamp_without_a_zone_is_read_as_utc() -> None:
    records = [("n", {"event": storage_logs.FLUSHED, "timestamp": "2026-01-01T00:00:00", "rows": 1})]
    assert storage_logs.flushes(records)[0].at_unix == 1767225600.0
