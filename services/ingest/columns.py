"""New columns of a write: decided by the catalog, or by the cell's claim replicas while it is unreachable.

Static stability for schema changes. A column's kind and type are fixed by its first writer. With the
catalog store (etcd) up, the catalog decides (first-writer-wins transaction). With it down, a table whose
ranges all belong to this cell still takes new columns: they are claimed on the table's three claim
replicas (``services/storage/column_claims.py``), and a claim two replicas hold is decided for good. Every
new column is claimed first, with the catalog up too, and the catalog is then asked to register the
claimed type, so a column decided during an outage is the one the catalog gets afterwards whoever asks
first; only a decided type is ever used without the catalog. Where the catalog's answer is not what the
claims decided (they were split, or the catalog had the column first), the claim replicas are given the
catalog's answer, which replaces theirs. The replicas push their claims to the catalog once it is back
(``ClaimSync``) and take its answer the same way.

A table spread over several cells has claim replicas in each, which could decide differently: its new
columns need the catalog, and fail fast with Unavailable naming it while it is down.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

import structlog

from services.storage.client import StoragePool
from services.storage.column_claims import Registrar, claim_by_majority, claim_replicas
from tessera import errors, layout
from tessera.v1 import catalog_pb2, common_pb2, storage_pb2

log = structlog.get_logger()
CATALOG_WAIT_S = 0.5
"""How long a write waits for the catalog to register a new column before going by the claims (a
registration takes milliseconds; an etcd that is down takes its own timeout, seconds, to say so)."""
CLAIM_TEACH_S = 1.0
"""How long a write waits for the claim replicas to take the catalog's answer (best effort)."""
PROBE_INTERVAL_S = 1.0
"""How often the catalog is tried again in the background once it failed to answer."""


class Catalog(Registrar, Protocol):
    async def describe_table_by_id(self, table_id: str) -> tuple[catalog_pb2.Table, int]: ...


class StorageMembers(Protocol):
    def by_role(self, role: str) -> list[common_pb2.NodeInfo]: ...


class NewColumns:
    """Adds a write's new columns to its table's schema, with or without the catalog."""

    def __init__(self, cell: str, catalog: Catalog, members: StorageMembers, pool: StoragePool) -> None:
        self._cell = cell
        self._catalog = catalog
        self._members = members
        self._pool = pool
        self._catalog_away = False
        """The catalog failed to answer: new columns go by claims alone (no wait on each write) until a probe
        in the background gets an answer."""
        self._probe: asyncio.Task[None] | None = None
        self._warned: set[str] = set()

    async def add(self, route: common_pb2.TableRoute, columns: list[common_pb2.Column]) -> list[common_pb2.Column]:
        """The table's schema with ``columns`` in it, each with the kind and type decided for it (which may
        differ from the one proposed: another writer was first)."""
        table = f"{route.database_name}.{route.table_name}"
        cells = sorted({r.cell for r in route.ranges})
        if cells != [self._cell]:
            # Claim replicas are per cell and could decide differently: only the catalog decides, with its
            # own deadline, whatever the probe last saw.
            try:
                return await self._catalog.register_columns(route.table_id, columns)
            except (errors.Unavailable, errors.DeadlineExceeded) as exc:
                raise errors.Unavailable(
                    f"cannot add columns {', '.join(c.name for c in columns)} to table {table} now: the catalog "
                    f"store is unreachable ({exc}), and the table's ranges span cells {', '.join(cells)}, so only "
                    "the catalog can decide a new column's type. Records using the table's existing columns are "
                    "still written; retry these once the catalog is back") from exc
        replicas = claim_replicas(route.table_id, self._members.by_role("storage"))
        decided, failures = await claim_by_majority(self._pool, replicas, route.table_id, columns)
        catalog_error: errors.TesseraError | None = None
        if not self._catalog_away:
            try:
                async with asyncio.timeout(CATALOG_WAIT_S):
                    # A decided type if there is one (it may already hold rows written during an outage);
                    # else the writer's, and the catalog decides.
                    schema = await self._catalog.register_columns(
                        route.table_id, [decided.get(layout.column_key(c), c) for c in columns])
            except (errors.Unavailable, errors.DeadlineExceeded, TimeoutError) as exc:
                catalog_error = exc if isinstance(exc, errors.TesseraError) else errors.DeadlineExceeded(
                    f"no answer within {CATALOG_WAIT_S:g} s")
                self._catalog_away = True
                self._probe = asyncio.create_task(self._until_catalog_answers(route.table_id))
            else:
                await self._teach_claims(route.table_id, replicas, columns, decided, schema)
                return schema
        names = ", ".join(c.name for c in columns)
        away = f"the catalog store is unreachable ({catalog_error or 'it stopped answering; new columns go by claims until it is back'})"
        if len(decided) < len(columns):
            raise errors.Unavailable(
                f"cannot add columns {names} to table {table} now: {away}, and the table's column-claim "
                f"replicas decided no type for them ({'; '.join(failures)}); retry")
        proposal = [decided[layout.column_key(c)] for c in columns]
        if route.table_id not in self._warned:  # once a table per outage: a busy writer adds many columns
            self._warned.add(route.table_id)
            log.warning("new columns are decided by the table's claim replicas while the catalog store is "
                        "unreachable; the replicas register them in the catalog once it is back", table=table,
                        table_id=route.table_id, columns=[f"{c.name}:{c.type}" for c in proposal])
        return [*route.columns, *proposal]

    async def _teach_claims(self, table_id: str, replicas: list[common_pb2.NodeInfo], columns: list[common_pb2.Column],
                            decided: dict[str, common_pb2.Column], schema: list[common_pb2.Column]) -> None:
        """Where the claims did not decide the catalog's answer (undecided, or the catalog already had the
        column), give the claim replicas the catalog's types, so that a later outage decides as the catalog
        did. Best effort: a replica that misses it is corrected by its own ClaimSync."""
        have = {layout.column_key(c): c for c in schema}
        taught = []
        for c in columns:
            key = layout.column_key(c)
            if key in have and (key not in decided or _spec(decided[key]) != _spec(have[key])):
                taught.append(have[key])
        if not taught:
            return
        request = storage_pb2.ClaimColumnsRequest(table_id=table_id, columns=taught, authoritative=True)
        results = await asyncio.gather(*(self._pool.get(n.address).claim_columns(request, CLAIM_TEACH_S)
                                         for n in replicas), return_exceptions=True)
        for node, result in zip(replicas, results):
            if isinstance(result, BaseException):
                log.info("claim_replica_not_taught", node=node.node_id, table_id=table_id, error=str(result))

    async def _until_catalog_answers(self, table_id: str) -> None:
        """Ask the catalog about the table until it answers (a read: it registers nothing), then end the
        claims-only mode; a NotFound is an answer too."""
        while True:
            await asyncio.sleep(PROBE_INTERVAL_S)
            try:
                await self._catalog.describe_table_by_id(table_id)
            except (errors.Unavailable, errors.DeadlineExceeded):
                continue
            except errors.TesseraError:
                pass
            self._catalog_away = False
            self._warned.clear()
            log.info("the catalog store answers again: new columns are registered in it directly")
            return

    async def stop(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            await asyncio.gather(self._probe, return_exceptions=True)


def _spec(column: common_pb2.Column) -> tuple[str, str]:
    return column.kind, column.type
