"""Where data lives: hash ranges → cells (routing map) and tiles → storage replicas (rendezvous hashing).

Replica placement is highest-random-weight hashing over the cell's storage members, taking the best node
of each zone and then the best three zones, so every tile has three replicas in three distinct zones. With
exactly three storage nodes every tile is on all three; adding nodes spreads tiles with no central table.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Sequence

from tessera import errors
from tessera.layout import HASH_SPACE
from tessera.v1 import common_pb2

REPLICAS = 3


def range_for(ranges: Sequence[common_pb2.HashRange], dim_hash: int) -> common_pb2.HashRange:
    """The range holding a dimension hash (ranges are sorted, contiguous and cover the whole space)."""
    los = [r.lo for r in ranges]
    i = bisect.bisect_right(los, dim_hash) - 1
    r = ranges[i]
    if not r.lo <= dim_hash < (r.hi or HASH_SPACE):
        raise errors.InternalError(f"routing map has a hole at hash {dim_hash:#x}")
    return r


def _weight(tile: str, node_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{tile}\x00{node_id}".encode(), digest_size=8).digest(), "little")


def tile_name(table_id: str, range_lo: int, bucket: int) -> str:
    """The stable name placement hashes for a tile."""
    return f"{table_id}/{range_lo:016x}/{bucket}"


def replicas(tile: str, storage_nodes: Sequence[common_pb2.NodeInfo]) -> list[common_pb2.NodeInfo]:
    """The three replicas of a tile, one per zone, best first; Unavailable if the cell has < 3 zones."""
    best_in_zone: dict[str, tuple[int, common_pb2.NodeInfo]] = {}
    for node in storage_nodes:
        w = _weight(tile, node.node_id)
        if node.zone not in best_in_zone or w > best_in_zone[node.zone][0]:
            best_in_zone[node.zone] = (w, node)
    if len(best_in_zone) < REPLICAS:
        raise errors.Unavailable(
            f"tile {tile} needs storage nodes in {REPLICAS} zones; the cell has zones {sorted(best_in_zone)}")
    ranked = sorted(best_in_zone.values(), key=lambda wn: wn[0], reverse=True)
    return [n for _, n in ranked[:REPLICAS]]


def not_a_replica(node_id: str, tile: str, storage_nodes: Sequence[common_pb2.NodeInfo]) -> str | None:
    """Why ``node_id`` is not one of the tile's replicas among ``storage_nodes`` (a node's view of its cell),
    or None: it is one, or the view cannot tell (it does not show the node, or has fewer than three zones)."""
    if not any(n.node_id == node_id for n in storage_nodes):
        return None
    try:
        chosen = replicas(tile, storage_nodes)
    except errors.Unavailable:
        return None
    if any(n.node_id == node_id for n in chosen):
        return None
    return (f"storage node {node_id} is not a replica of tile {tile} in the cell's membership as it sees it "
            f"(its replicas: {', '.join(n.node_id for n in chosen)}): the writer's view of the cell is out of date")
