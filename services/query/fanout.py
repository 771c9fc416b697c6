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
from tessera.fanout import FanOut
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
    predicate_columns: tuple[str, ...] = ()  # what the predicate reads: replicas read only these and columns
    range_los: tuple[int, ...] = ()  # only tiles of the ranges starting here (partition-key pruning); () = all
    dimension_in: tuple[tuple[str, tuple[str, ...]], ...] = ()  # key-selecting filters replicas push down
    measure_names: tuple[str, ...] = ()  # likewise; () = any
    latest_per_series: int = 0  # replicas return only each series' newest rows (last-point pushdown); 0 = all


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

    def __init__(self, pool: StoragePool, timeout_s: float = 30.0, hedge_s: float = 1.0) -> None:
        self._pool = pool
        self._timeout = timeout_s
        self._hedge_s = hedge_s  # a replica silent this long gets a twin request on a spare

    async def read(self, spec: ScanSpec, storage_nodes: Sequence[common_pb2.NodeInfo], allow_partial: bool
                   ) -> CellRead:
        """Every row of the spec held by this cell; Unavailable unless allow_partial when a tile lacks quorum."""
        out = CellRead()
        groups: dict[tuple[str, ...], list[storage_pb2.TileId]] = {}
        replicas_of: dict[tuple[str, ...], list[common_pb2.NodeInfo]] = {}
        named = _named_tiles(spec)  # the tiles of a range-pruned spec, when few enough to name
        if named is not None and not named:
            return out
        if _holds_every_tile(storage_nodes) and (named is not None or not spec.range_los):
            # Three nodes in three zones: every tile is on every node. An empty tile list asks each replica
            # for all its local tiles of the table in the time range, which saves the listing round trip.
            everyone = tuple(n.node_id for n in storage_nodes)
            groups[everyone], replicas_of[everyone] = named or [], list(storage_nodes)
        if groups:
            tiles = []
        elif named is not None:
            tiles = named  # absent ones cost nothing: a replica without a tile reads nothing for it
        else:
            wanted = set(spec.range_los)
            tiles = [t for t in await self._list_tiles(spec, storage_nodes, out) if not wanted or t.range_lo in wanted]
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
        replies: list[storage_pb2.ListTilesResponse] = []
        failed: list[common_pb2.NodeInfo] = []
        async with FanOut[storage_pb2.ListTilesResponse]() as calls:
            for n in nodes:
                calls.start(n, self._pool.get(n.address).list_tiles(req, self._timeout))
            # An acknowledged tile is on >= 2 of its 3 replicas, so one silent node hides nothing: once all
            # but one have answered, the last gets only the hedge delay (a paused node must not stall reads).
            while calls.running:
                answers = await calls.next(self._hedge_s if calls.answered >= len(nodes) - 1 else None)
                if not answers:
                    failed += calls.running_nodes()
                    break
                for a in answers:
                    if a.error is None:
                        replies.append(a.value)
                    else:
                        failed.append(a.node)
        if len(failed) > 1:
            out.partial_reasons.append(f"{len(failed)} storage nodes did not list their tiles: "
                                       f"{', '.join(n.node_id for n in failed)}")
        seen: dict[tuple[int, int], storage_pb2.TileId] = {}
        for r in replies:
            for t in r.tiles:
                seen[(t.range_lo, t.bucket)] = t
        return [seen[k] for k in sorted(seen)]

    def _request(self, spec: ScanSpec, tiles: list[storage_pb2.TileId], mode: storage_pb2.ScanMode
                 ) -> storage_pb2.ScanRequest:
        return storage_pb2.ScanRequest(tiles=tiles, schema=spec.schema, columns=spec.columns,
                                       predicate=spec.predicate, start_ns=spec.start_ns, end_ns=spec.end_ns,
                                       predicate_columns=spec.predicate_columns, mode=mode,
                                       dimension_in=value_filters(spec), measure_names=spec.measure_names,
                                       table_id=spec.table_id, min_bucket=_buckets(spec)[0],
                                       max_bucket=_buckets(spec)[1],
                                       latest_per_series=0 if mode == storage_pb2.SCAN_MERGE else spec.latest_per_series)

    async def _scan(self, node: common_pb2.NodeInfo, request: storage_pb2.ScanRequest) -> _Reply:
        parts: list[pa.Table] = []
        async for chunk in self._pool.get(node.address).scan(request, self._timeout):
            if chunk.arrow_ipc:
                parts.append(arrowipc.from_ipc(chunk.arrow_ipc))
            if chunk.last:
                if chunk.incomplete_tiles:
                    # It lost rows of these tiles (WAL corruption) and awaits repair: not a complete replica.
                    raise errors.Unavailable(f"replica {node.node_id} holds incomplete tiles "
                                             f"{list(chunk.incomplete_tiles)[:5]} awaiting repair")
                table = pa.concat_tables(parts) if parts else None
                return _Reply(table, chunk.digest, chunk.bytes_scanned)
        raise errors.Unavailable(f"scan of {node.node_id} ended without its last chunk")

    async def _read_group(self, spec: ScanSpec, tiles: list[storage_pb2.TileId],
                          replicas: list[common_pb2.NodeInfo]) -> tuple[pa.Table, int]:
        order = list(replicas)
        shift = next(_rotation) % len(order)
        order = order[shift:] + order[:shift]  # spread the data role over the replicas
        errs: list[str] = []
        data_mode = storage_pb2.SCAN_MERGE if spec.with_keys else storage_pb2.SCAN_DATA
        requests = {"data": self._request(spec, tiles, data_mode),
                    "digest": self._request(spec, tiles, storage_pb2.SCAN_DIGEST)}
        got = await self._two_roles(order, requests, errs)
        if got is None:
            raise errors.Unavailable(
                f"tiles of table {spec.table_id} ({len(tiles)} tiles) have fewer than 2 reachable replicas: "
                + "; ".join(errs))
        data, digest = got["data"], got["digest"]
        if data[1].digest == digest[1].digest and data[1].table is not None:
            return data[1].table, data[1].bytes_scanned
        log.info("digest_mismatch", table_id=spec.table_id, data=data[0].node_id, digest=digest[0].node_id)
        return await self._merge(spec, tiles, replicas, errs)

    async def _two_roles(self, order: list[common_pb2.NodeInfo], requests: dict[str, storage_pb2.ScanRequest],
                         errs: list[str]) -> dict[str, tuple[common_pb2.NodeInfo, _Reply]] | None:
        """The data and digest answers, from two distinct replicas.

        Each role goes to its own replica. A role whose replica fails, or has not answered within the hedge
        delay, is asked again of a spare replica; the first good answer of each role wins. So one replica
        down, slow or paused costs at most the hedge delay, never the RPC deadline.
        """
        spares = list(order[2:])
        results: dict[str, tuple[common_pb2.NodeInfo, _Reply]] = {}
        hedged = False
        async with FanOut[_Reply]() as calls:

            def ask(role: str, node: common_pb2.NodeInfo) -> None:
                calls.start(node, self._scan(node, requests[role]), key=role)

            ask("data", order[0])
            ask("digest", order[1])
            while len(results) < len(requests):
                unserved = [r for r in requests if r not in results and r not in calls.running_keys()]
                if unserved:  # a role lost its replica: fail over, or give up
                    if not spares:
                        errs += calls.failures
                        return None
                    ask(unserved[0], spares.pop(0))
                    continue
                answers = await calls.next(self._hedge_s if spares and not hedged else None)
                if not answers:  # nobody answered in time: hedge the slowest-to-matter role on a spare
                    hedged = True
                    ask("data" if "data" not in results else "digest", spares.pop(0))
                    continue
                for a in answers:
                    if a.error is None:
                        results.setdefault(a.key, (a.node, a.value))
                    elif isinstance(a.error, _REPLICA_FAULTS):
                        calls.fail(a.node, a.error)
                    else:
                        raise a.error  # the query's own error (a bad predicate, say), not the replica's
                for role in results:
                    calls.cancel(role)  # a hedged twin of an answered role
        errs += calls.failures
        return results

    async def _merge(self, spec: ScanSpec, tiles: list[storage_pb2.TileId], replicas: list[common_pb2.NodeInfo],
                     errs: list[str]) -> tuple[pa.Table, int]:
        # Replicas must not filter on values here: an up-to-date replica would drop the newest version
        # while a lagging one still returns an older version that passes. Dedup first, then filter.
        request = self._request(spec, tiles, storage_pb2.SCAN_MERGE)
        request.predicate = ""
        good = await self._at_least_two(replicas, request, errs)
        if len(good) < 2:
            raise errors.Unavailable(f"replicas of table {spec.table_id} disagree and fewer than 2 answered the "
                                     "merge read: " + "; ".join(errs))
        tables = [r.table for r in good if r.table is not None]
        everyone = len(good) >= placement.REPLICAS  # every replica of the tiles, not just those registered now
        try:
            merged = await asyncio.to_thread(
                lambda: apply_predicate(dedup.resolve_replicas(tables, everyone), spec.predicate,
                                        spec.predicate_columns))
        except dedup.ReplicasDisagree as exc:
            raise errors.Unavailable(f"cannot read table {spec.table_id} consistently: {exc} "
                                     f"({'; '.join(errs) or 'it was too slow'}); retry once it is back") from exc
        if not spec.with_keys:
            merged = merged.drop_columns(list(layout.KEY_COLUMNS))
        return merged, sum(r.bytes_scanned for r in good)

    async def _at_least_two(self, replicas: list[common_pb2.NodeInfo], request: storage_pb2.ScanRequest,
                            errs: list[str]) -> list[_Reply]:
        """Good replies from every replica that answers, waiting for the last ones at most the hedge delay
        once two have answered (two replicas hold every acknowledged write: W + R > N)."""
        good: list[_Reply] = []
        async with FanOut[_Reply]() as calls:
            for n in replicas:
                calls.start(n, self._scan(n, request))
            while calls.running:
                answers = await calls.next(self._hedge_s if len(good) >= 2 else None)
                if not answers:
                    break
                for a in answers:
                    if a.error is None:
                        good.append(a.value)
                    elif isinstance(a.error, _REPLICA_FAULTS):
                        calls.fail(a.node, a.error)
                    else:
                        raise a.error
        errs += calls.failures
        return good


def value_filters(spec: ScanSpec) -> list[storage_pb2.ValueIn]:
    """The spec's dimension filters as protobuf."""
    return [storage_pb2.ValueIn(column=c, values=list(v)) for c, v in spec.dimension_in]


def _buckets(spec: ScanSpec) -> tuple[int, int]:
    """The tile buckets the spec's time range touches."""
    return spec.start_ns // layout.TILE_BUCKET_NS, (spec.end_ns - 1) // layout.TILE_BUCKET_NS


MAX_NAMED_TILES = 1024
"""A range-pruned read names its tiles (ranges x time buckets) up to this many; beyond, it lists them."""


def _named_tiles(spec: ScanSpec) -> list[storage_pb2.TileId] | None:
    """Every tile of the spec's ranges and time buckets, or None when it is not range-pruned or would name
    more than MAX_NAMED_TILES (an unbounded time range, say)."""
    low, high = _buckets(spec)
    count = len(spec.range_los) * max(0, high - low + 1)
    if not spec.range_los or count > MAX_NAMED_TILES:
        return None
    return [storage_pb2.TileId(table_id=spec.table_id, range_lo=lo, bucket=b)
            for lo in spec.range_los for b in range(low, high + 1)]


def _holds_every_tile(nodes: Sequence[common_pb2.NodeInfo]) -> bool:
    return len(nodes) == placement.REPLICAS and len({n.zone for n in nodes}) == placement.REPLICAS


_REPLICA_FAULTS = (errors.Unavailable, errors.DeadlineExceeded, errors.InternalError)


def apply_predicate(table: pa.Table, predicate: str, columns: Sequence[str] = ()) -> pa.Table:
    """Rows of ``table`` passing a DuckDB SQL predicate (with Timestream's session settings) that reads
    ``columns`` (every column when empty)."""
    if not predicate.strip() or table.num_rows == 0:
        return table
    con = sqlsession.shared().cursor()
    try:
        return table.take(sqlsession.passing_rows(con, table, predicate, columns))
    except duckdb.Error as exc:
        raise sqlsession.sql_error(exc, f"cannot evaluate the filter {predicate!r}") from exc
    finally:
        con.close()
