"""What every operation handler gets: the gateway (the SDK client it reaches the cluster through, and the
bounded thread pools its blocking calls run on) and the caller."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import tessera
from tessera import errors
from tessera.objectstore import ObjectStore

T = TypeVar("T")

SDK_TIMEOUT_S = 50.0
"""The SDK's deadline per call: under botocore's 60-s read timeout, so a slow cluster answers the client
before the client gives up and sends the same work again."""
QUERY_TIMEOUT_MS = 50_000
THROTTLED_RETRY_S = 5.0
"""How long a gateway call retries a throttling cluster before answering ThrottlingException (the client's
own retries take over: a thread is not held for a minute)."""
THREADS = {"catalog": 8, "write": 24, "query": 16}
"""Threads per kind of call: a stuck catalog cannot hold the threads writes need, and the reverse."""
BACKGROUND_THREADS = 10
"""Batch-load tasks this gateway runs at once: the account's quota of active tasks, so none waits for a thread
(a task waiting would not beat its heartbeat). They spend their time waiting on the object store and on
writes."""
QUEUE_PER_THREAD = 2
"""Calls that may wait for a thread, per thread; beyond that the gateway answers ThrottlingException at once."""


@dataclass(frozen=True)
class Caller:
    """What a handler knows of the request: the region it was signed for, the account id ARNs carry, the
    gateway's URL as the client reached it (DescribeEndpoints answers with it), the signer's key id, a
    key derived from its secret (NextTokens are bound to it), and the client's user agent (its
    ``User-Agent`` and ``X-Amz-User-Agent`` headers: DescribeEndpoints shapes its answer to the SDK)."""

    region: str
    account_id: str
    endpoint: str
    access_key_id: str = ""
    token_key: bytes = b""
    user_agent: str = ""


class _Lane:
    """A thread pool with a bounded number of calls admitted (running or waiting). A call counts until its
    thread finishes, even when the client has gone away meanwhile (a thread cannot be stopped), so the bound
    is real."""

    def __init__(self, kind: str, threads: int) -> None:
        self.kind = kind
        self._pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix=f"gateway-{kind}")
        self._admitted = threading.BoundedSemaphore(threads * (1 + QUEUE_PER_THREAD))
        self._limit = threads * (1 + QUEUE_PER_THREAD)

    async def run(self, fn: Callable[[], T]) -> T:
        if not self._admitted.acquire(blocking=False):
            raise errors.Throttled(f"the gateway has {self._limit} {self.kind} calls in flight; retry shortly",
                                   retry_after_ms=100)
        try:
            future = self._pool.submit(fn)
        except BaseException:
            self._admitted.release()
            raise
        future.add_done_callback(lambda _: self._admitted.release())
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


INSIGHTS_PER_S = 1.0
"""Queries with QueryInsights a gateway answers per second, as Timestream's ENABLED_WITH_RATE_CONTROL allows."""


class RateLimit:
    """At most ``per_s`` calls a second (a bucket of one); beyond it ThrottlingException, which SDKs retry."""

    def __init__(self, per_s: float, message: str) -> None:
        self._interval = 1.0 / per_s
        self._message = message
        self._next = 0.0

    def take(self) -> None:
        now = time.monotonic()
        if now < self._next:
            raise errors.Throttled(self._message, retry_after_ms=max(1, round((self._next - now) * 1000)))
        self._next = now + self._interval


class Gateway:
    """The gateway's link to the cluster: one shared SDK client (routes, channels and failover are the
    SDK's), and one lane of threads per kind of call."""

    def __init__(self, client: tessera.Client, account_id: str, object_store: ObjectStore | None = None) -> None:
        self.client = client
        self.account_id = account_id
        self.object_store = object_store
        """Where batch-load tasks read their files and write their reports (None: they are refused)."""
        self.instance_id = uuid.uuid4().hex
        """Names this gateway process as the owner of the background work it runs."""
        self.stopping = threading.Event()
        """Set at shutdown: background work stops at its next checkpoint."""
        self._lanes = {kind: _Lane(kind, n) for kind, n in THREADS.items()}
        self._background = concurrent.futures.ThreadPoolExecutor(BACKGROUND_THREADS,
                                                                 thread_name_prefix="gateway-background")
        self._background_tasks: set[asyncio.Future[None]] = set()
        self.insights_rate = RateLimit(INSIGHTS_PER_S, "QueryInsights is limited to 1 query per second "
                                                       "(ENABLED_WITH_RATE_CONTROL); retry shortly")

    @classmethod
    def connect(cls, discovery: str, account_id: str, object_store: ObjectStore | None = None) -> Gateway:
        client = tessera.Client(discovery, timeout_s=SDK_TIMEOUT_S, max_inflight=THREADS["write"],
                                throttled_retry_s=THROTTLED_RETRY_S)
        return cls(client, account_id, object_store)

    def start_background(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the background threads (batch-load tasks), outliving the request that started it."""
        future = asyncio.wrap_future(self._background.submit(fn))
        self._background_tasks.add(future)
        future.add_done_callback(self._background_tasks.discard)

    async def call(self, kind: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking SDK call on the threads of ``kind`` (catalog, write or query)."""
        return await self._lanes[kind].run(lambda: fn(*args, **kwargs))

    def close(self) -> None:
        self.stopping.set()
        self._background.shutdown(wait=True, cancel_futures=True)
        for lane in self._lanes.values():
            lane.close()
        self.client.close()


@dataclass(frozen=True)
class JsonText:
    """A response body already serialised (a Query page's rows are written as text, not as dicts)."""

    text: str


Operation = Callable[[Gateway, Caller, dict[str, Any]], Awaitable[dict[str, Any] | JsonText]]
