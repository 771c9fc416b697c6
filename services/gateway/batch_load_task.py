"""A batch-load task's life on the gateway that runs it: claim it, keep its catalog document current with a
heartbeat, run the loader, and record how it ended.

The document (a gateway document, kind ``batch-load-task``) is the task: every change is a compare-and-swap
on the text last written, so two gateways never both act on one. Statuses: CREATED or PENDING_RESUME (to be
claimed), IN_PROGRESS (claimed: ``Owner`` is the gateway process, ``Heartbeat`` its last sign of life, written
every HEARTBEAT_S by a thread of its own whatever the loader is doing), SUCCEEDED or FAILED (final), and
PROGRESS_STOPPED: written when a task stops on purpose (its gateway is stopping, or the cluster stayed
unavailable), and what any task reads as whose heartbeat is older than STALE_S (its gateway died). A
stopped task is resumed by ResumeBatchLoadTask from the last snapshot of its progress (``Resume``).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import structlog

from services.gateway import batch_load_run
from services.gateway.batch_load_run import Progress, Report, Snapshot, TaskStopped
from services.gateway.context import Gateway
from tessera import errors

log = structlog.get_logger()

KIND = "batch-load-task"
HEARTBEAT_S = 2.0
STALE_S = 60.0
"""A task whose heartbeat is older than this belongs to a gateway that is gone (30 heartbeats missed)."""
RESUMABLE_S = 15 * 86_400
"""How long a stopped task may be resumed."""
ACTIVE = frozenset({"CREATED", "IN_PROGRESS", "PENDING_RESUME"})


def status(task: dict[str, Any], now: float) -> str:
    """The task's status as callers see it: work whose gateway went silent is PROGRESS_STOPPED."""
    current = str(task["TaskStatus"])
    if current in ACTIVE and now - float(task.get("Heartbeat", task["LastUpdatedTime"])) > STALE_S:
        return "PROGRESS_STOPPED"
    return current


def put(gw: Gateway, task_id: str, text: str, expected: str) -> bool:
    """Compare-and-swap the task's document (blocking). A retried put whose first try landed finds its own
    text there: that counts as written."""
    written, current = gw.client.put_gateway_document(KIND, task_id, text, expected)
    return written or current == text


class _Claim:
    """This gateway's hold on a running task: the last text written, the loader's latest snapshot, and the
    heartbeat thread that saves it."""

    def __init__(self, gw: Gateway, task: dict[str, Any], text: str) -> None:
        self.gw, self.task, self.text = gw, task, text
        self._lock = threading.Lock()  # guards the snapshot: held for moments only
        self._saving = threading.Lock()  # one save at a time (heartbeat and the end), each a catalog round trip
        self._snapshot: Snapshot | None = None
        self._lost = threading.Event()
        self._saved_at = time.monotonic()
        self._done = threading.Event()
        self._beat: threading.Thread | None = None

    def save(self, **changes: Any) -> bool:
        """Write the task with ``changes`` (and the latest snapshot) if it is still ours; False when not."""
        with self._saving:
            with self._lock:
                snapshot = self._snapshot
            now = time.time()
            task = {**self.task, **changes, "LastUpdatedTime": now, "Heartbeat": now}
            if snapshot is not None:
                task["ProgressReport"] = snapshot.progress
                task["Resume"] = {"progress": snapshot.progress, "report": snapshot.report, "path": snapshot.path,
                                  "line": snapshot.line}
            text = json.dumps(task)
            if not put(self.gw, task["TaskId"], text, self.text):
                self._lost.set()
                return False
            self.task, self.text, self._saved_at = task, text, time.monotonic()
            return True

    def start_heartbeat(self) -> None:
        self._beat = threading.Thread(target=self._heartbeat, name=f"batch-load-{self.task['TaskId']}", daemon=True)
        self._beat.start()

    def stop_heartbeat(self) -> None:
        self._done.set()
        if self._beat is not None:
            self._beat.join()

    def _heartbeat(self) -> None:
        while not self._done.wait(HEARTBEAT_S):
            try:
                if not self.save():
                    return  # another gateway holds the task: the loader stops at its next check
            except errors.TesseraError as exc:  # discovery unreachable: try again at the next beat
                log.warning("batch load task heartbeat failed", task_id=self.task["TaskId"], error=exc.message)

    # -- what the loader calls (batch_load_run.Claim) --------------------------------------------------------
    def check(self) -> None:
        if self._lost.is_set():
            raise TaskStopped("another gateway holds the task")
        silent = time.monotonic() - self._saved_at
        if silent > STALE_S / 2:  # others will soon read the task as stopped and may resume it: stop first
            raise TaskStopped(f"the catalog could not be reached for {silent:.0f} s; resume the task with "
                              "ResumeBatchLoadTask")
        if self.gw.stopping.is_set():
            raise TaskStopped("the gateway running the task stopped; resume the task with ResumeBatchLoadTask")

    def record(self, snapshot: Snapshot) -> None:
        with self._lock:
            self._snapshot = snapshot

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def latest(self) -> tuple[Progress, Report]:
        """The counts and report of the latest snapshot (recorded, or saved before a resume)."""
        with self._lock:
            if self._snapshot is not None:
                return Progress.from_json(self._snapshot.progress), Report.from_state(self._snapshot.report)
        resume = self.task.get("Resume") or {}
        return Progress.from_json(resume.get("progress")), Report.from_state(resume.get("report"))


def run(gw: Gateway, task_id: str) -> None:
    """Claim the task and run it to its end (on a background thread). Never raises: whatever happens is
    logged and, where the task is still ours, written into it."""
    try:
        _run(gw, task_id)
    except Exception:  # a bug or an unreachable catalog before the claim: the task goes stale, then resumable
        log.exception("batch load task could not run", task_id=task_id)


def _run(gw: Gateway, task_id: str) -> None:
    text = gw.client.gateway_document(KIND, task_id)
    if not text:
        return
    task = json.loads(text)
    if task["TaskStatus"] not in ("CREATED", "PENDING_RESUME"):
        return
    claim = _Claim(gw, task, text)
    if not claim.save(TaskStatus="IN_PROGRESS", Owner=gw.instance_id):
        return
    claim.start_heartbeat()
    log.info("batch load task started", task_id=task_id, database=task["TargetDatabaseName"],
             table=task["TargetTableName"], resumed_at=task.get("Resume", {}).get("path", ""))
    try:
        end = _load(gw, claim)
    finally:
        claim.stop_heartbeat()
    if end is None:
        return
    final, changes = end
    if claim.save(TaskStatus=final, **changes):
        log.info("batch load task ended", task_id=task_id, status=final, **claim.task["ProgressReport"])


def _load(gw: Gateway, claim: _Claim) -> tuple[str, dict[str, Any]] | None:
    """Run the loader; the final status and the members to write with it (None: the task is not ours)."""
    task = claim.task
    assert gw.object_store is not None  # the task was created or resumed only with one
    fs = gw.object_store.filesystem()
    try:
        progress, report = batch_load_run.run(gw.client, fs, task, claim)
    except TaskStopped as stop:
        if claim.lost:
            log.info("batch load task stopped: another gateway holds it", task_id=task["TaskId"])
            return None
        log.warning("batch load task stopped", task_id=task["TaskId"], reason=str(stop))
        return "PROGRESS_STOPPED", {"ErrorMessage": str(stop)[:2048]}
    except errors.TesseraError as exc:  # the table or database is gone: the task cannot go on
        progress, report = claim.latest()
        report.task_errors.append(f"The task stopped: {exc.message}")
    message = ""
    if not report.empty():
        try:
            message = f"The task met errors; the error report is at {batch_load_run.write_report(fs, task, report)}"
        except OSError as exc:
            message = f"The task met errors, and its error report could not be written: {exc}"
        if report.task_errors:
            message = f"{report.task_errors[0]}. {message}"
    claim.record(Snapshot(progress.to_json(), report.to_state(), "", 0))
    if report.empty():
        return "SUCCEEDED", {}
    return "FAILED", {"ErrorMessage": message[:2048]}
