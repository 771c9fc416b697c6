"""gRPC servicer for a storage replica: Append, ListTiles, Scan and TileDigests over a TileStore, and the
Maintain test hook."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import grpc

from services.storage.antientropy import RoundReport
from services.storage.column_claims import ColumnClaims
from services.storage.tilekey import TileKey
from services.storage.tilestore import TileStore
from tessera import arrowipc, errors
from tessera.runtime import rpc, stream_rpc
from tessera.v1 import common_pb2, storage_pb2, storage_pb2_grpc

SCAN_CHUNK_ROWS = 65_536
RepairTiles = Callable[[str, Sequence[TileKey]], Awaitable[RoundReport]]


def _key(t: storage_pb2.TileId) -> TileKey:
    if not t.table_id:
        raise errors.ValidationError("tile.table_id is required")
    return TileKey(table_id=t.table_id, range_lo=t.range_lo, bucket=t.bucket)


class StorageServicer(storage_pb2_grpc.StorageServicer):
    """Thin translation between the Storage RPCs and the TileStore."""

    def __init__(self, store: TileStore, test_hooks: bool = False, repair: RepairTiles | None = None,
                 claims: ColumnClaims | None = None, not_mine: Callable[[TileKey], str | None] | None = None
                 ) -> None:
        self._store = store
        self._test_hooks = test_hooks
        self._repair = repair
        self._claims = claims or ColumnClaims(store.store, store.table_deleted)
        self._not_mine = not_mine
        """Why this node is not a replica of a tile in its view of the cell, or None (see Append)."""

    @rpc
    async def ClaimColumns(self, request: storage_pb2.ClaimColumnsRequest, context: grpc.aio.ServicerContext
                           ) -> storage_pb2.ClaimColumnsResponse:
        held = await self._claims.claim(request.table_id, list(request.columns), request.authoritative)
        return storage_pb2.ClaimColumnsResponse(columns=held, incomplete=self._store.incomplete_reason is not None)

    @rpc
    async def Append(self, request: storage_pb2.AppendRequest, context: grpc.aio.ServicerContext
                     ) -> storage_pb2.AppendResponse:
        key = _key(request.tile)
        # A writer whose view of the cell is older than this node's (placement moved the tile since) must
        # not get its append acknowledged here: the tile's replicas would never hear of the rows.
        if self._not_mine is not None and (why := self._not_mine(key)) is not None:
            raise errors.FailedPrecondition(why)
        with self._store.peaks.activity("append"):
            rows = arrowipc.from_ipc(request.arrow_ipc)
            result = await self._store.append(key, rows, request.arrow_ipc)
        return storage_pb2.AppendResponse(accepted=result.accepted, rejected=[
            common_pb2.RejectedRecord(record_index=r.index, reason=r.reason, existing_version=r.existing_version)
            for r in result.rejected], incomplete=self._store.incomplete_reason is not None)

    @rpc
    async def ListClaims(self, request: storage_pb2.ListClaimsRequest, context: grpc.aio.ServicerContext
                         ) -> storage_pb2.ListClaimsResponse:
        return storage_pb2.ListClaimsResponse(tables=[storage_pb2.TableClaims(table_id=t, columns=cs)
                                                      for t, cs in (await self._claims.held()).items()])

    @rpc
    async def RepairTiles(self, request: storage_pb2.RepairTilesRequest, context: grpc.aio.ServicerContext
                          ) -> storage_pb2.RepairTilesResponse:
        if self._repair is None:
            raise errors.FailedPrecondition("this storage node runs without peers: nothing to repair from")
        if not request.table_id:
            raise errors.ValidationError("RepairTilesRequest needs table_id")
        report = await self._repair(request.table_id, [_key(t) for t in request.tiles])
        return storage_pb2.RepairTilesResponse(rows_installed=report.rows_installed, undecided=report.undecided)

    @rpc
    async def TileDigests(self, request: storage_pb2.TileDigestsRequest, context: grpc.aio.ServicerContext
                          ) -> storage_pb2.TileDigestsResponse:
        if not request.table_id or request.slice_ns <= 0:
            raise errors.ValidationError("TileDigestsRequest needs table_id and slice_ns > 0")
        with self._store.peaks.activity("digests for a peer"):
            tiles, _ = await self._store.tile_digests(request.table_id, request.min_bucket, request.max_bucket,
                                                      request.slice_ns, request.skip_active_s)
        return storage_pb2.TileDigestsResponse(incomplete=self._store.incomplete_reason is not None, tiles=[
            storage_pb2.TileDigest(tile=storage_pb2.TileId(table_id=k.table_id, range_lo=k.range_lo, bucket=k.bucket),
                                   slices=[storage_pb2.SliceDigest(start_ns=a, rows=n, digest=d) for a, n, d in slices])
            for k, slices in tiles])

    @rpc
    async def ListTiles(self, request: storage_pb2.ListTilesRequest, context: grpc.aio.ServicerContext
                        ) -> storage_pb2.ListTilesResponse:
        tiles = self._store.list_tiles(request.table_id, request.min_bucket, request.max_bucket)
        return storage_pb2.ListTilesResponse(tiles=[
            storage_pb2.TileId(table_id=t.table_id, range_lo=t.range_lo, bucket=t.bucket) for t in tiles])

    @stream_rpc
    async def Scan(self, request: storage_pb2.ScanRequest, context: grpc.aio.ServicerContext
                   ) -> AsyncIterator[storage_pb2.ScanChunk]:
        if request.latest_per_series and request.mode == storage_pb2.SCAN_MERGE:
            raise errors.ValidationError("ScanRequest.latest_per_series cannot be used with SCAN_MERGE: merged rows "
                                         "are filtered only after deduplication")
        if request.tiles:
            tiles = [_key(t) for t in request.tiles]
        elif request.table_id:
            tiles = self._store.list_tiles(request.table_id, request.min_bucket, request.max_bucket)
        else:
            raise errors.ValidationError("ScanRequest needs tiles or a table_id with a bucket range")
        with self._store.peaks.activity("scan"):
            result = await self._store.scan(
                tiles, [(c.name, c.type) for c in request.schema], list(request.columns),
                request.predicate, request.start_ns, request.end_ns, predicate_columns=list(request.predicate_columns),
                dimension_in={f.column: list(f.values) for f in request.dimension_in},
                measure_names=list(request.measure_names) or None,
                with_keys=request.mode == storage_pb2.SCAN_MERGE, want_rows=request.mode != storage_pb2.SCAN_DIGEST,
                latest_per_series=request.latest_per_series)
        if result.table is not None:
            for offset in range(0, result.table.num_rows, SCAN_CHUNK_ROWS):
                yield storage_pb2.ScanChunk(arrow_ipc=arrowipc.to_ipc(result.table.slice(offset, SCAN_CHUNK_ROWS)))
        yield storage_pb2.ScanChunk(
            arrow_ipc=arrowipc.to_ipc(result.table.slice(0, 0)) if result.table is not None else b"",
            digest=result.digest, rows=result.rows, bytes_scanned=result.bytes_scanned, last=True,
            incomplete_tiles=list(result.incomplete))

    @rpc
    async def Maintain(self, request: storage_pb2.MaintainRequest, context: grpc.aio.ServicerContext
                       ) -> storage_pb2.MaintainResponse:
        if not self._test_hooks:
            raise errors.FailedPrecondition("Maintain is a test hook: start the storage node with --test-hooks")
        if request.set_clock:
            self._store.clock.offset_ns = request.clock_offset_ns
        report = await self._store.maintain(flush_all=request.flush_all, compact=request.compact,
                                            expire=request.expire)
        return storage_pb2.MaintainResponse(
            flushed_rows=report.flushed_rows, flushed_segments=report.flushed_segments,
            compacted_segments=report.compacted_segments, expired_rows=report.expired_rows,
            dropped_tables=report.dropped_tables, checkpoint_lsn=report.checkpoint_lsn,
            memory_bytes=self._store.memory_bytes())
