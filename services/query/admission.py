"""Admission control for a query coordinator: at most ``running`` queries execute at once, up to
``queued`` more wait for a slot, and beyond that a query is refused at once with ThrottlingException and a
retry hint (the SDK and boto3 retry it), instead of every query slowing down and the node running out of
memory under a burst. A query that waits longer than its own deadline is refused the same way."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tessera import errors

T = TypeVar("T")

DEFAULT_RUNNING = 8
"""Queries executing at once: the final stage has two DuckDB threads and each read fans out to replicas."""
DEFAULT_QUEUED = 64
RETRY_AFTER_MS = 200


class Admission:
    """A counting gate with a bounded waiting room."""

    def __init__(self, running: int = DEFAULT_RUNNING, queued: int = DEFAULT_QUEUED) -> None:
        if running < 1 or queued < 0:
            raise ValueError(f"running must be >= 1 and queued >= 0, got {running} and {queued}")
        self.running_limit, self.queued_limit = running, queued
        self._slots = asyncio.Semaphore(running)
        self.running = 0
        self.waiting = 0

    async def run(self, work: Callable[[], Awaitable[T]], wait_s: float) -> T:
        """Run ``work`` once a slot is free; Throttled if the waiting room is full or no slot frees up within
        ``wait_s``."""
        if self._slots.locked():
            if self.waiting >= self.queued_limit:
                raise self._throttled("waiting")
            self.waiting += 1
            started = time.monotonic()
            try:
                async with asyncio.timeout(wait_s):  # not wait_for: in 3.11 it can swallow a cancel
                    await self._slots.acquire()
            except TimeoutError:
                raise self._throttled(f"waited {time.monotonic() - started:.1f} s") from None
            finally:
                self.waiting -= 1
        else:
            await self._slots.acquire()
        self.running += 1
        try:
            return await work()
        finally:
            self.running -= 1
            self._slots.release()

    def _throttled(self, why: str) -> errors.Throttled:
        return errors.Throttled(f"this query coordinator is busy ({self.running} of {self.running_limit} queries "
                                f"running, {self.waiting} of {self.queued_limit} waiting; {why}): retry shortly",
                                retry_after_ms=RETRY_AFTER_MS)
