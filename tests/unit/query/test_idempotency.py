"""Query's ClientToken: retries replay the first run; a token with another query is refused for 5 minutes."""

from __future__ import annotations

import asyncio

import pyarrow as pa
import pytest

from services.query import idempotency, results
from tessera import errors


def _stored() -> results.StoredResult:
    return results.StoredResult(pa.table({"n": [1]}), results.query_hash("SELECT 1"), 0.0, 0, [])


def test_a_retry_with_the_same_token_and_query_replays_the_first_run() -> None:
    async def body() -> None:
        ledger = idempotency.TokenLedger()
        task = asyncio.get_running_loop().create_task(asyncio.sleep(0, _stored()))
        ledger.record("tok", "SELECT 1", "q1", task)
        replay = ledger.replay("tok", "SELECT 1")
        assert replay is not None and replay[0] == "q1" and replay[1] is task
        assert (await replay[1]).table.num_rows == 1
        assert ledger.replay("", "SELECT 1") is None and ledger.replay("other", "SELECT 1") is None

    asyncio.run(body())


def test_the_token_with_another_query_is_refused_within_5_minutes_then_starts_afresh() -> None:
    async def body() -> None:
        ledger = idempotency.TokenLedger()
        task = asyncio.get_running_loop().create_task(asyncio.sleep(0, _stored()))
        await task
        ledger.record("tok", "SELECT 1", "q1", task)
        with pytest.raises(errors.ValidationError, match="ClientToken 'tok' was used with a different QueryString"):
            ledger.replay("tok", "SELECT 2")
        ledger._entries["tok"].created -= idempotency.MISMATCH_WINDOW_S + 1
        assert ledger.replay("tok", "SELECT 2") is None

    asyncio.run(body())


def test_a_failed_or_cancelled_run_is_forgotten_so_a_retry_runs_again() -> None:
    async def fail() -> results.StoredResult:
        raise errors.Unavailable("down")

    async def body() -> None:
        ledger = idempotency.TokenLedger()
        failed = asyncio.get_running_loop().create_task(fail())
        with pytest.raises(errors.Unavailable):
            await failed
        ledger.record("a", "SELECT 1", "q1", failed)
        assert ledger.replay("a", "SELECT 1") is None
        cancelled = asyncio.get_running_loop().create_task(asyncio.sleep(10, _stored()))
        ledger.record("b", "SELECT 1", "q2", cancelled)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert ledger.replay("b", "SELECT 1") is None

    asyncio.run(body())


def test_old_tokens_expire_and_the_ledger_is_bounded() -> None:
    async def body() -> None:
        ledger = idempotency.TokenLedger(ttl_s=10.0, max_tokens=2)
        tasks = [asyncio.get_running_loop().create_task(asyncio.sleep(0, _stored())) for _ in range(3)]
        for i, task in enumerate(tasks):
            ledger.record(f"t{i}", "SELECT 1", f"q{i}", task)
        assert ledger.replay("t0", "SELECT 1") is None and ledger.replay("t2", "SELECT 1") is not None
        ledger._entries["t2"].created -= 11
        assert ledger.replay("t2", "SELECT 1") is None
        await asyncio.gather(*tasks)

    asyncio.run(body())


def test_finished_results_beyond_the_byte_budget_are_forgotten_oldest_first() -> None:
    async def body() -> None:
        ledger = idempotency.TokenLedger(max_bytes=10)  # each result is 8 bytes
        tasks = [asyncio.get_running_loop().create_task(asyncio.sleep(0, _stored())) for _ in range(2)]
        await asyncio.gather(*tasks)
        ledger.record("old", "SELECT 1", "q1", tasks[0])
        ledger.record("new", "SELECT 1", "q2", tasks[1])
        assert ledger.replay("old", "SELECT 1") is None and ledger.replay("new", "SELECT 1") is not None

    asyncio.run(body())


def test_a_cancelled_query_id_is_forgotten_so_a_retry_runs_afresh() -> None:
    async def body() -> None:
        ledger = idempotency.TokenLedger()
        task = asyncio.get_running_loop().create_task(asyncio.sleep(0, _stored()))
        await task
        ledger.record("tok", "SELECT 1", "q1", task)
        assert ledger.forget_query("q1") and not ledger.forget_query("q1")
        assert ledger.replay("tok", "SELECT 1") is None

    asyncio.run(body())
