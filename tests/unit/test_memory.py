"""The services' malloc settings take effect on this (glibc) platform."""

from __future__ import annotations

import subprocess
import sys


def test_keep_heap_memory_applies_on_glibc() -> None:
    # In a fresh interpreter, as a service calls it at start-up.
    done = subprocess.run([sys.executable, "-c", "from tessera import memory; print(memory.keep_heap_memory())"],
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True"


def test_tessera_keep_heap_0_turns_it_off_and_anything_else_leaves_it_on() -> None:
    from tessera import memory

    assert memory.enabled({}) and memory.enabled({"TESSERA_KEEP_HEAP": "1"})
    assert not memory.enabled({"TESSERA_KEEP_HEAP": "0"})


def test_a_bounded_heap_gives_freed_memory_back_to_the_kernel() -> None:
    # 200 MB of 1 MB blocks allocated and freed under the storage node's policy: resident memory comes back
    # down (with the services' default policy it would be kept for reuse, up to 1 GB).
    script = """
from tessera import memory
assert memory.keep_heap_memory(memory.BOUNDED_HEAP)
base = memory.resident_bytes()
blocks = [bytearray(1 << 20) for _ in range(200)]
grown = memory.resident_bytes()
del blocks
memory.release_free_heap()
print(base >> 20, grown >> 20, memory.resident_bytes() >> 20)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    base, grown, after = map(int, done.stdout.split())
    assert grown - base >= 190
    assert after - base < 40


def test_the_peak_watch_names_the_work_that_was_running_at_the_peak() -> None:
    import time

    import numpy as np

    from tessera.memory import PeakWatch, resident_bytes

    watch = PeakWatch(interval_s=0.01)
    watch.start()
    try:
        before = resident_bytes()
        with watch.activity("big"):
            block = np.ones(64 << 20, dtype=np.uint8)  # 64 MiB, touched
            time.sleep(0.2)
            del block
        peak, during = watch.take()
        assert peak >= before + (48 << 20) and during == ("big",)
        time.sleep(0.05)
        assert watch.take()[1] == ()  # taken: the watch started over, nothing is running now
    finally:
        watch.stop()
