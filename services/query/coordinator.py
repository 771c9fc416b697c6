"""The query coordinator's core: translate, prune, fan out per cell, finish in DuckDB."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import duckdb
import pyarrow as pa
import structlog

from services.query import budget, explain, insights, metadata, pruning, result_types, unload, unload_files
from services.query.fanout import CellRead, ScanSpec, TileReader, apply_predicate
from services.query.translate import FINAL_STAGE_MACROS, TableScan, Translation, translate
from tessera import dedup, errors, layout, sqlsession
from tessera.objectstore import ObjectStore
from tessera.sqlsession import Sessions
from tessera.v1 import common_pb2, query_pb2

log = structlog.get_logger()
MIN_NS = 0
MAX_NS = (1 << 63) - 1


class Routes(Protocol):
    async def get(self, db: str, table: str, min_epoch: int = 0, table_id: str = "") -> common_pb2.TableRoute: ...
    def invalidate(self, db: str, table: str) -> None: ...


class CellMembers(Protocol):
    cell: str

    def by_role(self, role: str) -> list[common_pb2.NodeInfo]: ...


class RemoteCells(Protocol):
    """Another cell's coordinator: a table's rows (CellScan), or a whole query run there (CellQuery)."""

    async def cell_scan(self, nodes: Sequence[common_pb2.NodeInfo], spec: ScanSpec, allow_partial: bool
                        ) -> CellRead: ...

    async def cell_query(self, nodes: Sequence[common_pb2.NodeInfo], query_id: str, sql: str, allow_partial: bool,
                         epochs: Sequence[tuple[str, str, int, str]]) -> CellRead: ...


@dataclass
class QueryResult:
    table: pa.Table
    bytes_scanned: int
    partial_reasons: list[str] = field(default_factory=list)
    read_ms: float = 0.0   # fan-out: every table read from its cells
    final_ms: float = 0.0  # the final stage in DuckDB
    scans: list[explain.ScanStats] = field(default_factory=list)  # per table read, in translation order
    insights: list[query_pb2.TableInsight] = field(default_factory=list)  # when asked: per table read
    unload: query_pb2.UnloadInsight | None = None  # an UNLOAD: what it wrote


def _stored(route: common_pb2.TableRoute) -> tuple[common_pb2.Column, ...]:
    return tuple(common_pb2.Column(name=n, type=t) for n, t in layout.stored_columns(route.columns))


def _arrow_schema(columns: Sequence[common_pb2.Column], names: Sequence[str]) -> pa.Schema:
    types = {c.name: layout.ARROW_TYPES[c.type] for c in columns}
    types.update({layout.TIME: layout.TIME_TYPE, layout.MEASURE_NAME: pa.string()})
    types.update({n: t for n, t in layout.FIXED_COLUMNS.items() if n in layout.KEY_COLUMNS})
    return pa.schema([(n, types[n]) for n in names])


def _spec(scan: TableScan, route: common_pb2.TableRoute, merge_cells: bool) -> ScanSpec:
    stored = _stored(route)
    schema_names = layout.select_star_order(route.columns)  # the views' column order is SELECT *'s
    wanted = schema_names if scan.columns is None else [n for n in schema_names if n in set(scan.columns)]
    if layout.TIME not in wanted:
        wanted.insert(0, layout.TIME)
    # When several cells may hold versions of one key, cells return keyed rows unfiltered by value and
    # the coordinator filters after deduplicating (see fanout._merge for the same reasoning).
    predicate = "" if merge_cells else _pushable(scan, schema_names)
    dimension_in, measure_names = _key_filters(predicate, route)
    keys = frozenset(c for c, _ in dimension_in) | ({layout.MEASURE_NAME} if measure_names else frozenset())
    # Each series' newest rows suffice only if the replicas apply the whole WHERE the ranking reads.
    latest = _latest_per_series(scan, route) if not merge_cells and predicate == scan.predicate else 0
    if pruning.covered_by_key_filters(predicate, keys):
        predicate = ""  # the time range and key filters select exactly these rows: no DuckDB pass per replica
    return ScanSpec(table_id=route.table_id, schema=stored, columns=tuple(wanted), predicate=predicate,
                    predicate_columns=tuple(scan.predicate_columns) if predicate else (),
                    dimension_in=dimension_in, measure_names=measure_names,
                    start_ns=MIN_NS if scan.start_ns is None else max(MIN_NS, scan.start_ns),
                    end_ns=MAX_NS if scan.end_ns is None else min(MAX_NS, scan.end_ns), with_keys=merge_cells,
                    latest_per_series=latest)


def _latest_per_series(scan: TableScan, route: common_pb2.TableRoute) -> int:
    """The last-point pushdown's rows per series (``latest_rows``), if every column the ranking partitions
    by is constant within a series: a dimension (not one DuckDB could confuse with another by case) or
    ``measure_name``; else 0."""
    if scan.latest is None:
        return 0
    names = {layout.TIME, layout.MEASURE_NAME} | {name for name, _ in layout.stored_columns(route.columns)}
    if scan.latest.rank_column and sqlsession.fold(scan.latest.rank_column) in {sqlsession.fold(n) for n in names}:
        return 0  # `SELECT *, … AS x` where the table has a column x: a reference to x means the table's
    dimensions = {c.name for c in route.columns if c.kind == "DIMENSION"}
    constant = all(name == layout.MEASURE_NAME or (name in dimensions and not pruning.case_collides(route, name))
                   for name in scan.latest.partition_by)
    return scan.latest.per_series if constant else 0


def _key_filters(predicate: str, route: common_pb2.TableRoute
                 ) -> tuple[tuple[tuple[str, tuple[str, ...]], ...], tuple[str, ...]]:
    """Dimension = / IN and measure-name filters among the predicate's top-level conjuncts: they select whole
    keys (every version of a key shares its dimensions and measure name), so replicas may apply them before
    deduplicating. A value filter on a measure would not: an older version could pass where the newest fails."""
    if not predicate:
        return (), ()
    dimensions = []
    for column in dict.fromkeys(c.name for c in route.columns if c.kind == "DIMENSION"):
        if pruning.case_collides(route, column):
            continue  # DuckDB may bind the predicate's name to the other column: the filter would differ
        values = pruning.pinned_values(predicate, column)
        if values:
            dimensions.append((column, tuple(sorted(values))))
    names = pruning.pinned_values(predicate, layout.MEASURE_NAME)
    return tuple(dimensions), tuple(sorted(names)) if names else ()


def _pushable(scan: TableScan, schema_names: Sequence[str]) -> str:
    # A predicate over a column the table has never had cannot run on replicas; the final stage reports it.
    known = set(schema_names)
    return scan.predicate if all(c in known for c in scan.predicate_columns) else ""


class UnboundName(errors.ValidationError):
    """The final stage could not bind a name: a column written after this coordinator cached the table's
    schema, perhaps, so the query is retried once with fresh routes before the error stands."""


class Coordinator:
    """Runs one query: every referenced table is read through each cell that holds its ranges."""

    def __init__(self, routes: Routes, members: CellMembers, reader: TileReader, remote: RemoteCells,
                 threads: int = 2, memory_limit: str = "2GB", catalog: metadata.Catalog | None = None,
                 read_limit_bytes: int = budget.DEFAULT_READ_LIMIT_MB * budget.MIB,
                 object_store: ObjectStore | None = None) -> None:
        self._routes = routes
        self._object_store = object_store
        self._unload_writers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="unload")
        self._unloads: dict[str, threading.Event] = {}  # query id -> its writer's stop flag
        self.read_limit_bytes = read_limit_bytes
        self._catalog = catalog
        self._members = members
        self._reader = reader
        self._remote = remote
        self._sessions = Sessions(threads=threads, memory_limit=memory_limit, setup=FINAL_STAGE_MACROS)
        self.connections: dict[str, duckdb.DuckDBPyConnection] = {}

    async def read_local(self, spec: ScanSpec, allow_partial: bool) -> CellRead:
        """This cell's rows for a spec (also serves other coordinators' CellScan), charged to the running
        query's read budget."""
        read = await self._reader.read(spec, self._members.by_role("storage"), allow_partial)
        budget.charge(sum(t.nbytes for t in read.tables))
        return read

    async def _read_table(self, scan: TableScan, allow_partial: bool) -> tuple[pa.Table, int, list[str]]:
        route = await self._routes.get(scan.database, scan.table)
        ranges = pruning.plan(route, scan)  # every range, unless the WHERE pins the table's partition key
        merge_cells = ranges.merge_cells
        spec = _spec(scan, route, merge_cells)
        if ranges.pruned:
            log.info("scan_pruned", table=f"{scan.database}.{scan.table}", key_values=list(ranges.values or ()),
                     ranges=f"{len(ranges.ranges)}/{ranges.total}", cells=ranges.cells,
                     tiles_by_range=ranges.exact_tiles)
        nodes = {c.cell: list(c.nodes) for c in route.cells}

        async def read(cell: str) -> CellRead:
            cell_spec = dataclasses.replace(spec, range_los=ranges.range_los(cell))
            if cell == self._members.cell:
                return await self.read_local(cell_spec, allow_partial)
            got = await self._remote.cell_scan(nodes.get(cell, []), cell_spec, allow_partial)
            budget.charge(sum(t.nbytes for t in got.tables))
            return got

        results = await asyncio.gather(*(read(cell) for cell in ranges.cells))
        names = list(spec.columns) + (list(layout.KEY_COLUMNS) if merge_cells else [])
        schema = _arrow_schema(spec.schema, names)
        parts = [t.select(names).cast(schema) for r in results for t in r.tables if t.num_rows]
        table = pa.concat_tables(parts) if parts else schema.empty_table()
        if merge_cells:
            predicate = _pushable(scan, [layout.TIME, layout.MEASURE_NAME] + [c.name for c in spec.schema])
            table = await asyncio.to_thread(
                lambda: apply_predicate(dedup.latest_versions(table), predicate, scan.predicate_columns)
                .drop_columns(list(layout.KEY_COLUMNS)))
        return table, sum(r.bytes_scanned for r in results), [m for r in results for m in r.partial_reasons]

    async def execute(self, query_id: str, sql: str, allow_partial: bool, forward: bool = True,
                      min_epochs: Sequence[tuple[str, str, int, str]] = (), with_insights: bool = False) -> QueryResult:
        """Run a query to completion; the result is an Arrow table (with ``with_insights``, also how well each
        table read was pruned: QueryInsights).

        When every table the query reads lives in one other cell, the query runs there (CellQuery) and only
        its result comes back, instead of every row it reads (unless ``forward`` is off: a forwarded query).
        """
        result = await self._execute_statement(query_id, sql, allow_partial, forward, min_epochs)
        if with_insights:
            result.insights = await self._insights(sql)
        return result

    async def _insights(self, sql: str) -> list[query_pb2.TableInsight]:
        unloading = unload.parse(sql)
        if unloading is not None:
            sql = unloading.select
        if metadata.parse(sql) is not None or explain.parse(sql) is not None:
            return []
        now_ns = time.time_ns()
        scans = translate(sql, now_ns).scans
        return insights.per_table([insights.of_scan(await self._routes.get(s.database, s.table), s, now_ns)
                                   for s in scans])

    async def _execute_statement(self, query_id: str, sql: str, allow_partial: bool, forward: bool,
                                 min_epochs: Sequence[tuple[str, str, int, str]]) -> QueryResult:
        statement = metadata.parse(sql)
        if statement is not None:
            return await self._metadata(query_id, statement, allow_partial)
        explained = explain.parse(sql)
        if explained is not None:
            return await self._explain(query_id, explained, allow_partial)
        unloading = unload.parse(sql)
        if unloading is not None:
            return await self._unload(query_id, unloading, allow_partial)
        started = time.perf_counter()
        now_ns = time.time_ns()
        translation = translate(sql, now_ns)
        if "/" in sql and (floating := await self._floating_columns(translation)):
            translation = translate(sql, now_ns, floating)  # a DOUBLE column divided by zero gives Infinity
        translated = time.perf_counter()
        for db, table, epoch, table_id in min_epochs:  # a forwarded query: routes as new as the sender's
            await self._routes.get(db, table, min_epoch=epoch, table_id=table_id)
        owner, epochs = await self._sole_other_cell(translation) if forward else (None, [])
        if owner is not None:
            read = await self._remote.cell_query(owner, query_id, sql, allow_partial, epochs)
            table = pa.concat_tables(read.tables) if len(read.tables) > 1 else read.tables[0]
            log.info("query_forwarded", query_id=query_id, cell=owner[0].cell if owner else "?", rows=table.num_rows,
                     total_ms=round((time.perf_counter() - started) * 1000, 2))
            return QueryResult(table, read.bytes_scanned, read.partial_reasons)
        try:
            result = await self._execute(query_id, translation, allow_partial)
            log.info("query_done", query_id=query_id, rows=result.table.num_rows, bytes_scanned=result.bytes_scanned,
                     translate_ms=round((translated - started) * 1000, 2), read_ms=result.read_ms,
                     final_ms=result.final_ms, total_ms=round((time.perf_counter() - started) * 1000, 2))
            return result
        except UnboundName:
            # A column written moments ago may be missing from a cached schema: refresh the routes, and run
            # again only if a table's columns changed (else the name is simply wrong: say so at once).
            if not await self._schemas_changed(translation):
                raise
            return await self._execute(query_id, translation, allow_partial)

    async def _floating_columns(self, translation: Translation) -> frozenset[str]:
        """Columns that are DOUBLE in every table the query reads that has them (from the routes): multi-measure
        attributes (a single-measure name is no column: its values are ``measure_value::<type>``)."""
        doubles: set[str] = set()
        others: set[str] = set()
        for scan in translation.scans:
            for column in (await self._routes.get(scan.database, scan.table)).columns:
                if column.kind != "MEASURE":
                    (doubles if column.kind == "MULTI" and column.type == "DOUBLE" else others).add(column.name)
        return frozenset(doubles - others)

    async def _schemas_changed(self, translation: Translation) -> bool:
        tables = {(s.database, s.table) for s in translation.scans}
        before = {t: {layout.column_key(c) for c in (await self._routes.get(*t)).columns} for t in tables}
        for t in tables:
            self._routes.invalidate(*t)
        after = {t: {layout.column_key(c) for c in (await self._routes.get(*t)).columns} for t in tables}
        return after != before

    async def _metadata(self, query_id: str, statement: metadata.Statement, allow_partial: bool) -> QueryResult:
        if self._catalog is None:
            raise errors.Unavailable("this coordinator has no catalog to answer metadata statements from")
        scanned = [0]
        partial: list[str] = []

        async def select(sql: str) -> pa.Table:  # SHOW MEASURES reads the rows
            result = await self.execute(query_id, sql, allow_partial)
            scanned[0] += result.bytes_scanned
            partial.extend(result.partial_reasons)
            return result.table

        return QueryResult(await metadata.run(statement, self._catalog, select), scanned[0], partial)

    async def _unload(self, query_id: str, request: unload.Unload, allow_partial: bool) -> QueryResult:
        """Check the destination, run the SELECT (forwarded to the cell holding its tables like any query),
        then write its rows to the object store here, on the UNLOAD writers' own threads; a cancel or a
        timeout stops the writer before it writes the manifest."""
        if self._object_store is None:
            raise errors.ValidationError("UNLOAD needs an object store: this cluster's query nodes run without one "
                                         "(start them with --s3-endpoint and a key: docs/architecture.md, UNLOAD)")
        inner = request.select
        if any(p.parse(inner) is not None for p in (metadata, explain, unload)):
            raise errors.ValidationError("UNLOAD exports the rows of a SELECT query (not SHOW, DESCRIBE, EXPLAIN "
                                         "or UNLOAD)")
        fs = self._object_store.filesystem()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._unload_writers, unload_files.check_destination, fs, request,
                                   self._object_store.endpoint)
        result = await self.execute(query_id, inner, allow_partial)
        if result.partial_reasons:
            raise errors.Unavailable("UNLOAD will not export a partial result: " + "; ".join(result.partial_reasons))
        cancelled = threading.Event()
        self._unloads[query_id] = cancelled
        try:
            exported = await loop.run_in_executor(self._unload_writers, unload_files.write, result.table, request,
                                                  query_id, fs, cancelled)
        finally:
            cancelled.set()  # also when this task is cancelled (a timeout): the thread stops at its next check
            self._unloads.pop(query_id, None)
        log.info("unloaded", query_id=query_id, destination=request.destination, rows=result.table.num_rows,
                 format=request.format, options=dict(request.options))
        return QueryResult(exported.answer, result.bytes_scanned, result.partial_reasons,
                           unload=query_pb2.UnloadInsight(partition_count=exported.partitions,
                                                          written_rows=exported.rows, written_bytes=exported.bytes))

    async def _sole_other_cell(self, translation: Translation
                               ) -> tuple[list[common_pb2.NodeInfo] | None, list[tuple[str, str, int, str]]]:
        """The nodes of the one other cell holding every table the query reads (or None), and the route
        epochs that decided it."""
        holders: set[str] = set()
        nodes: dict[str, list[common_pb2.NodeInfo]] = {}
        epochs = []
        for scan in translation.scans:
            route = await self._routes.get(scan.database, scan.table)
            holders |= set(pruning.plan(route, scan).cells)
            nodes.update({c.cell: list(c.nodes) for c in route.cells})
            epochs.append((scan.database, scan.table, int(route.epoch), route.table_id))
        if len(holders) != 1:
            return None, epochs
        (cell,) = holders
        return (nodes.get(cell) or None if cell != self._members.cell else None), epochs

    async def _timed_read(self, scan: TableScan, allow_partial: bool
                          ) -> tuple[pa.Table, int, list[str], explain.ScanStats]:
        started = time.perf_counter()
        table, scanned, partial = await self._read_table(scan, allow_partial)
        return table, scanned, partial, explain.ScanStats(table.num_rows, scanned,
                                                          round((time.perf_counter() - started) * 1000, 2))

    async def _execute(self, query_id: str, translation: Translation, allow_partial: bool) -> QueryResult:
        started = time.perf_counter()
        with budget.reading(self.read_limit_bytes):
            reads = await asyncio.gather(*(self._timed_read(s, allow_partial) for s in translation.scans))
        read = time.perf_counter()
        partial = [m for _, _, msgs, _ in reads for m in msgs]
        if partial and not allow_partial:
            raise errors.Unavailable("cannot read every tile with quorum: " + "; ".join(partial))
        views = {scan.view: table for scan, (table, _, _, _) in zip(translation.scans, reads)}
        table = await asyncio.to_thread(self._final_stage, query_id, translation.sql, views)
        return QueryResult(table, sum(b for _, b, _, _ in reads), partial, read_ms=round((read - started) * 1000, 2),
                           final_ms=round((time.perf_counter() - read) * 1000, 2),
                           scans=[stats for _, _, _, stats in reads])

    async def _explain(self, query_id: str, request: explain.Request, allow_partial: bool) -> QueryResult:
        """The plan of ``request.query`` as text; with ANALYZE, run (here, not forwarded) and measured."""
        if any(p.parse(request.query) is not None for p in (metadata, explain, unload)):
            raise errors.ValidationError("EXPLAIN takes a SELECT query (SHOW, DESCRIBE, EXPLAIN and UNLOAD have no "
                                         "plan)")
        translation = translate(request.query, time.time_ns())
        routes = [await self._routes.get(s.database, s.table) for s in translation.scans]
        plans = [pruning.plan(route, s) for route, s in zip(routes, translation.scans)]
        specs = [_spec(s, route, plan.merge_cells) for s, route, plan in zip(translation.scans, routes, plans)]
        pushed = [explain.replica_filter(spec.predicate, spec.dimension_in, spec.measure_names,
                                         spec.latest_per_series) for spec in specs]
        if not request.analyze:
            return QueryResult(explain.as_table(explain.lines(translation, plans, pushed)), 0)
        result = await self._execute(query_id, translation, allow_partial)
        text = explain.lines(translation, plans, pushed, result.scans, (result.table.num_rows, result.final_ms))
        return QueryResult(explain.as_table(text), result.bytes_scanned, result.partial_reasons)

    def _final_stage(self, query_id: str, sql: str, views: dict[str, pa.Table]) -> pa.Table:
        con = self._sessions.cursor()
        self.connections[query_id] = con
        try:
            for name, table in views.items():
                sqlsession.refuse_case_collisions(table.schema.names)
                con.register(name, table)
            return result_types.timestream_typed(con.sql(sql)).to_arrow_table()
        except duckdb.InterruptException as exc:
            raise errors.Cancelled(f"query {query_id} was cancelled") from exc
        except (duckdb.BinderException, duckdb.CatalogException) as exc:
            raise UnboundName(f"cannot run the query: {sqlsession.user_message(exc)}") from exc
        except duckdb.Error as exc:
            raise sqlsession.sql_error(exc, "cannot run the query", self._sessions.memory_limit) from exc
        finally:
            self.connections.pop(query_id, None)
            con.close()

    def interrupt(self, query_id: str) -> None:
        """Stop a running final stage, or an UNLOAD's writer."""
        stop = self._unloads.get(query_id)
        if stop is not None:
            stop.set()
        con = self.connections.get(query_id)
        if con is not None:
            con.interrupt()

