"""The routing map: per table, contiguous ranges of the 64-bit dimension-hash space, each owned by a cell."""

from __future__ import annotations

import json
from typing import Any

from services.discovery import keys
from services.discovery.kv import KeyValueStore
from services.discovery.registry import dumps
from tessera import errors
from tessera.layout import HASH_SPACE
from tessera.v1 import common_pb2


def initial(cell: str) -> dict[str, Any]:
    """A new table: the whole space owned by one cell, epoch 1."""
    return {"epoch": 1, "ranges": [{"lo": 0, "hi": 0, "cell": cell, "readers": [cell]}]}


def _end(hi: int) -> int:
    return HASH_SPACE if hi == 0 else hi


def spread(cells: list[str]) -> dict[str, Any]:
    """A new table spread evenly over ``cells`` at epoch 1: nobody held data before, so no extra readers."""
    return split_evenly({"epoch": 0, "ranges": []}, cells)


def split_evenly(current: dict[str, Any], cells: list[str]) -> dict[str, Any]:
    """New ranges dividing the space evenly over ``cells``; every cell that could hold data stays a reader."""
    if not cells or len(set(cells)) != len(cells):
        raise errors.ValidationError("cells must be a non-empty list of distinct cell names")
    step = HASH_SPACE // len(cells)
    ranges = []
    for i, cell in enumerate(cells):
        lo = i * step
        hi = 0 if i == len(cells) - 1 else (i + 1) * step
        readers = [cell]
        for old in current["ranges"]:
            overlaps = old["lo"] < _end(hi) and lo < _end(old["hi"])
            if overlaps:
                readers += [r for r in old["readers"] if r not in readers]
        ranges.append({"lo": lo, "hi": hi, "cell": cell, "readers": readers})
    return {"epoch": current["epoch"] + 1, "ranges": ranges}


def to_proto(doc: dict[str, Any]) -> list[common_pb2.HashRange]:
    """The ranges as protobuf messages."""
    return [common_pb2.HashRange(lo=r["lo"], hi=r["hi"], cell=r["cell"], readers=r["readers"]) for r in doc["ranges"]]


async def load(store: KeyValueStore, table_id: str) -> tuple[dict[str, Any], bytes]:
    """The routing document of a table and its raw bytes (for compare-and-swap)."""
    raw = await store.get(keys.routing(table_id))
    if raw is None:
        raise errors.NotFound(f"no routing for table id {table_id}: the table was deleted")
    return json.loads(raw), raw


async def table_counts(store: KeyValueStore) -> dict[str, int]:
    """How many tables each cell owns a range of."""
    counts: dict[str, int] = {}
    for _, raw in await store.get_prefix(keys.ROUTING):
        for cell in {r["cell"] for r in json.loads(raw)["ranges"]}:
            counts[cell] = counts.get(cell, 0) + 1
    return counts


async def store_split(store: KeyValueStore, table_id: str, cells: list[str]) -> dict[str, Any]:
    """Atomically replace a table's ranges by an even split over ``cells``."""
    for _ in range(5):
        doc, raw = await load(store, table_id)
        new = split_evenly(doc, cells)
        if await store.replace(keys.routing(table_id), raw, dumps(new)):
            return new
    raise errors.Unavailable("the routing map kept changing under SplitTable; retry")
