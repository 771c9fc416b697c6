"""The memory store's key index answers exactly like a dict of every key's winning (version, value hash)."""

from __future__ import annotations

import numpy as np
import pytest

from services.storage import keyindex
from services.storage.keyindex import KeyIndex


def check_against_a_dict(seed: int, batches: int = 30) -> None:
    rng = np.random.default_rng(seed)
    index = KeyIndex()
    reference: dict[tuple[int, int], tuple[int, int]] = {}
    for _ in range(batches):
        n = int(rng.integers(1, 200))
        series = rng.integers(0, 20, n).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        times = rng.integers(0, 50, n).astype(np.int64)
        versions = rng.integers(1, 4, n).astype(np.int64)
        vhashes = rng.integers(0, 1 << 63, n).astype(np.uint64)
        found = index.lookup(series, times)
        for i in range(n):
            want = reference.get((int(series[i]), int(times[i])))
            assert bool(found.held[i]) == (want is not None)
            if want is not None:
                assert (int(found.version[i]), int(found.vhash[i])) == want
        index.add(series, times, versions, vhashes)
        for s, t, v, h in zip(series.tolist(), times.tolist(), versions.tolist(), vhashes.tolist()):
            if (s, t) not in reference or (v, h) > reference[(s, t)]:
                reference[(s, t)] = (v, h)
    assert index.nbytes == 40 * len(index)


@pytest.mark.parametrize("seed", range(5))
def test_lookups_equal_a_dict_of_winning_versions_across_many_runs_and_upserts(seed: int) -> None:
    check_against_a_dict(seed)


def test_fingerprint_collisions_never_confuse_two_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keyindex, "key_fingerprints",
                        lambda series, times: (series % np.uint64(3)) ^ (times.astype(np.uint64) % np.uint64(2)))
    check_against_a_dict(11)


def test_the_all_new_check_has_no_false_negatives() -> None:
    index = KeyIndex()
    series = np.arange(100, dtype=np.uint64)
    times = np.arange(100, dtype=np.int64)
    index.add(series, times, np.ones(100, np.int64), np.zeros(100, np.uint64))
    prints = keyindex.key_fingerprints(series[[5]], times[[5]])
    assert index.might_hold_any(prints)
    assert not index.might_hold_any(keyindex.key_fingerprints(series[[5]], times[[6]]))
