"""glibc malloc settings for processes that move megabyte-sized messages all day.

By default glibc serves an allocation over its mmap threshold (128 KiB, rising adaptively) with a fresh
``mmap`` and returns it with ``munmap`` when freed. Every gRPC message, protobuf ``bytes`` field and Arrow
IPC payload of a write is such an allocation, so each one costs page faults and the kernel zeroing its
pages again: under bulk ingest that was a third of the machine's CPU (``perf``: ``clear_page_erms``,
``exc_page_fault``). Serving large blocks from the heap and keeping freed memory for reuse removes that
for a resident size bounded by the largest burst of in-flight messages: freed memory is kept (up to the
trim threshold) rather than returned to the kernel. ``TESSERA_KEEP_HEAP=0`` leaves glibc's defaults (for
small containers that need the memory back).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

MMAP_THRESHOLD_BYTES = 256 * 1024 * 1024   # glibc's maximum: blocks up to this come from the heap
TRIM_THRESHOLD_BYTES = 1024 * 1024 * 1024  # free heap kept before it is given back to the kernel
TOP_PAD_BYTES = 64 * 1024 * 1024           # heap grown in steps of this, not page by page

_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_LIBC_NAME = ctypes.util.find_library("c")
_LIBC = ctypes.CDLL(_LIBC_NAME) if _LIBC_NAME else None


def enabled(environ: Mapping[str, str]) -> bool:
    """Whether a process started with this environment keeps its heap (TESSERA_KEEP_HEAP, default on)."""
    return environ.get("TESSERA_KEEP_HEAP", "1") != "0"


@dataclass(frozen=True)
class HeapPolicy:
    """How much free heap a process keeps for reuse, and across how many glibc arenas."""

    trim_threshold_bytes: int = TRIM_THRESHOLD_BYTES
    arena_max: int = 0
    """At most this many malloc arenas (0: glibc's default, 8 per core): every thread that allocates may
    otherwise get an arena of its own, each holding its own free memory."""


FAST_HEAP = HeapPolicy()
"""The services' default: up to 1 GiB of free heap kept for reuse."""
BOUNDED_HEAP = HeapPolicy(trim_threshold_bytes=32 * 1024 * 1024, arena_max=2)
"""For a process that promises a memory limit (a storage node): large blocks still come from the heap, but
free memory beyond 32 MiB goes back to the kernel and two arenas serve every thread."""


def keep_heap_memory(policy: HeapPolicy = FAST_HEAP) -> bool:
    """Apply the settings to this process (glibc only); True when they took effect."""
    mallopt = getattr(_LIBC, "mallopt", None)
    if mallopt is None:  # not glibc (e.g. musl)
        return False
    settings = [(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES), (M_TRIM_THRESHOLD, policy.trim_threshold_bytes),
                (M_TOP_PAD, TOP_PAD_BYTES)]
    if policy.arena_max:
        settings.append((M_ARENA_MAX, policy.arena_max))
    return all(mallopt(option, value) == 1 for option, value in settings)


def resident_bytes() -> int:
    """This process's resident set size (Linux ``/proc/self/statm``); 0 where that file does not exist."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE_BYTES
    except (OSError, IndexError, ValueError):
        return 0


def release_free_heap() -> bool:
    """Give free heap pages back to the kernel now (glibc ``malloc_trim``); True when some were released."""
    if _LIBC is None or not hasattr(_LIBC, "malloc_trim"):
        return False
    return bool(_LIBC.malloc_trim(0))


class PeakWatch:
    """The highest resident memory between two looks, and what the process was doing then.

    A daemon thread reads ``/proc/self/statm`` every ``interval_s`` (a few microseconds each). Work that may
    take memory runs inside ``activity(name)``; ``take()`` returns the peak since the previous call with the
    activities running when it was sampled, and starts over. A periodic log line built from it shows the
    peaks that a line taken between rounds of work never sees."""

    def __init__(self, interval_s: float = 0.1) -> None:
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._running: Counter[str] = Counter()
        self._peak = 0
        self._during: tuple[str, ...] = ()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start sampling (idempotent)."""
        if self._thread is None:
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._sample, name="memory-peaks", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1.0)
            self._thread = None

    @contextlib.contextmanager
    def activity(self, name: str) -> Iterator[None]:
        """Mark a stretch of work, so that a peak sampled during it names it."""
        with self._lock:
            self._running[name] += 1
        try:
            yield
        finally:
            with self._lock:
                self._running[name] -= 1

    def take(self) -> tuple[int, tuple[str, ...]]:
        """(peak resident bytes, activities running then) since the last call; the watch starts over."""
        with self._lock:
            peak, during = self._peak, self._during
            self._peak, self._during = 0, ()
        return peak, during

    def _sample(self) -> None:
        while not self._stop.wait(self._interval_s):
            resident = resident_bytes()
            with self._lock:
                if resident > self._peak:
                    self._peak = resident
                    self._during = tuple(sorted(name for name, n in self._running.items() if n > 0))
