"""Per-query memory for the rows a coordinator reads: each table a query reads is held whole in the
coordinator (as Arrow) before the final stage runs, so one query over a large span could take the process
down. The rows each cell answers with (after the replicas' digests agreed or their rows were merged) are
charged to the running query's budget, so a lagging replica or a hedged request does not count twice; past
it the query fails with an error that names the limit and what to do (the final stage has DuckDB's own
memory limit). The budget travels in a context variable, so the fan-out's tasks share their query's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from tessera import errors

MIB = 1024 * 1024
DEFAULT_READ_LIMIT_MB = 2048

_current: ContextVar[ReadBudget | None] = ContextVar("tessera_query_read_budget", default=None)


class ReadBudget:
    """Bytes of rows one query may read into the coordinator."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        self.used = 0

    def charge(self, nbytes: int) -> None:
        self.used += nbytes
        if self.used > self.limit_bytes:
            raise errors.Throttled(  # no retry hint: the same query would fail again
                f"the query reads more than {self.limit_bytes // MIB} MiB of rows into the coordinator "
                "(--query-read-limit-mb): narrow its time range, filter on dimensions or select fewer columns")


@contextmanager
def reading(limit_bytes: int) -> Iterator[ReadBudget]:
    """Charge what is read inside the block to a new budget of ``limit_bytes``."""
    budget = ReadBudget(limit_bytes)
    token = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(token)


def charge(nbytes: int) -> None:
    """Charge ``nbytes`` read to the running query's budget (nothing outside a query)."""
    budget = _current.get()
    if budget is not None:
        budget.charge(nbytes)
