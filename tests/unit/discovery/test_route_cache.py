"""The route cache never goes back to an older epoch of a table when refreshes finish out of order."""

from __future__ import annotations

import asyncio

from services.discovery.client import RouteCache
from tessera.v1 import common_pb2


class SlowThenFast:
    """resolve() answers epoch 5 slowly to the first caller and epoch 6 at once to the second."""

    def __init__(self) -> None:
        self.calls = 0

    async def resolve(self, db: str, table: str) -> common_pb2.TableRoute:
        self.calls += 1
        if self.calls == 1:
            await asyncio.sleep(0.05)
            return common_pb2.TableRoute(table_id="t1", epoch=5)
        return common_pb2.TableRoute(table_id="t1", epoch=6)


def test_a_late_older_answer_does_not_replace_a_newer_route() -> None:
    async def body() -> list[int]:
        cache = RouteCache(SlowThenFast(), ttl_s=60)  # type: ignore[arg-type]
        slow = asyncio.create_task(cache.get("db1", "tbl"))
        await asyncio.sleep(0.01)
        fast = await cache.get("db1", "tbl", min_epoch=6)
        late = await slow
        return [fast.epoch, late.epoch, (await cache.get("db1", "tbl")).epoch]

    assert asyncio.run(body()) == [6, 6, 6]


def test_a_recreated_table_replaces_the_old_tables_route_whatever_its_epoch() -> None:
    class Recreated:
        async def resolve(self, db: str, table: str) -> common_pb2.TableRoute:
            return common_pb2.TableRoute(table_id="t2", epoch=1)

    async def body() -> tuple[str, str]:
        cache = RouteCache(Recreated(), ttl_s=0)  # type: ignore[arg-type]
        cache._routes[("db1", "tbl")] = (0.0, common_pb2.TableRoute(table_id="t1", epoch=9))
        stale = (await cache.get("db1", "tbl")).table_id  # served while the refresh runs
        await asyncio.sleep(0.01)
        return stale, (await cache.get("db1", "tbl")).table_id

    assert asyncio.run(body()) == ("t1", "t2")


def test_an_expired_route_is_served_at_once_while_discovery_hangs_and_refreshed_in_the_background() -> None:
    class Hanging:
        calls = 0

        async def resolve(self, db: str, table: str) -> common_pb2.TableRoute:
            Hanging.calls += 1
            await asyncio.sleep(3600)  # etcd is down: discovery never answers
            raise AssertionError

    async def body() -> list[int]:
        cache = RouteCache(Hanging(), ttl_s=0)  # type: ignore[arg-type]
        cache._routes[("db1", "tbl")] = (0.0, common_pb2.TableRoute(table_id="t1", epoch=3))
        got = [(await asyncio.wait_for(cache.get("db1", "tbl"), 0.1)).epoch for _ in range(50)]
        for task in list(cache._refreshing.values()):
            task.cancel()
        return got

    assert asyncio.run(body()) == [3] * 50
    assert Hanging.calls == 1  # one refresh in flight, not one per write
