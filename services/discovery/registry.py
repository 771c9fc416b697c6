"""The cell registry: persistent cell membership plus leased liveness."""

from __future__ import annotations

import json

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
        """Record the node as a member of its cell and live under a fresh lease."""
        _validate(node, ttl)
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
