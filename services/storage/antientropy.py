"""Anti-entropy: each replica compares its tiles with its peers' and copies what it lacks (pull, no operator).

Every ``interval`` the replica asks each peer of its cell for per-tile digests of every table: a row count
and an order-independent hash per time slice (``TileDigests``, cached by the peers per tile until its rows
change). Slices whose digests differ are read from the replicas whose answers count (``SCAN_MERGE``, every
column with the keys), resolved with the one rule for replicas (``dedup.resolve_replicas``: newest version,
then the value most replicas hold) and installed here (``TileStore.install``, which replaces a same-version
value the replicas outvoted). Nothing is pushed: each replica repairs itself, so three replicas converge
once each has run a round.

- A slice that differs because writes are in flight would be copied for nothing: a complete replica repairs
  a slice only when it saw the same difference (the same digests) in the previous round too.
- A replica that is rebuilding (new or wiped data directory, or lost WAL entries) repairs every difference at
  once, takes conflicting values only from complete peers, and counts as a replica again (``mark_complete``)
  after a round in which every peer answered for every table and nothing was left undecided.
- A conflict that the replicas answering cannot decide (two values, one vote each, the third silent) is left
  for a later round: repair never guesses.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pyarrow as pa
import structlog

from services.storage.client import StoragePool
from services.storage.tables import TableInfo
from services.storage.tilekey import TileKey
from services.storage.tilestore import TileStore
from tessera import arrowipc, dedup, errors, placement
from tessera.v1 import common_pb2, storage_pb2

_log = structlog.get_logger()
MAX_BUCKET = (1 << 62)
ACTIVE_FACTOR = 2
"""A complete replica leaves out tiles that took an append within this many repair intervals."""
INSTALL_ROWS = 200_000
"""Rows installed per repair append (bounds one WAL entry and its working memory)."""

Slice = tuple[TileKey, int]  # (tile, slice start ns)


@dataclass
class RoundReport:
    """What one anti-entropy round saw and did."""

    peers_answered: int = 0
    slices_compared: int = 0
    slices_repaired: int = 0
    rows_installed: int = 0
    undecided: int = 0
    complete: bool = False
    """Every peer answered for every table and no difference was left undecided."""


@dataclass
class _Peer:
    node: common_pb2.NodeInfo
    complete: bool
    slices: dict[Slice, tuple[int, int]]  # (rows, digest)


class AntiEntropy:
    """The repair loop of one storage replica."""

    def __init__(self, store: TileStore, tables: Callable[[], Sequence[TableInfo]], synced: Callable[[], bool],
                 pool: StoragePool, peers: Callable[[], list[common_pb2.NodeInfo]], interval_s: float, slice_s: int,
                 timeout_s: float = 30.0) -> None:
        self._store = store
        self._tables = tables
        self._synced = synced  # the table catalog has its first full picture: no table is unknown
        self._pool = pool
        self._peers = peers
        self._interval = interval_s
        self._slice_ns = slice_s * 1_000_000_000
        self._timeout = timeout_s
        self._seen: dict[str, dict[Slice, tuple[object, ...]]] = {}  # per table: last round's differences
        self._task: asyncio.Task[None] | None = None
        self._hinted = asyncio.Lock()  # one hinted repair at a time: hints for a tile arrive in bursts

    def start(self) -> None:
        """Run rounds in the background: the first at once (a rebuilding replica is waiting for it)."""
        self._task = asyncio.create_task(self._forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _forever(self) -> None:
        while True:
            rebuilding = self._store.incomplete_reason is not None
            try:
                report = await self.round()
                if report.slices_repaired or report.undecided:
                    _log.info("anti-entropy round", **vars(report))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the loop must outlive one bad round; it is logged
                _log.error("anti-entropy round failed; retrying next round", error=repr(exc))
            # A rebuilding replica retries soon: until it is complete, writes do not count its vote.
            await asyncio.sleep(min(self._interval, 1.0) if rebuilding else self._interval)

    async def round(self) -> RoundReport:
        """Compare every table's tiles with every peer; repair this replica where they differ."""
        report = RoundReport()
        catalog_ready = self._synced()
        peers = self._peers()
        needed = placement.REPLICAS - 1  # a row acknowledged with this replica's vote may be on either peer only
        rebuilding = self._store.incomplete_reason is not None
        everyone_answered = True
        tables = [t for t in self._tables() if not t.deleted]
        self._seen = {t.table_id: self._seen.get(t.table_id, {}) for t in tables}  # forget deleted tables
        for table in tables:
            # Tiles still taking appends differ for a moment on every replica: a complete replica leaves them
            # out until they go quiet (a rebuilding one, which must end up holding them, compares them all).
            skip = 0.0 if rebuilding else ACTIVE_FACTOR * self._interval
            mine, active = await self._store.tile_digests(table.table_id, 0, MAX_BUCKET, self._slice_ns, skip)
            ours = {(key, start): (rows, d) for key, slices in mine for start, rows, d in slices}
            answers = await asyncio.gather(*(self._digests(p, table.table_id, skip) for p in peers))
            answered = [a for a in answers if a is not None]
            skipped = set(active)
            for peer in answered:
                peer.slices = {s: d for s, d in peer.slices.items() if s[0] not in skipped}
            report.peers_answered = max(report.peers_answered, len(answered))
            if len(answered) < needed:
                everyone_answered = False
            sources = [p for p in answered if p.complete] or ([] if not rebuilding else answered)
            differing = self._differences(table.table_id, ours, answered, rebuilding)
            report.slices_compared += len(set(ours) | {s for p in answered for s in p.slices})
            for key, starts in _by_tile(differing).items():
                installed, undecided = await self._repair(table, key, starts, sources, rebuilding)
                report.rows_installed += installed
                report.undecided += undecided
                report.slices_repaired += len(starts) - undecided
        report.complete = catalog_ready and everyone_answered and report.undecided == 0
        if report.complete and rebuilding:
            await self._store.mark_complete()
        return report

    async def repair_tiles(self, table_id: str, keys: Sequence[TileKey]) -> RoundReport:
        """Hinted repair: compare these tiles with the peers now (active or not, no waiting for a difference
        to hold still) and copy what this replica lacks. Ingest asks for it when this replica missed an
        append or disagreed with the others on one."""
        report = RoundReport()
        table = next((t for t in self._tables() if t.table_id == table_id and not t.deleted), None)
        wanted = set(keys)
        if table is None or not wanted:
            return report
        low, high = min(k.bucket for k in wanted), max(k.bucket for k in wanted)
        async with self._hinted:
            rebuilding = self._store.incomplete_reason is not None
            mine, _ = await self._store.tile_digests(table_id, low, high, self._slice_ns)
            ours = {(key, start): (rows, d) for key, slices in mine if key in wanted for start, rows, d in slices}
            answers = await asyncio.gather(*(self._digests(p, table_id, 0.0, low, high) for p in self._peers()))
            answered = [a for a in answers if a is not None]
            for peer in answered:
                peer.slices = {s: d for s, d in peer.slices.items() if s[0] in wanted}
            report.peers_answered = len(answered)
            sources = [p for p in answered if p.complete] or ([] if not rebuilding else answered)
            differing = [s for s in set(ours) | {s for p in answered for s in p.slices}
                         if any(p.slices.get(s) != ours.get(s) for p in answered)]
            report.slices_compared = len(set(ours) | {s for p in answered for s in p.slices})
            for key, starts in _by_tile(differing).items():
                installed, undecided = await self._repair(table, key, starts, sources, rebuilding)
                report.rows_installed += installed
                report.undecided += undecided
                report.slices_repaired += len(starts) - undecided
        return report

    async def _digests(self, peer: common_pb2.NodeInfo, table_id: str, skip_active_s: float,
                       low: int = 0, high: int = MAX_BUCKET) -> _Peer | None:
        request = storage_pb2.TileDigestsRequest(table_id=table_id, min_bucket=low, max_bucket=high,
                                                 slice_ns=self._slice_ns, skip_active_s=skip_active_s)
        try:
            got = await self._pool.get(peer.address).tile_digests(request, self._timeout)
        except errors.TesseraError as exc:
            _log.debug("anti-entropy: a peer did not answer", peer=peer.node_id, error=str(exc))
            return None
        slices = {(TileKey(t.tile.table_id, t.tile.range_lo, t.tile.bucket), s.start_ns): (s.rows, s.digest)
                  for t in got.tiles for s in t.slices}
        return _Peer(peer, not got.incomplete, slices)

    def _differences(self, table_id: str, ours: dict[Slice, tuple[int, int]], peers: list[_Peer],
                     rebuilding: bool) -> list[Slice]:
        """Slices to repair now: every difference when rebuilding, else those seen alike last round too."""
        now: dict[Slice, tuple[object, ...]] = {}
        for s in set(ours) | {s for p in peers for s in p.slices}:
            signature = (ours.get(s), *(p.slices.get(s) for p in peers))
            if any(x != signature[0] for x in signature[1:]):
                now[s] = signature
        seen = self._seen.get(table_id, {})
        due = list(now) if rebuilding else [s for s, sig in now.items() if seen.get(s) == sig]
        self._seen[table_id] = {s: sig for s, sig in now.items() if s not in due}
        return due

    async def _repair(self, table: TableInfo, key: TileKey, starts: list[int], sources: list[_Peer],
                      rebuilding: bool) -> tuple[int, int]:
        """Copy the resolved rows of these slices of one tile here; return (rows installed, undecided)."""
        schema = table.stored_columns()
        installed = undecided = 0
        for lo, hi in _ranges(sorted(starts), self._slice_ns):
            request = storage_pb2.ScanRequest(
                tiles=[storage_pb2.TileId(table_id=key.table_id, range_lo=key.range_lo, bucket=key.bucket)],
                schema=[common_pb2.Column(name=n, type=t) for n, t in schema], start_ns=lo, end_ns=hi,
                mode=storage_pb2.SCAN_MERGE)
            theirs = await asyncio.gather(*(self._rows(p.node, request) for p in sources))
            tables = [t for t in theirs if t is not None]
            if not rebuilding:  # this replica's own rows vote too
                mine = await self._store.scan([key], schema, [], "", lo, hi, with_keys=True)
                if mine.table is not None:
                    tables.append(mine.table)
            if not tables:
                undecided += _count(starts, lo, hi, self._slice_ns)
                continue
            voters = len(tables)
            try:
                resolved = await asyncio.to_thread(dedup.resolve_replicas, tables, voters >= placement.REPLICAS)
            except dedup.ReplicasDisagree as exc:
                _log.warning("anti-entropy left a conflict undecided", tile=key.dir_name(), error=str(exc))
                undecided += _count(starts, lo, hi, self._slice_ns)
                continue
            for offset in range(0, resolved.num_rows, INSTALL_ROWS):
                installed += await self._store.install(key, resolved.slice(offset, INSTALL_ROWS))
        return installed, undecided

    async def _rows(self, node: common_pb2.NodeInfo, request: storage_pb2.ScanRequest) -> pa.Table | None:
        parts: list[pa.Table] = []
        try:
            async for chunk in self._pool.get(node.address).scan(request, self._timeout):
                if chunk.arrow_ipc:
                    parts.append(arrowipc.from_ipc(chunk.arrow_ipc))
        except errors.TesseraError as exc:
            _log.debug("anti-entropy: a peer's rows could not be read", peer=node.node_id, error=str(exc))
            return None
        filled = [p for p in parts if p.num_rows] or parts[:1]
        return pa.concat_tables(filled, promote_options="default") if filled else None


def _by_tile(slices: list[Slice]) -> dict[TileKey, list[int]]:
    out: dict[TileKey, list[int]] = {}
    for key, start in slices:
        out.setdefault(key, []).append(start)
    return out


def _ranges(starts: list[int], width: int) -> list[tuple[int, int]]:
    """Sorted slice starts as [lo, hi) ranges of adjacent slices."""
    out: list[tuple[int, int]] = []
    for s in starts:
        if out and out[-1][1] == s:
            out[-1] = (out[-1][0], s + width)
        else:
            out.append((s, s + width))
    return out


def _count(starts: list[int], lo: int, hi: int, width: int) -> int:
    return sum(1 for s in starts if lo <= s < hi) or max(1, (hi - lo) // width)
