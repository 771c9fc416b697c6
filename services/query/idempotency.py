"""Query's ClientToken: a retried Query with the same token gets the first run's result, not a second run.

Timestream keeps a token's result idempotent for hours and refuses the token with other parameters within
5 minutes. Here a token is remembered with its query's task for as long as results are kept for NextTokens
(``results.RESULT_TTL_S``), for a bounded number of tokens; a retry while the first run is still going
waits for that run. A run that failed, timed out or was cancelled is forgotten, so a retry runs again.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass

from services.query import results
from tessera import errors

MISMATCH_WINDOW_S = 300.0
MAX_TOKENS = 64
MAX_BYTES = 256 * 1024 * 1024  # finished results kept for replays, all tokens together


@dataclass
class _Entry:
    query_hash: str
    query_id: str
    task: asyncio.Task[results.StoredResult]
    created: float


class TokenLedger:
    """ClientToken → the query run it started."""

    def __init__(self, ttl_s: float = results.RESULT_TTL_S, max_tokens: int = MAX_TOKENS,
                 max_bytes: int = MAX_BYTES) -> None:
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._ttl = ttl_s
        self._max = max_tokens
        self._max_bytes = max_bytes

    def replay(self, token: str, query: str) -> tuple[str, asyncio.Task[results.StoredResult]] | None:
        """The (query id, task) of the token's earlier run of this query, or None to run it now.

        ValidationError when the token was used with another QueryString less than 5 minutes ago.
        """
        self._trim()
        entry = self._entries.get(token) if token else None
        if entry is None:
            return None
        age = time.monotonic() - entry.created
        failed = entry.task.done() and (entry.task.cancelled() or entry.task.exception() is not None)
        if age > self._ttl or failed:
            del self._entries[token]
            return None
        if entry.query_hash != results.query_hash(query):
            if age < MISMATCH_WINDOW_S:
                raise errors.ValidationError(
                    f"ClientToken {token!r} was used with a different QueryString {int(age)} s ago; a token is "
                    f"bound to its query for {int(MISMATCH_WINDOW_S)} s (use a new token for a new query)")
            del self._entries[token]
            return None
        return entry.query_id, entry.task

    def record(self, token: str, query: str, query_id: str, task: asyncio.Task[results.StoredResult]) -> None:
        """Remember the run a token started (no-op without a token)."""
        if not token:
            return
        self._entries[token] = _Entry(results.query_hash(query), query_id, task, time.monotonic())
        self._entries.move_to_end(token)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
        self._trim()

    def forget_query(self, query_id: str) -> bool:
        """Forget the token whose run has this query id (it was cancelled); True when there was one."""
        tokens = [t for t, e in self._entries.items() if e.query_id == query_id]
        for token in tokens:
            del self._entries[token]
        return bool(tokens)

    def _trim(self) -> None:
        """Forget the oldest finished results while those kept exceed the byte budget."""
        sizes = {t: e.task.result().table.nbytes for t, e in self._entries.items()
                 if e.task.done() and not e.task.cancelled() and e.task.exception() is None}
        total = sum(sizes.values())
        for token in [t for t in self._entries if t in sizes]:
            if total <= self._max_bytes:
                break
            total -= sizes[token]
            del self._entries[token]
