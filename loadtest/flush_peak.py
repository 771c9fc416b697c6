"""Resident memory a flush's encoding adds, in process: ``python -m loadtest.flush_peak``.

    python -m loadtest.flush_peak --hosts 1000 --repeats 3

One hour of TSBS two-decimal rows (``--hosts`` × 360 rows) cut into appends of 10,000 rows, as a memory
store holds them, is written as one segment two ways, alternating: ``selected`` is the engine's flush (the
chunks as they are plus ``dedup.latest_version_order``, which the encoder takes a column and a row group at a
time) and ``materialised`` the flush before it (``dedup.latest_versions`` copies every row in key order, then
the encoder reads the copy). A thread samples the process's resident set every 2 ms; printed are the peak
above the resident set before each flush, the seconds it took, and the file's bytes (equal both ways).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import threading
import time
from collections.abc import Callable

import pyarrow as pa

from loadtest.storage_size import build, tiles
from services.storage.segments import EncodedSegment, SegmentOptions, encode_segment
from tessera import dedup

APPEND_ROWS = 10_000


def _resident() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak(fn: Callable[[], EncodedSegment]) -> tuple[int, float, int]:
    """(peak resident bytes above the start, seconds, file bytes) of one call."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    base = _resident()
    peak = [base]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _resident())
            time.sleep(0.002)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.perf_counter()
    encoded = fn()
    seconds = time.perf_counter() - started
    done.set()
    watcher.join()
    return peak[0] - base, seconds, len(encoded.data)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m loadtest.flush_peak", description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--level", type=int, default=1, help="zstd level (the flush's default is 1)")
    a = p.parse_args(argv)
    data = build("tsbs", a.hosts, 2, two_decimals=True)
    hour = next(tiles(data.rows, 1)).combine_chunks()
    measures = list(data.measures)
    del data
    chunks = [hour.slice(lo, APPEND_ROWS) for lo in range(0, hour.num_rows, APPEND_ROWS)]
    options = SegmentOptions(compression_level=a.level)

    def selected() -> EncodedSegment:
        rows = pa.concat_tables(chunks)
        return encode_segment(rows, measures, options=options, order=dedup.latest_version_order(rows))

    def materialised() -> EncodedSegment:
        return encode_segment(dedup.latest_versions(pa.concat_tables(chunks)), measures, options=options)

    print(f"{hour.num_rows:,} rows, {hour.nbytes / 2**20:.0f} MiB in {len(chunks)} appends, zstd level {a.level}")
    print("| way | peak above start, MiB | seconds | file bytes |\n|---|---:|---:|---:|")
    for _ in range(a.repeats):
        for name, fn in (("selected", selected), ("materialised", materialised)):
            extra, seconds, size = _peak(fn)
            print(f"| {name} | {extra / 2**20:.0f} | {seconds:.2f} | {size:,} |")


if __name__ == "__main__":
    main()
