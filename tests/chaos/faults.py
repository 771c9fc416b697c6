"""Faults against a real local cluster. Each one is injected, held for a while, then healed; the cluster
keeps serving the chaos writer and reader throughout."""

from __future__ import annotations

import shutil
import signal
from collections.abc import Callable
from dataclasses import dataclass

from tessera.cluster import LocalCluster, Process

Heal = Callable[[], None]


@dataclass(frozen=True)
class Fault:
    """A named fault on one role: ``inject(cluster, cell)`` breaks something and returns how to heal it."""

    name: str
    role: str
    inject: Callable[[LocalCluster, str], Heal]


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


def etcd_paused() -> Fault:
    return Fault("SIGSTOP etcd", "etcd", lambda c, cell: _pause([c.processes["etcd"]], c))


SHORT = (kill("storage", 0), pause("storage", 1), wipe_storage(2), kill("ingest", 0), kill("query", 0),
         etcd_paused())
"""The CI pass: one fault of each kind on each role a single failure may hit."""

FULL = (*SHORT, kill("storage", 1), pause("ingest", 1), pause("query", 1), wipe_storage(0), two_storage_down())
"""The matrix of ``python -m tests.chaos``."""
