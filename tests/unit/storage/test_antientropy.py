"""Anti-entropy's choice of what to repair: differences must hold still for a round (per table) before a
complete replica copies rows, a rebuilding one copies at once, and adjacent slices are read as one range; a
replica whose zone lost a member rebuilds, even when the removal happened while it was down."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from services.storage.antientropy import MEMBERS_FILE, AntiEntropy, _Peer, _ranges
from services.storage.client import StoragePool
from services.storage.config import StorageConfig
from services.storage.tilekey import TileKey
from services.storage.tilestore import TileStore
from tessera.v1 import common_pb2

KEY = TileKey("t", 0, 7)
T = TypeVar("T")


def run_async(body: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(body)


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


def _members(*nodes: tuple[str, str]) -> list[common_pb2.NodeInfo]:
    return [common_pb2.NodeInfo(node_id=n, zone=z, role="storage") for n, z in nodes]


def test_a_member_of_its_zone_gone_makes_a_replica_rebuild_and_it_is_remembered_across_restarts(
        tmp_path: Path) -> None:
    async def run() -> list[str | None]:
        cell = {"view": _members(("a1", "a"), ("me", "a"), ("b1", "b"), ("c1", "c"))}
        seen: list[str | None] = []
        for restart in range(3):
            store = TileStore(StorageConfig(data_dir=tmp_path, tier_interval_s=0))
            await store.open()
            store.await_membership_check()
            engine = AntiEntropy(store, list, lambda: True, StoragePool(), lambda: cell["view"], "me", interval_s=1,
                                 slice_s=60)
            seen.append(store.incomplete_reason)  # before the first look: no complete vote
            if restart == 1:
                cell["view"] = [n for n in cell["view"] if n.node_id != "a1"]  # removed while this node was down
            if restart == 2:
                cell["view"] = [n for n in cell["view"] if n.node_id != "b1"]  # another zone's: nothing moves here
            await engine.note_membership()
            seen.append(store.incomplete_reason)
            await store.mark_complete()
            await store.close()
        return seen

    seen = run_async(run())
    assert seen[0] is not None and "membership" in seen[0] and seen[1] is None  # first look: nothing known
    assert seen[2] is not None and seen[3] is not None and "rebuilding" in seen[3]  # a1 (zone a) went
    assert seen[4] is not None and seen[5] is None  # b1 (zone b) went: no rebuild


def test_an_unreadable_record_of_the_members_is_taken_as_a_removal(tmp_path: Path) -> None:
    async def run() -> str | None:
        store = TileStore(StorageConfig(data_dir=tmp_path, tier_interval_s=0))
        await store.open()
        await store.mark_complete()
        store.store.put(MEMBERS_FILE, b"{not json")
        engine = AntiEntropy(store, list, lambda: True, StoragePool(), lambda: _members(("me", "a"), ("b1", "b"),
                             ("c1", "c")), "me", interval_s=1, slice_s=60)
        await engine.note_membership()
        reason = store.incomplete_reason
        await store.close()
        return reason

    reason = run_async(run())
    assert reason is not None and "rebuilding" in reason
