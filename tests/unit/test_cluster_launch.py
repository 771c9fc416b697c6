"""Processes a LocalCluster starts die with the process that started them, without Python between fork and exec."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tessera import cluster


def test_a_child_gets_sigterm_when_its_launcher_dies() -> None:
    assert cluster._SETPRIV is not None, "util-linux's setpriv (Essential in Debian) is missing"
    script = (
        "import subprocess, sys\n"
        "from tessera.cluster import _with_parent_death_signal\n"
        "child = subprocess.Popen(_with_parent_death_signal(['sleep', '60']), start_new_session=True)\n"
        "print(child.pid, flush=True)\n"
    )
    launcher = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                              cwd=os.getcwd())
    pid = int(launcher.stdout.split()[0])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return  # gone with its launcher
        time.sleep(0.05)
    os.kill(pid, 9)
    raise AssertionError("the child outlived its launcher by 5 s")
