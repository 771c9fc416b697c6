"""One chaos run: a real local cluster, the ledger writer and a reader running throughout, each fault injected,
held and healed in turn, then every replica checked against the ledger once they have converged."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tessera.client import Client
from tessera.cluster import ClusterSpec, LocalCluster
from tests.chaos.checker import ReadTally, check_read, wait_converged
from tests.chaos.faults import Fault
from tests.chaos.ledger import Ledger, Writer

STORAGE_ARGS = ("--repair-interval-s", "2")


@dataclass
class FaultReport:
    fault: str
    role: str
    writes_acked: int = 0
    writes_failed: int = 0
    reads_answered: int = 0
    reads_failed: int = 0
    wrong_reads: list[str] = field(default_factory=list)

    @property
    def write_availability(self) -> float:
        done = self.writes_acked + self.writes_failed
        return self.writes_acked / done if done else 1.0

    @property
    def read_availability(self) -> float:
        done = self.reads_answered + self.reads_failed
        return self.reads_answered / done if done else 1.0


@dataclass
class RunReport:
    faults: list[FaultReport]
    counts: dict[str, int]
    converge_s: float
    replicas_checked: int
    acked_keys: int
    lost: list[str]
    wrong_on_replicas: list[str]
    rejected_visible: list[str]
    writer_errors: list[str]

    @property
    def violations(self) -> list[str]:
        """Everything the contract forbids, in words (empty: the run passed)."""
        out = [f"acknowledged record missing: {x}" for x in self.lost[:20]]
        out += [f"replica holds a wrong value: {x}" for x in self.wrong_on_replicas[:20]]
        out += [f"rejected value visible: {x}" for x in self.rejected_visible[:20]]
        out += [f"wrong read during {f.fault}: {w}" for f in self.faults for w in f.wrong_reads[:5]]
        for kind, bad in (("conflict", "acked"), ("retry", "rejected"), ("upsert", "rejected"), ("new", "rejected")):
            if self.counts.get(f"{kind}_{bad}"):
                out.append(f"{self.counts[f'{kind}_{bad}']} {kind} writes were {bad}")
        return out

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        for f, raw in zip(self.faults, body["faults"]):
            raw["write_availability"] = f.write_availability
            raw["read_availability"] = f.read_availability
        body["violations"] = self.violations
        return body


class _Reader:
    def __init__(self, client: Client, db: str, table: str, ledger: Ledger) -> None:
        self._args = (client, db, table, ledger)
        self._rng = random.Random(11)
        self.tally = ReadTally()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-reader", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            check_read(*self._args, self._rng, self.tally)
            time.sleep(0.1)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(120)


def run(data_dir: Path, faults: Sequence[Fault], hold_s: float, gap_s: float, converge_timeout_s: float = 60.0,
        cells: Sequence[str] = ("cell-a",)) -> RunReport:
    """Start a cluster, run the writer and reader through every fault, heal, converge, check."""
    if len(cells) < max(f.cells for f in faults):
        cells = tuple(f"cell-{chr(ord('a') + i)}" for i in range(max(f.cells for f in faults)))
    spec = ClusterSpec(data_dir=data_dir, cells=tuple(cells), lease_ttl_s=4, storage_args=STORAGE_ARGS,
                       fault_proxies=True)
    cluster = LocalCluster(spec)
    cluster.start()
    try:
        with Client(cluster.discovery_address, timeout_s=20, attempts=6) as client:
            client.create_database("chaos")
            client.create_table("chaos", "ledger", memory_retention_hours=12)
            cell = client.route("chaos", "ledger").ranges[0].cell
            ledger = Ledger()
            writer = Writer(client, "chaos", "ledger", ledger)
            reader = _Reader(client, "chaos", "ledger", ledger)
            writer.start()
            reader.start()
            reports = []
            try:
                time.sleep(gap_s)
                for fault in faults:
                    reports.append(_hold(cluster, cell, fault, ledger, reader, hold_s))
                    time.sleep(gap_s)
            finally:
                writer.stop()
                reader.stop()
            check, took = wait_converged(cluster, client, "chaos", "ledger", ledger, converge_timeout_s)
            return RunReport(reports, ledger.counts(), round(took, 1), check.replicas, check.acked_keys,
                             check.missing, check.wrong, check.rejected_visible, writer.errors[:20])
    finally:
        cluster.stop()


def _hold(cluster: LocalCluster, cell: str, fault: Fault, ledger: Ledger, reader: _Reader,
          hold_s: float) -> FaultReport:
    before = ledger.counts()
    reads = (reader.tally.answered, reader.tally.errors, len(reader.tally.wrong))
    heal = fault.inject(cluster, cell)
    try:
        time.sleep(hold_s)
    finally:
        heal()
    after = ledger.counts()
    report = FaultReport(fault.name, fault.role)
    report.writes_acked = after["acked"] - before["acked"]
    report.writes_failed = sum(after[k] - before[k] for k in after if k.endswith("_failed"))
    report.reads_answered = reader.tally.answered - reads[0]
    report.reads_failed = reader.tally.errors - reads[1]
    report.wrong_reads = reader.tally.wrong[reads[2]:]
    return report
