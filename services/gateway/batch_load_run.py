"""Loading a batch-load task's files: read each CSV file from the object store as a stream, turn each row into
a record by the data model, write the records through the SDK's WriteRecords path 100 at a time, and count
and report what failed, line by line.

Blocking: it runs on a background thread (``batch_load_task`` drives it). After each group of records it
hands the task a consistent snapshot (``Snapshot``: counts, report, and the position up to which every row
has an outcome), which the task keeps in its catalog document; a resumed task starts after that position
with those counts. Rows after it may have been written before the stop and are written again: with the
task's RecordVersion an identical record is an accepted duplicate, so nothing is stored twice.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import pyarrow.fs as pafs

import tessera
from services.gateway.batch_load_rows import DataModel, RowError
from tessera import errors

MAX_FILES = 100
MAX_FILE_BYTES = 5 * 10**9
"""Timestream's limits: files a task, bytes a file."""
RECORDS_PER_WRITE = 100
WRITE_ATTEMPTS = 6
"""Tries of one WriteRecords call that the cluster throttles or cannot serve; then the task stops, resumable."""
WRITE_BACKOFF_S = 0.5
"""The first wait between those tries; it doubles each time (0.5 + 1 + 2 + 4 + 8 s in all)."""
MAX_REPORTED_RANGES = 10_000
"""Line ranges an error report lists (it lives in the task's catalog document until the task ends)."""
REPORT_NAME = "error-report.json"
TRANSIENT = (errors.Throttled, errors.Unavailable, errors.DeadlineExceeded)


class TaskStopped(Exception):
    """The task must stop now and stay resumable: this gateway is stopping, another one holds the task, or
    the cluster stayed unavailable (the message says which)."""


class Claim(Protocol):
    """What the loader needs from the task that runs it (``batch_load_task._Claim``)."""

    def check(self) -> None:
        """Raise TaskStopped when the task must stop."""

    def record(self, snapshot: Snapshot) -> None:
        """Keep a consistent state of the load, to be saved with the next heartbeat."""


@dataclass
class Progress:
    """Timestream's BatchLoadProgressReport."""

    RecordsProcessed: int = 0
    RecordsIngested: int = 0
    ParseFailures: int = 0
    RecordIngestionFailures: int = 0
    FileFailures: int = 0
    BytesMetered: int = 0

    def to_json(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any] | None) -> Progress:
        return cls(**{k: int(v) for k, v in (doc or {}).items() if k in cls.__dataclass_fields__})


@dataclass
class Report:
    """Timestream's error report: task errors, and per file each reason with the CSV lines it hit."""

    task_errors: list[str] = field(default_factory=list)
    file_errors: dict[str, dict[str, list[list[int]]]] = field(default_factory=dict)
    """file -> reason -> [first, last] line ranges, in order."""
    unlisted: int = 0
    """Failing lines beyond MAX_REPORTED_RANGES ranges, counted but not listed."""

    def add(self, file_name: str, reason: str, line: int = 0) -> None:
        ranges = self.file_errors.setdefault(file_name, {}).setdefault(reason[:1024], [])
        if not line:
            return
        if ranges and ranges[-1][1] + 1 == line:
            ranges[-1][1] = line
        elif ranges and ranges[-1][0] <= line <= ranges[-1][1]:
            return
        elif self._ranges() >= MAX_REPORTED_RANGES:
            self.unlisted += 1
        else:
            ranges.append([line, line])

    def _ranges(self) -> int:
        return sum(len(r) for reasons in self.file_errors.values() for r in reasons.values())

    def empty(self) -> bool:
        return not self.task_errors and not self.file_errors

    def to_state(self) -> dict[str, Any]:
        """A copy, as JSON-ready data: the heartbeat thread serialises it while the loader goes on adding."""
        return {"taskErrors": list(self.task_errors), "unlisted": self.unlisted,
                "fileErrors": {f: {r: [list(x) for x in ranges] for r, ranges in reasons.items()}
                               for f, reasons in self.file_errors.items()}}

    @classmethod
    def from_state(cls, doc: dict[str, Any] | None) -> Report:
        doc = doc or {}
        return cls(list(doc.get("taskErrors", [])), {f: {r: [list(x) for x in ranges] for r, ranges in reasons.items()}
                                                     for f, reasons in doc.get("fileErrors", {}).items()},
                   int(doc.get("unlisted", 0)))

    def to_json(self, task_id: str) -> dict[str, Any]:
        """The report file, in Timestream's shape."""
        task_errors = [{"reason": r} for r in self.task_errors]
        if self.unlisted:
            task_errors.append({"reason": f"{self.unlisted} more failing lines are counted but not listed"})
        return {"taskId": task_id, "taskErrors": task_errors, "fileErrors": [
            {"fileName": name, "errors": [{"reason": reason, "lineRanges": ranges} for reason, ranges in reasons.items()]}
            for name, reasons in self.file_errors.items()]}


@dataclass(frozen=True)
class Snapshot:
    """A consistent state of a load: every row up to ``line`` of ``path`` ("" = none yet) has its outcome in
    ``progress`` and ``report``."""

    progress: dict[str, int]
    report: dict[str, Any]
    path: str
    line: int


@dataclass(frozen=True)
class Csv:
    """The task's CsvConfiguration, with Timestream's defaults."""

    separator: str = ","
    quote: str = '"'
    escape: str | None = None
    null_value: str = ""
    trim: bool = False

    @classmethod
    def parse(cls, doc: dict[str, Any] | None) -> Csv:
        doc = doc or {}
        return cls(str(doc.get("ColumnSeparator") or ","), str(doc.get("QuoteChar") or '"'),
                   str(doc["EscapeChar"]) if doc.get("EscapeChar") else None, str(doc.get("NullValue") or ""),
                   bool(doc.get("TrimWhiteSpace", False)))

    def cell(self, text: str) -> str | None:
        value = text.strip() if self.trim else text
        return None if value == self.null_value or value == "" else value


def source_files(fs: pafs.FileSystem, bucket: str, prefix: str, reports: str | None = None) -> list[pafs.FileInfo]:
    """The objects whose key starts with ``prefix`` (an object named exactly so included), by key, except
    error reports of batch-load tasks under the key prefix ``reports``."""
    parent = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
    base = f"{bucket}/{parent}".rstrip("/")
    exact = fs.get_file_info(f"{bucket}/{prefix}") if prefix else None
    if exact is not None and exact.type == pafs.FileType.File:
        return [exact]
    infos = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
    want = f"{bucket}/{prefix}"

    def a_report(path: str) -> bool:
        return reports is not None and path.startswith(f"{bucket}/{reports}") and path.endswith(f"/{REPORT_NAME}")

    return sorted((i for i in infos if i.type == pafs.FileType.File and i.path.startswith(want)
                   and not a_report(i.path)), key=lambda i: i.path)


def report_key(task: dict[str, Any]) -> tuple[str, str]:
    """(bucket, key) of the task's error report."""
    s3 = task["ReportConfiguration"]["ReportS3Configuration"]
    prefix = str(s3.get("ObjectKeyPrefix") or "").strip("/")
    return s3["BucketName"], "/".join(p for p in (prefix, task["TaskId"], REPORT_NAME) if p)


def run(client: tessera.Client, fs: pafs.FileSystem, task: dict[str, Any], claim: Claim) -> tuple[Progress, Report]:
    """Load the task's files from where its last snapshot left off (its ``Resume`` member); the final counts
    and report. Raises TaskStopped (resumable) or a TesseraError that ends the task (the table is gone)."""
    resume = task.get("Resume") or {}
    progress, report = Progress.from_json(resume.get("progress")), Report.from_state(resume.get("report"))
    after_path, after_line = str(resume.get("path", "")), int(resume.get("line", 0))
    model = DataModel.parse(task["DataModel"])
    source = task["DataSourceConfiguration"]
    s3 = source["DataSourceS3Configuration"]
    layout = Csv.parse(source.get("CsvConfiguration"))
    report_s3 = task["ReportConfiguration"]["ReportS3Configuration"]
    reports = str(report_s3.get("ObjectKeyPrefix") or "") if report_s3["BucketName"] == s3["BucketName"] else None
    try:
        files = source_files(fs, s3["BucketName"], s3.get("ObjectKeyPrefix", ""), reports)
    except OSError as exc:
        raise TaskStopped(f"The source s3://{s3['BucketName']}/{s3.get('ObjectKeyPrefix', '')} cannot be listed: "
                          f"{exc}") from exc
    if not files:
        report.task_errors.append(f"No file under s3://{s3['BucketName']}/{s3.get('ObjectKeyPrefix', '')}")
        return progress, report
    if len(files) > MAX_FILES:
        report.task_errors.append(f"The source holds {len(files)} files; a task takes at most {MAX_FILES}")
        return progress, report
    writer = _Writer(client, task, progress, report, claim)
    for info in files:
        name = info.path.split("/", 1)[1]
        if info.path < after_path or (info.path == after_path and after_line < 0):
            continue  # done before the task stopped (line -1: the whole file)
        skip_to = after_line if info.path == after_path else 0
        if info.size > MAX_FILE_BYTES:
            progress.FileFailures += 1
            report.add(name, f"The file holds {info.size} bytes; a batch-load file holds at most {MAX_FILE_BYTES}")
        else:
            try:
                with fs.open_input_stream(info.path) as stream:
                    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
                    for line, record in _records(name, text, model, layout, progress, report, claim, skip_to):
                        if task.get("RecordVersion") is not None:
                            record["Version"] = task["RecordVersion"]
                        writer.add(name, info.path, line, record)
                    writer.flush()
                progress.BytesMetered += info.size
            except (OSError, UnicodeDecodeError) as exc:  # this file only: the others still load
                writer.drop()
                progress.FileFailures += 1
                report.add(name, f"The file cannot be read: {exc}")
        claim.record(Snapshot(progress.to_json(), report.to_state(), info.path, -1))
    return progress, report


def _records(name: str, text: io.TextIOWrapper, model: DataModel, layout: Csv, progress: Progress, report: Report,
             claim: Claim, skip_to: int) -> Iterator[tuple[int, dict[str, Any]]]:
    """(CSV line, record) of every row after line ``skip_to`` that makes one; what does not is counted and
    reported."""
    reader = csv.reader(text, delimiter=layout.separator, quotechar=layout.quote, escapechar=layout.escape,
                        doublequote=True, strict=False)
    header = next(reader, None)
    if header is None:
        progress.FileFailures += 1
        report.add(name, "The file is empty: a batch-load file starts with a header line")
        return
    header = [h.strip() for h in header]
    missing = sorted(model.columns() - set(header))
    if missing:
        progress.FileFailures += 1
        report.add(name, f"The data model's columns {missing} are not in the header {header}")
        return
    while True:
        claim.check()
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if reader.line_num > skip_to:
                progress.RecordsProcessed += 1
                progress.ParseFailures += 1
                report.add(name, f"The row cannot be parsed: {exc}", reader.line_num)
            continue
        if not row or reader.line_num <= skip_to:
            continue  # a blank line, or a row done before the task stopped
        progress.RecordsProcessed += 1
        if len(row) != len(header):
            progress.ParseFailures += 1
            report.add(name, f"The row has {len(row)} fields; the header has {len(header)}", reader.line_num)
            continue
        try:
            yield reader.line_num, model.record(dict(zip(header, map(layout.cell, row), strict=True)))
        except RowError as exc:
            progress.ParseFailures += 1
            report.add(name, str(exc), reader.line_num)


class _Writer:
    """Records in groups of RECORDS_PER_WRITE through WriteRecords; rejections go to the report by line, and
    after each group the claim gets a snapshot."""

    def __init__(self, client: tessera.Client, task: dict[str, Any], progress: Progress, report: Report,
                 claim: Claim) -> None:
        self._client, self._task, self._progress, self._report, self._claim = client, task, progress, report, claim
        self._pending: list[tuple[str, int, dict[str, Any]]] = []
        self._path = ""

    def add(self, name: str, path: str, line: int, record: dict[str, Any]) -> None:
        self._pending.append((name, line, record))
        self._path = path
        if len(self._pending) >= RECORDS_PER_WRITE:
            self.flush()

    def drop(self) -> None:
        """Forget records not yet written (their file failed: it is counted as a file failure)."""
        self._pending = []

    def flush(self) -> None:
        if not self._pending:
            return
        batch = self._pending
        try:
            ingested = self._write([r for _, _, r in batch])
            self._progress.RecordsIngested += ingested.total
        except errors.RejectedRecords as exc:
            self._progress.RecordsIngested += exc.records_ingested
            for rejected in exc.rejected_records:
                name, line, _ = batch[rejected.record_index]
                self._progress.RecordIngestionFailures += 1
                self._report.add(name, rejected.reason, line)
        except errors.ValidationError as exc:  # the whole request refused: every record of it failed
            for name, line, _ in batch:
                self._progress.RecordIngestionFailures += 1
                self._report.add(name, exc.message, line)
        self._pending = []
        self._claim.record(Snapshot(self._progress.to_json(), self._report.to_state(), self._path, batch[-1][1]))

    def _write(self, records: list[dict[str, Any]]) -> Any:
        for attempt in range(WRITE_ATTEMPTS):
            self._claim.check()
            try:
                return self._client.write_records(self._task["TargetDatabaseName"], self._task["TargetTableName"],
                                                  records)
            except TRANSIENT as exc:
                if attempt == WRITE_ATTEMPTS - 1:
                    raise TaskStopped(f"The cluster stayed unavailable for writes ({exc.message}); resume the "
                                      "task with ResumeBatchLoadTask") from exc
                time.sleep(WRITE_BACKOFF_S * 2**attempt)
        raise AssertionError("unreachable")


def write_report(fs: pafs.FileSystem, task: dict[str, Any], report: Report) -> str:
    """Write the error report where the task's ReportConfiguration says; its s3:// URL."""
    bucket, key = report_key(task)
    with fs.open_output_stream(f"{bucket}/{key}") as out:
        out.write(json.dumps(report.to_json(task["TaskId"]), indent=1).encode())
    return f"s3://{bucket}/{key}"
