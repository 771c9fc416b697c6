"""The gateway's thread lanes: a bounded number of calls admitted, released only when their thread ends."""

from __future__ import annotations

import asyncio
import threading

import pytest

from services.gateway import context
from tessera import errors


def test_a_full_lane_refuses_at_once_and_admits_again_when_a_thread_finishes(monkeypatch: pytest.MonkeyPatch
                                                                             ) -> None:
    monkeypatch.setattr(context, "QUEUE_PER_THREAD", 1)
    lane = context._Lane("write", threads=1)  # one running + one waiting
    release = threading.Event()

    async def scenario() -> None:
        running = [asyncio.ensure_future(lane.run(release.wait)) for _ in range(2)]
        await asyncio.sleep(0.05)
        with pytest.raises(errors.Throttled, match="2 write calls in flight"):
            await lane.run(lambda: "refused")
        running[0].cancel()  # a client gone away: its thread still runs, so it still counts
        await asyncio.sleep(0.05)
        with pytest.raises(errors.Throttled):
            await lane.run(lambda: "refused")
        release.set()
        await asyncio.gather(*running, return_exceptions=True)
        await asyncio.sleep(0.05)
        assert await lane.run(lambda: "admitted") == "admitted"

    try:
        asyncio.run(scenario())
    finally:
        release.set()
        lane.close()
