"""Running a batch-load task: read its CSV files from the object store, turn each row into a record by the
data model, write the records through the SDK's WriteRecords path 100 at a time, count what happened, and
write Timestream's error report when anything failed.

Blocking: it runs on a thread of its own. Records are written with the task's RecordVersion, so a resumed
task that writes its files again from the start stores nothing twice (an identical record is an accepted
duplicate) and changes nothing already acknowledged.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow.fs as pafs

import tessera
from services.gateway.batch_load_rows import DataModel, RowError
from tessera import errors

MAX_FILES = 100
MAX_FILE_BYTES = 5 << 30
"""Timestream's limits: files a task, bytes a file."""
READ_LIMIT_BYTES = 1 << 30
"""A file is read into memory whole; larger files fail with a message naming this limit."""
RECORDS_PER_WRITE = 100
WRITE_ATTEMPTS = 6
"""Tries of one WriteRecords call that the cluster throttles or cannot serve for the moment."""


class TaskStopped(Exception):
    """Another gateway took the task over (this one was thought gone): stop without a word."""


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

    @property
    def failures(self) -> int:
        return self.ParseFailures + self.RecordIngestionFailures + self.FileFailures


@dataclass
class Report:
    """Timestream's error report: task errors, and per file each reason with the CSV lines it hit."""

    task_errors: list[str] = field(default_factory=list)
    file_errors: dict[str, dict[str, list[int]]] = field(default_factory=dict)

    def add(self, file_name: str, reason: str, line: int = 0) -> None:
        lines = self.file_errors.setdefault(file_name, {}).setdefault(reason, [])
        if line:
            lines.append(line)

    def empty(self) -> bool:
        return not self.task_errors and not self.file_errors

    def to_json(self, task_id: str) -> dict[str, Any]:
        return {"taskId": task_id, "taskErrors": [{"reason": r} for r in self.task_errors], "fileErrors": [
            {"fileName": name, "errors": [{"reason": reason, "lineRanges": _ranges(lines)}
                                          for reason, lines in reasons.items()]}
            for name, reasons in self.file_errors.items()]}


def _ranges(lines: list[int]) -> list[list[int]]:
    """Sorted line numbers as [first, last] runs of consecutive lines."""
    out: list[list[int]] = []
    for line in sorted(set(lines)):
        if out and out[-1][1] == line - 1:
            out[-1][1] = line
        else:
            out.append([line, line])
    return out


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


def source_files(fs: pafs.FileSystem, bucket: str, prefix: str) -> list[pafs.FileInfo]:
    """The objects whose key starts with ``prefix`` (an object named exactly so included), by key."""
    parent = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
    base = f"{bucket}/{parent}".rstrip("/")
    exact = fs.get_file_info(f"{bucket}/{prefix}") if prefix else None
    if exact is not None and exact.type == pafs.FileType.File:
        return [exact]
    infos = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
    want = f"{bucket}/{prefix}"
    return sorted((i for i in infos if i.type == pafs.FileType.File and i.path.startswith(want)),
                  key=lambda i: i.path)


def run(client: tessera.Client, fs: pafs.FileSystem, task: dict[str, Any],
        checkpoint: Callable[[Progress], bool]) -> tuple[Progress, Report]:
    """Load every file of the task; ``checkpoint`` is called with the progress after each write and returns
    False when the task is no longer this gateway's (TaskStopped)."""
    progress, report = Progress(), Report()
    model = DataModel.parse(task["DataModel"])
    source = task["DataSourceConfiguration"]
    s3 = source["DataSourceS3Configuration"]
    layout = Csv.parse(source.get("CsvConfiguration"))
    files = source_files(fs, s3["BucketName"], s3.get("ObjectKeyPrefix", ""))
    if not files:
        report.task_errors.append(f"No file under s3://{s3['BucketName']}/{s3.get('ObjectKeyPrefix', '')}")
        return progress, report
    if len(files) > MAX_FILES:
        report.task_errors.append(f"The source holds {len(files)} files; a task takes at most {MAX_FILES}")
        return progress, report
    writer = _Writer(client, task, progress, report, checkpoint)
    for info in files:
        name = info.path.split("/", 1)[1]
        if info.size > min(MAX_FILE_BYTES, READ_LIMIT_BYTES):
            progress.FileFailures += 1
            report.add(name, f"The file holds {info.size} bytes; Tessera reads files of at most "
                             f"{min(MAX_FILE_BYTES, READ_LIMIT_BYTES)} bytes")
            continue
        with fs.open_input_stream(info.path) as stream:
            data = stream.read()
        progress.BytesMetered += len(data)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            progress.FileFailures += 1
            report.add(name, f"The file is not UTF-8 text: {exc}")
            continue
        for line, record in _records(name, text, model, layout, progress, report):
            if task.get("RecordVersion") is not None:
                record["Version"] = task["RecordVersion"]
            writer.add(name, line, record)
        writer.flush()
    return progress, report


def _records(name: str, text: str, model: DataModel, layout: Csv, progress: Progress,
             report: Report) -> Iterator[tuple[int, dict[str, Any]]]:
    """(CSV line, record) of every row that makes one; what does not is counted and reported."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=layout.separator, quotechar=layout.quote,
                        escapechar=layout.escape, doublequote=True, strict=False)
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
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            progress.RecordsProcessed += 1
            progress.ParseFailures += 1
            report.add(name, f"The row cannot be parsed: {exc}", reader.line_num)
            continue
        if not row:
            continue  # a blank line
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
    """Records in groups of RECORDS_PER_WRITE through WriteRecords; rejections go to the report by line."""

    def __init__(self, client: tessera.Client, task: dict[str, Any], progress: Progress, report: Report,
                 checkpoint: Callable[[Progress], bool]) -> None:
        self._client, self._task, self._progress, self._report = client, task, progress, report
        self._checkpoint = checkpoint
        self._pending: list[tuple[str, int, dict[str, Any]]] = []

    def add(self, name: str, line: int, record: dict[str, Any]) -> None:
        self._pending.append((name, line, record))
        if len(self._pending) >= RECORDS_PER_WRITE:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        try:
            ingested = self._write([r for _, _, r in batch])
            self._progress.RecordsIngested += ingested.total
        except errors.RejectedRecords as exc:
            self._progress.RecordsIngested += exc.records_ingested
            for rejected in exc.rejected_records:
                name, line, _ = batch[rejected.record_index]
                self._progress.RecordIngestionFailures += 1
                self._report.add(name, rejected.reason, line)
        if not self._checkpoint(self._progress):
            raise TaskStopped

    def _write(self, records: list[dict[str, Any]]) -> Any:
        for attempt in range(WRITE_ATTEMPTS):
            try:
                return self._client.write_records(self._task["TargetDatabaseName"], self._task["TargetTableName"],
                                                  records)
            except (errors.Throttled, errors.Unavailable, errors.DeadlineExceeded):
                if attempt == WRITE_ATTEMPTS - 1:
                    raise
                time.sleep(min(0.2 * 2**attempt, 5.0))
                if not self._checkpoint(self._progress):
                    raise TaskStopped from None
        raise AssertionError("unreachable")


def write_report(fs: pafs.FileSystem, task: dict[str, Any], report: Report) -> str:
    """Write the error report where the task's ReportConfiguration says; its s3:// URL."""
    s3 = task["ReportConfiguration"]["ReportS3Configuration"]
    prefix = str(s3.get("ObjectKeyPrefix") or "").strip("/")
    key = "/".join(p for p in (prefix, task["TaskId"], "error-report.json") if p)
    with fs.open_output_stream(f"{s3['BucketName']}/{key}") as out:
        out.write(json.dumps(report.to_json(task["TaskId"]), indent=1).encode())
    return f"s3://{s3['BucketName']}/{key}"
