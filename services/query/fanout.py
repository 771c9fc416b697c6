"""Reading one table's tiles inside this cell, so that every acknowledged write is seen (W + R > N).

For each group of tiles sharing a replica set, the fragment goes to two replicas: one returns the rows,
both return a digest of the rows that passed the filter. Equal digests prove both read the same input, so
the one result is complete. Unequal digests (a lagging replica) fall back to fetching the rows with their
key columns from every reachable replica and merging them with the one dedup rule (tessera.dedup).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import structlog

from services.storage.client import StoragePool
from tessera import arrowipc, dedup, errors, layout, placement, sqlsession
from tessera.v1 import common_pb2, storage_pb2

log = structlog.get_logger()
_rotation = itertools.count()


@dataclass(frozen=True)
class ScanSpec:
    """What to read of one table: ranges, time window, projection and pushed-down predicate."""

    table_id: str
    schema: tuple[common_pb2.Column, ...]
    columns: tuple[str, ...]
    predicate: str
    start_ns: int
    end_ns: int
    with_keys: bool = False  # keep the key columns: the caller merges rows from several cells


@dataclass
class CellRead:
    """Rows read from one cell, with what was scanned and what could not be read."""

    tables: list[pa.Table] = field(default_factory=list)
    bytes_scanned: int = 0
    partial_reasons: list[str] = field(default_factory=list)


@dataclass
class _Reply:
    table: pa.Table | None
    digest: int
    bytes_scanned: int


class TileReader:
    """Reads a table's tiles from this cell's storage replicas."""

    def __init__(self, pool: StoragePool, timeout_s: float = 30.0) -> None:
        self._pool = pool
        self._timeout = timeout_s

    async def read(self, spec: ScanSpec, storage_nodes: Sequence[common_pb2.NodeInfo], allow_partial: bool
                   ) -> CellRead:
        """Every row of the spec held by this cell; Unavailable unless allow_partial when a tile lacks quorum."""
        out = CellRead()
        groups: dict[tuple[str, ...], list[storage_pb2.TileId]] = {}
        replicas_of: dict[tuple[str, ...], list[common_pb2.NodeInfo]] = {}
        if _holds_every_tile(storage_nodes):
            # Three nodes in three zones: every tile is on every node. An empty tile list asks each replica
            # for all its local tiles of the table in the time range, which saves the listing round trip.
            everyone = tuple(n.node_id for n in storage_nodes)
            groups[everyone], replicas_of[everyone] = [], list(storage_nodes)
        tiles = [] if groups else await self._list_tiles(spec, storage_nodes, out)
        for t in tiles:
            reps = placement.replicas(placement.tile_name(t.table_id, t.range_lo, t.bucket), storage_nodes)
            key = tuple(n.node_id for n in reps)
            groups.setdefault(key, []).append(t)
            replicas_of[key] = reps
        results = await asyncio.gather(*(self._read_group(spec, groups[k], replicas_of[k]) for k in groups),
                                       return_exceptions=True)
        for key, res in zip(groups, results):
            if isinstance(res, errors.Unavailable):
                if not allow_partial:
                    raise res
                out.partial_reasons.append(str(res))
            elif isinstance(res, BaseException):
                raise res
            else:
                table, scanned = res
                out.tables.append(table)
                out.bytes_scanned += scanned
        return out

    async def _list_tiles(self, spec: ScanSpec, nodes: Sequence[common_pb2.NodeInfo], out: CellRead
                          ) -> list[storage_pb2.TileId]:
        low, high = _buckets(spec)
        req = storage_pb2.ListTilesRequest(table_id=spec.table_id, min_bucket=low, max_bucket=high)
        replies = await asyncio.gather(*(self._pool.get(n.address).list_tiles(req, self._timeout) for n in nodes),
                                       return_exceptions=True)
        failed = [n for n, r in zip(nodes, replies) if isinstance(r, BaseException)]
        # An acknowledged tile is on >= 2 of its 3 replicas, so one silent node hides nothing; more might.
        if len(failed) > 1:
            out.partial_reasons.append(f"{len(failed)} storage nodes did not list their tiles: "
                                       f"{', '.join(n.node_id for n in failed)}")
        seen: dict[tuple[int, int], storage_pb2.TileId] = {}
        for r in replies:
            if isinstance(r, storage_pb2.ListTilesResponse):
                for t in r.tiles:
                    seen[(t.range_lo, t.bucket)] = t
        return [seen[k] for k in sorted(seen)]

    def _request(self, spec: ScanSpec, tiles: list[storage_pb2.TileId], mode: storage_pb2.ScanMode
                 ) -> storage_pb2.ScanRequest:
        return storage_pb2.ScanRequest(tiles=tiles, schema=spec.schema, columns=spec.columns,
                                       predicate=spec.predicate, start_ns=spec.start_ns, end_ns=spec.end_ns,
                                       mode=mode, table_id=spec.table_id, min_bucket=_buckets(spec)[0],
                                       max_bucket=_buckets(spec)[1])

    async def _scan(self, node: common_pb2.NodeInfo, request: storage_pb2.ScanRequest) -> _Reply:
        parts: list[pa.Table] = []
        async for chunk in self._pool.get(node.address).scan(request, self._timeout):
            if chunk.arrow_ipc:
                parts.append(arrowipc.from_ipc(chunk.arrow_ipc))
            if chunk.last:
                table = pa.concat_tables(parts) if parts else None
                return _Reply(table, chunk.digest, chunk.bytes_scanned)
        raise errors.Unavailable(f"scan of {node.node_id} ended without its last chunk")

    async def _first_ok(self, candidates: list[common_pb2.NodeInfo], request: storage_pb2.ScanRequest,
                        errs: list[str]) -> tuple[common_pb2.NodeInfo, _Reply] | None:
        while candidates:
            node = candidates.pop(0)
            try:
                return node, await self._scan(node, request)
            except _REPLICA_FAULTS as exc:  # anything else (a bad predicate, say) is the query's own error
                errs.append(f"{node.node_id}: {exc}")
        return None

    async def _read_group(self, spec: ScanSpec, tiles: list[storage_pb2.TileId],
                          replicas: list[common_pb2.NodeInfo]) -> tuple[pa.Table, int]:
        order = list(replicas)
        shift = next(_rotation) % len(order)
        order = order[shift:] + order[:shift]  # spread the data role over the replicas
        errs: list[str] = []
        spare = order[2:]
        data_mode = storage_pb2.SCAN_MERGE if spec.with_keys else storage_pb2.SCAN_DATA
        data_task = self._first_ok([order[0]], self._request(spec, tiles, data_mode), errs)
        digest_task = self._first_ok([order[1]], self._request(spec, tiles, storage_pb2.SCAN_DIGEST), errs)
        data, digest = await asyncio.gather(data_task, digest_task)
        if data is None and spare:
            data = await self._first_ok(spare, self._request(spec, tiles, data_mode), errs)
        elif digest is None and spare:
            digest = await self._first_ok(spare, self._request(spec, tiles, storage_pb2.SCAN_DIGEST), errs)
        if data is None or digest is None:
            raise errors.Unavailable(
                f"tiles of table {spec.table_id} ({len(tiles)} tiles) have fewer than 2 reachable replicas: "
                + "; ".join(errs))
        if data[1].digest == digest[1].digest and data[1].table is not None:
            return data[1].table, data[1].bytes_scanned
        log.info("digest_mismatch", table_id=spec.table_id, data=data[0].node_id, digest=digest[0].node_id)
        return await self._merge(spec, tiles, replicas, errs)

    async def _merge(self, spec: ScanSpec, tiles: list[storage_pb2.TileId], replicas: list[common_pb2.NodeInfo],
                     errs: list[str]) -> tuple[pa.Table, int]:
        # Replicas must not filter on values here: an up-to-date replica would drop the newest version
        # while a lagging one still returns an older version that passes. Dedup first, then filter.
        request = self._request(spec, tiles, storage_pb2.SCAN_MERGE)
        request.predicate = ""
        replies = await asyncio.gather(*(self._scan(n, request) for n in replicas), return_exceptions=True)
        for r in replies:
            if isinstance(r, errors.TesseraError) and not isinstance(r, _REPLICA_FAULTS):
                raise r
        good = [r for r in replies if isinstance(r, _Reply) and r.table is not None]
        if len(good) < 2:
            errs += [str(r) for r in replies if isinstance(r, BaseException)]
            raise errors.Unavailable(f"replicas of table {spec.table_id} disagree and fewer than 2 answered the "
                                     "merge read: " + "; ".join(errs))
        tables = [r.table for r in good if r.table is not None]
        merged = await asyncio.to_thread(
            lambda: apply_predicate(dedup.latest_versions(pa.concat_tables(tables, promote_options="default")),
                                    spec.predicate))
        if not spec.with_keys:
            merged = merged.drop_columns(list(layout.KEY_COLUMNS))
        return merged, sum(r.bytes_scanned for r in good)


def _buckets(spec: ScanSpec) -> tuple[int, int]:
    """The tile buckets the spec's time range touches."""
    return spec.start_ns // layout.TILE_BUCKET_NS, (spec.end_ns - 1) // layout.TILE_BUCKET_NS


def _holds_every_tile(nodes: Sequence[common_pb2.NodeInfo]) -> bool:
    return len(nodes) == placement.REPLICAS and len({n.zone for n in nodes}) == placement.REPLICAS


_REPLICA_FAULTS = (errors.Unavailable, errors.DeadlineExceeded, errors.InternalError)


def apply_predicate(table: pa.Table, predicate: str) -> pa.Table:
    """Rows of ``table`` passing a DuckDB SQL predicate (with Timestream's session settings)."""
    if not predicate.strip() or table.num_rows == 0:
        return table
    con = sqlsession.shared().cursor()
    try:
        return con.from_arrow(table).filter(predicate).to_arrow_table()
    except duckdb.Error as exc:
        raise errors.ValidationError(f"cannot evaluate the filter {predicate!r}: {exc}") from exc
    finally:
        con.close()
