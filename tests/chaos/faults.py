"""Faults against a real local cluster. Each one is injected, held for a while, then healed; the cluster
keeps serving the chaos writer and reader throughout."""

from __future__ import annotations

import shutil
import signal
from collections.abc import Callable
from dataclasses import dataclass

from tessera.cluster import LocalCluster, Process
from tessera.faultproxy import Mode

Heal = Callable[[], None]


@dataclass(frozen=True)
class Fault:
    """A named fault on one role: ``inject(cluster, cell)`` breaks something and returns how to heal it
    (``cell``: the cell owning the ledger table)."""

    name: str
    role: str
    inject: Callable[[LocalCluster, str], Heal]
    cells: int = 1
    """Cells the cluster needs for this fault."""


def _kill(nodes: list[Process], cluster: LocalCluster) -> Heal:
    for node in nodes:
        cluster.kill(node.name, signal.SIGKILL)

    def heal() -> None:
        for node in nodes:
            cluster.restart(node.name)
    return heal


def _pause(nodes: list[Process], cluster: LocalCluster) -> Heal:
    for node in nodes:
        cluster.kill(node.name, signal.SIGSTOP)

    def heal() -> None:
        for node in nodes:
            cluster.kill(node.name, signal.SIGCONT)
    return heal


def _wipe(node: Process, cluster: LocalCluster) -> Heal:
    cluster.kill(node.name, signal.SIGKILL)
    shutil.rmtree(cluster.spec.data_dir / "storage" / node.name, ignore_errors=True)
    return lambda: cluster.restart(node.name)


def kill(role: str, index: int = 0) -> Fault:
    return Fault(f"SIGKILL {role} #{index}", role,
                 lambda c, cell: _kill([c.nodes(role, cell)[index]], c))


def pause(role: str, index: int = 0) -> Fault:
    return Fault(f"SIGSTOP {role} #{index}", role,
                 lambda c, cell: _pause([c.nodes(role, cell)[index]], c))


def wipe_storage(index: int = 0) -> Fault:
    return Fault(f"storage #{index} restarted with a wiped data directory", "storage",
                 lambda c, cell: _wipe(c.nodes("storage", cell)[index], c))


def two_storage_down() -> Fault:
    return Fault("SIGKILL two storage replicas", "storage",
                 lambda c, cell: _kill(c.nodes("storage", cell)[:2], c))


def _partition(node: Process, cluster: LocalCluster, mode: Mode) -> Heal:
    cluster.partition(node.name, mode)
    return lambda: cluster.partition(node.name, "open")


def partition(role: str, index: int = 0, mode: Mode = "blackhole") -> Fault:
    """Traffic to one node cut at its fault proxy (the node runs on and keeps its lease)."""
    how = "dropped" if mode == "blackhole" else "reset"
    return Fault(f"partition {role} #{index} (traffic to it {how})", role,
                 lambda c, cell: _partition(c.nodes(role, cell)[index], c, mode))


def _other_cell_down(cluster: LocalCluster, cell: str) -> Heal:
    others = [p for p in cluster.processes.values() if p.cell and p.cell != cell]
    if not others:
        raise RuntimeError("the cluster has no cell besides the ledger's: start it with two cells")
    return _kill(others, cluster)


def other_cell_down() -> Fault:
    """Every node of the cell that does not own the ledger table killed: cell isolation says the ledger's
    writes and reads do not notice."""
    return Fault("SIGKILL every node of the other cell", "cell", _other_cell_down, cells=2)


def _cell_crash(cluster: LocalCluster, cell: str) -> Heal:
    # Storage first on the way back, as after a power cut: ingest and query nodes find their replicas up.
    return _kill([*cluster.nodes("storage", cell), *cluster.nodes("ingest", cell), *cluster.nodes("query", cell)],
                 cluster)


def cell_crash() -> Fault:
    """Every storage, ingest and query node of the ledger's cell killed at the same moment, then restarted:
    every write acknowledged before the crash must come back from the replicas' write-ahead logs."""
    return Fault("SIGKILL every node of the ledger's cell at once, then restart them", "cell", _cell_crash)


def discovery_killed() -> Fault:
    """Discovery killed and restarted on its port: cells serve from what they know meanwhile."""
    return Fault("SIGKILL discovery", "discovery", lambda c, cell: _kill([c.processes["discovery"]], c))


def etcd_paused() -> Fault:
    return Fault("SIGSTOP etcd", "etcd", lambda c, cell: _pause([c.processes["etcd"]], c))


SHORT = (kill("storage", 0), pause("storage", 1), wipe_storage(2), kill("ingest", 0), kill("query", 0),
         etcd_paused(), partition("storage", 2))
"""The CI pass: one fault of each kind on each role a single failure may hit."""

FULL = (*SHORT, kill("storage", 1), pause("ingest", 1), pause("query", 1), wipe_storage(0),
        partition("ingest", 0), partition("query", 1), partition("storage", 0, "reject"), other_cell_down(),
        discovery_killed(), two_storage_down(), cell_crash())
"""The matrix of ``python -m tests.chaos``."""
