"""The services' malloc settings take effect on this (glibc) platform."""

from __future__ import annotations

import subprocess
import sys


def test_keep_heap_memory_applies_on_glibc() -> None:
    # In a fresh interpreter, as a service calls it at start-up.
    done = subprocess.run([sys.executable, "-c", "from tessera import memory; print(memory.keep_heap_memory())"],
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True"


def test_tessera_keep_heap_0_leaves_glibc_defaults() -> None:
    import os

    done = subprocess.run([sys.executable, "-c", "from tessera import memory; print(memory.keep_heap_memory())"],
                          capture_output=True, text=True, check=True, env={**os.environ, "TESSERA_KEEP_HEAP": "0"})
    assert done.stdout.strip() == "False"
