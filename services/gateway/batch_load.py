"""timestream-write's batch-load tasks: Create, Describe, List and Resume.

A task is a gateway document in the catalog (``batch_load_task.KIND``), so every gateway describes, lists
and resumes the same tasks; the gateway that creates or resumes one runs it (``batch_load_task.run``) on a
background thread. How a task runs, stops and resumes is in ``batch_load_task``; how its files are read and
written, in ``batch_load_run``; its data model, in ``batch_load_rows``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import time
import uuid
from typing import Any

import pyarrow.fs as pafs

from services.gateway import batch_load_task, model
from services.gateway.batch_load_rows import DataModel
from services.gateway.batch_load_run import Progress
from services.gateway.batch_load_task import ACTIVE, KIND, RESUMABLE_S, status
from services.gateway.context import Caller, Gateway, Operation
from tessera import errors

MAX_ACTIVE_PER_TABLE = 5
MAX_ACTIVE = 10
"""Timestream's quotas of tasks not yet finished, per table and per account."""
_CAS_ATTEMPTS = 8


def _description(task: dict[str, Any], now: float) -> dict[str, Any]:
    current = status(task, now)
    out: dict[str, Any] = {k: task[k] for k in (
        "TaskId", "DataSourceConfiguration", "ReportConfiguration", "DataModelConfiguration", "TargetDatabaseName",
        "TargetTableName", "CreationTime", "LastUpdatedTime", "ProgressReport") if k in task}
    out["TaskStatus"] = current
    if task.get("RecordVersion") is not None:
        out["RecordVersion"] = task["RecordVersion"]
    if task.get("ErrorMessage") and current not in ("SUCCEEDED", "IN_PROGRESS"):
        out["ErrorMessage"] = task["ErrorMessage"]
    if current == "PROGRESS_STOPPED":
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
    """The DataModel of a DataModelConfiguration: given, or read from the JSON file it names and checked
    against the service model as the request's own would be."""
    if config.get("DataModel"):
        return dict(config["DataModel"])
    s3 = config.get("DataModelS3Configuration") or {}
    if not s3.get("BucketName") or not s3.get("ObjectKey"):
        raise errors.ValidationError("DataModelConfiguration needs DataModel, or DataModelS3Configuration with "
                                     "BucketName and ObjectKey")
    where = f"s3://{s3['BucketName']}/{s3['ObjectKey']}"
    try:
        with fs.open_input_stream(f"{s3['BucketName']}/{s3['ObjectKey']}") as stream:
            doc = json.loads(stream.read(1 << 20))
    except (OSError, ValueError) as exc:
        raise errors.ValidationError(f"DataModelS3Configuration {where} is not a readable JSON data model (at most "
                                     f"1 MiB): {exc}") from exc
    found = doc.get("DataModel", doc) if isinstance(doc, dict) else None
    if not isinstance(found, dict):
        raise errors.ValidationError(f"DataModelS3Configuration {where} must hold a JSON object (a DataModel)")
    try:
        model.validate_member("timestream-write", "DataModel", found, "dataModelS3Configuration")
    except model.SerializationError as exc:  # a wrong type in a file is the request's problem: 400
        raise errors.ValidationError(exc.message) from exc
    return found


def _task_id(token: str | None) -> str:
    """A new task's id: derived from the ClientToken when there is one, so that two creates with one token
    (a retry racing its first try) meet on one document."""
    if token:
        return hashlib.sha256(token.encode()).hexdigest().upper()[:32]
    return uuid.uuid4().hex.upper()


async def create_batch_load_task(gw: Gateway, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    fs = _filesystem(gw)
    report = (p.get("ReportConfiguration") or {}).get("ReportS3Configuration")
    if not report:
        raise errors.ValidationError("ReportConfiguration.ReportS3Configuration is required: where the error "
                                     "report goes")
    if report.get("EncryptionOption") == "SSE_KMS":
        raise errors.ValidationError("ReportS3Configuration.EncryptionOption SSE_KMS is not supported (Tessera has "
                                     "no KMS): use SSE_S3")
    if p.get("RecordVersion") is not None and p["RecordVersion"] < 1:
        raise errors.ValidationError(f"RecordVersion {p['RecordVersion']} is below 1: versions start at 1")
    token = p.get("ClientToken")
    task_id = _task_id(token)
    if token:
        existing = await gw.call("catalog", gw.client.gateway_document, KIND, task_id)
        if existing:
            return {"TaskId": task_id}  # the same request again
    source = p["DataSourceConfiguration"]["DataSourceS3Configuration"]
    config = p.get("DataModelConfiguration") or {}
    await asyncio.to_thread(_check_bucket, fs, source["BucketName"], "DataSourceS3Configuration.BucketName")
    await asyncio.to_thread(_check_bucket, fs, report["BucketName"], "ReportS3Configuration.BucketName")
    data_model = await asyncio.to_thread(_data_model, fs, config)
    DataModel.parse(data_model)
    await gw.call("catalog", gw.client.describe_table, p["TargetDatabaseName"], p["TargetTableName"])
    now = time.time()
    active = [t for t in await _tasks(gw) if status(t, now) in ACTIVE]
    same_table = [t for t in active if (t["TargetDatabaseName"], t["TargetTableName"]) ==
                  (p["TargetDatabaseName"], p["TargetTableName"])]
    if len(same_table) >= MAX_ACTIVE_PER_TABLE or len(active) >= MAX_ACTIVE:
        raise errors.QuotaExceeded(f"{len(active)} batch load tasks are active ({len(same_table)} on this table); "
                                   f"the limits are {MAX_ACTIVE} and {MAX_ACTIVE_PER_TABLE} per table")
    task = {"TaskId": task_id, "TaskStatus": "CREATED", "TargetDatabaseName": p["TargetDatabaseName"],
            "TargetTableName": p["TargetTableName"], "DataSourceConfiguration": p["DataSourceConfiguration"],
            "DataModelConfiguration": config, "DataModel": data_model, "ReportConfiguration": p["ReportConfiguration"],
            "RecordVersion": p.get("RecordVersion"), "ClientToken": token, "CreationTime": now,
            "LastUpdatedTime": now, "Heartbeat": now, "ProgressReport": Progress().to_json()}
    if not await gw.call("catalog", batch_load_task.put, gw, task_id, json.dumps(task), ""):
        if token:
            return {"TaskId": task_id}  # a create with the same token got there first
        raise errors.InternalError(f"the batch load task id {task_id} was taken; retry")
    gw.start_background(lambda: batch_load_task.run(gw, task_id))
    return {"TaskId": task_id}


async def describe_batch_load_task(gw: Gateway, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    task, _ = await _task(gw, p["TaskId"])
    return {"BatchLoadTaskDescription": _description(task, time.time())}


async def list_batch_load_tasks(gw: Gateway, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    now = time.time()
    after = _after(p.get("NextToken"))
    tasks = [t for t in await _tasks(gw) if (not p.get("TaskStatus") or status(t, now) == p["TaskStatus"])
             and (after is None or (t["CreationTime"], t["TaskId"]) > after)]
    limit = int(p.get("MaxResults") or 100)
    page = tasks[:limit]
    listed = []
    for t in page:
        current = status(t, now)
        listed.append({"TaskId": t["TaskId"], "TaskStatus": current, "DatabaseName": t["TargetDatabaseName"],
                       "TableName": t["TargetTableName"], "CreationTime": t["CreationTime"],
                       "LastUpdatedTime": t["LastUpdatedTime"],
                       **({"ResumableUntil": float(t["LastUpdatedTime"]) + RESUMABLE_S}
                          if current == "PROGRESS_STOPPED" else {})})
    out: dict[str, Any] = {"BatchLoadTasks": listed}
    if len(tasks) > limit:  # the token names the last task listed: pages never shift as tasks come and change
        last = page[-1]
        out["NextToken"] = base64.urlsafe_b64encode(json.dumps({"after": [last["CreationTime"], last["TaskId"]]})
                                                    .encode()).decode()
    return out


def _after(token: str | None) -> tuple[float, str] | None:
    """(creation time, task id) of the last task a NextToken's page listed."""
    if not token:
        return None
    try:
        created, task_id = json.loads(base64.urlsafe_b64decode(token.encode()))["after"]
        return float(created), str(task_id)
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise errors.ValidationError("NextToken is not a token ListBatchLoadTasks returned") from exc


async def resume_batch_load_task(gw: Gateway, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    _filesystem(gw)
    for _ in range(_CAS_ATTEMPTS):
        task, text = await _task(gw, p["TaskId"])
        now = time.time()
        current = status(task, now)
        if current != "PROGRESS_STOPPED":
            raise errors.ValidationError(f"The batch load task {p['TaskId']} is {current}: only a task in "
                                         "PROGRESS_STOPPED can be resumed")
        if now - float(task["LastUpdatedTime"]) > RESUMABLE_S:
            raise errors.ValidationError(f"The batch load task {p['TaskId']} stopped more than 15 days ago and can "
                                         "no longer be resumed")
        task.update(TaskStatus="PENDING_RESUME", LastUpdatedTime=now, Heartbeat=now, Owner="")
        task.pop("ErrorMessage", None)
        if await gw.call("catalog", batch_load_task.put, gw, p["TaskId"], json.dumps(task), text):
            gw.start_background(lambda: batch_load_task.run(gw, p["TaskId"]))
            return {}
    raise errors.Unavailable(f"The batch load task {p['TaskId']} kept changing; retry")


OPERATIONS: dict[str, Operation] = {
    "CreateBatchLoadTask": create_batch_load_task, "DescribeBatchLoadTask": describe_batch_load_task,
    "ListBatchLoadTasks": list_batch_load_tasks, "ResumeBatchLoadTask": resume_batch_load_task,
}
