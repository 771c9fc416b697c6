"""The route cache never goes back to an older epoch of a table when refreshes finish out of order."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import pytest

from services.discovery.client import RouteCache
from services.discovery.tables import ColumnInfo, TableChange, TableInfo
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


class WatchedCatalog:
    """The part of TableCatalog a RouteCache uses: subscribe and deleted."""

    def __init__(self) -> None:
        self.callbacks: list[Any] = []
        self.gone: set[str] = set()

    def subscribe(self, callback: Any) -> Any:
        self.callbacks.append(callback)
        return lambda: None

    def deleted(self, table_id: str) -> bool:
        return table_id in self.gone

    def tell(self, change: TableChange) -> None:
        if change.kind == "deleted":
            self.gone.add(change.table_id)
        for callback in self.callbacks:
            callback(change)


def _info(table_id: str, name: str = "tbl") -> TableInfo:
    return TableInfo(table_id, "db1", name, (), 6, 73000, False)


def test_the_catalog_watch_evicts_a_deleted_changed_or_renamed_tables_route() -> None:
    """A table deleted and created again under its name is never served through the old one's route, even
    within the TTL (the old id's writes would be acknowledged into a table nobody reads); a changed table's
    route is fetched again at once but served until then, so an etcd outage costs nothing."""

    class Current:
        table_id = "t2"

        async def resolve(self, db: str, table: str) -> common_pb2.TableRoute:
            return common_pb2.TableRoute(table_id=Current.table_id, epoch=1)

    async def body() -> list[str]:
        catalog = WatchedCatalog()
        cache = RouteCache(Current(), ttl_s=3600, catalog=catalog)  # type: ignore[arg-type]
        seen = []
        cache._routes[("db1", "tbl")] = (time.monotonic(), common_pb2.TableRoute(table_id="t1", epoch=9))
        seen.append((await cache.get("db1", "tbl")).table_id)  # fresh by its TTL: served
        catalog.tell(TableChange("deleted", "t1", None, _info("t1")))
        seen.append((await cache.get("db1", "tbl")).table_id)  # evicted: fetched anew
        Current.table_id = "t3"
        grown = replace(_info("t2"), columns=(ColumnInfo("host", "DIMENSION", "VARCHAR"),))
        catalog.tell(TableChange("changed", "t2", grown, _info("t2")))  # a new column: from the event, no lookup
        route = await cache.get("db1", "tbl")
        assert (route.table_id, [c.name for c in route.columns]) == ("t2", ["host"])
        await asyncio.sleep(0.01)
        assert (await cache.get("db1", "tbl")).table_id == "t2"
        stricter = replace(grown, partition_key=("DIMENSION:host:REQUIRED",))
        catalog.tell(TableChange("changed", "t2", stricter, grown))  # the partition key: fetched again at once
        seen.append((await cache.get("db1", "tbl")).table_id)  # served while fetched again (etcd may be down)
        await asyncio.sleep(0.01)
        seen.append((await cache.get("db1", "tbl")).table_id)
        cache._routes[("db1", "tbl")] = (time.monotonic(), common_pb2.TableRoute(table_id="t3", epoch=1))
        Current.table_id = "t4"
        catalog.tell(TableChange("added", "t4", _info("t4"), None))  # the name now names another table
        seen.append((await cache.get("db1", "tbl")).table_id)
        catalog.tell(TableChange("added", "t5", _info("t5", "other"), None))  # another name: kept
        seen.append((await cache.get("db1", "tbl")).table_id)
        catalog.gone.add("t4")  # deleted per the catalog before its event reached the cache
        Current.table_id = "t6"
        seen.append((await cache.get("db1", "tbl")).table_id)
        return seen

    assert asyncio.run(body()) == ["t1", "t2", "t2", "t3", "t4", "t4", "t6"]


@pytest.mark.parametrize("caller", [{"min_epoch": 5}, {"table_id": "old"}])
def test_a_caller_whose_route_names_a_deleted_table_costs_one_lookup_a_second_not_one_a_call(
        caller: dict[str, Any]) -> None:
    """The SDK's cached route of the old table (deleted, the name created again) carries the old table's id
    and a higher epoch than the new table's 1: this node looks up once, finds the caller outdated, and
    serves the current route to such callers without asking again within FRESH_S."""

    class Counting:
        calls = 0

        async def resolve(self, db: str, table: str) -> common_pb2.TableRoute:
            Counting.calls += 1
            return common_pb2.TableRoute(table_id="new", epoch=1)

    async def body() -> list[str]:
        cache = RouteCache(Counting(), ttl_s=3600)  # type: ignore[arg-type]
        return [(await cache.get("db1", "tbl", **caller)).table_id for _ in range(20)]

    assert asyncio.run(body()) == ["new"] * 20
    assert Counting.calls == 1


def test_a_caller_naming_another_table_than_the_cached_route_makes_the_cache_look_again() -> None:
    """The gateway resolved the table created again ("new"); this node's cached route, older than its watch
    can tell, names the deleted one ("old"): it is looked up before use, not served."""

    class Current:
        async def resolve(self, db: str, table: str) -> common_pb2.TableRoute:
            return common_pb2.TableRoute(table_id="new", epoch=1)

    async def body() -> tuple[str, str]:
        cache = RouteCache(Current(), ttl_s=3600)  # type: ignore[arg-type]
        cache._routes[("db1", "tbl")] = (time.monotonic(), common_pb2.TableRoute(table_id="old", epoch=4))
        return (await cache.get("db1", "tbl", table_id="new")).table_id, (await cache.get("db1", "tbl")).table_id

    assert asyncio.run(body()) == ("new", "new")
