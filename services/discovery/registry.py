"""The cell registry: persistent cell membership plus leased liveness."""

from __future__ import annotations

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

    async def register(self, node: common_pb2.NodeInfo, ttl: int) -> int:
        """Record the node as a member of its cell and live under a fresh lease; refused for a node that was
        removed from its cell (its data is stale: it must join again under a new id, with an empty data
        directory)."""
        _validate(node, ttl)
        gone = await self._store.get(keys.removed(node.cell, node.node_id))
        if gone is not None:
            removed_at = json.loads(gone).get("removed_at_ns", 0)
            raise errors.FailedPrecondition(
                f"node {node.node_id} was removed from cell {node.cell} (at {removed_at} ns since the epoch): a "
                "removed node cannot rejoin with the data it held; start it under a new --node-id with an empty "
                "data directory")
        node = common_pb2.NodeInfo(**{f: getattr(node, f) for f in ("node_id", "cell", "role", "zone", "address")})
        await self._store.put(keys.member(node.cell, node.node_id), _node_json(node))
        lease = await self._store.grant_lease(ttl)
        await self._store.put(keys.live(node.cell, node.node_id), _node_json(node), lease=lease)
        return lease

    async def keep_alive(self, lease_id: int, node: common_pb2.NodeInfo, ttl: int) -> int:
        """Refresh the lease; if it had expired, register again and return the new lease."""
        if lease_id and await self._store.refresh_lease(lease_id):
            return lease_id
        return await self.register(node, ttl)

    async def deregister(self, lease_id: int) -> None:
        """Drop the node's liveness (its membership stays: its replicas still hold data)."""
        await self._store.revoke_lease(lease_id)

    async def remove(self, cell: str, node_id: str, force: bool = False) -> common_pb2.NodeInfo:
        """Remove a member from its cell for good (a machine retired or lost): placement stops naming it, its
        tiles go to the best remaining node of its zone (which copies them from their other replicas), and
        its id may not register again.

        Refused while the node is live (stop it first; ``force`` removes it anyway: its in-flight writes may
        then need repair), and for a storage node whose zone would be left without one while the cell needs
        three zones. Every acknowledged write is on two of a tile's three replicas, so a dead replica's
        removal loses none; the new replica counts once anti-entropy has copied the tile."""
        raw = await self._store.get(keys.member(cell, node_id))
        if raw is None:
            raise errors.NotFound(f"cell {cell} has no member {node_id}")
        node = json_format.Parse(raw, common_pb2.NodeInfo())
        if not force and await self._store.get(keys.live(cell, node_id)) is not None:
            raise errors.FailedPrecondition(f"node {node_id} of cell {cell} is live: stop it before removing it "
                                            "(or force the removal)")
        if node.role == "storage":
            (info,) = await self.cells(cell)
            zones = {n.zone for n in info.nodes if n.role == "storage"}
            left = {n.zone for n in info.nodes if n.role == "storage" and n.node_id != node_id}
            if len(left) < min(len(zones), 3):
                raise errors.FailedPrecondition(
                    f"removing storage node {node_id} would leave zone {node.zone} of cell {cell} without a storage "
                    "node, and every tile needs a replica in each of three zones: add a storage node to zone "
                    f"{node.zone} first")
        tombstone = dumps({"removed_at_ns": time.time_ns(), "node": json.loads(raw)})
        await self._store.put(keys.removed(cell, node_id), tombstone)
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
