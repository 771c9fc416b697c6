"""Group commit of the node WAL: ``python -m loadtest.wal_bench``.

    python -m loadtest.wal_bench --writers 64 --seconds 5 --payload 65536 [--segment-mb 64] [--dir DIR]
        [--loop uvloop|asyncio]

Each of ``--writers`` asyncio tasks appends a payload and awaits its sync, over and over, for ``--seconds``,
as the tiles of a storage node do: ``services.storage.nodewal.NodeLog``, one log for all writers, checkpointed
up to what is synced every 0.5 s (as the engine does after flushing) so that disk use stays bounded. Sync
latency is the time a writer waits in ``sync`` after its append. (The per-tile WAL files this log replaced
were compared side by side with ``--compare-per-file`` until they were removed; docs/benchmarks.md keeps
that figure.) The files go to a temporary directory under ``--dir`` (the
current directory by default: ``/tmp`` may be a tmpfs, where fsync costs nothing), removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from loadtest.histogram import Latency
from services.storage.nodewal import NodeLog

MIB = 1024 * 1024
CHECKPOINT_EVERY_S = 0.5


@dataclass(frozen=True)
class Result:
    """What one configuration did in its run."""

    name: str
    seconds: float
    appends: int
    payload_bytes: int
    fsyncs: int
    latency: Latency

    def figures(self) -> dict[str, float]:
        """The printed figures, by row name."""
        summary = self.latency.summary()
        return {
            "appends/s": self.appends / self.seconds,
            "MB/s": self.appends * self.payload_bytes / self.seconds / 1e6,
            "fsyncs/s": self.fsyncs / self.seconds,
            "entries per fsync": self.appends / self.fsyncs if self.fsyncs else 0.0,
            "sync p50 ms": summary.p50_ms,
            "sync p99 ms": summary.p99_ms,
        }


Append = Callable[[bytes], int]
Sync = Callable[[int], Awaitable[None]]


async def _write_until(deadline: float, payload: bytes, append: Append, sync: Sync, latency: Latency) -> int:
    """Append + sync in a loop until ``deadline``; return the appends made."""
    count = 0
    while time.monotonic() < deadline:
        lsn = append(payload)
        started = time.perf_counter()
        await sync(lsn)
        latency.record_seconds(time.perf_counter() - started)
        count += 1
    return count


async def run_node_log(directory: Path, writers: int, seconds: float, payload: bytes, segment_bytes: int) -> Result:
    """All writers share one NodeLog."""
    latency = Latency()
    log = NodeLog.open(directory, segment_bytes)
    started = time.monotonic()
    deadline = started + seconds
    checkpointer = asyncio.create_task(_checkpoint_until(log, deadline))
    counts = await asyncio.gather(*(_write_until(deadline, payload, log.append, log.sync, latency)
                                    for _ in range(writers)))
    elapsed = time.monotonic() - started
    await checkpointer
    await log.close()
    return Result("node log", elapsed, sum(counts), len(payload), log.fsync_count, latency)


async def _checkpoint_until(log: NodeLog, deadline: float) -> None:
    while time.monotonic() < deadline:
        await asyncio.sleep(CHECKPOINT_EVERY_S)
        await asyncio.to_thread(log.checkpoint, log.synced_lsn + 1)


def table(results: list[Result]) -> str:
    """The figures side by side, with the node log / per-file ratio when both ran."""
    rows = [r.figures() for r in results]
    head = f"{'':<20}" + "".join(f"{r.name:>14}" for r in results) + (f"{'ratio':>10}" if len(rows) == 2 else "")
    lines = [head]
    for key in rows[0]:
        line = f"{key:<20}" + "".join(f"{row[key]:>14,.2f}" for row in rows)
        if len(rows) == 2:
            line += f"{rows[0][key] / rows[1][key]:>9.2f}x" if rows[1][key] else f"{'-':>10}"
        lines.append(line)
    return "\n".join(lines)


def filesystem_of(path: Path) -> str:
    """Mount point and type of the file system holding ``path`` (from /proc/mounts)."""
    best = ("?", "?")
    resolved = str(path.resolve())
    with open("/proc/mounts") as f:
        for line in f:
            _, mount, fstype, *_ = line.split()
            if (resolved == mount or resolved.startswith(mount.rstrip("/") + "/")) and len(mount) >= len(best[0]):
                best = (mount, fstype)
    return f"{best[1]} at {best[0]}"


async def bench(args: argparse.Namespace, root: Path) -> list[Result]:
    """Run the node log."""
    payload = os.urandom(args.payload)
    return [await run_node_log(root / "wal", args.writers, args.seconds, payload, args.segment_mb * MIB)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m loadtest.wal_bench", description=__doc__.split("\n")[0])
    p.add_argument("--writers", type=int, default=64, help="concurrent append+sync tasks")
    p.add_argument("--seconds", type=float, default=5.0, help="duration of each run")
    p.add_argument("--payload", type=int, default=65536, help="bytes an entry")
    p.add_argument("--segment-mb", type=int, default=64, help="node log segment size")
    p.add_argument("--dir", type=Path, default=Path("."), help="where the temporary directory goes")
    p.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop", help="event loop (services: uvloop)")
    return p.parse_args(argv)


def run_loop(main: Coroutine[Any, Any, list[Result]], loop: str) -> list[Result]:
    """Run ``main`` on the chosen event loop."""
    if loop == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)


def main(argv: list[str] | None = None) -> None:
    """Run and print the figures with the command and the machine."""
    args = parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))  # no per-checkpoint lines
    with tempfile.TemporaryDirectory(prefix="wal-bench-", dir=args.dir) as tmp:
        root = Path(tmp)
        results = run_loop(bench(args, root), args.loop)
        where = filesystem_of(root)
    print(f"$ python -m loadtest.wal_bench {shlex.join(sys.argv[1:] if argv is None else argv)}")
    print(f"{args.writers} writers, {args.payload:,}-byte payloads, {args.seconds:g} s a run, "
          f"{args.loop}, {os.cpu_count()} CPUs, files on {where}")
    print(table(results))


if __name__ == "__main__":
    main()
