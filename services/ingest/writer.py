"""The ingest write path: route check, validation, schema registration, tiling and quorum replication."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pyarrow as pa

from services.ingest.coalescer import AppendCoalescer
from services.ingest.replication import QuorumWriter
from tessera import errors, layout, partition_key, placement
from tessera.v1 import common_pb2, storage_pb2
from tessera.validation import ColumnSpec, TableContext, Validated

NS_PER_HOUR = 3600 * 1_000_000_000
NS_PER_DAY = 24 * NS_PER_HOUR


class Routes(Protocol):
    async def get(self, db: str, table: str, min_epoch: int = 0, table_id: str = "") -> common_pb2.TableRoute: ...
    def update_columns(self, db: str, table: str, columns: list[common_pb2.Column]) -> None: ...
    def invalidate(self, db: str, table: str) -> None: ...


class ColumnAdder(Protocol):
    async def add(self, route: common_pb2.TableRoute, columns: list[common_pb2.Column]) -> list[common_pb2.Column]: ...


class StorageMembers(Protocol):
    def by_role(self, role: str) -> list[common_pb2.NodeInfo]: ...


@dataclass
class WriteOutcome:
    """What a write stored and what it rejected (indexes into the caller's records or rows)."""

    memory_store: int
    magnetic_store: int
    rejected: list[common_pb2.RejectedRecord]


def table_context(route: common_pb2.TableRoute, now_ns: int) -> TableContext:
    """The validation context of a table from its route."""
    key = partition_key.of_route(route)
    return TableContext(
        columns={layout.column_key(c): ColumnSpec(kind=c.kind, type=c.type) for c in route.columns},
        memory_retention_ns=route.memory_retention_hours * NS_PER_HOUR,
        magnetic_retention_ns=route.magnetic_retention_days * NS_PER_DAY,
        magnetic_writes=route.magnetic_writes, now_ns=now_ns,
        required_dimension=key.required_dimension if key is not None else None)


def _prepare(route: common_pb2.TableRoute, validate: Callable[[TableContext], Validated]
             ) -> tuple[Validated, pa.Table | None, np.ndarray]:
    """Validation and key hashing: CPU work, run in a worker thread so the event loop keeps serving."""
    v = validate(table_context(route, time.time_ns()))
    if not v.rows.num_rows:
        return v, None, np.empty(0, dtype=np.uint64)
    key = partition_key.of_route(route)
    rows, range_hash = layout.with_key_columns(v.rows, v.dimension_columns, v.measure_columns, v.versions,
                                               range_column=key.column if key is not None else None)
    return v, rows, range_hash


class Writer:
    """Turns one validated write into quorum appends on the tiles of this cell."""

    def __init__(self, cell: str, routes: Routes, new_columns: ColumnAdder, members: StorageMembers,
                 quorum: QuorumWriter) -> None:
        self._cell = cell
        self._routes = routes
        self._new_columns = new_columns
        self._members = members
        self._appends = AppendCoalescer(quorum)

    async def write(self, db: str, table: str, epoch: int, validate: Callable[[TableContext], Validated],
                    table_id: str = "") -> WriteOutcome:
        """Validate with the table's context, then store every valid row durably on 2 of 3 replicas.

        Nothing changes (no column registered, no row sent) unless every row belongs to this cell. A route
        whose table the catalog no longer has (deleted, perhaps created again under the same name before
        this node heard) is dropped and the write tried once more with the table the name now names. So is a
        cached route naming another table than the caller's (``table_id``): one of the two is stale, and the
        catalog says which.
        """
        route_id = (await self._routes.get(db, table, epoch, table_id)).table_id
        try:
            return await self._write(db, table, epoch, validate, table_id)
        except errors.NotFound:
            self._routes.invalidate(db, table)
            if (await self._routes.get(db, table)).table_id == route_id:
                raise  # the table itself is gone (or never was): say so
            return await self._write(db, table, 0, validate)  # the route just looked up

    async def _write(self, db: str, table: str, epoch: int, validate: Callable[[TableContext], Validated],
                     table_id: str = "") -> WriteOutcome:
        route = await self._routes.get(db, table, epoch, table_id)
        v, rows, dim_hash = await asyncio.to_thread(_prepare, route, validate)
        groups = self._tiles(route, rows, dim_hash) if rows is not None else []
        if v.new_columns:
            registered = await self._new_columns.add(
                route, [common_pb2.Column(name=layout.schema_name(k), kind=s.kind, type=s.type)
                        for k, s in v.new_columns.items()])
            self._routes.update_columns(db, table, registered)
            mine = {layout.column_key(c): (c.kind, c.type) for c in registered}
            if any(mine.get(k) != (s.kind, s.type) for k, s in v.new_columns.items()):
                # Another writer registered a column first with another type: validate again against it.
                route = await self._routes.get(db, table)
                v, rows, dim_hash = await asyncio.to_thread(_prepare, route, validate)
                groups = self._tiles(route, rows, dim_hash) if rows is not None else []
            unknown = [layout.schema_name(k) for k in v.new_columns if k not in mine]
            if unknown:  # rows in a column the table's schema would not show: never acknowledge them
                raise errors.Unavailable(f"columns {', '.join(unknown)} of table {db}.{table} could not be added to "
                                         "its schema now; retry")
        rejected = {r.record_index: r for r in v.rejected}
        memory = magnetic = 0
        if rows is not None:
            results = await asyncio.gather(*(self._append(route, key, rows, idx) for key, idx in groups))
            stored = np.ones(rows.num_rows, dtype=bool)
            for (_, idx), bad in zip(groups, results):
                for row, rec in bad.items():
                    source = int(v.source_index[idx[row]])
                    stored[idx[row]] = False
                    rejected[source] = common_pb2.RejectedRecord(
                        record_index=source, reason=rec.reason,
                        existing_version=rec.existing_version if rec.HasField("existing_version") else None)
            magnetic = int(np.count_nonzero(stored & v.magnetic))
            memory = int(np.count_nonzero(stored)) - magnetic
        return WriteOutcome(memory, magnetic, [rejected[i] for i in sorted(rejected)])

    def _tiles(self, route: common_pb2.TableRoute, rows: pa.Table, dim_hash: np.ndarray
               ) -> list[tuple[tuple[int, int], np.ndarray]]:
        """Row indexes grouped by tile (range lo, time bucket); StaleRoute if a row is not this cell's."""
        los = np.array([r.lo for r in route.ranges], dtype=np.uint64)
        range_idx = np.searchsorted(los, dim_hash, side="right") - 1
        for i in np.unique(range_idx):
            owner = route.ranges[int(i)].cell
            if owner != self._cell:
                raise errors.StaleRoute(
                    f"table {route.database_name}.{route.table_name}: hash range {route.ranges[int(i)].lo:#018x} "
                    f"is owned by cell {owner}, not {self._cell} (routing epoch {route.epoch}); refresh the route",
                    route.epoch)
        buckets = rows.column(layout.TIME).cast(pa.int64()).to_numpy() // layout.TILE_BUCKET_NS
        # One int64 per row naming its tile, then one stable sort: rows of a tile keep their order.
        tile_of = range_idx.astype(np.int64) * (1 << 40) + (buckets - buckets.min())
        order = np.argsort(tile_of, kind="stable")
        bounds = np.flatnonzero(np.diff(tile_of[order])) + 1
        groups = []
        for idx in np.split(order, bounds):
            first = int(idx[0])
            groups.append(((int(route.ranges[int(range_idx[first])].lo), int(buckets[first])), idx))
        return groups

    async def _append(self, route: common_pb2.TableRoute, key: tuple[int, int], rows: pa.Table,
                      idx: np.ndarray) -> dict[int, common_pb2.RejectedRecord]:
        range_lo, bucket = key
        tile = storage_pb2.TileId(table_id=route.table_id, range_lo=range_lo, bucket=bucket)
        replicas = placement.replicas(placement.tile_name(route.table_id, range_lo, bucket),
                                      self._members.by_role("storage"))
        contiguous = int(idx[-1]) - int(idx[0]) + 1 == len(idx)  # the usual case: no copy, just a slice
        part = rows.slice(int(idx[0]), len(idx)) if contiguous else rows.take(pa.array(idx))
        return await self._appends.append(tile, replicas, part)
