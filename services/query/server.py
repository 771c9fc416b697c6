"""gRPC servicer for the query coordinator: Query (with paging), CancelQuery, CellScan."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator

import grpc
import structlog

from services.query import budget, idempotency, results
from services.query.admission import Admission
from services.query.coordinator import Coordinator
from services.query.fanout import ScanSpec
from tessera import arrowipc, errors, limits
from tessera.runtime import rpc, stream_rpc
from tessera.v1 import query_pb2, query_pb2_grpc, storage_pb2

log = structlog.get_logger()
_QUERY_ID = re.compile(r"^[a-zA-Z0-9]{1,64}$")
DEFAULT_TIMEOUT_MS = 60_000  # Timestream bounds one Query call at 60 s
CELL_QUERY_CHUNK_ROWS = 65_536
MAX_ADMISSION_WAIT_S = 10.0


class QueryServicer(query_pb2_grpc.QueryServicer):
    """Queries run to completion on the first call; later pages come from the result cache."""

    def __init__(self, coordinator: Coordinator, admission: Admission | None = None) -> None:
        self._coordinator = coordinator
        self._admission = admission or Admission()
        self._cache = results.ResultCache()
        self._tokens = idempotency.TokenLedger()
        self._running: dict[str, asyncio.Task[results.StoredResult]] = {}
        self._cancelled: set[str] = set()

    @rpc
    async def Query(self, request: query_pb2.QueryRequest, context: grpc.aio.ServicerContext
                    ) -> query_pb2.QueryResponse:
        if not 0 <= request.max_rows <= limits.QUERY_MAX_ROWS:
            raise errors.ValidationError(f"MaxRows {request.max_rows} is out of range: 1..{limits.QUERY_MAX_ROWS}")
        if len(request.next_token) > limits.NEXT_TOKEN_MAX_CHARS:
            raise errors.ValidationError(f"NextToken is longer than {limits.NEXT_TOKEN_MAX_CHARS} characters")
        if request.next_token:
            query_id, stored, offset = self._cache.resume(request.next_token, request.query_string)
            return self._page(query_id, stored, offset, request)
        token = request.client_token
        if len(token) > limits.CLIENT_TOKEN_MAX_CHARS:
            raise errors.ValidationError(f"ClientToken has {len(token)} characters; the limit is "
                                         f"{limits.CLIENT_TOKEN_MAX_CHARS}")
        replay = self._tokens.replay(token, request.query_string)
        if replay is not None:  # a retry: the first run's result, waiting for it if it still runs
            response = await self._replay(*replay, request)
            if response is not None:
                return response
        # A client that wants to cancel a running query names it up front with its ClientToken.
        query_id = token if _QUERY_ID.match(token) and token not in self._running else uuid.uuid4().hex
        return self._page(query_id, await self._run(query_id, request), 0, request)

    async def _replay(self, query_id: str, task: asyncio.Task[results.StoredResult], request: query_pb2.QueryRequest
                      ) -> query_pb2.QueryResponse | None:
        """The first page of a token's earlier run, under this call's own deadline and partial-result choice;
        None when that run was cancelled or timed out meanwhile (the caller runs the query again)."""
        timeout_ms = request.timeout_ms or DEFAULT_TIMEOUT_MS
        try:
            first = await asyncio.wait_for(asyncio.shield(task), timeout_ms / 1000)
        except TimeoutError as exc:  # this call's own deadline; the first run goes on
            raise errors.DeadlineExceeded(f"query did not finish within {timeout_ms} ms (QueryRequest.timeout_ms)"
                                          ) from exc
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if me is None or me.cancelling():
                raise  # this call itself was cancelled
            return None
        if first.partial_reasons and not request.allow_partial:
            raise errors.Unavailable("cannot read every tile with quorum: " + "; ".join(first.partial_reasons))
        return self._page(query_id, first, 0, request, replay=True)

    async def _run(self, query_id: str, request: query_pb2.QueryRequest) -> results.StoredResult:
        timeout_ms = request.timeout_ms or DEFAULT_TIMEOUT_MS
        wait_s = min(timeout_ms / 2000, MAX_ADMISSION_WAIT_S)  # a full coordinator answers Throttled, retryable
        task = asyncio.create_task(self._admission.run(lambda: self._execute(query_id, request), wait_s))
        self._running[query_id] = task
        self._tokens.record(request.client_token, request.query_string, query_id, task)
        try:
            return await asyncio.wait_for(task, timeout_ms / 1000)
        except TimeoutError as exc:
            self._coordinator.interrupt(query_id)
            raise errors.DeadlineExceeded(f"query did not finish within {timeout_ms} ms (QueryRequest.timeout_ms)"
                                          ) from exc
        except asyncio.CancelledError as exc:
            self._coordinator.interrupt(query_id)  # also when the client went away: stop the final stage
            task.cancel()
            if query_id in self._cancelled:
                raise errors.Cancelled(f"query {query_id} was cancelled") from exc
            raise
        finally:
            self._running.pop(query_id, None)
            self._cancelled.discard(query_id)

    async def _execute(self, query_id: str, request: query_pb2.QueryRequest) -> results.StoredResult:
        out = await self._coordinator.execute(query_id, request.query_string, request.allow_partial,
                                              with_insights=request.query_insights)
        return results.StoredResult(out.table, results.query_hash(request.query_string), time.monotonic(),
                                    out.bytes_scanned, out.partial_reasons, out.insights, out.unload)

    def _page(self, query_id: str, stored: results.StoredResult, offset: int, request: query_pb2.QueryRequest,
              replay: bool = False) -> query_pb2.QueryResponse:
        table = stored.table
        n = results.page_rows(table, offset, request.max_rows, request.arrow_format, request.max_page_bytes)
        page = table.slice(offset, n)
        more = offset + n < table.num_rows
        if more:
            self._cache.put(query_id, stored)
        elif not replay:  # a replay may page differently; the first caller's NextToken must keep working
            self._cache.drop(query_id)
        return query_pb2.QueryResponse(
            query_id=query_id, next_token=results.next_token(query_id, offset + n) if more else "",
            rows=[] if request.arrow_format else results.to_rows(page), column_info=results.column_info(table.schema),
            query_status=query_pb2.QueryStatus(
                progress_percentage=100.0,  # the query ran to completion before its first page
                cumulative_bytes_scanned=stored.bytes_scanned, cumulative_bytes_metered=stored.bytes_scanned),
            arrow_ipc=arrowipc.to_ipc(page) if request.arrow_format else b"",
            partial=bool(stored.partial_reasons), partial_reasons=stored.partial_reasons,
            insights=query_pb2.QueryInsights(tables=stored.insights, output_rows=table.num_rows,
                                             output_bytes=table.nbytes, unload=stored.unload)
            if request.query_insights else None)

    @rpc
    async def CancelQuery(self, request: query_pb2.CancelQueryRequest, context: grpc.aio.ServicerContext
                          ) -> query_pb2.CancelQueryResponse:
        task = self._running.get(request.query_id)
        if task is not None:
            self._cancelled.add(request.query_id)
            self._coordinator.interrupt(request.query_id)
            task.cancel()
            return query_pb2.CancelQueryResponse(cancellation_message=f"query {request.query_id} cancelled")
        forgotten = self._tokens.forget_query(request.query_id)  # a retry must not bring the result back
        if self._cache.drop(request.query_id) or forgotten:
            return query_pb2.CancelQueryResponse(cancellation_message=f"query {request.query_id}: remaining pages "
                                                 "discarded")
        return query_pb2.CancelQueryResponse(cancellation_message=f"query {request.query_id} is not running")

    @stream_rpc
    async def CellQuery(self, request: query_pb2.CellQueryRequest, context: grpc.aio.ServicerContext
                        ) -> AsyncIterator[storage_pb2.ScanChunk]:
        # Its own id here: the caller's (a ClientToken) is only unique on the coordinator that got the query.
        query_id = uuid.uuid4().hex
        log.info("forwarded_query", query_id=query_id, caller_query_id=request.query_id)
        try:
            out = await self._coordinator.execute(
                query_id, request.query_string, request.allow_partial, forward=False,
                min_epochs=[(r.database_name, r.table_name, r.epoch, r.table_id) for r in request.routes])
        except asyncio.CancelledError:
            self._coordinator.interrupt(query_id)  # the forwarding coordinator gave up: stop here too
            log.info("forwarded_query_cancelled", query_id=query_id, caller_query_id=request.query_id)
            raise
        for offset in range(0, max(1, out.table.num_rows), CELL_QUERY_CHUNK_ROWS):  # an empty result: its schema
            yield storage_pb2.ScanChunk(arrow_ipc=arrowipc.to_ipc(out.table.slice(offset, CELL_QUERY_CHUNK_ROWS)))
        yield storage_pb2.ScanChunk(bytes_scanned=out.bytes_scanned, last=True, partial=bool(out.partial_reasons),
                                    partial_reasons=out.partial_reasons)

    @stream_rpc
    async def CellScan(self, request: query_pb2.CellScanRequest, context: grpc.aio.ServicerContext
                       ) -> AsyncIterator[storage_pb2.ScanChunk]:
        if request.latest_per_series and request.with_keys:
            raise errors.ValidationError("CellScanRequest.latest_per_series cannot be used with with_keys: rows merged "
                                         "across cells are filtered only after deduplication")
        spec = ScanSpec(table_id=request.table_id, schema=tuple(request.schema), columns=tuple(request.columns),
                        predicate=request.predicate, start_ns=request.start_ns, end_ns=request.end_ns,
                        with_keys=request.with_keys, predicate_columns=tuple(request.predicate_columns),
                        range_los=tuple(request.range_los),
                        dimension_in=tuple((f.column, tuple(f.values)) for f in request.dimension_in),
                        measure_names=tuple(request.measure_names),
                        latest_per_series=request.latest_per_series)
        with budget.reading(self._coordinator.read_limit_bytes):  # the asking coordinator's query, read here
            read = await self._coordinator.read_local(spec, request.allow_partial)
        for table in read.tables:
            yield storage_pb2.ScanChunk(arrow_ipc=arrowipc.to_ipc(table))
        yield storage_pb2.ScanChunk(bytes_scanned=read.bytes_scanned, last=True, partial=bool(read.partial_reasons),
                                    partial_reasons=read.partial_reasons)
