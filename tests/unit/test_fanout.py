"""The shared fan-out: answers in completion order, timeouts, cancelling a role, closing, failure reports."""

from __future__ import annotations

import asyncio

import pytest

from tessera.fanout import FanOut, describe
from tessera.v1 import common_pb2


def node(name: str, zone: str = "a") -> common_pb2.NodeInfo:
    return common_pb2.NodeInfo(node_id=name, zone=zone, address=f"127.0.0.1:{1000 + ord(name[-1])}")


async def after(seconds: float, value: str) -> str:
    await asyncio.sleep(seconds)
    return value


async def fails(seconds: float, message: str) -> str:
    await asyncio.sleep(seconds)
    raise RuntimeError(message)


def test_answers_come_in_completion_order_with_their_keys_nodes_and_errors() -> None:
    async def run() -> list[tuple[str, str, str | None, str | None]]:
        got = []
        async with FanOut[str]() as calls:
            calls.start(node("n1"), after(0.05, "slow"))
            calls.start(node("n2"), after(0.0, "fast"), key="data")
            calls.start(node("n3"), fails(0.02, "boom"))
            while calls.running:
                for a in await calls.next():
                    got.append((a.key, a.node.node_id, a.result, None if a.error is None else str(a.error)))
            assert calls.answered == 3
        return got

    assert asyncio.run(run()) == [("data", "n2", "fast", None), ("n3", "n3", None, "boom"),
                                  ("n1", "n1", "slow", None)]


def test_value_raises_the_error_of_a_failed_call() -> None:
    async def run() -> None:
        async with FanOut[str]() as calls:
            calls.start(node("n1"), fails(0, "no"))
            (answer,) = await calls.next()
            with pytest.raises(RuntimeError, match="no"):
                _ = answer.value

    asyncio.run(run())


def test_a_timeout_returns_no_answers_and_leaves_the_calls_running() -> None:
    async def run() -> None:
        async with FanOut[str]() as calls:
            calls.start(node("n1"), after(10, "late"))
            assert await calls.next(0.01) == []
            assert calls.running == 1 and calls.running_nodes()[0].node_id == "n1"
            assert await FanOut[str]().next(0.01) == []  # nothing running: nothing to wait for

    asyncio.run(run())


def test_cancel_stops_only_the_calls_of_that_key() -> None:
    async def run() -> None:
        async with FanOut[str]() as calls:
            calls.start(node("n1"), after(10, "x"), key="data")
            calls.start(node("n2"), after(10, "y"), key="data")
            calls.start(node("n3"), after(0.01, "z"), key="digest")
            calls.cancel("data")
            assert calls.running_keys() == {"digest"}
            (answer,) = await calls.next()
            assert answer.value == "z"

    asyncio.run(run())


def test_closing_cancels_unfinished_calls() -> None:
    async def run() -> bool:
        finished = asyncio.Event()

        async def call() -> str:
            await asyncio.sleep(0.05)
            finished.set()
            return "done"

        async with FanOut[str]() as calls:
            calls.start(node("n1"), call())
        await asyncio.sleep(0.1)
        return finished.is_set()

    assert asyncio.run(run()) is False


def test_keep_late_leaves_unfinished_calls_running_in_the_background_and_returns_them() -> None:
    async def run() -> tuple[list[str], str, int]:
        background: set[asyncio.Task[str]] = set()
        calls = FanOut[str](keep_late=True, background=background)
        calls.start(node("n1"), after(0, "early"))
        calls.start(node("n2"), after(0.05, "late"))
        await calls.next()
        kept = calls.close()
        assert calls.close() == []  # closing twice keeps nothing twice
        assert len(background) == 1
        result = await kept[0][1]
        await asyncio.sleep(0)  # the done callback drops it from the background set
        return [n.node_id for n, _ in kept], result, len(background)

    assert asyncio.run(run()) == (["n2"], "late", 0)


def test_failures_name_the_node_its_zone_and_address_and_why() -> None:
    calls = FanOut[str]()
    calls.fail(node("n1", zone="b"), RuntimeError("connection refused"))
    calls.fail(common_pb2.NodeInfo(node_id="x", address="127.0.0.1:9"), "is rebuilding")
    assert calls.failures == ["n1 (zone b, 127.0.0.1:1049): connection refused", "x (127.0.0.1:9): is rebuilding"]
    assert describe(node("n2")) == "n2 (zone a, 127.0.0.1:1050)"


def test_a_call_cancelled_by_someone_else_is_an_unavailable_answer() -> None:
    async def run() -> str:
        async with FanOut[str]() as calls:
            call: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            calls.start(node("n1"), call)
            call.cancel()  # from outside, as a closing channel does
            (answer,) = await calls.next()
            return type(answer.error).__name__ + ": " + str(answer.error)

    assert asyncio.run(run()).startswith("Unavailable: the call to n1 (zone a, 127.0.0.1:1049) was cancelled")
