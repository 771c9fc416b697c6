"""A coordinator runs a bounded number of queries, queues a bounded number more, and refuses the rest
with a retryable Throttled."""

from __future__ import annotations

import asyncio

import pytest

from services.query.admission import Admission
from tessera import errors


def test_running_and_waiting_are_bounded_and_the_overflow_is_throttled_with_a_hint() -> None:
    async def body() -> None:
        gate = Admission(running=2, queued=1)
        release = asyncio.Event()
        peak = [0]

        async def work() -> int:
            peak[0] = max(peak[0], gate.running)
            await release.wait()
            return 1

        held = [asyncio.create_task(gate.run(work, wait_s=5)) for _ in range(3)]  # 2 run, 1 waits
        await asyncio.sleep(0.05)
        assert (gate.running, gate.waiting) == (2, 1)
        with pytest.raises(errors.Throttled, match="2 of 2 queries running, 1 of 1 waiting") as refused:
            await gate.run(work, wait_s=5)
        assert refused.value.retry_after_ms > 0
        release.set()
        assert await asyncio.gather(*held) == [1, 1, 1] and peak[0] == 2
        assert (gate.running, gate.waiting) == (0, 0)

    asyncio.run(body())


def test_a_query_that_waits_too_long_is_throttled_and_frees_its_place() -> None:
    async def body() -> None:
        gate = Admission(running=1, queued=4)
        release = asyncio.Event()

        async def slow() -> None:
            await release.wait()

        holder = asyncio.create_task(gate.run(slow, wait_s=5))
        await asyncio.sleep(0.01)
        with pytest.raises(errors.Throttled, match="waited"):
            await gate.run(slow, wait_s=0.05)
        assert gate.waiting == 0
        release.set()
        await holder

        async def quick() -> str:
            return "ran"

        assert await gate.run(quick, wait_s=0.05) == "ran"  # the slot came back

    asyncio.run(body())


def test_a_failing_query_gives_its_slot_back() -> None:
    async def body() -> None:
        gate = Admission(running=1, queued=0)

        async def boom() -> None:
            raise errors.ValidationError("bad sql")

        for _ in range(3):
            with pytest.raises(errors.ValidationError):
                await gate.run(boom, wait_s=0.1)
        assert gate.running == 0

    asyncio.run(body())
