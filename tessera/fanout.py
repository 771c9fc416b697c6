"""One fan-out of calls to replicas, the mechanism every "k of n" path shares.

A path starts calls (each to one node, under a key: the node, or a role such as "data"), takes answers as
they complete (``next``, with an optional hedge or grace timeout), starts more on spares when it decides
to, and records what failed in one wording. Leftover calls are cancelled when the fan-out closes, or kept
running when the path says a late answer still matters (an append or a claim that reaches its replica late
is still made). Each path keeps its own policy (how many answers, what agreement, when to hedge); this
module keeps the asyncio bookkeeping and the failure report the same everywhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Generic, Self, TypeVar

from tessera import errors
from tessera.v1 import common_pb2

T = TypeVar("T")


@dataclass(frozen=True)
class Answer(Generic[T]):
    """A finished call: its key, its node, and its result or the exception it raised."""

    key: str
    node: common_pb2.NodeInfo
    result: T | None
    error: BaseException | None

    @property
    def value(self) -> T:
        """The result of a call that succeeded."""
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


def describe(node: common_pb2.NodeInfo) -> str:
    """How failure reports name a node."""
    zone = f"zone {node.zone}, " if node.zone else ""
    return f"{node.node_id} ({zone}{node.address})"


class FanOut(Generic[T]):
    """Calls running at once, answered in completion order.

    ``keep_late``: closing leaves unfinished calls running (tracked in ``background`` so they are not
    garbage-collected) instead of cancelling them.
    """

    def __init__(self, keep_late: bool = False, background: set[asyncio.Task[T]] | None = None) -> None:
        self._running: dict[asyncio.Task[T], tuple[str, common_pb2.NodeInfo]] = {}
        self._keep_late = keep_late
        self._background = background if background is not None else set()
        self.failures: list[str] = []
        """One line per failed or discounted call: which node, and why."""
        self.answered = 0
        """Calls finished so far, whatever their outcome."""

    def start(self, node: common_pb2.NodeInfo, call: Awaitable[T], key: str = "") -> None:
        """Run ``call`` (a coroutine calling ``node``) under ``key`` (default: the node's id)."""
        self._running[asyncio.ensure_future(call)] = (key or node.node_id, node)

    @property
    def running(self) -> int:
        """Calls not finished yet."""
        return len(self._running)

    def running_keys(self) -> set[str]:
        """Keys of the calls not finished yet."""
        return {key for key, _ in self._running.values()}

    def running_nodes(self) -> list[common_pb2.NodeInfo]:
        """Nodes of the calls not finished yet."""
        return [node for _, node in self._running.values()]

    async def next(self, timeout_s: float | None = None) -> list[Answer[T]]:
        """The calls that finish next (at least one), or [] when none finished within ``timeout_s``."""
        if not self._running:
            return []
        done, _ = await asyncio.wait(self._running, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        out: list[Answer[T]] = []
        for task in done:
            key, node = self._running.pop(task)
            self.answered += 1
            if task.cancelled():  # by someone else (a closing channel): the node did not answer
                out.append(Answer(key, node, None, errors.Unavailable(f"the call to {describe(node)} was cancelled")))
                continue
            error = task.exception()
            out.append(Answer(key, node, None if error is not None else task.result(), error))
        return out

    def cancel(self, key: str) -> None:
        """Stop the unfinished calls under ``key`` (a hedged twin whose role another call answered)."""
        for task, (k, _) in list(self._running.items()):
            if k == key:
                task.cancel()
                del self._running[task]

    def fail(self, node: common_pb2.NodeInfo, why: BaseException | str) -> None:
        """Record that ``node``'s call failed or does not count, and why."""
        self.failures.append(f"{describe(node)}: {why}")

    def close(self) -> list[tuple[common_pb2.NodeInfo, asyncio.Task[T]]]:
        """Cancel the unfinished calls, or leave them running (``keep_late``) and return them with their
        nodes (closing again returns nothing)."""
        running, self._running = self._running, {}
        kept = []
        for task, (_, node) in running.items():
            if not self._keep_late:
                task.cancel()
                continue
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            kept.append((node, task))
        return kept

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
