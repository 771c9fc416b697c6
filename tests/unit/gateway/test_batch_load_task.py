"""A batch-load task's life against failures, with a scripted cluster (the catalog's compare-and-swap and
WriteRecords) and CSV files in a local directory: an outage stops it resumable with its real counts and it
resumes where it stopped; a lost reply to a create, resume or claim still runs it once; a task taken over by
another gateway is left alone; a deleted table fails it with its counts; a stopping gateway releases it; the
heartbeat beats while a write hangs; ClientToken and quotas hold."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
import pytest

from services.gateway import batch_load, batch_load_run, batch_load_task
from services.gateway.context import Caller, Gateway
from tessera import errors
from tessera.v1 import common_pb2

BUCKET = "data"
ROWS = 450
CALLER = Caller(region="us-east-1", account_id="000000000000", endpoint="http://127.0.0.1:1")


class Cluster:
    """Gateway documents with compare-and-swap, and WriteRecords that remembers every record by its line."""

    def __init__(self) -> None:
        self.docs: dict[str, str] = {}
        self.written: list[str] = []  # the Time of every record written, in order (duplicates included)
        self.fail_writes: Callable[[int], Exception | None] = lambda n: None
        self.lose_put_replies = 0
        self.on_write: Callable[[], None] = lambda: None
        self.lock = threading.Lock()

    # the SDK calls the gateway makes
    def gateway_document(self, kind: str, doc_id: str) -> str:
        return self.docs.get(doc_id, "")

    def gateway_documents(self, kind: str) -> list[tuple[str, str]]:
        return sorted(self.docs.items())

    def put_gateway_document(self, kind: str, doc_id: str, text: str, expected: str = "") -> tuple[bool, str]:
        with self.lock:
            if self.docs.get(doc_id, "") != expected:
                return False, self.docs.get(doc_id, "")
            self.docs[doc_id] = text
            if self.lose_put_replies:  # the write landed, the reply was lost, the SDK tried again
                self.lose_put_replies -= 1
                return False, text
            return True, text

    def describe_table(self, db: str, table: str) -> object:
        if table != "t":
            raise errors.NotFound(f"The table {table} does not exist.")
        return object()

    def write_records(self, db: str, table: str, records: list[dict[str, Any]]) -> common_pb2.RecordsIngested:
        self.on_write()
        failure = self.fail_writes(len(self.written))
        if failure is not None:
            raise failure
        self.written += [r["Time"] for r in records]
        return common_pb2.RecordsIngested(total=len(records), memory_store=len(records))

    def close(self) -> None:
        pass

    def task(self, task_id: str) -> dict[str, Any]:
        return dict(json.loads(self.docs[task_id]))


class Store:
    def __init__(self, root: Path) -> None:
        self.root = root

    def filesystem(self) -> pafs.FileSystem:
        return pafs.SubTreeFileSystem(str(self.root), pafs.LocalFileSystem())


@pytest.fixture()
def cluster(tmp_path: Path) -> Cluster:
    (tmp_path / BUCKET / "in").mkdir(parents=True)
    lines = ["time,host,measure_name,cpu"] + [f"{1_700_000_000_000 + i},h{i % 7},m,{i}.5" for i in range(ROWS)]
    (tmp_path / BUCKET / "in" / "a.csv").write_text("\n".join(lines[:301]) + "\n")
    (tmp_path / BUCKET / "in" / "b.csv").write_text("\n".join([lines[0], *lines[301:]]) + "\n")
    return Cluster()


@pytest.fixture()
def gateway(cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    monkeypatch.setattr(batch_load_task, "HEARTBEAT_S", 0.05)
    monkeypatch.setattr(batch_load_run, "WRITE_BACKOFF_S", 0.001)
    gw = Gateway(cluster, "000000000000", Store(tmp_path))  # type: ignore[arg-type]
    gw.start_background = lambda fn: None  # type: ignore[method-assign]  # the tests run tasks themselves
    yield gw
    gw.close()


def _request(**extra: Any) -> dict[str, Any]:
    return {"TargetDatabaseName": "db", "TargetTableName": "t", "RecordVersion": 1,
            "DataModelConfiguration": {"DataModel": {
                "TimeColumn": "time", "DimensionMappings": [{"SourceColumn": "host"}], "MeasureNameColumn": "measure_name",
                "MultiMeasureMappings": {"MultiMeasureAttributeMappings": [{"SourceColumn": "cpu"}]}}},
            "DataSourceConfiguration": {"DataSourceS3Configuration": {"BucketName": BUCKET, "ObjectKeyPrefix": "in/"},
                                        "DataFormat": "CSV"},
            "ReportConfiguration": {"ReportS3Configuration": {"BucketName": BUCKET, "ObjectKeyPrefix": "reports"}},
            **extra}


def _create(gw: Gateway, **extra: Any) -> str:
    return str(asyncio.run(batch_load.create_batch_load_task(gw, CALLER, _request(**extra)))["TaskId"])


def _describe(gw: Gateway, task_id: str) -> dict[str, Any]:
    out = asyncio.run(batch_load.describe_batch_load_task(gw, CALLER, {"TaskId": task_id}))
    return dict(out["BatchLoadTaskDescription"])


def test_an_outage_stops_the_task_resumable_with_its_counts_and_it_resumes_where_it_stopped(
        gateway: Gateway, cluster: Cluster) -> None:
    cluster.fail_writes = lambda n: errors.Unavailable("cluster down") if n >= 200 else None
    task_id = _create(gateway)
    batch_load_task.run(gateway, task_id)
    stopped = _describe(gateway, task_id)
    assert stopped["TaskStatus"] == "PROGRESS_STOPPED" and "stayed unavailable" in stopped["ErrorMessage"]
    assert stopped["ProgressReport"]["RecordsIngested"] == 200 and stopped["ResumableUntil"]

    cluster.fail_writes = lambda n: None
    asyncio.run(batch_load.resume_batch_load_task(gateway, CALLER, {"TaskId": task_id}))
    assert _describe(gateway, task_id)["TaskStatus"] == "PENDING_RESUME"
    batch_load_task.run(gateway, task_id)
    done = _describe(gateway, task_id)
    assert done["TaskStatus"] == "SUCCEEDED" and "ErrorMessage" not in done
    assert done["ProgressReport"]["RecordsIngested"] == ROWS and done["ProgressReport"]["RecordsProcessed"] >= ROWS
    assert sorted(set(cluster.written)) == sorted(cluster.written)  # nothing acknowledged was written again
    assert len(cluster.written) == ROWS


def test_a_lost_reply_to_the_create_and_to_the_claim_still_runs_the_task_once(
        gateway: Gateway, cluster: Cluster) -> None:
    cluster.lose_put_replies = 1
    task_id = _create(gateway)
    cluster.lose_put_replies = 1
    batch_load_task.run(gateway, task_id)
    assert _describe(gateway, task_id)["TaskStatus"] == "SUCCEEDED"
    assert len(cluster.written) == ROWS


def test_a_task_another_gateway_took_over_is_left_to_it(gateway: Gateway, cluster: Cluster) -> None:
    task_id = _create(gateway)

    def taken_over() -> None:
        if len(cluster.written) == 100:  # another gateway resumed it, thinking this one gone
            task = cluster.task(task_id)
            cluster.docs[task_id] = json.dumps({**task, "Owner": "other", "Heartbeat": time.time()})
        time.sleep(0.1)  # two heartbeats a write: the next one finds the task taken

    cluster.on_write = taken_over
    batch_load_task.run(gateway, task_id)
    task = cluster.task(task_id)
    assert (task["Owner"], task["TaskStatus"]) == ("other", "IN_PROGRESS")  # never overwritten by this one
    assert len(cluster.written) < ROWS  # it stopped at its next check


def test_a_deleted_table_fails_the_task_with_its_counts(gateway: Gateway, cluster: Cluster) -> None:
    cluster.fail_writes = lambda n: errors.NotFound("The table t does not exist.") if n >= 300 else None
    task_id = _create(gateway)
    batch_load_task.run(gateway, task_id)
    task = _describe(gateway, task_id)
    assert task["TaskStatus"] == "FAILED" and "does not exist" in task["ErrorMessage"]
    assert task["ProgressReport"]["RecordsIngested"] == 300


def test_a_stopping_gateway_releases_its_task_resumable(gateway: Gateway, cluster: Cluster) -> None:
    cluster.on_write = lambda: gateway.stopping.set() if len(cluster.written) >= 100 else None
    task_id = _create(gateway)
    batch_load_task.run(gateway, task_id)
    task = _describe(gateway, task_id)
    assert task["TaskStatus"] == "PROGRESS_STOPPED" and "stopped" in task["ErrorMessage"]


def test_the_heartbeat_beats_while_a_write_hangs(gateway: Gateway, cluster: Cluster) -> None:
    beats: list[float] = []

    def slow() -> None:
        if len(cluster.written) == 100 and not beats:
            first = cluster.task(task_id)["Heartbeat"]
            time.sleep(0.4)
            beats.append(cluster.task(task_id)["Heartbeat"] - first)

    cluster.on_write = slow
    task_id = _create(gateway)
    batch_load_task.run(gateway, task_id)
    assert beats and beats[0] > 0.1
    assert _describe(gateway, task_id)["TaskStatus"] == "SUCCEEDED"


def test_one_client_token_makes_one_task_and_the_quotas_hold(gateway: Gateway, cluster: Cluster) -> None:
    first = _create(gateway, ClientToken="same")
    assert _create(gateway, ClientToken="same") == first and len(cluster.docs) == 1
    for _ in range(batch_load.MAX_ACTIVE_PER_TABLE - 1):
        _create(gateway)
    with pytest.raises(errors.QuotaExceeded, match="the limits are 10 and 5 per table"):
        _create(gateway)
    with pytest.raises(errors.ValidationError, match="RecordVersion 0 is below 1"):
        _create(gateway, RecordVersion=0)


def test_a_gateway_cut_off_from_the_catalog_stops_before_others_take_the_task(
        gateway: Gateway, cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch_load_task, "STALE_S", 0.4)
    task_id = _create(gateway)
    real_put = cluster.put_gateway_document

    def unreachable(kind: str, doc_id: str, text: str, expected: str = "") -> tuple[bool, str]:
        if len(cluster.written) >= 100:
            raise errors.Unavailable("discovery unreachable")
        return real_put(kind, doc_id, text, expected)

    cluster.put_gateway_document = unreachable  # type: ignore[method-assign]
    cluster.on_write = lambda: time.sleep(0.1)
    batch_load_task.run(gateway, task_id)  # logs the failed last save; never raises
    assert 100 <= len(cluster.written) < ROWS
    assert cluster.task(task_id)["TaskStatus"] == "IN_PROGRESS"  # as last saved: others read it as stale


def test_list_pages_follow_the_last_task_listed_so_they_never_shift(gateway: Gateway, cluster: Cluster) -> None:
    ids = [_create(gateway) for _ in range(5)]
    for n, task_id in enumerate(ids):  # distinct creation times, in order
        cluster.docs[task_id] = json.dumps({**cluster.task(task_id), "CreationTime": 1000.0 + n})

    def page(**p: Any) -> dict[str, Any]:
        return dict(asyncio.run(batch_load.list_batch_load_tasks(gateway, CALLER, p)))

    first = page(MaxResults=2)
    assert [t["TaskId"] for t in first["BatchLoadTasks"]] == ids[:2]
    # A listed task finishes before the next page: with a status filter an offset would skip a task.
    cluster.docs[ids[0]] = json.dumps({**cluster.task(ids[0]), "TaskStatus": "SUCCEEDED"})
    second = page(MaxResults=2, NextToken=first["NextToken"], TaskStatus="CREATED")
    assert [t["TaskId"] for t in second["BatchLoadTasks"]] == ids[2:4]
    last = page(MaxResults=2, NextToken=second["NextToken"])
    assert [t["TaskId"] for t in last["BatchLoadTasks"]] == ids[4:] and "NextToken" not in last
    with pytest.raises(errors.ValidationError, match="NextToken"):
        page(NextToken="garbage")
