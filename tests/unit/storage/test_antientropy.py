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
    return AntiEntropy(nothing, list, lambda: True, nothing, list, "me", interval_s=1, slice_s=60)


def _peer(slices: dict[tuple[TileKey, int], tuple[int, int]]) -> _Peer:
    return _Peer(common_pb2.NodeInfo(node_id="p"), True, slices)


def _due(engine: AntiEntropy, table: str, ours: dict[Any, tuple[int, int]], peer: _Peer,
         at_once: bool = False) -> list[Any]:
    differing = [s for s in set(ours) | set(peer.slices) if ours.get(s) != peer.slices.get(s)]
    return sorted(engine._due(table, differing, {KEY: [peer]}, ours, at_once))


def test_a_difference_is_repaired_once_it_held_still_for_a_round_per_table() -> None:
    engine = _engine()
    ours = {(KEY, 0): (10, 1)}
    peer = _peer({(KEY, 0): (11, 2), (KEY, 60): (1, 3)})
    assert _due(engine, "t", ours, peer) == []  # first sight: writes in flight?
    assert _due(engine, "u", {}, _peer({})) == []  # another table does not reset it
    assert _due(engine, "t", ours, peer) == [(KEY, 0), (KEY, 60)]
    moving = _peer({(KEY, 0): (12, 4), (KEY, 60): (1, 3)})
    assert _due(engine, "t", ours, moving) == []  # changed since: wait again
    assert _due(engine, "t", ours, moving) == [(KEY, 0), (KEY, 60)]
    assert _due(engine, "t", {(KEY, 0): (11, 2)}, _peer({(KEY, 0): (11, 2)})) == []


def test_a_rebuilding_replica_or_a_hint_repairs_every_difference_at_once_and_leaves_the_rounds_memory() -> None:
    engine = _engine()
    ours = {(KEY, 0): (10, 1)}
    peer = _peer({(KEY, 0): (5, 9)})
    assert _due(engine, "t", ours, peer) == []  # the periodic round saw it once
    assert _due(engine, "t", ours, peer, at_once=True) == [(KEY, 0)]
    assert _due(engine, "t", ours, peer) == [(KEY, 0)]  # the hint did not reset the round's memory


def test_adjacent_slices_are_read_as_one_range() -> None:
    assert _ranges([0, 60, 120, 300, 360], 60) == [(0, 180), (300, 420)]
    assert _ranges([], 60) == []
