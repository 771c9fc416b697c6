"""The exact key index of a memory store: (series, time) → (version, value hash), in numpy arrays.

A Python dict of every key costs ~100 bytes and an insert per row, and had to be built in one go when a batch
first met a stored key (a retry into a million-row tile: ~400 MB and most of a second on the event loop).
This index keeps 40 bytes a row, is maintained as rows arrive, and answers a whole batch with a few
vectorised searches:

- keys live in sorted runs (by a 64-bit fingerprint of the key, then exactly compared); an add appends one
  run, and the newest runs are merged while the one before is at most twice the size of the last (size
  tiers, as an LSM tree: O(log n) runs, each key merged O(log n) times);
- a key may appear more than once (an upsert adds the newer version): a lookup takes the winner under the
  dedup rule, the highest (version, value hash).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tessera import layout

MAX_RUNS = 24
BYTES_PER_KEY = 40
"""What the index holds per key: fingerprint, series, time, version, value hash (8 bytes each)."""
_U64 = npt.NDArray[np.uint64]
_I64 = npt.NDArray[np.int64]


def key_fingerprints(series: _U64, times: _I64) -> _U64:
    """A 64-bit fingerprint of each key (series, time); equal keys have equal fingerprints."""
    return layout.mix64(series ^ layout.mix64(times.astype(np.uint64)))


@dataclass(frozen=True)
class _Run:
    fp: _U64
    series: _U64
    time: _I64
    version: _I64
    vhash: _U64

    @classmethod
    def sorted(cls, series: _U64, times: _I64, versions: _I64, vhashes: _U64) -> _Run:
        fp = key_fingerprints(series, times)
        order = np.argsort(fp, kind="stable")
        return cls(fp[order], series[order], times[order], versions[order], vhashes[order])

    @property
    def nbytes(self) -> int:
        return BYTES_PER_KEY * len(self.fp)


@dataclass(frozen=True)
class Found:
    """Per queried key: whether it is held, and the winning version and value hash where it is."""

    held: npt.NDArray[np.bool_]
    version: _I64
    vhash: _U64


class KeyIndex:
    """Every key of one memory store (or of a segment, ``segment_keys``). ``add`` is not thread-safe (the
    tile's append lock serialises a memory store's users); ``lookup`` on an index no longer added to is safe
    from many threads at once (it only reads)."""

    def __init__(self) -> None:
        self._runs: list[_Run] = []

    def __len__(self) -> int:
        return sum(len(r.fp) for r in self._runs)

    @property
    def nbytes(self) -> int:
        """Bytes of the index's arrays."""
        return sum(r.nbytes for r in self._runs)

    def add(self, series: _U64, times: _I64, versions: _I64, vhashes: _U64) -> None:
        """Hold these keys (with their versions) too."""
        if len(series) == 0:
            return
        self._runs.append(_Run.sorted(series, times, versions, vhashes))
        while len(self._runs) > 1 and (len(self._runs[-2].fp) <= 2 * len(self._runs[-1].fp)
                                       or len(self._runs) > MAX_RUNS):
            last, before = self._runs.pop(), self._runs.pop()
            self._runs.append(_Run.sorted(*(np.concatenate([getattr(before, f), getattr(last, f)])
                                            for f in ("series", "time", "version", "vhash"))))

    def might_hold_any(self, fingerprints: _U64) -> bool:
        """False only if none of these fingerprints is held (the all-new fast path)."""
        for run in self._runs:
            if len(run.fp) == 0:
                continue
            pos = np.minimum(np.searchsorted(run.fp, fingerprints), len(run.fp) - 1)
            if bool(np.any(run.fp[pos] == fingerprints)):
                return True
        return False

    def lookup(self, series: _U64, times: _I64) -> Found:
        """The winning (version, value hash) held for each key of a batch."""
        n = len(series)
        held = np.zeros(n, dtype=bool)
        version = np.zeros(n, dtype=np.int64)
        vhash = np.zeros(n, dtype=np.uint64)
        fp = key_fingerprints(series, times)
        for run in self._runs:
            lo = np.searchsorted(run.fp, fp, "left")
            hi = np.searchsorted(run.fp, fp, "right")
            count = hi - lo
            one = np.nonzero(count == 1)[0]  # the common case, vectorised
            at = lo[one]
            same = (run.series[at] == series[one]) & (run.time[at] == times[one])
            idx, at = one[same], at[same]
            better = ~held[idx] | (run.version[at] > version[idx]) | (
                (run.version[at] == version[idx]) & (run.vhash[at] > vhash[idx]))
            idx, at = idx[better], at[better]
            held[idx], version[idx], vhash[idx] = True, run.version[at], run.vhash[at]
            for i in np.nonzero(count > 1)[0]:  # a key held twice (an upsert) or a fingerprint collision
                for j in range(int(lo[i]), int(hi[i])):
                    if run.series[j] != series[i] or run.time[j] != times[i]:
                        continue  # a fingerprint collision, not the key
                    candidate = (int(run.version[j]), int(run.vhash[j]))
                    if not held[i] or candidate > (int(version[i]), int(vhash[i])):
                        held[i] = True
                        version[i], vhash[i] = candidate
        return Found(held, version, vhash)
