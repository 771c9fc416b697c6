"""The key-value store discovery keeps its state in: etcd through aetcd, or an in-memory fake for tests.

Every etcd error is translated here into ``tessera.errors.Unavailable`` so callers see one error type.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import ParamSpec, Protocol, TypeVar

import aetcd
import aetcd.exceptions

from tessera import errors

T = TypeVar("T")
# Below callers' 5 s deadlines, so a hung etcd is reported as UNAVAILABLE rather than a deadline.
ETCD_TIMEOUT_S = 2.0
P = ParamSpec("P")


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
        self._client = aetcd.Client(host=host, port=int(port), timeout=5)

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
        for k in keys:
            await self._client.delete(k.encode())
        for p in prefixes:
            await self._client.delete_prefix(p.encode())

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

    async def close(self) -> None:
        await self._client.close()


class MemoryStore:
    """An in-process KeyValueStore for unit tests; leases never expire unless revoked."""

    def __init__(self) -> None:
        self.data: dict[str, tuple[bytes, int | None]] = {}
        self._leases: set[int] = set()
        self._next_lease = 1

    async def get(self, key: str) -> bytes | None:
        item = self.data.get(key)
        return None if item is None else item[0]

    async def get_prefix(self, prefix: str) -> list[tuple[str, bytes]]:
        return sorted((k, v[0]) for k, v in self.data.items() if k.startswith(prefix))

    async def put(self, key: str, value: bytes, lease: int | None = None) -> None:
        self.data[key] = (value, lease)

    async def create(self, puts: dict[str, bytes]) -> bool:
        if any(k in self.data for k in puts):
            return False
        for k, v in puts.items():
            self.data[k] = (v, None)
        return True

    async def replace(self, key: str, old: bytes, new: bytes) -> bool:
        if key not in self.data or self.data[key][0] != old:
            return False
        self.data[key] = (new, None)
        return True

    async def delete(self, keys: list[str], prefixes: list[str] = []) -> None:  # noqa: B006
        for k in keys:
            self.data.pop(k, None)
        for p in prefixes:
            for k in [k for k in self.data if k.startswith(p)]:
                del self.data[k]

    async def grant_lease(self, ttl: int) -> int:
        self._next_lease += 1
        self._leases.add(self._next_lease)
        return self._next_lease

    async def refresh_lease(self, lease_id: int) -> bool:
        return lease_id in self._leases

    async def revoke_lease(self, lease_id: int) -> None:
        self._leases.discard(lease_id)
        for k in [k for k, (_, lease) in self.data.items() if lease == lease_id]:
            del self.data[k]

    async def close(self) -> None:
        return None
