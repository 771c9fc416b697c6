"""timestream-write's batch-load tasks: Create, Describe, List and Resume.

A task is a gateway document in the catalog (``batch-load-task``/TaskId), so every gateway describes and
lists the same tasks. The gateway that creates (or resumes) a task runs it on a background thread
(``batch_load_run``), claiming it by compare-and-swap and stamping a heartbeat into the document as rows
are written. A task whose gateway stopped (its heartbeat older than STALE_S) reads as PROGRESS_STOPPED, and
ResumeBatchLoadTask starts it again on the gateway that receives the call; a resumed task writes its files
again from the start, which the records' versions make harmless.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from typing import Any

import pyarrow.fs as pafs
import structlog

from services.gateway import batch_load_run
from services.gateway.batch_load_rows import DataModel
from services.gateway.context import Caller, Gateway, Operation
from tessera import errors

log = structlog.get_logger()

KIND = "batch-load-task"
STALE_S = 90.0
"""A running task whose heartbeat is older than this belongs to a gateway that is gone."""
HEARTBEAT_S = 2.0
RESUMABLE_S = 15 * 86_400
"""How long a stopped task may be resumed."""
MAX_ACTIVE_PER_TABLE = 5
MAX_ACTIVE = 10
"""Timestream's quotas of tasks not yet finished, per table and per account."""
ACTIVE = frozenset({"CREATED", "IN_PROGRESS", "PENDING_RESUME"})
FINISHED = frozenset({"SUCCEEDED", "FAILED"})
_CAS_ATTEMPTS = 8


def _status(task: dict[str, Any], now: float) -> str:
    """The task's status as callers see it: work whose gateway went silent is PROGRESS_STOPPED."""
    status = str(task["TaskStatus"])
    if status in ACTIVE and now - float(task.get("Heartbeat", task["LastUpdatedTime"])) > STALE_S:
        return "PROGRESS_STOPPED"
    return status


def _description(task: dict[str, Any], now: float) -> dict[str, Any]:
    status = _status(task, now)
    out: dict[str, Any] = {k: task[k] for k in ("TaskId", "DataSourceConfiguration", "ReportConfiguration", "TargetDatabaseName",
                                "TargetTableName", "CreationTime", "LastUpdatedTime", "ProgressReport") if k in task}
    out["DataModelConfiguration"] = task["DataModelConfiguration"]
    out["TaskStatus"] = status
    if task.get("RecordVersion") is not None:
        out["RecordVersion"] = task["RecordVersion"]
    if task.get("ErrorMessage"):
        out["ErrorMessage"] = task["ErrorMessage"]
    if status == "PROGRESS_STOPPED":
        out["ResumableUntil"] = float(task["LastUpdatedTime"]) + RESUMABLE_S
    return out


async def _tasks(gw: Gateway) -> list[dict[str, Any]]:
    docs = await gw.call("catalog", gw.client.gateway_documents, KIND)
    return sorted((json.loads(text) for _, text in docs), key=lambda t: (t["CreationTime"], t["TaskId"]))


async def _task(gw: Gateway, task_id: str) -> tuple[dict[str, Any], str]:
    text = await gw.call("catalog", gw.client.gateway_document, KIND, task_id)
    if not text:
        raise errors.NotFound(f"The batch load task {task_id} does not exist.")
    return json.loads(text), text


def _filesystem(gw: Gateway) -> pafs.FileSystem:
    if gw.object_store is None:
        raise errors.ValidationError("Batch load reads from an object store, and this gateway has none: start it with "
                                     "--s3-endpoint (tessera up does)")
    return gw.object_store.filesystem()


def _check_bucket(fs: pafs.FileSystem, bucket: str, member: str) -> None:
    try:
        info = fs.get_file_info(bucket)
    except OSError as exc:
        raise errors.ValidationError(f"{member} {bucket} cannot be reached in the object store: {exc}") from exc
    if info.type != pafs.FileType.Directory:
        raise errors.ValidationError(f"{member} {bucket} does not exist in the object store")


def _data_model(fs: pafs.FileSystem, config: dict[str, Any]) -> dict[str, Any]:
    """The DataModel of a DataModelConfiguration: given, or read from the JSON file it names."""
    if config.get("DataModel"):
        return dict(config["DataModel"])
    s3 = config.get("DataModelS3Configuration") or {}
    if not s3.get("BucketName") or not s3.get("ObjectKey"):
        raise errors.ValidationError("DataModelConfiguration needs DataModel, or DataModelS3Configuration with "
                                     "BucketName and ObjectKey")
    try:
        with fs.open_input_stream(f"{s3['BucketName']}/{s3['ObjectKey']}") as stream:
            doc = json.loads(stream.read())
    except (OSError, ValueError) as exc:
        raise errors.ValidationError(f"DataModelS3Configuration s3://{s3['BucketName']}/{s3['ObjectKey']} is not "
                                     f"a readable JSON data model: {exc}") from exc
    model = doc.get("DataModel", doc) if isinstance(doc, dict) else None
    if not isinstance(model, dict):
        raise errors.ValidationError("DataModelS3Configuration's file must hold a JSON object (a DataModel)")
    return model


async def create_batch_load_task(gw: Gateway, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    fs = _filesystem(gw)
    report = (p.get("ReportConfiguration") or {}).get("ReportS3Configuration")
    if not report:
        raise errors.ValidationError("ReportConfiguration.ReportS3Configuration is required: where the error "
                                     "report goes")
    if report.get("EncryptionOption") == "SSE_KMS":
        raise errors.ValidationError("ReportS3Configuration.EncryptionOption SSE_KMS is not supported (Tessera has "
                                     "no KMS): use SSE_S3")
    source = p["DataSourceConfiguration"]["DataSourceS3Configuration"]
    config = p.get("DataModelConfiguration") or {}
    await gw.call("catalog", _check_bucket, fs, source["BucketName"], "DataSourceS3Configuration.BucketName")
    await gw.call("catalog", _check_bucket, fs, report["BucketName"], "ReportS3Configuration.BucketName")
    model = await gw.call("catalog", _data_model, fs, config)
    DataModel.parse(model)
    await gw.call("catalog", gw.client.describe_table, p["TargetDatabaseName"], p["TargetTableName"])
    now = time.time()
    tasks = await _tasks(gw)
    token = p.get("ClientToken")
    if token:
        for t in tasks:
            if t.get("ClientToken") == token:
                return {"TaskId": t["TaskId"]}
    active = [t for t in tasks if _status(t, now) in ACTIVE]
    same_table = [t for t in active if (t["TargetDatabaseName"], t["TargetTableName"]) ==
                  (p["TargetDatabaseName"], p["TargetTableName"])]
    if len(same_table) >= MAX_ACTIVE_PER_TABLE or len(active) >= MAX_ACTIVE:
        raise errors.QuotaExceeded(f"{len(active)} batch load tasks are active ({len(same_table)} on this table); "
                                   f"the limits are {MAX_ACTIVE} and {MAX_ACTIVE_PER_TABLE} per table")
    task_id = uuid.uuid4().hex.upper()
    task = {"TaskId": task_id, "TaskStatus": "CREATED", "TargetDatabaseName": p["TargetDatabaseName"],
            "TargetTableName": p["TargetTableName"], "DataSourceConfiguration": p["DataSourceConfiguration"],
            "DataModelConfiguration": config, "DataModel": model, "ReportConfiguration": p["ReportConfiguration"],
            "RecordVersion": p.get("RecordVersion"), "ClientToken": token, "CreationTime": now,
            "LastUpdatedTime": now, "Heartbeat": now, "ProgressReport": batch_load_run.Progress().to_json()}
    written, _ = await gw.call("catalog", gw.client.put_gateway_document, KIND, task_id, json.dumps(task))
    if not written:
        raise errors.InternalError(f"the batch load task id {task_id} was taken; retry")
    gw.start_background(lambda: _run(gw, task_id))
    return {"TaskId": task_id}


async def describe_batch_load_task(gw: Gateway, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    task, _ = await _task(gw, p["TaskId"])
    return {"BatchLoadTaskDescription": _description(task, time.time())}


async def list_batch_load_tasks(gw: Gateway, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    now = time.time()
    tasks = [t for t in await _tasks(gw) if not p.get("TaskStatus") or _status(t, now) == p["TaskStatus"]]
    start = _offset(p.get("NextToken"))
    limit = int(p.get("MaxResults") or 100)
    page = tasks[start:start + limit]
    out: dict[str, Any] = {"BatchLoadTasks": [
        {"TaskId": t["TaskId"], "TaskStatus": _status(t, now), "DatabaseName": t["TargetDatabaseName"],
         "TableName": t["TargetTableName"], "CreationTime": t["CreationTime"], "LastUpdatedTime": t["LastUpdatedTime"],
         **({"ResumableUntil": float(t["LastUpdatedTime"]) + RESUMABLE_S}
            if _status(t, now) == "PROGRESS_STOPPED" else {})} for t in page]}
    if start + limit < len(tasks):
        out["NextToken"] = base64.urlsafe_b64encode(json.dumps({"offset": start + limit}).encode()).decode()
    return out


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise errors.ValidationError("NextToken is not a token ListBatchLoadTasks returned") from exc
    if not isinstance(offset, int) or offset < 0:
        raise errors.ValidationError("NextToken is not a token ListBatchLoadTasks returned")
    return offset


async def resume_batch_load_task(gw: Gateway, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    _filesystem(gw)
    for _ in range(_CAS_ATTEMPTS):
        task, text = await _task(gw, p["TaskId"])
        now = time.time()
        status = _status(task, now)
        if status != "PROGRESS_STOPPED":
            raise errors.ValidationError(f"The batch load task {p['TaskId']} is {status}: only a task in "
                                         "PROGRESS_STOPPED can be resumed")
        if now - float(task["LastUpdatedTime"]) > RESUMABLE_S:
            raise errors.ValidationError(f"The batch load task {p['TaskId']} stopped more than 15 days ago and can "
                                         "no longer be resumed")
        task.update(TaskStatus="PENDING_RESUME", LastUpdatedTime=now, Heartbeat=now, Owner="")
        written, _ = await gw.call("catalog", gw.client.put_gateway_document, KIND, p["TaskId"], json.dumps(task),
                                   text)
        if written:
            gw.start_background(lambda: _run(gw, p["TaskId"]))
            return {}
    raise errors.Unavailable(f"The batch load task {p['TaskId']} kept changing; retry")


class _Claim:
    """This gateway's hold on a running task: every change is a compare-and-swap on the last text written."""

    def __init__(self, gw: Gateway, task: dict[str, Any], text: str) -> None:
        self.gw, self.task, self.text = gw, task, text
        self._saved_at = time.monotonic()

    def save(self, **changes: Any) -> bool:
        now = time.time()
        task = {**self.task, **changes, "LastUpdatedTime": now, "Heartbeat": now}
        text = json.dumps(task)
        written, current = self.gw.client.put_gateway_document(KIND, task["TaskId"], text, self.text)
        if not written and current != text:
            return False
        self.task, self.text, self._saved_at = task, text, time.monotonic()
        return True

    def checkpoint(self, progress: batch_load_run.Progress) -> bool:
        """Stamp the progress at most every HEARTBEAT_S; False when the task is no longer ours."""
        if self.gw.stopping.is_set():
            return False
        if time.monotonic() - self._saved_at < HEARTBEAT_S:
            return True
        return self.save(ProgressReport=progress.to_json())


def _run(gw: Gateway, task_id: str) -> None:
    """Claim the task and run it to its end (on a background thread)."""
    text = gw.client.gateway_document(KIND, task_id)
    if not text:
        return
    task = json.loads(text)
    if task["TaskStatus"] not in ("CREATED", "PENDING_RESUME"):
        return
    claim = _Claim(gw, task, text)
    if not claim.save(TaskStatus="IN_PROGRESS", Owner=gw.instance_id,
                      ProgressReport=batch_load_run.Progress().to_json()):
        return
    log.info("batch load task started", task_id=task_id, database=task["TargetDatabaseName"],
             table=task["TargetTableName"])
    fs = _filesystem(gw)
    try:
        progress, report = batch_load_run.run(gw.client, fs, claim.task, claim.checkpoint)
    except batch_load_run.TaskStopped:
        log.info("batch load task stopped: another gateway holds it, or this one is stopping", task_id=task_id)
        return
    except (errors.TesseraError, OSError) as exc:
        progress, report = batch_load_run.Progress(), batch_load_run.Report([f"The task stopped: {exc}"])
    except Exception as exc:  # a bug: the task ends FAILED with what happened, never stuck IN_PROGRESS
        log.exception("batch load task failed", task_id=task_id)
        progress, report = batch_load_run.Progress(), batch_load_run.Report([f"Internal error: {exc!r}"])
    message = ""
    if not report.empty():
        try:
            where = batch_load_run.write_report(fs, claim.task, report)
            message = f"The task met errors; the error report is at {where}"
        except OSError as exc:
            message = f"The task met errors, and its error report could not be written: {exc}"
    if report.task_errors:
        message = f"{report.task_errors[0]}. {message}"
    failed = not report.empty()
    claim.save(TaskStatus="FAILED" if failed else "SUCCEEDED", ProgressReport=progress.to_json(),
               **({"ErrorMessage": message[:2048]} if failed else {}))
    log.info("batch load task finished", task_id=task_id, status="FAILED" if failed else "SUCCEEDED",
             **progress.to_json())


OPERATIONS: dict[str, Operation] = {
    "CreateBatchLoadTask": create_batch_load_task, "DescribeBatchLoadTask": describe_batch_load_task,
    "ListBatchLoadTasks": list_batch_load_tasks, "ResumeBatchLoadTask": resume_batch_load_task,
}
