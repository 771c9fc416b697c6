"""Cell membership: removing a member for good, and what the registry refuses."""

from __future__ import annotations

import asyncio

import pytest

from services.discovery.kv import MemoryStore
from services.discovery.registry import Registry
from tessera import errors
from tessera.v1 import common_pb2


def node(node_id: str, zone: str, role: str = "storage") -> common_pb2.NodeInfo:
    return common_pb2.NodeInfo(node_id=node_id, cell="c1", role=role, zone=zone, address=f"127.0.0.1:1{len(node_id)}")


async def cell_of(registry: Registry, *members: common_pb2.NodeInfo) -> dict[str, int]:
    """Register every member; return their leases by id."""
    return {m.node_id: await registry.register(m, 10) for m in members}


def test_a_dead_member_is_removed_for_good_and_may_not_rejoin() -> None:
    async def run() -> None:
        store = MemoryStore()
        registry = Registry(store)
        leases = await cell_of(registry, node("a1", "a"), node("a2", "a"), node("b1", "b"), node("c1", "c"))
        await registry.deregister(leases["a1"])  # stopped: no longer live
        removed = await registry.remove("c1", "a1")
        assert removed.node_id == "a1" and removed.zone == "a"
        (cell,) = await registry.cells("c1")
        assert sorted(n.node_id for n in cell.nodes) == ["a2", "b1", "c1"]
        with pytest.raises(errors.FailedPrecondition, match="removed storage node cannot rejoin"):
            await registry.register(node("a1", "a"), 10)
        assert (await registry.remove("c1", "a1")).node_id == "a1"  # a retried removal answers the same
        with pytest.raises(errors.NotFound, match="no member zz"):
            await registry.remove("c1", "zz")
        with pytest.raises(errors.FailedPrecondition, match="removed storage node cannot rejoin"):
            await registry.keep_alive(leases["a1"], node("a1", "a"), 10)  # a forced-out node is told, and stops

    asyncio.run(run())


def test_a_live_member_is_removed_only_when_forced() -> None:
    async def run() -> None:
        registry = Registry(MemoryStore())
        await cell_of(registry, node("a1", "a"), node("a2", "a"), node("b1", "b"), node("c1", "c"),
                      node("q1", "a", role="query"), node("q2", "b", role="query"))
        with pytest.raises(errors.FailedPrecondition, match="is live: stop it"):
            await registry.remove("c1", "a1")
        (cell,) = await registry.cells("c1")
        assert "a1" in {n.node_id for n in cell.nodes}  # refused: nothing changed
        await registry.remove("c1", "a1", force=True)
        await registry.remove("c1", "q1", force=True)  # not storage: no zone rule, no tombstone
        with pytest.raises(errors.FailedPrecondition, match="q2 is the last query node of cell c1"):
            await registry.remove("c1", "q2", force=True)
        (cell,) = await registry.cells("c1")
        assert sorted(n.node_id for n in cell.nodes) == ["a2", "b1", "c1", "q2"]
        await registry.register(node("q1", "a", role="query"), 10)  # a stateless node may come back

    asyncio.run(run())


def test_a_storage_node_of_a_cell_with_more_than_three_zones_is_not_removed() -> None:
    async def run() -> None:
        registry = Registry(MemoryStore())
        leases = await cell_of(registry, node("a1", "a"), node("b1", "b"), node("c1", "c"), node("d1", "d"),
                               node("d2", "d"))
        await registry.deregister(leases["d1"])
        with pytest.raises(errors.FailedPrecondition, match="4 zones; removing one moves tiles between zones"):
            await registry.remove("c1", "d1")

    asyncio.run(run())


def test_the_last_storage_node_of_a_zone_is_not_removed() -> None:
    async def run() -> None:
        registry = Registry(MemoryStore())
        leases = await cell_of(registry, node("a1", "a"), node("b1", "b"), node("c1", "c"))
        await registry.deregister(leases["b1"])
        with pytest.raises(errors.FailedPrecondition, match="would leave zone b of cell c1 without a storage node"):
            await registry.remove("c1", "b1")
        (cell,) = await registry.cells("c1")
        assert len(cell.nodes) == 3

    asyncio.run(run())
