"""What every operation handler gets: the gateway (the SDK client it talks to the cluster through, and the
threads the SDK's blocking calls run on) and the caller."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import tessera
from services.gateway.shapes import Caller

T = TypeVar("T")
SDK_THREADS = 32
"""SDK calls in flight at once (each a thread): a WriteRecords waits on a quorum fsync, a Query on a scan."""


class Gateway:
    """The gateway's link to the cluster: one shared SDK client (routes, channels and failover are the SDK's)."""

    def __init__(self, discovery: str, account_id: str, settings_path: Any = None) -> None:
        self.client = tessera.Client(discovery)
        self.account_id = account_id
        self.settings_path = settings_path
        self._pool = concurrent.futures.ThreadPoolExecutor(SDK_THREADS, thread_name_prefix="gateway-sdk")

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking SDK call on the gateway's threads."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, lambda: fn(*args, **kwargs))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.client.close()


Operation = Callable[[Gateway, Caller, dict[str, Any]], Awaitable[dict[str, Any]]]
