"""The key-value store discovery keeps its state in: etcd through aetcd, or an in-memory fake for tests.

Every etcd error is translated here into ``tessera.errors.Unavailable`` so callers see one error type. A lost
watch (connection gone, or its start revision compacted away) ends with ``Unavailable`` too: the caller
cannot know what it missed, so it reads again and watches from the new read's revision.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import ParamSpec, Protocol, TypeVar

import aetcd
import aetcd.exceptions
import aetcd.utils

from tessera import errors

T = TypeVar("T")
# Below callers' 5 s deadlines, so a hung etcd is reported as UNAVAILABLE rather than a deadline.
ETCD_TIMEOUT_S = 2.0
P = ParamSpec("P")
# Whole-catalog reads (a scan of every table and column) can exceed gRPC's 4 MiB default.
MAX_RECEIVE_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class Entry:
    """One key as a scan read it."""

    key: str
    value: bytes
    mod_revision: int
    """The store revision of the key's last change."""


@dataclass(frozen=True)
class Snapshot:
    """Every key under a prefix, read at one store revision."""

    revision: int
    entries: list[Entry]


@dataclass(frozen=True)
class Change:
    """One change a watch reported."""

    key: str
    value: bytes | None
    """The new value; None when the key was deleted."""
    previous: bytes | None
    """The value before the change, when the store still had it."""
    revision: int


class KeyValueStore(Protocol):
    """The few operations the catalog needs."""

    async def get(self, key: str) -> bytes | None: ...
    async def get_prefix(self, prefix: str) -> list[tuple[str, bytes]]: ...
    async def put(self, key: str, value: bytes, lease: int | None = None) -> None: ...
    async def create(self, puts: dict[str, bytes]) -> bool:
        """Put every key atomically, only if none of them exists."""
    async def replace(self, key: str, old: bytes, new: bytes) -> bool:
        """Compare-and-swap on the value."""
    async def delete(self, keys: list[str], prefixes: list[str] = ...) -> None: ...
    async def grant_lease(self, ttl: int) -> int: ...
    async def refresh_lease(self, lease_id: int) -> bool:
        """True while the lease is alive."""
    async def revoke_lease(self, lease_id: int) -> None: ...
    async def scan(self, prefix: str) -> Snapshot:
        """Every key under ``prefix`` at one revision, with that revision."""
    def watch(self, prefix: str, start_revision: int) -> AsyncIterator[Change]:
        """Changes under ``prefix`` from ``start_revision`` on, in order; ends only by raising Unavailable."""
    async def close(self) -> None: ...


def _translated(fn: Callable[P, Awaitable[T]]) -> Callable[P, Coroutine[None, None, T]]:
    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await asyncio.wait_for(fn(*args, **kwargs), timeout=ETCD_TIMEOUT_S)
        except (aetcd.exceptions.ClientError, TimeoutError, OSError) as exc:
            raise errors.Unavailable(f"the control plane store (etcd) is unavailable: {exc!r}") from exc

    return wrapper


class EtcdStore:
    """KeyValueStore over etcd."""

    def __init__(self, endpoint: str) -> None:
        host, port = endpoint.rsplit(":", 1)
        self._client = aetcd.Client(host=host, port=int(port), timeout=5,
                                    options={"grpc.max_receive_message_length": MAX_RECEIVE_BYTES})
        self._closed = False

    def _check_open(self) -> None:
        # aetcd reconnects on use after close; a closing discovery must instead end its watch streams.
        if self._closed:
            raise errors.Unavailable("discovery is shutting down: its etcd client is closed")

    @_translated
    async def get(self, key: str) -> bytes | None:
        got = await self._client.get(key.encode())
        return None if got is None else bytes(got.value)

    @_translated
    async def get_prefix(self, prefix: str) -> list[tuple[str, bytes]]:
        got = await self._client.get_prefix(prefix.encode(), sort_target="key")
        return [(kv.key.decode(), bytes(kv.value)) for kv in got]

    @_translated
    async def put(self, key: str, value: bytes, lease: int | None = None) -> None:
        await self._client.put(key.encode(), value, lease=lease)

    @_translated
    async def create(self, puts: dict[str, bytes]) -> bool:
        tx = self._client.transactions
        ok, _ = await self._client.transaction(
            compare=[tx.version(k.encode()) == 0 for k in puts],
            success=[tx.put(k.encode(), v) for k, v in puts.items()],
            failure=[],
        )
        return bool(ok)

    @_translated
    async def replace(self, key: str, old: bytes, new: bytes) -> bool:
        tx = self._client.transactions
        ok, _ = await self._client.transaction(
            compare=[tx.value(key.encode()) == old], success=[tx.put(key.encode(), new)], failure=[]
        )
        return bool(ok)

    @_translated
    async def delete(self, keys: list[str], prefixes: list[str] = []) -> None:  # noqa: B006 - never mutated
        # One transaction: a watcher sees a table's keys go at one revision, never half of them.
        tx = self._client.transactions
        ops = [tx.delete(k.encode()) for k in keys]
        ops += [tx.delete(p.encode(), aetcd.utils.prefix_range_end(p.encode())) for p in prefixes]
        await self._client.transaction(compare=[], success=ops, failure=[])

    @_translated
    async def grant_lease(self, ttl: int) -> int:
        lease = await self._client.lease(ttl)
        return int(lease.id)

    @_translated
    async def refresh_lease(self, lease_id: int) -> bool:
        reply = await self._client.refresh_lease(lease_id)
        return reply is not None and reply.TTL > 0

    @_translated
    async def revoke_lease(self, lease_id: int) -> None:
        await self._client.revoke_lease(lease_id)

    @_translated
    async def scan(self, prefix: str) -> Snapshot:
        self._check_open()
        got = await self._client.get_prefix(prefix.encode(), sort_target="key")
        entries = [Entry(kv.key.decode(), bytes(kv.value), int(kv.mod_revision)) for kv in got]
        return Snapshot(int(got.header.revision), entries)

    async def watch(self, prefix: str, start_revision: int) -> AsyncIterator[Change]:
        """Changes under ``prefix`` from ``start_revision``; a lost watch raises Unavailable."""
        self._check_open()
        try:
            async with asyncio.timeout(ETCD_TIMEOUT_S):
                watch = await self._client.watch_prefix(prefix.encode(), start_revision=start_revision,
                                                        prev_kv=True)
        except (aetcd.exceptions.ClientError, TimeoutError, OSError) as exc:
            raise errors.Unavailable(
                f"cannot watch {prefix} in etcd from revision {start_revision}: {exc!r}") from exc
        try:
            async for event in watch:
                value = None if event.kind == "DELETE" else bytes(event.kv.value)
                previous = bytes(event.prev_kv.value) if event.prev_kv is not None else None
                yield Change(event.kv.key.decode(), value, previous, int(event.kv.mod_revision))
        except aetcd.exceptions.RevisionCompactedError as exc:
            raise errors.Unavailable(f"the watch on {prefix} fell behind etcd's compaction (revision "
                                     f"{exc.compacted_revision}): read again") from exc
        except Exception as exc:  # aetcd hands some transport errors through untranslated
            raise errors.Unavailable(f"the watch on {prefix} was lost: {exc!r}") from exc
        finally:
            with contextlib.suppress(Exception):  # the watch may already be gone with its connection
                async with asyncio.timeout(ETCD_TIMEOUT_S):
                    await watch.cancel()
        raise errors.Unavailable(f"the watch on {prefix} ended")

    async def close(self) -> None:
        self._closed = True  # first: closing ends open watches, whose streams must not read etcd again
        await self._client.close()


class MemoryStore:
    """An in-process KeyValueStore for unit tests; leases never expire unless revoked.

    Like etcd, every write (a transaction counts as one) advances the store revision, and watches replay
    history from their start revision; ``lose_watches`` plays a dropped connection or a compaction.
    """

    def __init__(self) -> None:
        self.data: dict[str, tuple[bytes, int | None]] = {}
        self._leases: set[int] = set()
        self._next_lease = 1
        self.revision = 1
        self._mod_revision: dict[str, int] = {}
        self._history: list[Change] = []
        self._compacted = 0
        self._watches: list[tuple[str, asyncio.Queue[Change | errors.Unavailable]]] = []

    def _commit(self, puts: dict[str, tuple[bytes, int | None]], deletes: Sequence[str] = ()) -> None:
        if not puts and not deletes:
            return
        self.revision += 1
        changes = []
        for k in deletes:
            old = self.data.pop(k, None)
            self._mod_revision.pop(k, None)
            if old is not None:
                changes.append(Change(k, None, old[0], self.revision))
        for k, item in puts.items():
            old = self.data.get(k)
            self.data[k] = item
            self._mod_revision[k] = self.revision
            changes.append(Change(k, item[0], None if old is None else old[0], self.revision))
        self._history += changes
        for prefix, queue in self._watches:
            for c in changes:
                if c.key.startswith(prefix):
                    queue.put_nowait(c)

    def lose_watches(self) -> None:
        """End every open watch with Unavailable and compact history: watching from before now fails too."""
        self._compacted = self.revision
        self._history.clear()
        for _, queue in self._watches:
            queue.put_nowait(errors.Unavailable(f"watch lost: history compacted at {self._compacted}"))

    async def get(self, key: str) -> bytes | None:
        item = self.data.get(key)
        return None if item is None else item[0]

    async def get_prefix(self, prefix: str) -> list[tuple[str, bytes]]:
        return sorted((k, v[0]) for k, v in self.data.items() if k.startswith(prefix))

    async def put(self, key: str, value: bytes, lease: int | None = None) -> None:
        self._commit({key: (value, lease)})

    async def create(self, puts: dict[str, bytes]) -> bool:
        if any(k in self.data for k in puts):
            return False
        self._commit({k: (v, None) for k, v in puts.items()})
        return True

    async def replace(self, key: str, old: bytes, new: bytes) -> bool:
        if key not in self.data or self.data[key][0] != old:
            return False
        self._commit({key: (new, None)})
        return True

    async def delete(self, keys: list[str], prefixes: list[str] = []) -> None:  # noqa: B006
        gone = [k for k in keys if k in self.data]
        gone += [k for p in prefixes for k in sorted(self.data) if k.startswith(p) and k not in gone]
        self._commit({}, gone)

    async def grant_lease(self, ttl: int) -> int:
        self._next_lease += 1
        self._leases.add(self._next_lease)
        return self._next_lease

    async def refresh_lease(self, lease_id: int) -> bool:
        return lease_id in self._leases

    async def revoke_lease(self, lease_id: int) -> None:
        self._leases.discard(lease_id)
        self._commit({}, [k for k, (_, lease) in self.data.items() if lease == lease_id])

    async def scan(self, prefix: str) -> Snapshot:
        entries = [Entry(k, v, self._mod_revision[k]) for k, v in await self.get_prefix(prefix)]
        return Snapshot(self.revision, entries)

    async def watch(self, prefix: str, start_revision: int) -> AsyncIterator[Change]:
        """Replay history from ``start_revision``, then live changes, until ``lose_watches``."""
        if start_revision <= self._compacted:
            raise errors.Unavailable(
                f"cannot watch from revision {start_revision}: history compacted at {self._compacted}")
        queue: asyncio.Queue[Change | errors.Unavailable] = asyncio.Queue()
        for c in self._history:
            if c.revision >= start_revision and c.key.startswith(prefix):
                queue.put_nowait(c)
        watch = (prefix, queue)
        self._watches.append(watch)
        try:
            while True:
                item = await queue.get()
                if isinstance(item, errors.Unavailable):
                    raise item
                yield item
        finally:
            self._watches.remove(watch)

    async def close(self) -> None:
        return None
