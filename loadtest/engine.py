"""The storage engine seen from outside, for benchmarks: its Maintain test hook, its bytes on disk split by
tier, and per-process figures from ``/proc``.

- :func:`maintain` sends one ``Maintain`` request to each storage node (they must run with ``--test-hooks``)
  and :func:`settle` repeats flush + compaction rounds until a round moves nothing, so that what is on disk
  afterwards is the steady state of the data: segments, compacted, and a WAL holding no flushed entry.
- :func:`disk_use` splits a storage node's data directory (``services.storage.tilestore``'s layout) into
  ``wal/``, ``magnetic/`` and anything else, in allocated bytes (``du``).
- :func:`rss_bytes` and :func:`cpu_seconds` read one process's resident memory and CPU time.
"""

from __future__ import annotations

import os
import pathlib
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import grpc

from loadtest.peers.runner import du_bytes
from tessera.v1 import storage_pb2, storage_pb2_grpc

MAINTAIN_TIMEOUT_S = 600.0
"""A flush of millions of rows plus compaction takes minutes on a busy 2-core machine."""
SETTLE_MAX_ROUNDS = 6
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


# --- the Maintain test hook -------------------------------------------------------------------------------


def maintain(addresses: Sequence[str], *, flush_all: bool = False, compact: bool = False, expire: bool = False,
             timeout_s: float = MAINTAIN_TIMEOUT_S) -> dict[str, storage_pb2.MaintainResponse]:
    """One maintenance round on each storage node, one after another; the answers by address.

    Every node must run with ``--test-hooks``; a node without them answers FAILED_PRECONDITION, raised here.
    """
    out: dict[str, storage_pb2.MaintainResponse] = {}
    for address in addresses:
        with grpc.insecure_channel(address) as channel:
            request = storage_pb2.MaintainRequest(flush_all=flush_all, compact=compact, expire=expire)
            out[address] = storage_pb2_grpc.StorageStub(channel).Maintain(request, timeout=timeout_s)
    return out


@dataclass(frozen=True)
class Settled:
    """What :func:`settle` did: rounds run, and totals over nodes and rounds."""

    rounds: int
    flushed_rows: int
    flushed_segments: int
    compacted_segments: int
    memory_bytes: int
    """Memory-store bytes still held, summed over nodes, after the last round (0 when all is flushed)."""


def settle(addresses: Sequence[str], max_rounds: int = SETTLE_MAX_ROUNDS) -> Settled:
    """Flush every memory store and compact, round after round, until a round flushes and compacts nothing."""
    rounds = rows = segments = compacted = 0
    memory = 0
    while rounds < max_rounds:
        answers = maintain(addresses, flush_all=True, compact=True).values()
        rounds += 1
        moved = sum(a.flushed_rows for a in answers), sum(a.compacted_segments for a in answers)
        rows += moved[0]
        segments += sum(a.flushed_segments for a in answers)
        compacted += moved[1]
        memory = sum(a.memory_bytes for a in answers)
        if moved == (0, 0):
            break
    return Settled(rounds, rows, segments, compacted, memory)


# --- bytes on disk ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiskUse:
    """Allocated bytes of one storage node's data directory (or a sum of several), by what holds them."""

    wal: int = 0
    magnetic: int = 0
    other: int = 0

    @property
    def total(self) -> int:
        """Every byte of the directory."""
        return self.wal + self.magnetic + self.other

    def __add__(self, other: DiskUse) -> DiskUse:
        return DiskUse(self.wal + other.wal, self.magnetic + other.magnetic, self.other + other.other)


def disk_use(node_dir: pathlib.Path) -> DiskUse:
    """``du`` of a storage node's directory: ``wal/``, ``magnetic/`` and the rest (the directory entries)."""
    wal, magnetic = du_bytes(node_dir / "wal"), du_bytes(node_dir / "magnetic")
    return DiskUse(wal, magnetic, max(du_bytes(node_dir) - wal - magnetic, 0))


def total_disk(uses: Iterable[DiskUse]) -> DiskUse:
    """The sum of several nodes' disk use."""
    out = DiskUse()
    for use in uses:
        out = out + use
    return out


def cluster_disk(storage_root: pathlib.Path, names: Iterable[str]) -> dict[str, DiskUse]:
    """:func:`disk_use` of each named storage node under ``storage_root`` (``LocalCluster``'s layout)."""
    return {name: disk_use(storage_root / name) for name in names}


class DiskSampler:
    """Samples the summed :func:`disk_use` of some storage nodes every ``interval_s`` in a daemon thread."""

    def __init__(self, node_dirs: Sequence[pathlib.Path], interval_s: float = 10.0) -> None:
        self._dirs = list(node_dirs)
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.samples: list[tuple[float, DiskUse]] = []
        """(Unix time, summed disk use) in time order."""

    def sample(self) -> DiskUse:
        """Take one sample now (also recorded)."""
        use = total_disk(disk_use(d) for d in self._dirs)
        self.samples.append((time.time(), use))
        return use

    def start(self) -> None:
        """Start sampling."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="disk-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.sample()

    def stop(self) -> None:
        """Stop sampling; safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None


def human(n: float) -> str:
    """Bytes as B, KiB, MiB or GiB."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


# --- one process ------------------------------------------------------------------------------------------


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (``/proc/<pid>/statm``), 0 once it has exited."""
    try:
        return int(pathlib.Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (``/proc/<pid>/stat``), 0 once it has exited."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def cpu_seconds_of(pids: Mapping[str, int]) -> dict[str, float]:
    """:func:`cpu_seconds` of each named process."""
    return {name: cpu_seconds(pid) for name, pid in pids.items()}
