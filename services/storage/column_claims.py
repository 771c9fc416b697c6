"""Column claims: the provisional schema that lets writes add columns while the catalog store is down.

A claim is a column's kind and type as one ingest node proposed it. A replica keeps the first claim it
receives for a (table, column) and answers every later claim of that column with it, durably: the answer
is sent only once the claim file is written (temporary file, fsync, rename, fsync of the directory). The
ingest side (``services/ingest/columns.py``) decides a column by a majority of the table's claim replicas,
which is why a replica never changes a claim it holds. The file lives beside the table's partitions
(``<table_id>/columns.json``), so deleting the table's files deletes it.

Claims exist for the catalog's sake only while it is unreachable: every claim a replica holds is pushed
to the catalog by ``ClaimSync`` (decided again by majority first, so a replica that took a losing claim
never registers it), and is marked confirmed once the catalog has the column. An ingest node that wrote
with a claimed column and then died therefore cannot leave acknowledged data in a column the catalog
never learns of.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from services.storage.blobstore import BlobStore, check_path
from services.storage.client import StoragePool
from tessera import errors, layout, placement
from tessera.fanout import FanOut
from tessera.v1 import common_pb2, storage_pb2

log = structlog.get_logger()

CLAIMS_FILE = "columns.json"
KINDS = ("DIMENSION", "MEASURE", "MULTI")
TYPES = ("VARCHAR", "DOUBLE", "BIGINT", "BOOLEAN", "TIMESTAMP")


MAJORITY = 2
_BACKGROUND: set[asyncio.Task[storage_pb2.ClaimColumnsResponse]] = set()


def claim_replicas(table_id: str, storage_nodes: Sequence[common_pb2.NodeInfo]) -> list[common_pb2.NodeInfo]:
    """The three replicas that hold a table's column claims (placed like a tile, one per zone)."""
    return placement.replicas(f"{table_id}/columns", storage_nodes)


async def claim_by_majority(pool: StoragePool, replicas: Sequence[common_pb2.NodeInfo], table_id: str,
                            columns: Sequence[common_pb2.Column], timeout_s: float = 1.0
                            ) -> tuple[dict[str, common_pb2.Column], list[str]]:
    """Claim ``columns`` on every replica; per column, the claim a majority of complete replicas holds.

    A claim held by two replicas is decided for good (a replica never changes a claim), so whoever asks
    later gets the same answer. Returns the decided columns by name, and what kept the others undecided.
    """
    request = storage_pb2.ClaimColumnsRequest(table_id=table_id, columns=columns)
    votes: dict[str, dict[tuple[str, str], int]] = {layout.column_key(c): {} for c in columns}
    decided: dict[str, common_pb2.Column] = {}
    # Late calls are not cancelled: a claim that reaches its replica late is still a claim made.
    async with FanOut[storage_pb2.ClaimColumnsResponse](keep_late=True, background=_BACKGROUND) as calls:
        for n in replicas:
            calls.start(n, pool.get(n.address).claim_columns(request, timeout_s))
        while calls.running and len(decided) < len(columns):
            for a in await calls.next():
                if a.error is not None:
                    calls.fail(a.node, a.error)
                elif a.value.incomplete:
                    calls.fail(a.node, "is rebuilding, so its claims do not count")
                else:
                    for c in a.value.columns:
                        tally = votes.setdefault(layout.column_key(c), {})
                        spec = (c.kind, c.type)
                        tally[spec] = tally.get(spec, 0) + 1
                        if tally[spec] >= MAJORITY:
                            decided.setdefault(layout.column_key(c), c)
    failures = calls.failures
    undecided = [layout.column_key(c) for c in columns if layout.column_key(c) not in decided]
    if undecided:
        failures.append(f"no majority for {', '.join(undecided)} (claims held: "
                        f"{'; '.join(f'{k}: {sorted(votes.get(k, {}).items())}' for k in undecided)})")
    return decided, failures


class Registrar(Protocol):
    async def register_columns(self, table_id: str, columns: list[common_pb2.Column]) -> list[common_pb2.Column]: ...


@dataclass
class _TableClaims:
    held: dict[str, tuple[str, str]] = field(default_factory=dict)
    """(kind, type) by schema key (``layout.schema_key``)."""
    confirmed: set[str] = field(default_factory=set)
    """Schema keys of columns the catalog is known to have: no need to push them again."""


class ColumnClaims:
    """First-writer-wins column claims of every table on one replica."""

    def __init__(self, store: BlobStore, deleted: Callable[[str], bool]) -> None:
        self._store = store
        self._deleted = deleted
        self._tables: dict[str, _TableClaims] = {}
        self._lock = asyncio.Lock()  # one writer of the claim files at a time: a claim is read, then replaced
        self._scanned = False

    async def claim(self, table_id: str, columns: Sequence[common_pb2.Column], authoritative: bool = False
                    ) -> list[common_pb2.Column]:
        """What this replica holds for each column, in order: the claim it held before, else this one.
        ``authoritative``: the catalog's types, which replace what is held and count as confirmed."""
        _check(table_id, columns)
        if self._deleted(table_id):
            raise errors.NotFound(f"table {table_id} was deleted: its columns cannot be claimed")
        # Shielded: a caller that stops waiting (a deadline, a quorum reached without this replica) must not
        # cancel a save between the file's rename and the cache's update, or the next save would write a
        # file from the stale cache and a claim already answered would change.
        return await asyncio.shield(self._claim(table_id, list(columns), authoritative))

    async def _claim(self, table_id: str, columns: list[common_pb2.Column], authoritative: bool
                     ) -> list[common_pb2.Column]:
        async with self._lock:
            table = await self._table(table_id)
            keys = [layout.column_key(c) for c in columns]
            if authoritative:
                changed = {k: (c.kind, c.type) for k, c in zip(keys, columns) if table.held.get(k) != (c.kind, c.type)}
                if changed or not set(keys) <= table.confirmed:
                    await self._save(table_id, _TableClaims({**table.held, **changed}, table.confirmed | set(keys)))
            else:
                fresh = {k: (c.kind, c.type) for k, c in zip(keys, columns) if k not in table.held}
                if fresh:
                    await self._save(table_id, _TableClaims({**table.held, **fresh}, table.confirmed))
            held = self._tables[table_id].held
        return [common_pb2.Column(name=c.name, kind=held[k][0], type=held[k][1]) for k, c in zip(keys, columns)]

    async def unconfirmed(self) -> dict[str, list[common_pb2.Column]]:
        """Per table, the claims not yet known to be in the catalog."""
        if not self._scanned:
            await self._scan()
        async with self._lock:
            for table_id in [t for t in self._tables if self._deleted(t)]:
                del self._tables[table_id]  # its files go with the table's; nothing left to push
            return {table_id: [_column(key, spec) for key, spec in sorted(claims.held.items())
                               if key not in claims.confirmed]
                    for table_id, claims in self._tables.items() if set(claims.held) - claims.confirmed}

    async def held(self) -> dict[str, list[common_pb2.Column]]:
        """Every claim held, by table (deleted tables left out)."""
        if not self._scanned:
            await self._scan()
        async with self._lock:
            return {table_id: [_column(key, spec) for key, spec in sorted(claims.held.items())]
                    for table_id, claims in self._tables.items() if claims.held and not self._deleted(table_id)}

    async def confirm(self, table_id: str, keys: Sequence[str]) -> None:
        """The catalog has the columns of these schema keys (or the table is gone): stop pushing them."""
        async with self._lock:
            table = self._tables.get(table_id)
            if table is None:
                return
            if self._deleted(table_id):
                del self._tables[table_id]
                return
            await asyncio.shield(self._save(table_id, _TableClaims(table.held, table.confirmed | set(keys))))

    async def _save(self, table_id: str, claims: _TableClaims) -> None:
        body = json.dumps({"columns": {n: list(spec) for n, spec in sorted(claims.held.items())},
                           "confirmed": sorted(claims.confirmed)}).encode()
        await asyncio.to_thread(self._store.put, self._path(table_id), body)
        self._tables[table_id] = claims

    async def _table(self, table_id: str) -> _TableClaims:
        """One table's claims, read from its file the first time (caller holds the lock)."""
        table = self._tables.get(table_id)
        if table is None:
            read = await asyncio.to_thread(self._read, table_id)
            table = self._tables[table_id] = read if read is not None else _TableClaims()
        return table

    def _read(self, table_id: str) -> _TableClaims | None:
        path = self._path(table_id)
        if not self._store.exists(path):
            return None
        raw = json.loads(self._store.read(path))
        # Keyed again from each claim's kind: files written before single-measure names had a namespace of
        # their own keyed them by bare name.
        held = {layout.schema_key(s[0], layout.schema_name(key)): (s[0], s[1]) for key, s in raw["columns"].items()}
        kinds = {key: s[0] for key, s in raw["columns"].items()}
        confirmed = {layout.schema_key(kinds[key], layout.schema_name(key)) for key in raw["confirmed"] if key in kinds}
        return _TableClaims(held, confirmed)

    async def _scan(self) -> None:
        """Find every table with a claim file (once, for ClaimSync; outside the lock: a node's listing of
        all its files is long, and claims must not wait for it)."""
        paths = await asyncio.to_thread(self._store.list, "")
        tables = {p.split("/")[0] for p in paths if p.count("/") == 1 and p.endswith(f"/{CLAIMS_FILE}")}
        for table_id in sorted(tables):
            if self._deleted(table_id):
                continue
            async with self._lock:
                await self._table(table_id)
        self._scanned = True

    @staticmethod
    def _path(table_id: str) -> str:
        return f"{table_id}/{CLAIMS_FILE}"


def _column(key: str, spec: tuple[str, str]) -> common_pb2.Column:
    return common_pb2.Column(name=layout.schema_name(key), kind=spec[0], type=spec[1])


def _check(table_id: str, columns: Sequence[common_pb2.Column]) -> None:
    if not table_id:
        raise errors.ValidationError("ClaimColumnsRequest.table_id is required")
    check_path(table_id)
    if not columns:
        raise errors.ValidationError("ClaimColumnsRequest.columns must name at least one column")
    for i, c in enumerate(columns):
        if not c.name:
            raise errors.ValidationError(f"ClaimColumnsRequest.columns[{i}].name is required")
        if c.kind not in KINDS:
            raise errors.ValidationError(f"ClaimColumnsRequest.columns[{i}] ({c.name!r}): kind {c.kind!r} is not one "
                                         f"of {', '.join(KINDS)}")
        if c.type not in TYPES:
            raise errors.ValidationError(f"ClaimColumnsRequest.columns[{i}] ({c.name!r}): type {c.type!r} is not one "
                                         f"of {', '.join(TYPES)}")


class ClaimSync:
    """Pushes this replica's unconfirmed claims to the catalog, each decided again by majority first."""

    def __init__(self, claims: ColumnClaims, pool: StoragePool, peers: Callable[[], list[common_pb2.NodeInfo]],
                 catalog: Registrar, interval_s: float = 2.0) -> None:
        self._claims = claims
        self._pool = pool
        self._peers = peers
        self._catalog = catalog
        self._interval = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.push()
            except errors.TesseraError as exc:  # the catalog or the peers are away: next round
                log.debug("claim_sync_deferred", error=str(exc))
            except Exception:
                log.exception("claim_sync_failed")

    async def push(self) -> int:
        """One round; returns how many columns the catalog now confirms. A table whose claims cannot be
        pushed now (no majority, the catalog away) waits for the next round; the others go on."""
        confirmed = 0
        for table_id, columns in (await self._claims.unconfirmed()).items():
            try:
                confirmed += await self._push_table(table_id, columns)
            except errors.TesseraError as exc:
                log.debug("claim_sync_deferred", table_id=table_id, error=str(exc))
        return confirmed

    async def _push_table(self, table_id: str, columns: list[common_pb2.Column]) -> int:
        decided, failures = await claim_by_majority(self._pool, claim_replicas(table_id, self._peers()),
                                                    table_id, columns)
        if not decided:
            log.info("claims_undecided", table_id=table_id, failures=failures)
            return 0
        try:
            schema = await self._catalog.register_columns(table_id, list(decided.values()))
        except errors.NotFound:
            await self._claims.confirm(table_id, [layout.column_key(c) for c in columns])  # the table is gone
            return 0
        have = {layout.column_key(c): c for c in schema}
        for key, c in decided.items():
            if key in have and (have[key].kind, have[key].type) != (c.kind, c.type):
                log.error("a column claimed while the catalog was unreachable was registered with another type "
                          "(rows written under the claim do not match the catalog's schema)", table_id=table_id,
                          column=c.name, claimed=[c.kind, c.type], catalog=[have[key].kind, have[key].type])
        # The catalog's answer replaces this replica's claims (and confirms them): a later outage decides
        # as the catalog did, even where this replica had taken a losing claim.
        answered = [have[n] for n in decided if n in have]
        if answered:
            await self._claims.claim(table_id, answered, authoritative=True)
        return len(answered)


async def adopt_peers_claims(claims: ColumnClaims, pool: StoragePool, members: Sequence[common_pb2.NodeInfo],
                             node_id: str, timeout_s: float = 10.0) -> bool:
    """For a replica rebuilt from an empty data directory: take every claim that the other claim replicas
    of its table agree on (two of them), as first-writer claims, so that a claim decided before the wipe
    stays decided. False (try again next round) unless every peer answered."""
    peers = [n for n in members if n.node_id != node_id]
    answers = await asyncio.gather(*(pool.get(n.address).list_claims(storage_pb2.ListClaimsRequest(), timeout_s)
                                     for n in peers), return_exceptions=True)
    if any(isinstance(a, BaseException) for a in answers):
        return False
    votes: dict[str, dict[tuple[str, str, str], int]] = {}  # table -> (name, kind, type) -> peers holding it
    for node, answer in zip(peers, answers):
        assert isinstance(answer, storage_pb2.ListClaimsResponse)
        for table in answer.tables:
            if node.node_id in {n.node_id for n in claim_replicas(table.table_id, members)}:
                tally = votes.setdefault(table.table_id, {})
                for c in table.columns:
                    tally[(c.name, c.kind, c.type)] = tally.get((c.name, c.kind, c.type), 0) + 1
    for table_id, tally in votes.items():
        if node_id not in {n.node_id for n in claim_replicas(table_id, members)}:
            continue
        agreed = [common_pb2.Column(name=n, kind=k, type=t) for (n, k, t), count in sorted(tally.items())
                  if count >= MAJORITY]
        if agreed:
            await claims.claim(table_id, agreed)
    return True
