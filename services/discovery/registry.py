"""The cell registry: persistent cell membership plus leased liveness."""

from __future__ import annotations

import asyncio
import json
import time

from google.protobuf import json_format

from services.discovery import keys
from services.discovery.kv import KeyValueStore
from tessera import errors
from tessera.v1 import common_pb2

ROLES = ("ingest", "storage", "query")
MIN_TTL_S, MAX_TTL_S = 2, 300


def _node_json(node: common_pb2.NodeInfo) -> bytes:
    return json_format.MessageToJson(node, preserving_proto_field_name=True).encode()


def _validate(node: common_pb2.NodeInfo, ttl: int) -> None:
    if node.role not in ROLES:
        raise errors.ValidationError(f"node.role '{node.role}' is invalid: expected one of {', '.join(ROLES)}")
    for field in ("node_id", "cell", "zone", "address"):
        if not getattr(node, field):
            raise errors.ValidationError(f"node.{field} is required")
    if not MIN_TTL_S <= ttl <= MAX_TTL_S:
        raise errors.ValidationError(f"ttl_seconds {ttl} is out of range: {MIN_TTL_S}..{MAX_TTL_S}")


class Registry:
    """Nodes join their cell for good (placement depends on it) and prove liveness under a lease."""

    def __init__(self, store: KeyValueStore) -> None:
        self._store = store
        self._membership = asyncio.Lock()
        """Registrations and removals one at a time: a removal reads the cell, checks it, then writes (one
        discovery process; several would need an etcd transaction over the cell)."""

    async def register(self, node: common_pb2.NodeInfo, ttl: int) -> int:
        """Record the node as a member of its cell and live under a fresh lease; refused for a storage node
        that was removed from its cell (its data is stale: it must join again under a new id, with an empty
        data directory)."""
        _validate(node, ttl)
        async with self._membership:
            await self._refuse_removed(node.cell, node.node_id)
            node = common_pb2.NodeInfo(**{f: getattr(node, f) for f in ("node_id", "cell", "role", "zone",
                                                                         "address")})
            await self._store.put(keys.member(node.cell, node.node_id), _node_json(node))
            lease = await self._store.grant_lease(ttl)
            await self._store.put(keys.live(node.cell, node.node_id), _node_json(node), lease=lease)
            return lease

    async def _refuse_removed(self, cell: str, node_id: str) -> None:
        gone = await self._store.get(keys.removed(cell, node_id))
        if gone is not None:
            removed_at = json.loads(gone).get("removed_at_ns", 0)
            raise errors.FailedPrecondition(
                f"node {node_id} was removed from cell {cell} (at {removed_at} ns since the epoch): a removed "
                "storage node cannot rejoin with the data it held; start it under a new --node-id with an empty "
                "data directory")

    async def keep_alive(self, lease_id: int, node: common_pb2.NodeInfo, ttl: int) -> int:
        """Refresh the lease; if it had expired, register again and return the new lease. A removed node is
        told so (FailedPrecondition), and stops."""
        await self._refuse_removed(node.cell, node.node_id)
        if lease_id and await self._store.refresh_lease(lease_id):
            return lease_id
        return await self.register(node, ttl)

    async def deregister(self, lease_id: int) -> None:
        """Drop the node's liveness (its membership stays: its replicas still hold data)."""
        await self._store.revoke_lease(lease_id)

    async def remove(self, cell: str, node_id: str, force: bool = False) -> common_pb2.NodeInfo:
        """Remove a member from its cell for good (a machine retired or lost): placement stops naming it.

        A storage node's tiles go to the best remaining node of its zone, which rebuilds (copies them from
        their other replicas) before it counts again, and the id may not register again: its data is stale.
        Refused while the node is live (stop it first; ``force`` removes it anyway: writes it acknowledged in
        its last moments may then rest on one replica until repair copies them); for a storage node whose
        zone would be left without one; in a cell of more than three storage zones (there a removal moves
        tiles between zones, which no node would notice); and for the last ingest or query node of a cell.
        Removing a removed storage node again answers with the node (a retried call)."""
        async with self._membership:
            raw = await self._store.get(keys.member(cell, node_id))
            if raw is None:
                gone = await self._store.get(keys.removed(cell, node_id))
                if gone is not None:
                    return json_format.ParseDict(json.loads(gone)["node"], common_pb2.NodeInfo())
                raise errors.NotFound(f"cell {cell} has no member {node_id}")
            node = json_format.Parse(raw, common_pb2.NodeInfo())
            if not force and await self._store.get(keys.live(cell, node_id)) is not None:
                raise errors.FailedPrecondition(f"node {node_id} of cell {cell} is live: stop it before removing it "
                                                "(or set force, --force on the command line)")
            (info,) = await self.cells(cell)
            peers = [n for n in info.nodes if n.role == node.role and n.node_id != node_id]
            if node.role == "storage":
                zones = {n.zone for n in info.nodes if n.role == "storage"}
                if len(zones) > 3:
                    raise errors.FailedPrecondition(
                        f"cell {cell} has storage nodes in {len(zones)} zones; removing one moves tiles between "
                        "zones, which is not supported yet: stop the node and leave it a member")
                if node.zone not in {n.zone for n in peers}:
                    raise errors.FailedPrecondition(
                        f"removing storage node {node_id} would leave zone {node.zone} of cell {cell} without a "
                        f"storage node, and every tile needs a replica in each of three zones: add a storage node "
                        f"to zone {node.zone} first")
                tombstone = dumps({"removed_at_ns": time.time_ns(), "node": json.loads(raw)})
                await self._store.put(keys.removed(cell, node_id), tombstone)
            elif not peers:
                raise errors.FailedPrecondition(f"{node_id} is the last {node.role} node of cell {cell}: add another "
                                                "first")
            await self._store.delete([keys.member(cell, node_id), keys.live(cell, node_id)])
            return node

    async def cells(self, only: str = "") -> list[common_pb2.CellInfo]:
        """Every cell with its member nodes, each flagged live or not."""
        members = await self._store.get_prefix(keys.CELLS)
        by_cell: dict[str, dict[str, common_pb2.NodeInfo]] = {}
        live: set[tuple[str, str]] = set()
        for key, value in members:
            node = json_format.Parse(value, common_pb2.NodeInfo())
            if "/members/" in key:
                by_cell.setdefault(node.cell, {})[node.node_id] = node
            elif "/live/" in key:
                live.add((node.cell, node.node_id))
        out = []
        for cell in sorted(by_cell):
            if only and cell != only:
                continue
            info = common_pb2.CellInfo(cell=cell)
            for node_id in sorted(by_cell[cell]):
                node = by_cell[cell][node_id]
                node.live = (cell, node_id) in live
                info.nodes.append(node)
            out.append(info)
        return out


def cell_names(cells: list[common_pb2.CellInfo]) -> list[str]:
    """Names of cells that can take tables: at least one ingest, one query and three storage nodes."""
    ready = []
    for c in cells:
        roles = [n.role for n in c.nodes]
        if roles.count("storage") >= 3 and "ingest" in roles and "query" in roles:
            ready.append(c.cell)
    return ready


def dumps(obj: object) -> bytes:
    """Compact, key-sorted JSON for etcd values (so compare-and-swap on bytes is stable)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
