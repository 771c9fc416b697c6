"""The Tessera SDK: catalog calls, writes (records and Arrow) and queries, routed straight to the owning cell.

    client = tessera.Client("127.0.0.1:7100")
    client.create_database("iot")
    client.write_records("iot", "metrics", records)          # boto3-shaped dicts, any number of them
    table = client.query('SELECT * FROM "iot"."metrics"')    # a pyarrow.Table

Routes come from discovery and are cached; a stale-route answer refreshes them. UNAVAILABLE is retried
(with backoff) on another node of the cell. gRPC errors arrive as tessera.errors exceptions.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import json
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Self, TypeVar, cast

import grpc
import numpy as np
import pyarrow as pa
import tenacity

from tessera import arrowipc, errors, layout, limits, record_columns
from tessera._batch_validation import DEFAULT_MEASURE_NAME
from tessera.partition_key import DIMENSION, MEASURE, PartitionKey, column_hashes, of_route
from tessera.query_tables import named_tables
from tessera.records import RecordLike, routing_hash, to_record
from tessera.runtime import GRPC_OPTIONS
from tessera.v1 import (
    catalog_pb2,
    catalog_pb2_grpc,
    common_pb2,
    ingest_pb2,
    ingest_pb2_grpc,
    query_pb2,
    query_pb2_grpc,
)

T = TypeVar("T")
ROUTE_TTL_S = 60.0
HINT_TIMEOUT_S = 0.5
"""The longest a query waits on discovery to learn which cell holds its tables (a hint, see _route_hint)."""
ARROW_BATCH_ROWS = 50_000
RECORDS_ARROW_CHUNK = 2_500  # records per WriteRecords request in the Arrow form (the limit is 10,000)


SUSPECT_S = 10.0
"""How long a node that did not answer at all (refused, reset, or a connection that stalled: a stopped or
partitioned process) is tried only after the others. Its lease may still be alive, so liveness alone does
not steer calls away from it."""

THROTTLED_RETRY_S = 60.0
"""How long a call keeps retrying while the servers say they are over a limit (RESOURCE_EXHAUSTED)."""


def _wait(state: tenacity.RetryCallState) -> float:
    """Exponential backoff with jitter, but never sooner than a throttling server asked for."""
    backoff = tenacity.wait_exponential_jitter(multiplier=0.1, max=2.0, jitter=0.1)(state)
    exc = state.outcome.exception() if state.outcome is not None else None
    if isinstance(exc, errors.Throttled):
        return max(backoff, exc.retry_after_ms / 1000 * random.uniform(1.0, 1.2))
    return backoff


def _temporary(exc: BaseException) -> bool:
    """UNAVAILABLE, or RESOURCE_EXHAUSTED that says when to retry (back-pressure). A quota or a query over its
    memory limit is RESOURCE_EXHAUSTED without a hint: retrying cannot help, so it is not retried."""
    if isinstance(exc, errors.Throttled):
        return exc.retry_after_ms > 0
    return isinstance(exc, errors.Unavailable)


def _stop(attempts: int, throttled_s: float) -> Callable[[tenacity.RetryCallState], bool]:
    """Unavailable: ``attempts`` tries. Throttled: keep trying for ``throttled_s`` (back-pressure, not failure)."""
    def stop(state: tenacity.RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, errors.Throttled):
            return (state.seconds_since_start or 0.0) >= throttled_s
        return state.attempt_number >= attempts

    return stop


def _retrying(attempts: int, throttled_s: float = THROTTLED_RETRY_S) -> tenacity.Retrying:
    return tenacity.Retrying(retry=tenacity.retry_if_exception(_temporary), stop=_stop(attempts, throttled_s),
                             wait=_wait, reraise=True)


class Client:
    """A synchronous client; safe to share between threads."""

    def __init__(self, discovery: str = "127.0.0.1:7100", timeout_s: float = 60.0, attempts: int = 5,
                 max_inflight: int = 4, throttled_retry_s: float = THROTTLED_RETRY_S) -> None:
        """``max_inflight`` bounds the write requests in flight at once (each waits for a quorum fsync);
        ``throttled_retry_s`` is how long a call keeps retrying while servers push back."""
        self._timeout = timeout_s
        self._attempts = attempts
        self._throttled_s = throttled_retry_s
        self._inflight = max(1, max_inflight)
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._channels: dict[str, grpc.Channel] = {}
        self._discovery = catalog_pb2_grpc.DiscoveryStub(self._channel(discovery))
        self._routes: dict[tuple[str, str], tuple[float, common_pb2.TableRoute]] = {}
        self._route_misses: dict[tuple[str, str], float] = {}  # query routing hints that found no table
        self._rr = itertools.count(random.randrange(1000))
        self._cells: tuple[float, list[common_pb2.CellInfo]] | None = None
        self._suspects: dict[str, float] = {}
        """Address -> monotonic time until which the node goes last (it gave no answer at all)."""

    def _channel(self, address: str) -> grpc.Channel:
        channel = self._channels.get(address)
        if channel is None:
            with self._lock:  # threads share the client: one channel per address, none leaked
                channel = self._channels.get(address)
                if channel is None:
                    channel = self._channels[address] = grpc.insecure_channel(address, options=GRPC_OPTIONS)
        return channel

    def close(self) -> None:
        """Close every channel (and the pool that sends writes in parallel)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for ch in self._channels.values():
            ch.close()
        self._channels.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _rotated(self, nodes: list[common_pb2.NodeInfo]) -> list[common_pb2.NodeInfo]:
        """``nodes`` rotated for balance, with the suspects (recently unreachable) last."""
        k = next(self._rr)
        rotated = nodes[k % len(nodes):] + nodes[:k % len(nodes)]
        now = time.monotonic()
        suspect = {a for a, until in list(self._suspects.items()) if until > now}
        return [n for n in rotated if n.address not in suspect] + [n for n in rotated if n.address in suspect]

    def _call_node(self, node: common_pb2.NodeInfo, fn: Callable[..., T], request: object) -> T:
        """A call to one node; a node that gives no answer at all becomes a suspect, one that answers not."""
        try:
            result = self._call(fn, request)
        except errors.Unreachable:
            self._suspects[node.address] = time.monotonic() + SUSPECT_S
            raise
        self._suspects.pop(node.address, None)
        return result

    def _call(self, fn: Callable[..., T], request: object) -> T:
        try:
            return fn(request, timeout=self._timeout)
        except grpc.RpcError as exc:
            raise errors.from_rpc_error(exc) from exc

    def _control(self, fn: Callable[..., T], request: object) -> T:
        return cast(T, _retrying(self._attempts, self._throttled_s)(self._call, fn, request))  # _call returns a T

    def _create(self, fn: Callable[..., T], request: object, what: str) -> T:
        """A create call: retried like any control call, but a Conflict met after an attempt whose outcome is
        unknown (UNAVAILABLE: the request may have been applied and its answer lost) says so, since that
        conflict may be with this very call."""
        uncertain = [False]

        def once() -> T:
            try:
                return self._call(fn, request)
            except errors.Unavailable:
                uncertain[0] = True
                raise
            except errors.Conflict as exc:
                if uncertain[0]:
                    raise errors.Conflict(f"{exc.message} (an earlier attempt of this call failed with UNAVAILABLE "
                                          f"and may have created the {what} itself: describe it to check)") from exc
                raise

        return _retrying(self._attempts, self._throttled_s)(once)

    # -- catalog -------------------------------------------------------------------------------------------
    def create_database(self, name: str, kms_key_id: str = "", tags: TagsLike = ()) -> catalog_pb2.Database:
        """CreateDatabase; ``tags`` in boto3's form, ``[{"Key": ..., "Value": ...}]``."""
        request = catalog_pb2.CreateDatabaseRequest(database_name=name, kms_key_id=kms_key_id, tags=_tags(tags))
        return cast(catalog_pb2.DatabaseResponse, self._create(self._discovery.CreateDatabase, request,
                                                               "database")).database

    def describe_database(self, name: str) -> catalog_pb2.Database:
        """DescribeDatabase."""
        return cast(catalog_pb2.DatabaseResponse, self._control(self._discovery.DescribeDatabase,
                    catalog_pb2.DescribeDatabaseRequest(database_name=name))).database

    def update_database(self, name: str, kms_key_id: str) -> catalog_pb2.Database:
        """UpdateDatabase (the KMS key id, as in Timestream)."""
        return cast(catalog_pb2.DatabaseResponse, self._control(self._discovery.UpdateDatabase,
                    catalog_pb2.UpdateDatabaseRequest(database_name=name, kms_key_id=kms_key_id))).database

    def delete_database(self, name: str) -> None:
        """DeleteDatabase (it must have no tables)."""
        self._control(self._discovery.DeleteDatabase, catalog_pb2.DeleteDatabaseRequest(database_name=name))

    def list_databases_page(self, max_results: int = 0, next_token: str = "") -> tuple[list[catalog_pb2.Database], str]:
        """One page of ListDatabases (``max_results`` 0 = the catalog's page size) and its NextToken."""
        resp = self._control(self._discovery.ListDatabases, catalog_pb2.ListDatabasesRequest(
            max_results=max_results, next_token=next_token))
        return list(resp.databases), resp.next_token

    def list_databases(self) -> list[catalog_pb2.Database]:
        """Every database, following NextToken."""
        return _every_page(lambda token: self.list_databases_page(next_token=token))

    def create_table(self, database: str, table: str, memory_retention_hours: int | None = None,
                     magnetic_retention_days: int | None = None, magnetic_writes: bool | None = None,
                     cells: Sequence[str] = (), partition_key: PartitionKeyLike | None = None,
                     partition_key_enforcement: str = "",
                     rejected_data_location: Mapping[str, Any] | None = None, tags: TagsLike = ()
                     ) -> catalog_pb2.Table:
        """CreateTable; omitted retention takes Timestream's defaults (6 h memory, 73000 d magnetic).

        ``partition_key`` is Timestream's ``Schema.CompositePartitionKey``: a dimension name (with
        ``partition_key_enforcement`` REQUIRED or OPTIONAL), or the boto3 form, a list of
        ``{"Type": "DIMENSION"|"MEASURE", "Name": ..., "EnforcementInRecord": ...}`` (or one such dict).
        ``rejected_data_location`` is MagneticStoreWriteProperties' MagneticStoreRejectedDataLocation (the
        boto3 dict, ``{"S3Configuration": {...}}``), kept and echoed.
        ``cells`` (a Tessera extension) spreads the table over those cells from the start.
        """
        req = catalog_pb2.CreateTableRequest(database_name=database, table_name=table, cells=list(cells),
                                             tags=_tags(tags))
        _set_properties(req, memory_retention_hours, magnetic_retention_days, magnetic_writes, rejected_data_location)
        if partition_key is not None:
            req.schema.CopyFrom(_schema(partition_key, partition_key_enforcement))
        elif partition_key_enforcement:
            raise errors.ValidationError("partition_key_enforcement needs a partition_key (a dimension name)")
        return cast(catalog_pb2.TableResponse, self._create(self._discovery.CreateTable, req, "table")).table

    def describe_table(self, database: str, table: str) -> catalog_pb2.Table:
        """DescribeTable."""
        return cast(catalog_pb2.TableResponse, self._control(self._discovery.DescribeTable,
                    catalog_pb2.DescribeTableRequest(database_name=database, table_name=table))).table

    def update_table(self, database: str, table: str, memory_retention_hours: int | None = None,
                     magnetic_retention_days: int | None = None, magnetic_writes: bool | None = None,
                     partition_key_enforcement: str | None = None,
                     rejected_data_location: Mapping[str, Any] | None = None) -> catalog_pb2.Table:
        """UpdateTable: retention (both values), magnetic-store writes and/or the partition key's
        EnforcementInRecord (the only part of the key Timestream lets change)."""
        req = catalog_pb2.UpdateTableRequest(database_name=database, table_name=table)
        current = self.describe_table(database, table)
        _set_properties(req, memory_retention_hours, magnetic_retention_days, magnetic_writes, rejected_data_location,
                        current=current)
        if partition_key_enforcement is not None:
            req.schema.CopyFrom(current.schema)
            for key in req.schema.composite_partition_key:
                key.enforcement_in_record = partition_key_enforcement
            if not req.schema.composite_partition_key:  # let the catalog explain why this cannot be done
                req.schema.composite_partition_key.add(enforcement_in_record=partition_key_enforcement)
        self._routes.pop((database, table), None)
        return cast(catalog_pb2.TableResponse, self._control(self._discovery.UpdateTable, req)).table

    def delete_table(self, database: str, table: str) -> None:
        """DeleteTable."""
        self._routes.pop((database, table), None)
        self._control(self._discovery.DeleteTable,
                      catalog_pb2.DeleteTableRequest(database_name=database, table_name=table))

    def list_tables_page(self, database: str, max_results: int = 0, next_token: str = ""
                         ) -> tuple[list[catalog_pb2.Table], str]:
        """One page of ListTables (``database`` "" = every database) and its NextToken."""
        resp = self._control(self._discovery.ListTables, catalog_pb2.ListTablesRequest(
            database_name=database, max_results=max_results, next_token=next_token))
        return list(resp.tables), resp.next_token

    def list_tables(self, database: str) -> list[catalog_pb2.Table]:
        """Every table of a database, following NextToken."""
        return _every_page(lambda token: self.list_tables_page(database, next_token=token))

    def tag_resource(self, arn: str, tags: TagsLike) -> list[catalog_pb2.Tag]:
        """Add or replace tags of the database or table ``arn`` names; its tags afterwards."""
        request = catalog_pb2.TagResourceRequest(resource_arn=arn, tags=_tags(tags))
        return list(self._control(self._discovery.TagResource, request).tags)

    def untag_resource(self, arn: str, keys: Sequence[str]) -> list[catalog_pb2.Tag]:
        """Remove tags (by key) of the database or table ``arn`` names; its tags afterwards."""
        request = catalog_pb2.UntagResourceRequest(resource_arn=arn, tag_keys=list(keys))
        return list(self._control(self._discovery.UntagResource, request).tags)

    def list_tags(self, arn: str) -> list[catalog_pb2.Tag]:
        """The tags of the database or table ``arn`` names."""
        request = catalog_pb2.ListTagsForResourceRequest(resource_arn=arn)
        return list(self._control(self._discovery.ListTagsForResource, request).tags)

    def describe_account_settings(self) -> dict[str, Any]:
        """The account settings ever set (Timestream's DescribeAccountSettings members, no defaults)."""
        request = catalog_pb2.DescribeAccountSettingsRequest()
        return dict(json.loads(self._control(self._discovery.DescribeAccountSettings, request).settings_json))

    def update_account_settings(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Replace the given account settings members; every member ever set, afterwards."""
        request = catalog_pb2.UpdateAccountSettingsRequest(changes_json=json.dumps(dict(changes)))
        return dict(json.loads(self._control(self._discovery.UpdateAccountSettings, request).settings_json))

    def gateway_document(self, kind: str, doc_id: str) -> str:
        """A gateway document's JSON ("" when there is none)."""
        request = catalog_pb2.GetGatewayDocumentRequest(kind=kind, id=doc_id)
        return str(self._control(self._discovery.GetGatewayDocument, request).json)

    def put_gateway_document(self, kind: str, doc_id: str, text: str, expected: str = "") -> tuple[bool, str]:
        """Write a gateway document if it still holds ``expected`` ("" = absent): (written, JSON now held)."""
        request = catalog_pb2.PutGatewayDocumentRequest(
            document=catalog_pb2.GatewayDocument(kind=kind, id=doc_id, json=text), expected_json=expected)
        resp = self._control(self._discovery.PutGatewayDocument, request)
        return resp.written, resp.current_json

    def gateway_documents(self, kind: str) -> list[tuple[str, str]]:
        """(id, JSON) of every gateway document of the kind."""
        request = catalog_pb2.ListGatewayDocumentsRequest(kind=kind)
        return [(d.id, d.json) for d in self._control(self._discovery.ListGatewayDocuments, request).documents]

    def split_table(self, database: str, table: str, cells: Sequence[str]) -> common_pb2.TableRoute:
        """Admin: spread a table's hash space evenly over ``cells``."""
        self._routes.pop((database, table), None)
        request = catalog_pb2.SplitTableRequest(database_name=database, table_name=table, cells=list(cells))
        return cast(common_pb2.TableRoute, self._control(self._discovery.SplitTable, request))

    def cells(self) -> list[common_pb2.CellInfo]:
        """Every cell with its nodes, zones and liveness."""
        return list(self._control(self._discovery.ListCells, catalog_pb2.ListCellsRequest()).cells)

    def remove_node(self, cell: str, node_id: str, force: bool = False) -> common_pb2.NodeInfo:
        """Remove a member from its cell for good (refused while it is live, unless ``force``)."""
        req = catalog_pb2.RemoveNodeRequest(cell=cell, node_id=node_id, force=force)
        return cast(catalog_pb2.RemoveNodeResponse, self._control(self._discovery.RemoveNode, req)).node

    def route(self, database: str, table: str, refresh: bool = False) -> common_pb2.TableRoute:
        """The table's routing (cached for a minute)."""
        cached = self._routes.get((database, table))
        if cached and not refresh and time.monotonic() - cached[0] < ROUTE_TTL_S:
            return cached[1]
        try:
            route = cast(common_pb2.TableRoute, self._control(self._discovery.ResolveTable,
                         catalog_pb2.ResolveTableRequest(database_name=database, table_name=table)))
        except (errors.Unavailable, errors.DeadlineExceeded):
            if cached and not refresh:  # static stability: the data plane outlives a control-plane outage
                return cached[1]
            raise
        self._routes[(database, table)] = (time.monotonic(), route)
        return route

    # -- writes --------------------------------------------------------------------------------------------
    def _nodes(self, route: common_pb2.TableRoute, cell: str, role: str) -> list[common_pb2.NodeInfo]:
        nodes = [n for c in route.cells if c.cell == cell for n in c.nodes if n.role == role]
        live = [n for n in nodes if n.live] or nodes
        if not live:
            raise errors.Unavailable(f"cell {cell} has no {role} node registered")
        return self._rotated(live)

    def _to_cell(self, database: str, table: str, send: Callable[[common_pb2.TableRoute], T]) -> T:
        """Call ``send`` with a fresh-enough route, refreshing it once on a stale-route error."""
        for attempt in range(3):
            route = self.route(database, table, refresh=attempt > 0)
            try:
                return send(route)
            except errors.StaleRoute:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _ingest(self, route: common_pb2.TableRoute, cell: str, method: str, request: Any) -> Any:
        nodes = self._nodes(route, cell, "ingest")
        attempt = itertools.count()

        def once() -> Any:
            node = nodes[next(attempt) % len(nodes)]
            stub = ingest_pb2_grpc.IngestStub(self._channel(node.address))
            return self._call_node(node, getattr(stub, method), request)

        try:
            return _retrying(self._attempts, self._throttled_s)(once)
        except errors.Unreachable as exc:  # the last attempt got no answer at all (not the server's UNAVAILABLE)
            raise _cell_down(cell, "ingest", nodes, exc) from exc

    def _send_all(self, route: common_pb2.TableRoute, method: str, jobs: list[tuple[str, Any, Any]],
                  on_done: Callable[[Any, Any], None]) -> None:
        """Send every (cell, rows, request) job, up to ``max_inflight`` at once; ``on_done(rows, response)``
        runs under a lock. A stale route is raised once every job has finished, so only the jobs it
        refused are sent again (the callers track what is still pending)."""
        stale: list[errors.StaleRoute] = []

        def run(job: tuple[str, Any, Any]) -> None:
            cell, rows, request = job
            try:
                response = self._ingest(route, cell, method, request)
            except errors.StaleRoute as exc:
                stale.append(exc)
                return
            with self._lock:
                on_done(rows, response)

        if len(jobs) <= 1 or self._inflight == 1:
            for job in jobs:
                run(job)
        else:
            with self._lock:
                if self._pool is None:
                    self._pool = concurrent.futures.ThreadPoolExecutor(self._inflight,
                                                                       thread_name_prefix="tessera-write")
                pool = self._pool
            for future in [pool.submit(run, job) for job in jobs]:
                future.result()
        if stale:
            raise stale[0]

    def write_records(self, database: str, table: str, records: Sequence[RecordLike],
                      common_attributes: RecordLike | None = None) -> common_pb2.RecordsIngested:
        """WriteRecords for any number of records, sent to the owning cells.

        Plain boto3 dicts travel as Arrow columns (``records_arrow``, up to RECORDS_ARROW_CHUNK a request);
        anything else (Record messages, an integer Time ...) as protobuf Records, 100 a request. Both are
        judged alike. Raises RejectedRecords (after every record was tried) if some were rejected; its
        record indexes refer to ``records``.
        """
        common = to_record(common_attributes, "CommonAttributes") if common_attributes is not None else None
        if not records:
            raise errors.ValidationError("Records must hold at least one record")
        batch = record_columns.encode(records)
        if batch is not None:
            columns = batch

            def columnar(rows: np.ndarray, route: common_pb2.TableRoute) -> Any:
                return self._records_request(database, table, route, common,
                                             records_arrow=record_columns.to_ipc(columns.take(pa.array(rows))))

            return self._write_routed(database, table, lambda key: record_columns.routing_hashes(batch, common, key),
                                      len(records), RECORDS_ARROW_CHUNK, "WriteRecords", columnar)
        recs = [to_record(r, f"Records[{i}]") for i, r in enumerate(records)]

        def messages(rows: np.ndarray, route: common_pb2.TableRoute) -> Any:
            return self._records_request(database, table, route, common, records=[recs[i] for i in rows.tolist()])

        def hashes(key: PartitionKey | None) -> np.ndarray:
            return np.array([routing_hash(r, common, key) for r in recs], dtype=np.uint64)

        return self._write_routed(database, table, hashes, len(recs), limits.MAX_RECORDS_PER_WRITE, "WriteRecords",
                                  messages)

    @staticmethod
    def _records_request(database: str, table: str, route: common_pb2.TableRoute, common: common_pb2.Record | None,
                         **records: Any) -> ingest_pb2.WriteRecordsRequest:
        req = ingest_pb2.WriteRecordsRequest(database_name=database, table_name=table, routing_epoch=route.epoch,
                                             routing_table_id=route.table_id, **records)
        if common is not None:
            req.common_attributes.CopyFrom(common)
        return req

    def write_arrow(self, database: str, table: str, data: pa.Table, dimension_columns: Sequence[str],
                    time_column: str = "time", time_unit: str = "MILLISECONDS", measure_name: str = "",
                    measure_name_column: str = "", version_column: str = "") -> common_pb2.RecordsIngested:
        """Columnar bulk write of a pyarrow.Table; every non-dimension, non-time column is a measure.

        Raises RejectedRecords (indexes are row numbers of ``data``) if some rows were rejected.
        """
        dims = list(dimension_columns)
        missing = [c for c in dims if c not in data.column_names]
        if missing:
            raise errors.ValidationError(f"dimension_columns {missing} are not columns of the table")
        _check_dimension_types(data, dims)

        def hashes(key: PartitionKey | None) -> np.ndarray:
            if key is None:
                return layout.dimension_hashes(data, dims)
            names = None  # each row's measure name, as the ingest node will take it (MEASURE keys only)
            if key.type == MEASURE and measure_name_column:
                names = data.column(measure_name_column) if measure_name_column in data.column_names else None
            elif key.type == MEASURE:
                names = pa.array([measure_name or DEFAULT_MEASURE_NAME] * data.num_rows, pa.string())
            return column_hashes(key, data, dims, names)

        def request(rows: np.ndarray, route: common_pb2.TableRoute) -> Any:
            return ingest_pb2.WriteBatchRequest(
                database_name=database, table_name=table, arrow_ipc=arrowipc.to_ipc(data.take(rows)),
                time_column=time_column, time_unit=time_unit, dimension_columns=dims, measure_name=measure_name,
                measure_name_column=measure_name_column, version_column=version_column, routing_epoch=route.epoch,
                routing_table_id=route.table_id)

        return self._write_routed(database, table, hashes, data.num_rows, ARROW_BATCH_ROWS, "WriteBatch", request)

    def _write_routed(self, database: str, table: str, hashes: Callable[[PartitionKey | None], np.ndarray],
                      rows: int, chunk_rows: int, method: str,
                      request: Callable[[np.ndarray, common_pb2.TableRoute], Any]) -> common_pb2.RecordsIngested:
        """Send ``rows`` rows (by range hash) to their cells, ``chunk_rows`` a request; on a stale route only
        the rows not yet acknowledged go again. ``hashes(key)`` gives every row's range hash under the
        table's partition key (None: over every dimension), known once the route is. Raises RejectedRecords
        (row indexes) when some were rejected."""
        total = common_pb2.RecordsIngested()
        rejected: list[common_pb2.RejectedRecord] = []
        pending = np.ones(rows, dtype=bool)  # rows not yet acknowledged; a stale route re-routes these
        hashed: dict[PartitionKey | None, np.ndarray] = {}

        def done(chunk: np.ndarray, resp: Any) -> None:
            _add(total, resp.records_ingested)
            for r in resp.rejected_records:
                r.record_index = int(chunk[r.record_index])
                rejected.append(r)
            pending[chunk] = False

        def send(route: common_pb2.TableRoute) -> None:
            key = of_route(route)
            if key not in hashed:
                hashed[key] = hashes(key)
            los = np.array([r.lo for r in route.ranges], dtype=np.uint64)
            range_of = np.searchsorted(los, hashed[key], side="right") - 1
            jobs: list[tuple[str, Any, Any]] = []
            for ri in np.unique(range_of[pending]):
                rows = np.flatnonzero((range_of == ri) & pending)
                cell = route.ranges[int(ri)].cell
                for start in range(0, len(rows), chunk_rows):
                    chunk = rows[start:start + chunk_rows]
                    jobs.append((cell, chunk, request(chunk, route)))
            self._send_all(route, method, jobs, done)

        self._to_cell(database, table, send)
        if rejected:
            raise errors.RejectedRecords("One or more records have been rejected. See RejectedRecords for details.",
                                         sorted(rejected, key=lambda r: r.record_index), int(total.total))
        return total

    # -- queries -------------------------------------------------------------------------------------------
    def _owning_cell(self, sql: str) -> str:
        """The one cell holding every table the query names that this client knows, or '' when they span
        cells or none is known. Only a hint (a wrong or missing one costs a forwarding hop, never an
        answer), so it never waits on discovery for long: see _route_hint."""
        cells: set[str] = set()
        for database, table in named_tables(sql):
            route = self._route_hint(database, table)
            if route is not None:
                cells |= {c.cell for c in route.cells}
        return cells.pop() if len(cells) == 1 else ""

    def _route_hint(self, database: str, table: str) -> common_pb2.TableRoute | None:
        """A cached route of any age; else one lookup, not retried, bounded by HINT_TIMEOUT_S, whose failure
        (no such table, discovery down) is remembered for ROUTE_TTL_S so it is not paid on every query."""
        key = (database, table)
        cached = self._routes.get(key)
        if cached is not None:
            return cached[1]
        missed = self._route_misses.get(key)
        if missed is not None and time.monotonic() - missed < ROUTE_TTL_S:
            return None
        try:
            route = cast(common_pb2.TableRoute, self._discovery.ResolveTable(
                catalog_pb2.ResolveTableRequest(database_name=database, table_name=table), timeout=HINT_TIMEOUT_S))
        except grpc.RpcError:
            self._route_misses[key] = time.monotonic()
            return None
        self._routes[key] = (time.monotonic(), route)
        return route

    def _coordinators(self, cell: str = "") -> list[common_pb2.NodeInfo]:
        """Live coordinators, rotated for balance; those of ``cell`` first when it has any."""
        now = time.monotonic()
        if self._cells is None or now - self._cells[0] > ROUTE_TTL_S:
            try:
                self._cells = (now, self.cells())
            except (errors.Unavailable, errors.DeadlineExceeded):
                if self._cells is None:
                    raise
        nodes = [n for c in self._cells[1] for n in c.nodes if n.role == "query"]
        live = [n for n in nodes if n.live] or nodes
        if not live:
            raise errors.Unavailable("no query coordinator is registered")
        rotated = self._rotated(live)
        return [n for n in rotated if n.cell == cell] + [n for n in rotated if n.cell != cell] if cell else rotated

    def query_page(self, sql: str, next_token: str = "", coordinator: str = "", max_rows: int = 0,
                   arrow: bool = False, allow_partial: bool = False, query_id: str = "",
                   max_page_bytes: int = 0, timeout_ms: int = 0, insights: bool = False
                   ) -> tuple[query_pb2.QueryResponse, str]:
        """One page of a query, and the address of the coordinator that answered.

        A first page (no ``next_token``) goes to a live coordinator of the cell holding the tables the query
        names when they are in one cell (else of any cell), failing over between them. A later
        page must come from the ``coordinator`` that ran the query (it holds the result); it is refused
        unless that address is a registered coordinator, so a token cannot send this client elsewhere.
        ``query_id`` (letters and digits, ≤ 64) names the query so that ``cancel_query`` can stop it. It
        travels as the ClientToken, so, as in Timestream, a later call with the same id and SQL gets the
        first run's result (for up to an hour on that coordinator): use a fresh id for a fresh run.
        ``timeout_ms`` bounds the query's run on the coordinator (0 = its default, 60 s). With ``insights``
        the first page also carries how well each table read was pruned (``QueryResponse.insights``).
        """
        coordinators = self._coordinators("" if next_token else self._owning_cell(sql))
        request = query_pb2.QueryRequest(query_string=sql, next_token=next_token, max_rows=max_rows,
                                          arrow_format=arrow, allow_partial=allow_partial, client_token=query_id,
                                          max_page_bytes=max_page_bytes, timeout_ms=timeout_ms,
                                          query_insights=insights and not next_token)
        if next_token:
            return self._later_page(request, coordinator, coordinators), coordinator
        attempt = itertools.count()
        answered: list[str] = []

        def first() -> query_pb2.QueryResponse:
            node = coordinators[next(attempt) % len(coordinators)]
            stub = query_pb2_grpc.QueryStub(self._channel(node.address))
            resp = cast(query_pb2.QueryResponse, self._call_node(node, stub.Query, request))
            answered.append(node.address)
            return resp

        try:
            return _retrying(self._attempts, self._throttled_s)(first), answered[-1]
        except errors.Unreachable as exc:
            raise errors.Unreachable(f"no query coordinator answered ({_tried(coordinators)}); the cluster may be down or "
                                     f"unreachable from here. Last error: {exc.message}") from exc

    def _later_page(self, request: query_pb2.QueryRequest, coordinator: str,
                    known: list[common_pb2.NodeInfo]) -> query_pb2.QueryResponse:
        """A page after the first, from the coordinator holding the result. An address not among the cached
        coordinators is checked against discovery once (it may have joined since), without touching the
        cache; a coordinator that is gone or unreachable makes the token invalid: the query must run again."""
        registered = {n.address for n in known}
        if coordinator not in registered:
            try:
                registered = {n.address for c in self.cells() for n in c.nodes if n.role == "query"}
            except (errors.Unavailable, errors.DeadlineExceeded) as exc:
                raise errors.ValidationError("Invalid pagination token: its coordinator cannot be checked while "
                                             f"discovery is unreachable ({exc.message}); run the query again") from exc
        if coordinator not in registered:
            raise errors.ValidationError("Invalid pagination token: the coordinator that ran this query is gone; "
                                         "run the query again")
        stub = query_pb2_grpc.QueryStub(self._channel(coordinator))
        try:
            return cast(query_pb2.QueryResponse, self._call(stub.Query, request))
        except errors.Unavailable as exc:
            raise errors.ValidationError(f"Invalid pagination token: the coordinator holding this result "
                                         f"({coordinator}) is unreachable ({exc.message}); run the query again"
                                         ) from exc

    def query_pages(self, sql: str, max_rows: int = 0, arrow: bool = False, allow_partial: bool = False,
                    query_id: str = "") -> Iterator[query_pb2.QueryResponse]:
        """Query, one response per page, following NextToken on the coordinator that ran it (see query_page)."""
        resp, coordinator = self.query_page(sql, max_rows=max_rows, arrow=arrow, allow_partial=allow_partial,
                                            query_id=query_id)
        yield resp
        while resp.next_token:
            resp, _ = self.query_page(sql, resp.next_token, coordinator, max_rows=max_rows, arrow=arrow,
                                      allow_partial=allow_partial)
            yield resp

    def query(self, sql: str, allow_partial: bool = False) -> pa.Table:
        """Run a query and return the whole result as a pyarrow.Table.

        With allow_partial, a result missing tiles without quorum is returned and its schema metadata
        carries b"partial" = b"true" and the reasons; otherwise such a query raises Unavailable.
        """
        parts = []
        reasons: list[str] = []
        for page in self.query_pages(sql, arrow=True, allow_partial=allow_partial):
            parts.append(arrowipc.from_ipc(page.arrow_ipc))
            reasons += page.partial_reasons
        table = pa.concat_tables(parts)
        if reasons:
            table = table.replace_schema_metadata({b"partial": b"true", b"partial_reasons": "\n".join(reasons)})
        return table

    def cancel_query(self, query_id: str) -> str:
        """CancelQuery on every coordinator (the query runs on one of them); returns its message. A coordinator
        that does not answer cannot be running the query for anyone: it is skipped unless none answered."""
        messages = []
        failures: list[errors.TesseraError] = []
        for node in self._coordinators():
            stub = query_pb2_grpc.QueryStub(self._channel(node.address))
            try:
                messages.append(self._call(stub.CancelQuery, query_pb2.CancelQueryRequest(query_id=query_id))
                                .cancellation_message)
            except (errors.Unavailable, errors.DeadlineExceeded) as exc:
                failures.append(exc)
        if not messages and failures:
            raise failures[-1]
        return next((m for m in messages if m.endswith("cancelled")), messages[0] if messages else "")

    def query_rows(self, sql: str, max_rows: int = 1000) -> Iterator[dict[str, str | None]]:
        """Rows as {column: Timestream scalar string or None}, fetched page by page."""
        for page in self.query_pages(sql, max_rows=max_rows):
            names = [c.name for c in page.column_info]
            for row in page.rows:
                yield {n: (None if d.HasField("null_value") else d.scalar_value) for n, d in zip(names, row.data)}


P = TypeVar("P")


def _every_page(page: Callable[[str], tuple[list[P], str]]) -> list[P]:
    """Every item of a paged List call, following NextToken from the first page."""
    out: list[P] = []
    token = ""
    while True:
        items, token = page(token)
        out += items
        if not token:
            return out


def _tried(nodes: Sequence[common_pb2.NodeInfo]) -> str:
    """The nodes a call tried, for its error: ``id (address, cell c)`` each."""
    return ", ".join(f"{n.node_id or '?'} ({n.address}, cell {n.cell})" for n in nodes)


def _cell_down(cell: str, role: str, nodes: Sequence[common_pb2.NodeInfo], exc: errors.Unavailable) -> errors.Unreachable:
    """The error of a call that no node of a cell answered: it names the cell, the nodes tried and what to do,
    not only the last connection error."""
    return errors.Unreachable(
        f"cell {cell} is unreachable: none of its {role} nodes answered ({_tried(nodes)}); the data of the table's "
        f"ranges in that cell cannot be written until the cell is back (other cells are unaffected). Last error: "
        f"{exc.message}")


def _check_dimension_types(data: pa.Table, dims: list[str]) -> None:
    for c in dims:
        t = data.schema.field(c).type
        if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t)):
            raise errors.ValidationError(f"dimension column '{c}' must hold strings; it is {t}")


TagsLike = Sequence[Mapping[str, str]]
"""Tags in boto3's form: ``[{"Key": "team", "Value": "db"}]``."""


def _tags(tags: TagsLike) -> list[catalog_pb2.Tag]:
    out = []
    for i, tag in enumerate(tags):
        if "Key" not in tag or set(tag) - {"Key", "Value"}:
            raise errors.ValidationError(f"Tags[{i}] must be {{'Key': ..., 'Value': ...}}; got {sorted(tag)}")
        out.append(catalog_pb2.Tag(key=tag["Key"], value=tag.get("Value", "")))
    return out


PartitionKeyLike = str | Mapping[str, str] | Sequence[Mapping[str, str]]
"""A dimension name, or Timestream's CompositePartitionKey (boto3 dicts): one entry or a list of them."""
_PARTITION_KEY_FIELDS = frozenset({"Type", "Name", "EnforcementInRecord"})


def _schema(key: PartitionKeyLike, enforcement: str) -> catalog_pb2.Schema:
    """The Schema message of a partition key given to create_table (the catalog validates it)."""
    if isinstance(key, str):
        entries: Sequence[Mapping[str, str]] = [{"Type": DIMENSION, "Name": key, "EnforcementInRecord": enforcement}]
    else:
        entries = [key] if isinstance(key, Mapping) else key
    schema = catalog_pb2.Schema()
    for i, entry in enumerate(entries):
        unknown = set(entry) - _PARTITION_KEY_FIELDS
        if unknown:
            raise errors.ValidationError(f"Schema.CompositePartitionKey[{i}] has unknown fields {sorted(unknown)}; "
                                         f"expected {sorted(_PARTITION_KEY_FIELDS)}")
        schema.composite_partition_key.add(type=entry.get("Type", ""), name=entry.get("Name", ""),
                                           enforcement_in_record=entry.get("EnforcementInRecord", ""))
    return schema


def _add(total: common_pb2.RecordsIngested, part: common_pb2.RecordsIngested) -> None:
    total.total += part.total
    total.memory_store += part.memory_store
    total.magnetic_store += part.magnetic_store


_S3_FIELDS = {"BucketName": "bucket_name", "ObjectKeyPrefix": "object_key_prefix",
              "EncryptionOption": "encryption_option", "KmsKeyId": "kms_key_id"}


def _set_properties(req: Any, hours: int | None, days: int | None, magnetic: bool | None,
                    rejected: Mapping[str, Any] | None = None, current: catalog_pb2.Table | None = None) -> None:
    if hours is not None or days is not None:
        cur = current.retention_properties if current is not None else None
        req.retention_properties.memory_store_retention_period_in_hours = (
            hours if hours is not None else (cur.memory_store_retention_period_in_hours if cur
                                             else limits.DEFAULT_MEMORY_RETENTION_HOURS))
        req.retention_properties.magnetic_store_retention_period_in_days = (
            days if days is not None else (cur.magnetic_store_retention_period_in_days if cur
                                           else limits.DEFAULT_MAGNETIC_RETENTION_DAYS))
    if magnetic is not None:
        req.magnetic_store_write_properties.enable_magnetic_store_writes = magnetic
    if rejected is not None:
        s3 = rejected.get("S3Configuration") or {}
        unknown = set(s3) - set(_S3_FIELDS)
        if unknown:
            raise errors.ValidationError(f"MagneticStoreRejectedDataLocation.S3Configuration has unknown fields "
                                         f"{sorted(unknown)}; expected {sorted(_S3_FIELDS)}")
        target = req.magnetic_store_write_properties.magnetic_store_rejected_data_location.s3_configuration
        for key, field in _S3_FIELDS.items():
            setattr(target, field, s3.get(key, ""))


__all__ = ["Client"]
