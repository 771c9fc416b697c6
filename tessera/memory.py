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

import ctypes
import ctypes.util
from collections.abc import Mapping

M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD_BYTES = 256 * 1024 * 1024   # glibc's maximum: blocks up to this come from the heap
TRIM_THRESHOLD_BYTES = 1024 * 1024 * 1024  # free heap kept before it is given back to the kernel
TOP_PAD_BYTES = 64 * 1024 * 1024           # heap grown in steps of this, not page by page


def enabled(environ: Mapping[str, str]) -> bool:
    """Whether a process started with this environment keeps its heap (TESSERA_KEEP_HEAP, default on)."""
    return environ.get("TESSERA_KEEP_HEAP", "1") != "0"


def keep_heap_memory() -> bool:
    """Apply the settings to this process (glibc only); True when they took effect."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name)
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:  # not glibc (e.g. musl)
        return False
    return all(mallopt(option, value) == 1 for option, value in (
        (M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES), (M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES),
        (M_TOP_PAD, TOP_PAD_BYTES)))
