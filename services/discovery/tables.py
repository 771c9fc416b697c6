"""Every table's schema and retention by table id, as a storage node needs them: cached, and kept current.

``TableCatalog`` keeps one ``WatchTables`` stream to discovery open: a snapshot of every table, then one
event per change (created, updated, deleted), so an UpdateTable reaches the node within moments. When the
stream breaks (discovery restarted, or silent for three heartbeats) it reconnects with backoff and applies
the fresh snapshot.

Static stability: the cache outlives discovery and etcd. Failing to reach the catalog changes nothing, and
in particular never makes a table deleted. A table is deleted only when the catalog says so:

- a DELETED event;
- a complete snapshot (SNAPSHOT_END received) that lacks a table cached from a revision no newer than the
  snapshot's; a stream that breaks mid-snapshot deletes nothing;
- a NotFound answer to ``fetch``: a table exists in etcd before any write can name its id, and ids are
  never reused, so a table id the catalog does not have is gone for good.

Deletion is terminal: no later event, snapshot or fetch brings a deleted id back. Each cached table carries
the etcd revision of its state, and an older state never replaces a newer one (a slow ``fetch`` racing the
watch, say).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter

from tessera import errors, layout
from tessera.v1 import catalog_pb2

if TYPE_CHECKING:  # the client module builds catalogs: a runtime import would be circular
    from services.discovery.client import DiscoveryClient

log = structlog.get_logger()
Kind = catalog_pb2.TableEvent.Kind
NS_PER_HOUR = 3600 * 1_000_000_000
NS_PER_DAY = 24 * NS_PER_HOUR
STOP_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class ColumnInfo:
    """One registered column of a table (the first writer fixed its kind and type)."""

    name: str
    kind: str
    """DIMENSION | MEASURE (a single-measure name) | MULTI (a multi-measure attribute)."""
    type: str
    """VARCHAR | DOUBLE | BIGINT | BOOLEAN | TIMESTAMP."""


@dataclass(frozen=True)
class TableInfo:
    """What storage knows of one table. Equality ignores ``revision``: equal infos describe the same state."""

    table_id: str
    database_name: str
    table_name: str
    columns: tuple[ColumnInfo, ...]
    memory_retention_hours: int
    magnetic_retention_days: int
    magnetic_writes: bool
    """Whether records older than the memory retention may still be written (to the magnetic store)."""
    partition_key: tuple[str, ...] = ()
    """The table's Schema.CompositePartitionKey as text (type, name, enforcement of each), so a change of it
    is a change of the table (routes carry it: ingest enforces it)."""
    deleted: bool = False
    """The catalog said the table is gone: its data may be dropped."""
    revision: int = field(default=0, compare=False)
    """etcd revision this state is at least as new as."""

    @classmethod
    def from_proto(cls, table: catalog_pb2.Table, revision: int) -> TableInfo:
        """A TableInfo from discovery's Table message."""
        return cls(
            table_id=table.table_id, database_name=table.database_name, table_name=table.table_name,
            columns=tuple(ColumnInfo(c.name, c.kind, c.type) for c in table.columns),
            memory_retention_hours=table.retention_properties.memory_store_retention_period_in_hours,
            magnetic_retention_days=table.retention_properties.magnetic_store_retention_period_in_days,
            magnetic_writes=table.magnetic_store_write_properties.enable_magnetic_store_writes,
            partition_key=tuple(f"{k.type}:{k.name}:{k.enforcement_in_record}"
                                for k in table.schema.composite_partition_key),
            revision=revision)

    @property
    def memory_retention_ns(self) -> int:
        """The memory store's retention: older data belongs in the magnetic store."""
        return self.memory_retention_hours * NS_PER_HOUR

    @property
    def magnetic_retention_ns(self) -> int:
        """The magnetic store's retention period."""
        return self.magnetic_retention_days * NS_PER_DAY

    def dimension_columns(self) -> tuple[str, ...]:
        """The stored columns holding dimensions (one per dimension name)."""
        return tuple(c.name for c in self.columns if c.kind == "DIMENSION")

    def measure_columns(self) -> tuple[str, ...]:
        """The stored columns holding measure values: single measures share ``measure_value::<type>``,
        multi-measure attributes have one each (see ``tessera.layout``)."""
        measures = [c for c in self.columns if c.kind != "DIMENSION"]
        return tuple(name for name, _ in layout.stored_columns(measures))

    def stored_columns(self) -> list[tuple[str, str]]:
        """(stored column, type) for every dimension and measure column, as ``layout.stored_columns``."""
        return layout.stored_columns(self.columns)


@dataclass(frozen=True)
class TableChange:
    """One change of the cache, as subscribers get it."""

    kind: Literal["added", "changed", "deleted"]
    """added: first known to this node (created, or seen in its first snapshot); changed: retention, magnetic
    writes or columns; deleted: the catalog said it is gone."""
    table_id: str
    info: TableInfo | None
    """The new state (``deleted`` set on a deletion); None only when a table never known here is deleted."""
    previous: TableInfo | None


@dataclass(frozen=True)
class TableCatalogConfig:
    """How a TableCatalog follows discovery."""

    heartbeat_s: float = 5.0
    """Discovery sends a heartbeat on an idle stream this often; three missed ones make the node reconnect."""
    reconnect_initial_s: float = 0.1
    """First wait before reconnecting after a failed attempt; it doubles (with jitter) per failed attempt."""
    reconnect_max_s: float = 5.0
    """The longest wait between reconnection attempts."""

    def validate(self) -> TableCatalogConfig:
        """Raise ValidationError naming the setting that is out of range; return self."""
        if not 0.1 <= self.heartbeat_s <= 60:
            raise errors.ValidationError(f"heartbeat_s is {self.heartbeat_s}; allowed 0.1..60")
        if not 0 < self.reconnect_initial_s <= self.reconnect_max_s:
            raise errors.ValidationError(f"reconnect_initial_s ({self.reconnect_initial_s}) must be positive "
                                         f"and at most reconnect_max_s ({self.reconnect_max_s})")
        return self


Subscriber = Callable[[TableChange], None]


class TableCatalog:
    """Tables by id, cached from discovery's WatchTables stream; ``start``/``stop`` run the watch."""

    def __init__(self, client: DiscoveryClient, config: TableCatalogConfig | None = None) -> None:
        self._client = client
        self._config = (config or TableCatalogConfig()).validate()
        self._tables: dict[str, TableInfo] = {}
        self._deleted: set[str] = set()
        self._subscribers: list[Subscriber] = []
        self._fetches: dict[str, asyncio.Task[TableInfo | None]] = {}
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle --------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start following discovery in the background; returns at once (``wait_synced`` waits for data)."""
        if self._task is None:
            self._task = asyncio.create_task(self._follow_forever(), name="table-catalog")
            self._task.add_done_callback(_log_if_failed)

    async def stop(self) -> None:
        """Stop the watch and any fetch in flight; the cache stays readable. Safe to call twice."""
        tasks = [t for t in (self._task, *self._fetches.values()) if t is not None]
        self._task = None
        for task in tasks:
            task.cancel()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=STOP_TIMEOUT_S)
            if stuck:  # never expected; a node's shutdown must not hang on it
                log.warning("table_catalog_stop_timeout", tasks=[t.get_name() for t in stuck])

    @property
    def synced(self) -> bool:
        """True once a complete snapshot has been applied (then every table that existed then is known)."""
        return self._synced.is_set()

    async def wait_synced(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the first complete snapshot; return whether it came."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._synced.wait()
        return self.synced

    # -- reads ------------------------------------------------------------------------------------------
    def get(self, table_id: str) -> TableInfo | None:
        """The cached table (``deleted`` set once the catalog said so); None if this node never knew it."""
        return self._tables.get(table_id)

    def deleted(self, table_id: str) -> bool:
        """True only once the catalog said the table is gone; never because the catalog is unreachable."""
        return table_id in self._deleted

    def tables(self) -> list[TableInfo]:
        """Every known table that is not deleted."""
        return [t for t in self._tables.values() if not t.deleted]

    async def fetch(self, table_id: str) -> TableInfo | None:
        """Ask discovery for one table now (a write naming an id the watch has not brought yet, or columns
        newer than the cache) and cache the answer.

        Returns the table as cached afterwards, or None for an id the catalog does not have (then
        ``deleted(table_id)`` is true). Raises the TesseraError (Unavailable, DeadlineExceeded, ...) when
        discovery cannot answer; the cache is then unchanged. Concurrent fetches of one id share one call.
        """
        if table_id in self._deleted:
            return self._tables.get(table_id)
        task = self._fetches.get(table_id)
        if task is None:
            task = asyncio.create_task(self._fetch(table_id))
            self._fetches[table_id] = task
            task.add_done_callback(lambda t: self._fetch_done(table_id, t))
        return await asyncio.shield(task)  # one caller's cancellation must not cancel the others' call

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback`` on every change (on the event loop: it must not block); returns unsubscribe."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    # -- the watch ------------------------------------------------------------------------------------------
    async def _follow_forever(self) -> None:
        while True:  # a fresh backoff after every stream that delivered a complete snapshot
            initial, most = self._config.reconnect_initial_s, self._config.reconnect_max_s
            wait = wait_exponential_jitter(multiplier=initial, max=most, jitter=initial)
            retrying = AsyncRetrying(wait=wait, retry=retry_if_exception_type(Exception),
                                     before_sleep=_log_retry)
            await retrying(self._follow)

    async def _follow(self) -> None:
        """One WatchTables stream, applied until it breaks. Returns if it had delivered a complete snapshot,
        raises (so the caller backs off) if it had not."""
        synced = False
        seen: set[str] | None = None  # ids in the snapshot being received; None outside a snapshot
        try:
            async with contextlib.aclosing(self._client.watch_tables(self._config.heartbeat_s)) as events:
                async for event in events:
                    if event.kind == Kind.SNAPSHOT_BEGIN:
                        seen = set()
                    elif event.kind == Kind.SNAPSHOT_TABLE:
                        if seen is not None:
                            seen.add(event.table_id)
                        self._upsert(TableInfo.from_proto(event.table, event.revision))
                    elif event.kind == Kind.SNAPSHOT_END and seen is not None:
                        self._end_snapshot(seen, event.revision)
                        seen, synced = None, True
                    elif event.kind in (Kind.CREATED, Kind.UPDATED):
                        self._upsert(TableInfo.from_proto(event.table, event.revision))
                    elif event.kind == Kind.DELETED:
                        self._delete(event.table_id, event.revision)
                    # HEARTBEAT (and kinds a newer discovery may add): nothing to apply
        except Exception as exc:
            if not synced:
                raise
            log.warning("table_watch_lost", error=str(exc))
            return
        if not synced:
            raise errors.Unavailable("the WatchTables stream ended before a complete snapshot")

    def _end_snapshot(self, seen: set[str], revision: int) -> None:
        newest = max((t.revision for t in self._tables.values()), default=0)
        if revision < newest:
            # etcd's revisions only grow: a snapshot older than what this node already saw comes from another
            # or a restored etcd. Its absences prove nothing, and acting on them would delete live data.
            log.error("table_catalog_revision_went_backwards: no deletion inferred from this snapshot",
                      snapshot_revision=revision, newest_seen=newest, missing=len(set(self._tables) - seen))
            self._synced.set()
            return
        # A table learnt after the snapshot's read (a fetch racing it) is newer than the snapshot, not gone.
        for table_id, info in list(self._tables.items()):
            if table_id not in seen and not info.deleted and info.revision <= revision:
                self._delete(table_id, revision)
        if not self._synced.is_set():
            log.info("table_catalog_synced", tables=len(self.tables()), revision=revision)
        self._synced.set()

    # -- the cache ------------------------------------------------------------------------------------------
    async def _fetch(self, table_id: str) -> TableInfo | None:
        try:
            table, revision = await self._client.describe_table_by_id(table_id)
        except errors.NotFound:
            self._delete(table_id, 0)
            return self._tables.get(table_id)
        self._upsert(TableInfo.from_proto(table, revision))
        return self._tables.get(table_id)

    def _fetch_done(self, table_id: str, task: asyncio.Task[TableInfo | None]) -> None:
        if self._fetches.get(table_id) is task:
            del self._fetches[table_id]
        if not task.cancelled():
            task.exception()  # retrieved here too, so a fetch whose every caller left is not reported as lost

    def _upsert(self, info: TableInfo) -> None:
        if info.table_id in self._deleted:
            return  # deletion is terminal: a late description cannot bring the table back
        previous = self._tables.get(info.table_id)
        if previous is not None and info.revision <= previous.revision:
            return  # not newer than what is cached
        self._tables[info.table_id] = info
        if previous is None:
            self._notify(TableChange("added", info.table_id, info, None))
        elif info != previous:
            self._notify(TableChange("changed", info.table_id, info, previous))

    def _delete(self, table_id: str, revision: int) -> None:
        if table_id in self._deleted:
            return
        self._deleted.add(table_id)
        previous = self._tables.get(table_id)
        info = None
        if previous is not None:
            info = replace(previous, deleted=True, revision=max(previous.revision, revision))
            self._tables[table_id] = info
        log.info("table_deleted", table_id=table_id, revision=revision)
        self._notify(TableChange("deleted", table_id, info, previous))

    def _notify(self, change: TableChange) -> None:
        for callback in list(self._subscribers):
            try:
                callback(change)
            except Exception:  # a subscriber's bug must not stop the watch
                log.exception("table_subscriber_failed", table_id=change.table_id, kind=change.kind)


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    wait_s = state.next_action.sleep if state.next_action is not None else 0.0
    log.warning("table_watch_reconnect", attempt=state.attempt_number, wait_s=round(wait_s, 3),
                error=str(error))


def _log_if_failed(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:  # a bug: the cache stops following discovery
        log.error("table_catalog_stopped", error=repr(task.exception()))
