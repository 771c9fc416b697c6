"""Anti-entropy's choice of what to repair: differences must hold still for a round (per table) before a
complete replica copies rows, a rebuilding one copies at once, and adjacent slices are read as one range."""

from __future__ import annotations

from typing import Any

from services.storage.antientropy import AntiEntropy, _Peer, _ranges
from services.storage.tilekey import TileKey
from tessera.v1 import common_pb2

KEY = TileKey("t", 0, 7)


def _engine() -> AntiEntropy:
    nothing: Any = None
    return AntiEntropy(nothing, list, lambda: True, nothing, list, interval_s=1, slice_s=60)


def _peer(slices: dict[tuple[TileKey, int], tuple[int, int]]) -> _Peer:
    return _Peer(common_pb2.NodeInfo(node_id="p"), True, slices)


def test_a_difference_is_repaired_once_it_held_still_for_a_round_per_table() -> None:
    engine = _engine()
    ours = {(KEY, 0): (10, 1)}
    peer = _peer({(KEY, 0): (11, 2), (KEY, 60): (1, 3)})
    assert engine._differences("t", ours, [peer], rebuilding=False) == []  # first sight: writes in flight?
    assert engine._differences("u", {}, [], rebuilding=False) == []  # another table does not reset it
    assert sorted(engine._differences("t", ours, [peer], rebuilding=False)) == [(KEY, 0), (KEY, 60)]
    moving = _peer({(KEY, 0): (12, 4), (KEY, 60): (1, 3)})
    assert engine._differences("t", ours, [moving], rebuilding=False) == []  # changed since: wait again
    assert sorted(engine._differences("t", ours, [moving], rebuilding=False)) == [(KEY, 0), (KEY, 60)]
    assert engine._differences("t", {(KEY, 0): (11, 2)}, [_peer({(KEY, 0): (11, 2)})], rebuilding=False) == []


def test_a_rebuilding_replica_repairs_every_difference_at_once() -> None:
    assert _engine()._differences("t", {}, [_peer({(KEY, 0): (5, 9)})], rebuilding=True) == [(KEY, 0)]


def test_adjacent_slices_are_read_as_one_range() -> None:
    assert _ranges([0, 60, 120, 300, 360], 60) == [(0, 180), (300, 420)]
    assert _ranges([], 60) == []
