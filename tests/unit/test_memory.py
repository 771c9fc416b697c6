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
