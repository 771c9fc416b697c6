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
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import pyarrow as pa
import structlog

from services.discovery.tables import TableInfo
from services.storage.client import StoragePool
from services.storage.tilekey import TileKey
from services.storage.tilestore import TileStore
from tessera import arrowipc, dedup, errors, layout, placement
from tessera.v1 import common_pb2, storage_pb2

_log = structlog.get_logger()
MAX_BUCKET = (1 << 62)
ACTIVE_FACTOR = 2
"""A complete replica leaves out tiles that took an append within this many repair intervals."""
MEMBERS_FILE = "storage-members.json"
"""The cell's storage members (id → zone) this replica last saw: a member gone since then is noticed."""
MEMBERSHIP_CHECK_S = 1.0
"""How often a replica compares the cell's storage members with those it last saw."""
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
    tiles_dropped: int = 0
    """Copies deleted of tiles placement moved to other nodes."""
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
                 pool: StoragePool, members: Callable[[], list[common_pb2.NodeInfo]], node_id: str,
                 interval_s: float, slice_s: int, timeout_s: float = 30.0,
                 before_complete: Callable[[], Awaitable[bool]] | None = None) -> None:
        self._store = store
        self._before_complete = before_complete
        """Run before a rebuilding replica counts again (it takes its peers' column claims); False: not yet."""
        self._tables = tables
        self._synced = synced  # the table catalog has its first full picture: no table is unknown
        self._pool = pool
        self._members = members  # the cell's storage nodes, this one included
        self._node_id = node_id
        self._interval = interval_s
        self._slice_ns = slice_s * 1_000_000_000
        self._timeout = timeout_s
        self._seen: dict[str, dict[Slice, tuple[object, ...]]] = {}  # per table: last round's differences
        self._task: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._hinted = asyncio.Lock()  # one hinted repair at a time: hints for a tile arrive in bursts

    def start(self) -> None:
        """Run rounds in the background: the first at once (a rebuilding replica is waiting for it); and look
        at the cell's membership every MEMBERSHIP_CHECK_S, so a removal is noticed without waiting for a round."""
        self._task = asyncio.create_task(self._forever())
        self._watch = asyncio.create_task(self._watch_membership())

    async def stop(self) -> None:
        for task in (self._task, self._watch):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._watch = None

    async def _watch_membership(self) -> None:
        while True:
            await asyncio.sleep(MEMBERSHIP_CHECK_S)
            try:
                await self.note_membership()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - logged; the next look retries
                _log.error("cannot compare the cell's membership with the one last seen", error=repr(exc))

    async def _forever(self) -> None:
        while True:
            rebuilding = self._store.incomplete_reason is not None
            try:
                with self._store.peaks.activity("anti-entropy"):
                    report = await self.round()
                if report.slices_repaired or report.undecided or report.tiles_dropped:
                    _log.info("anti-entropy round", **vars(report))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the loop must outlive one bad round; it is logged
                _log.error("anti-entropy round failed; retrying next round", error=repr(exc))
            # A rebuilding replica retries soon: until it is complete, writes do not count its vote.
            await asyncio.sleep(min(self._interval, 1.0) if rebuilding else self._interval)

    async def round(self) -> RoundReport:
        """Compare every table's tiles with every peer; repair this replica where they differ."""
        await self.note_membership()
        members_at_start = {n.node_id for n in self._members()}
        report = RoundReport()
        catalog_ready = self._synced()
        rebuilding = self._store.incomplete_reason is not None
        tables = [t for t in self._tables() if not t.deleted]
        self._seen = {t.table_id: self._seen.get(t.table_id, {}) for t in tables}  # forget deleted tables
        everyone_answered = True
        for table in tables:
            # Tiles still taking appends differ for a moment on every replica: a complete replica leaves them
            # out until they go quiet (hinted repair covers them meanwhile); a rebuilding one, which must end
            # up holding them, compares them all.
            skip = 0.0 if rebuilding else ACTIVE_FACTOR * self._interval
            answered_all = await self._compare(table, None, 0, MAX_BUCKET, skip, rebuilding, report)
            everyone_answered = everyone_answered and answered_all
        report.complete = catalog_ready and everyone_answered and report.undecided == 0
        if {n.node_id for n in self._members()} != members_at_start:
            report.complete = False  # placement changed under the round: what it compared may be the old tiles
        if report.complete and rebuilding and self._before_complete is not None:
            report.complete = await self._before_complete()
        if report.complete and rebuilding:
            await self._store.mark_complete()
        return report

    async def note_membership(self) -> None:
        """Rebuild when a storage member left the cell since the last look: its tiles went to the best remaining
        node of its zone (a cell of more than three zones refuses removals), which never held them. The members
        seen are kept on disk, so a removal while this node was down is noticed when it starts; an unreadable
        record is taken as a removal (rebuilding costs time, a missed one could hide rows)."""
        current = {n.node_id: n.zone for n in self._members()}
        me = current.get(self._node_id)
        if me is None:
            return  # the view does not show this node yet: not a view to compare or keep
        known: dict[str, str] | None = None
        if await asyncio.to_thread(self._store.store.exists, MEMBERS_FILE):
            try:
                loaded = json.loads(await asyncio.to_thread(self._store.store.read, MEMBERS_FILE))
                known = {str(k): str(v) for k, v in loaded.items()}
            except (ValueError, AttributeError) as exc:
                await self._store.start_rebuild(f"the record of the cell's storage members is unreadable ({exc})")
        if known is not None:
            gone = {node: zone for node, zone in known.items() if node not in current}
            if me in gone.values():
                await self._store.start_rebuild(f"storage node(s) {', '.join(sorted(gone))} left the cell: placement "
                                                "gives this replica tiles it never held")
        if known != current:
            await asyncio.to_thread(self._store.store.put, MEMBERS_FILE, json.dumps(current, sort_keys=True).encode())
        self._store.membership_checked()

    async def repair_tiles(self, table_id: str, keys: Sequence[TileKey]) -> RoundReport:
        """Hinted repair: compare these tiles with the peers now (active or not, no waiting for a difference
        to hold still) and copy what this replica lacks. Ingest asks for it when this replica missed an
        append or disagreed with the others on one. A tile whose peers did not all answer, or whose
        conflicts stay undecided, is reported undecided (the hint is kept and sent again)."""
        report = RoundReport()
        table = next((t for t in self._tables() if t.table_id == table_id and not t.deleted), None)
        wanted = set(keys)
        if table is None or not wanted:
            return report
        low, high = min(k.bucket for k in wanted), max(k.bucket for k in wanted)
        async with self._hinted:
            rebuilding = self._store.incomplete_reason is not None
            if not await self._compare(table, wanted, low, high, 0.0, rebuilding, report, stable=False):
                report.undecided += len(wanted)
        return report

    async def _compare(self, table: TableInfo, wanted: set[TileKey] | None, low: int, high: int, skip: float,
                       rebuilding: bool, report: RoundReport, stable: bool = True) -> bool:
        """Compare the table's tiles (``wanted`` only, if given) in [low, high] with the peers holding them;
        repair what differs. Returns whether every peer replicating any of them answered."""
        members = self._members()
        peers = [n for n in members if n.node_id != self._node_id]
        mine, active = await self._store.tile_digests(table.table_id, low, high, self._slice_ns, skip)
        ours = {(key, start): (rows, d) for key, slices in mine if wanted is None or key in wanted
                for start, rows, d in slices}
        answers = await asyncio.gather(*(self._digests(p, table.table_id, skip, low, high) for p in peers))
        by_id = {a.node.node_id: a for a in answers if a is not None}
        skipped = set(active)
        for peer in by_id.values():
            peer.slices = {s: d for s, d in peer.slices.items()
                           if s[0] not in skipped and (wanted is None or s[0] in wanted)}
        report.peers_answered = max(report.peers_answered, len(by_id))
        everyone = len(by_id) == len(peers) and len(peers) >= placement.REPLICAS - 1
        tiles = {s[0] for s in ours} | {s[0] for p in by_id.values() for s in p.slices}
        differing: list[Slice] = []
        holders: dict[TileKey, list[_Peer]] = {}  # the tile's other replicas that answered
        voters: dict[TileKey, int] = {}  # the tile's replicas, answering or not: a tie is decided only by all
        foreign: dict[TileKey, set[str]] = {}  # tiles held here that placement gives to other nodes only
        for key in tiles:
            replicas = {n.node_id for n in placement.replicas(placement.tile_name(key.table_id, key.range_lo,
                                                                                  key.bucket), members)}
            if self._node_id not in replicas:
                foreign[key] = replicas  # another node's tile (cells with more than three storage nodes)
                continue
            if any(r not in by_id for r in replicas - {self._node_id}):
                everyone = False
            holders[key] = [by_id[r] for r in replicas if r in by_id]
            voters[key] = len(replicas)
        for key, peers_of_tile in holders.items():
            held_here = {s for (k, s) in ours if k == key} | {s for p in peers_of_tile for (k, s) in p.slices
                                                              if k == key}
            signatures = {(key, s): (ours.get((key, s)), *(p.slices.get((key, s)) for p in peers_of_tile))
                          for s in held_here}
            differing += [sl for sl, sig in signatures.items() if any(x != sig[0] for x in sig[1:])]
            report.slices_compared += len(held_here)
        if wanted is None and not rebuilding:
            report.tiles_dropped += await self._drop_moved(foreign, ours, by_id)
        # Rows past the table's retention are being deleted on every replica, each in its own time: a replica
        # that has deleted them must not copy them back from one that has not yet.
        cutoff = self._store.clock.now_ns() - table.memory_retention_ns - table.magnetic_retention_ns
        differing = [sl for sl in differing if sl[1] + self._slice_ns > cutoff]
        due = self._due(table.table_id, differing, holders, ours, rebuilding or not stable)
        if due and self._store.under_pressure():
            # Installing rows now would push memory stores that flushes cannot empty fast enough past their
            # share (appends were refused for that very reason): the difference waits for a calmer round.
            report.undecided += len(due)
            return False
        for key, starts in _by_tile(due).items():
            sources = [p for p in holders[key] if p.complete] or ([] if not rebuilding else holders[key])
            installed, undecided = await self._repair(table, key, starts, sources, rebuilding, voters[key])
            report.rows_installed += installed
            report.undecided += undecided
            report.slices_repaired += len(starts) - undecided
        return everyone

    async def _drop_moved(self, foreign: dict[TileKey, set[str]], ours: dict[Slice, tuple[int, int]],
                          by_id: dict[str, _Peer]) -> int:
        """Delete this replica's copies of tiles placement moved to other nodes, once each of their replicas
        answered as a complete replica holding every row held here: with exactly the slices held here, or
        (a copy behind the writes the tile took after it moved) each row as it is here or in a newer
        version. A copy holding a row a replica lacks, or holds otherwise, is kept."""
        drop = []
        for key, replicas in foreign.items():
            mine = {s: d for (k, s), d in ours.items() if k == key}
            if not mine or not all(r in by_id and by_id[r].complete for r in replicas):
                continue
            same = all({s: d for (k, s), d in by_id[r].slices.items() if k == key} == mine for r in replicas)
            if same or await self._covered(key, [by_id[r].node for r in replicas]):
                drop.append(key)
        if not drop:
            return 0
        rows = await self._store.drop_tiles(drop)
        _log.info("anti-entropy deleted copies of tiles placement moved to other nodes", tiles=len(drop), rows=rows)
        return len(drop)

    async def _covered(self, key: TileKey, replicas: Sequence[common_pb2.NodeInfo]) -> bool:
        """Whether every row of this replica's copy of a tile is on each of ``replicas``, as it is here (same
        version and values) or in a newer version."""
        lo = key.bucket * layout.TILE_BUCKET_NS
        hi = lo + layout.TILE_BUCKET_NS
        here = _held((await self._store.scan([key], [], [layout.TIME], "", lo, hi, with_keys=True)).table)
        request = storage_pb2.ScanRequest(
            tiles=[storage_pb2.TileId(table_id=key.table_id, range_lo=key.range_lo, bucket=key.bucket)],
            columns=[layout.TIME], start_ns=lo, end_ns=hi, mode=storage_pb2.SCAN_MERGE)
        for node in replicas:
            rows = await self._rows(node, request)
            if rows is None:
                return False
            there = _held(rows)
            for row_key, (version, value_hash) in here.items():
                theirs = there.get(row_key)
                if theirs is None or theirs[0] < version or (theirs[0] == version and theirs[1] != value_hash):
                    return False
        return True

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

    def _due(self, table_id: str, differing: list[Slice], holders: dict[TileKey, list[_Peer]],
             ours: dict[Slice, tuple[int, int]], at_once: bool) -> list[Slice]:
        """Slices to repair now: every difference ``at_once`` (rebuilding, or a hint), else those seen with
        the very same digests in the previous round too (a difference that moves is writes in flight)."""
        if at_once:
            return differing  # the periodic rounds' memory of differences is theirs: left as it is
        now = {sl: (ours.get(sl), *(p.slices.get(sl) for p in holders[sl[0]])) for sl in differing}
        seen = self._seen.get(table_id, {})
        due = [sl for sl, sig in now.items() if seen.get(sl) == sig]
        self._seen[table_id] = {sl: sig for sl, sig in now.items() if sl not in due}
        return due

    async def _repair(self, table: TableInfo, key: TileKey, starts: list[int], sources: list[_Peer],
                      rebuilding: bool, replicas: int) -> tuple[int, int]:
        """Copy the resolved rows of these slices of one tile here; return (rows installed, undecided).

        Votes come from the sources whose rows could be read (and this replica's own, unless rebuilding);
        a rebuilding replica leaves a slice undecided unless every source was read. The install is a
        compare-and-swap: a key whose value here changed since the vote (a write acknowledged meanwhile) is
        left for the next round."""
        schema = table.stored_columns()
        installed = undecided = 0
        for lo, hi in _ranges(sorted(starts), self._slice_ns):
            request = storage_pb2.ScanRequest(
                tiles=[storage_pb2.TileId(table_id=key.table_id, range_lo=key.range_lo, bucket=key.bucket)],
                schema=[common_pb2.Column(name=n, type=t) for n, t in schema], start_ns=lo, end_ns=hi,
                mode=storage_pb2.SCAN_MERGE)
            theirs = await asyncio.gather(*(self._rows(p.node, request) for p in sources))
            tables = [t for t in theirs if t is not None]
            mine = (await self._store.scan([key], schema, [], "", lo, hi, with_keys=True)).table
            if not rebuilding and mine is not None:  # this replica's own rows vote too
                tables.append(mine)
            if not tables or (rebuilding and len(tables) < len(sources)):
                undecided += _count(starts, lo, hi, self._slice_ns)
                continue
            try:
                resolved = await asyncio.to_thread(dedup.resolve_replicas, tables, len(tables) >= replicas)
            except dedup.ReplicasDisagree as exc:
                _log.warning("anti-entropy left a conflict undecided", tile=key.dir_name(), error=str(exc))
                undecided += _count(starts, lo, hi, self._slice_ns)
                continue
            expected = _held(mine)
            cutoff = self._store.clock.now_ns() - table.memory_retention_ns - table.magnetic_retention_ns
            changes = await asyncio.to_thread(_changes, resolved, expected, cutoff)  # most are already so here
            for offset in range(0, changes.num_rows, INSTALL_ROWS):
                installed += await self._store.install(key, changes.slice(offset, INSTALL_ROWS), expected)
        return installed, undecided

    async def _rows(self, node: common_pb2.NodeInfo, request: storage_pb2.ScanRequest) -> pa.Table | None:
        parts: list[pa.Table] = []
        try:
            async for chunk in self._pool.get(node.address).scan(request, self._timeout):
                if chunk.arrow_ipc:
                    parts.append(arrowipc.from_ipc(chunk.arrow_ipc))
                if chunk.last and chunk.incomplete_tiles:
                    return None  # it lost data since it answered the digests: not a source now
        except errors.TesseraError as exc:
            _log.debug("anti-entropy: a peer's rows could not be read", peer=node.node_id, error=str(exc))
            return None
        filled = [p for p in parts if p.num_rows] or parts[:1]
        return pa.concat_tables(filled, promote_options="default") if filled else None


def _held(rows: pa.Table | None) -> dict[tuple[int, int], tuple[int, int]]:
    """(series, time) -> (version, value hash) of the rows a replica held when it voted."""
    if rows is None or rows.num_rows == 0:
        return {}
    keys = zip(rows.column(layout.SERIES).to_pylist(), rows.column(layout.TIME).cast(pa.int64()).to_pylist())
    held = zip(rows.column(layout.VERSION).to_pylist(), rows.column(layout.VALUE_HASH).to_pylist())
    return dict(zip(keys, held))


def _changes(resolved: pa.Table, held: dict[tuple[int, int], tuple[int, int]], cutoff_ns: int) -> pa.Table:
    """The resolved rows within retention (time >= cutoff_ns) this replica does not already hold as they are."""
    if resolved.num_rows == 0:
        return resolved
    times = resolved.column(layout.TIME).cast(pa.int64()).to_pylist()
    keys = zip(resolved.column(layout.SERIES).to_pylist(), times)
    stored = zip(resolved.column(layout.VERSION).to_pylist(), resolved.column(layout.VALUE_HASH).to_pylist())
    keep = [t >= cutoff_ns and held.get(k) != v for t, k, v in zip(times, keys, stored)]
    return resolved if all(keep) else resolved.filter(pa.array(keep))


def _by_tile(slices: list[Slice]) -> dict[TileKey, list[int]]:
    """Slice starts grouped by tile."""
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
    """How many of the slices fall in [lo, hi) (at least one: the range is undecided as a whole)."""
    return sum(1 for s in starts if lo <= s < hi) or max(1, (hi - lo) // width)
