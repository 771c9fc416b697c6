"""Column claims: first-writer-wins on a replica, decided by majority across replicas, pushed to the catalog,
and the ingest side that adds new columns with or without the catalog."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from services.ingest.columns import NewColumns
from services.storage.blobstore import LocalBlobStore
from services.storage.column_claims import (
    ClaimSync,
    ColumnClaims,
    adopt_peers_claims,
    claim_by_majority,
    claim_replicas,
)
from tessera import errors
from tessera.v1 import common_pb2, storage_pb2


def _col(name: str, type_: str, kind: str = "MULTI") -> common_pb2.Column:
    return common_pb2.Column(name=name, kind=kind, type=type_)


def _specs(columns: list[common_pb2.Column]) -> dict[str, str]:
    return {c.name: c.type for c in columns}


class _Replica:
    """A claim replica as ingest reaches it: up, down (Unavailable) or rebuilding (incomplete)."""

    def __init__(self, root: Path) -> None:
        self.claims = ColumnClaims(LocalBlobStore(root), deleted=lambda _t: False)
        self.down = False
        self.incomplete = False

    async def claim_columns(self, request: storage_pb2.ClaimColumnsRequest, timeout_s: float
                            ) -> storage_pb2.ClaimColumnsResponse:
        if self.down:
            raise errors.Unavailable("connection refused")
        held = await self.claims.claim(request.table_id, list(request.columns), request.authoritative)
        return storage_pb2.ClaimColumnsResponse(columns=held, incomplete=self.incomplete)


    async def list_claims(self, request: storage_pb2.ListClaimsRequest, timeout_s: float
                          ) -> storage_pb2.ListClaimsResponse:
        if self.down:
            raise errors.Unavailable("connection refused")
        return storage_pb2.ListClaimsResponse(tables=[storage_pb2.TableClaims(table_id=t, columns=cs)
                                                      for t, cs in (await self.claims.held()).items()])


class _Pool:
    def __init__(self, tmp_path: Path) -> None:
        self.nodes = [common_pb2.NodeInfo(node_id=f"s{i}", zone=f"z{i}", role="storage", address=f"a{i}")
                      for i in range(3)]
        self.replicas = {n.address: _Replica(tmp_path / n.node_id) for n in self.nodes}

    def get(self, address: str) -> _Replica:
        return self.replicas[address]

    def by_role(self, role: str) -> list[common_pb2.NodeInfo]:
        return self.nodes if role == "storage" else []


class _Catalog:
    def __init__(self) -> None:
        self.columns: dict[str, dict[str, common_pb2.Column]] = {}
        self.down = False
        self.calls = 0

    async def register_columns(self, table_id: str, columns: list[common_pb2.Column]) -> list[common_pb2.Column]:
        self.calls += 1
        if self.down:
            raise errors.Unavailable("the catalog store (etcd) is unreachable")
        table = self.columns.setdefault(table_id, {})
        for c in columns:
            table.setdefault(c.name, c)
        return list(table.values())

    async def describe_table_by_id(self, table_id: str) -> tuple[Any, int]:
        self.calls += 1
        if self.down:
            raise errors.Unavailable("the catalog store (etcd) is unreachable")
        return None, 1


def _route(cells: list[str]) -> common_pb2.TableRoute:
    ranges = [common_pb2.HashRange(lo=i << 60, cell=c) for i, c in enumerate(cells)]
    return common_pb2.TableRoute(database_name="db", table_name="t", table_id="t1", ranges=ranges,
                                 columns=[_col("host", "VARCHAR", "DIMENSION")])


def test_a_replica_keeps_its_first_claim_durably(tmp_path: Path) -> None:
    async def run() -> None:
        claims = ColumnClaims(LocalBlobStore(tmp_path), deleted=lambda _t: False)
        assert _specs(await claims.claim("t1", [_col("cpu", "DOUBLE")])) == {"cpu": "DOUBLE"}
        assert _specs(await claims.claim("t1", [_col("cpu", "BIGINT"), _col("mem", "BIGINT")])) == {
            "cpu": "DOUBLE", "mem": "BIGINT"}
        reopened = ColumnClaims(LocalBlobStore(tmp_path), deleted=lambda _t: False)
        assert _specs(await reopened.claim("t1", [_col("cpu", "VARCHAR")])) == {"cpu": "DOUBLE"}
        assert {t: _specs(cs) for t, cs in (await reopened.unconfirmed()).items()} == {
            "t1": {"cpu": "DOUBLE", "mem": "BIGINT"}}
        await reopened.confirm("t1", ["cpu"])
        again = ColumnClaims(LocalBlobStore(tmp_path), deleted=lambda _t: False)
        assert {t: _specs(cs) for t, cs in (await again.unconfirmed()).items()} == {"t1": {"mem": "BIGINT"}}
    asyncio.run(run())


def test_a_single_measure_name_and_an_attribute_of_that_name_are_claimed_apart(tmp_path: Path) -> None:
    async def run() -> None:
        claims = ColumnClaims(LocalBlobStore(tmp_path), deleted=lambda _t: False)
        held = await claims.claim("t1", [_col("cpu", "DOUBLE", "MEASURE"), _col("cpu", "BIGINT")])
        assert [(c.name, c.kind, c.type) for c in held] == [("cpu", "MEASURE", "DOUBLE"), ("cpu", "MULTI", "BIGINT")]
        # A dimension shares the attributes' namespace: the attribute's claim answers it.
        assert [(c.kind, c.type) for c in await claims.claim("t1", [_col("cpu", "VARCHAR", "DIMENSION")])] == [
            ("MULTI", "BIGINT")]
        reopened = ColumnClaims(LocalBlobStore(tmp_path), deleted=lambda _t: False)
        assert sorted((c.name, c.kind, c.type) for c in (await reopened.held())["t1"]) == [
            ("cpu", "MEASURE", "DOUBLE"), ("cpu", "MULTI", "BIGINT")]
    asyncio.run(run())


def test_a_claim_file_keyed_by_bare_names_is_read_into_the_namespaces(tmp_path: Path) -> None:
    """Claim files written before single-measure names had a namespace of their own keep working."""
    async def run() -> None:
        (tmp_path / "t1").mkdir()
        (tmp_path / "t1" / "columns.json").write_text(json.dumps({
            "columns": {"cpu": ["MEASURE", "DOUBLE"], "host": ["DIMENSION", "VARCHAR"]}, "confirmed": ["cpu"]}))
        claims = ColumnClaims(LocalBlobStore(tmp_path), deleted=lambda _t: False)
        assert [(c.name, c.kind, c.type) for c in (await claims.unconfirmed())["t1"]] == [
            ("host", "DIMENSION", "VARCHAR")]
        held = await claims.claim("t1", [_col("cpu", "BIGINT", "MEASURE"), _col("cpu", "BIGINT")])
        assert [(c.kind, c.type) for c in held] == [("MEASURE", "DOUBLE"), ("MULTI", "BIGINT")]
    asyncio.run(run())


def test_bad_claims_are_refused_naming_the_field(tmp_path: Path) -> None:
    async def run() -> None:
        claims = ColumnClaims(LocalBlobStore(tmp_path), deleted=lambda t: t == "gone")
        with pytest.raises(errors.ValidationError, match=r"columns\[1\] \('cpu'\): type 'FLOAT' is not one of"):
            await claims.claim("t1", [_col("mem", "DOUBLE"), _col("cpu", "FLOAT")])
        with pytest.raises(errors.ValidationError, match=r"columns\[0\].name is required"):
            await claims.claim("t1", [_col("", "DOUBLE")])
        with pytest.raises(errors.ValidationError, match="table_id"):
            await claims.claim("", [_col("cpu", "DOUBLE")])
        with pytest.raises(errors.ValidationError, match="blob path"):
            await claims.claim("../x", [_col("cpu", "DOUBLE")])
        with pytest.raises(errors.NotFound, match="deleted"):
            await claims.claim("gone", [_col("cpu", "DOUBLE")])
        assert await claims.unconfirmed() == {}
    asyncio.run(run())


def test_a_majority_decides_and_a_lone_or_rebuilding_replica_does_not(tmp_path: Path) -> None:
    async def run() -> None:
        pool = _Pool(tmp_path)
        a, b, c = (pool.replicas[n.address] for n in pool.nodes)
        await a.claims.claim("t1", [_col("cpu", "BIGINT")])  # a lone earlier claim: a minority
        decided, _ = await claim_by_majority(pool, pool.nodes, "t1", [_col("cpu", "DOUBLE")])  # type: ignore[arg-type]
        assert _specs(list(decided.values())) == {"cpu": "DOUBLE"}
        decided, _ = await claim_by_majority(pool, pool.nodes, "t1", [_col("cpu", "VARCHAR")])  # type: ignore[arg-type]
        assert _specs(list(decided.values())) == {"cpu": "DOUBLE"}  # decided for good
        b.down = True
        c.incomplete = True
        decided, failures = await claim_by_majority(pool, pool.nodes, "t1", [_col("mem", "BIGINT")])  # type: ignore[arg-type]
        assert decided == {} and any("no majority for mem" in f for f in failures)
        assert any("rebuilding" in f for f in failures) and any("connection refused" in f for f in failures)
    asyncio.run(run())


def test_new_columns_with_the_catalog_down_are_decided_by_claims_and_pushed_later(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def run() -> None:
        pool, catalog = _Pool(tmp_path), _Catalog()
        columns = NewColumns("c1", catalog, pool, pool)  # type: ignore[arg-type]
        catalog.down = True
        schema = await columns.add(_route(["c1"]), [_col("cpu", "DOUBLE")])
        assert _specs(schema) == {"host": "VARCHAR", "cpu": "DOUBLE"}
        # A second writer proposing another type gets the decided one.
        assert _specs(await NewColumns("c1", catalog, pool, pool).add(  # type: ignore[arg-type]
            _route(["c1"]), [_col("cpu", "BIGINT")]))["cpu"] == "DOUBLE"
        assert _specs(await columns.add(_route(["c1"]), [_col("cpu", "BIGINT")]))["cpu"] == "DOUBLE"
        with pytest.raises(errors.Unavailable, match="span cells c1, c2.*catalog"):
            await columns.add(_route(["c1", "c2"]), [_col("mem", "DOUBLE")])
        catalog.down = False
        # Every replica pushes its claims; the catalog gets the decided type, even from the minority one.
        for node in pool.nodes:
            replica = pool.replicas[node.address]
            await ClaimSync(replica.claims, pool, lambda: pool.nodes, catalog).push()  # type: ignore[arg-type]
            assert await replica.claims.unconfirmed() == {}
        assert _specs(list(catalog.columns["t1"].values())) == {"cpu": "DOUBLE"}
        # Its background probe finds the catalog back; then a claim decided earlier still wins over the
        # writer's proposal, and the catalog is asked inline again.
        await asyncio.sleep(0.1)
        calls = catalog.calls
        assert _specs(await columns.add(_route(["c1"]), [_col("cpu", "BOOLEAN")]))["cpu"] == "DOUBLE"
        assert catalog.calls == calls + 1
        await columns.stop()
    monkeypatch.setattr("services.ingest.columns.PROBE_INTERVAL_S", 0.01)
    asyncio.run(run())


def test_with_the_catalog_up_it_decides_even_against_the_claims(tmp_path: Path) -> None:
    async def run() -> None:
        pool, catalog = _Pool(tmp_path), _Catalog()
        catalog.columns["t1"] = {"cpu": _col("cpu", "BIGINT")}  # registered before claims existed
        columns = NewColumns("c1", catalog, pool, pool)  # type: ignore[arg-type]
        assert _specs(await columns.add(_route(["c1"]), [_col("cpu", "DOUBLE")])) == {"cpu": "BIGINT"}
        assert claim_replicas("t1", pool.nodes) == claim_replicas("t1", list(reversed(pool.nodes)))
    asyncio.run(run())


def test_an_undecided_type_is_never_used_without_the_catalog_and_the_catalog_s_answer_is_taught(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("services.ingest.columns.PROBE_INTERVAL_S", 0.01)

    async def run() -> None:
        pool, catalog = _Pool(tmp_path), _Catalog()
        a, b, c = (pool.replicas[n.address] for n in pool.nodes)
        await a.claims.claim("t1", [_col("cpu", "BIGINT")])
        await c.claims.claim("t1", [_col("cpu", "DOUBLE")])
        b.down = True
        catalog.down = True
        w1 = NewColumns("c1", catalog, pool, pool)  # type: ignore[arg-type]
        with pytest.raises(errors.Unavailable, match="decided no type"):  # split claims, no catalog: refused
            await w1.add(_route(["c1"]), [_col("cpu", "BIGINT")])
        catalog.down = False
        await asyncio.sleep(0.1)  # w1's probe finds the catalog back: it only reads, registering nothing
        assert catalog.columns.get("t1", {}) == {}
        # With the catalog up, the split claims leave the decision to it, and its answer replaces the claims.
        assert _specs(await w1.add(_route(["c1"]), [_col("cpu", "BIGINT")]))["cpu"] == "BIGINT"
        for r in (a, c):  # c's losing DOUBLE is replaced; b was down and holds nothing
            assert _specs(await r.claims.claim("t1", [_col("cpu", "VARCHAR")])) == {"cpu": "BIGINT"}
        b.down = False
        # A later outage decides as the catalog did.
        catalog.down = True
        w2 = NewColumns("c1", catalog, pool, pool)  # type: ignore[arg-type]
        assert _specs(await w2.add(_route(["c1"]), [_col("cpu", "DOUBLE")]))["cpu"] == "BIGINT"
        await w1.stop()
        await w2.stop()
    asyncio.run(run())


def test_a_claim_whose_caller_stopped_waiting_still_completes_and_never_changes(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    async def run() -> None:
        store = LocalBlobStore(tmp_path)
        claims = ColumnClaims(store, deleted=lambda _t: False)
        real_put = store.put
        entered = asyncio.Event()
        loop = asyncio.get_running_loop()

        def slow_put(path: str, data: bytes) -> None:
            loop.call_soon_threadsafe(entered.set)
            import time
            time.sleep(0.2)
            real_put(path, data)

        monkeypatch.setattr(store, "put", slow_put)
        first = asyncio.create_task(claims.claim("t1", [_col("a", "VARCHAR")]))
        await entered.wait()
        first.cancel()  # e.g. the quorum was reached without this replica
        second = await claims.claim("t1", [_col("a", "DOUBLE"), _col("b", "BIGINT")])
        assert _specs(second) == {"a": "VARCHAR", "b": "BIGINT"}
        reopened = ColumnClaims(LocalBlobStore(tmp_path), deleted=lambda _t: False)
        assert _specs(await reopened.claim("t1", [_col("a", "BOOLEAN"), _col("b", "VARCHAR")])) == {
            "a": "VARCHAR", "b": "BIGINT"}
    asyncio.run(run())


def test_claim_sync_replaces_a_losing_claim_with_the_catalog_s_answer(tmp_path: Path) -> None:
    async def run() -> None:
        pool, catalog = _Pool(tmp_path), _Catalog()
        a, b, c = (pool.replicas[n.address] for n in pool.nodes)
        await a.claims.claim("t1", [_col("cpu", "BIGINT")])  # the minority
        for r in (b, c):
            await r.claims.claim("t1", [_col("cpu", "DOUBLE")])
        await ClaimSync(a.claims, pool, lambda: pool.nodes, catalog).push()  # type: ignore[arg-type]
        assert _specs(list(catalog.columns["t1"].values())) == {"cpu": "DOUBLE"}
        assert await a.claims.unconfirmed() == {}
        assert _specs(await a.claims.claim("t1", [_col("cpu", "VARCHAR")])) == {"cpu": "DOUBLE"}
    asyncio.run(run())


def test_a_rebuilt_replica_takes_the_claims_its_peers_agree_on_before_it_counts(tmp_path: Path) -> None:
    async def run() -> None:
        pool = _Pool(tmp_path)
        a, b, c = (pool.replicas[n.address] for n in pool.nodes)
        for r in (b, c):
            await r.claims.claim("t1", [_col("cpu", "DOUBLE"), _col("mem", "BIGINT" if r is b else "VARCHAR")])
        c.down = True
        assert not await adopt_peers_claims(a.claims, pool, pool.nodes, "s0")  # type: ignore[arg-type]
        assert await a.claims.held() == {}
        c.down = False
        assert await adopt_peers_claims(a.claims, pool, pool.nodes, "s0")  # type: ignore[arg-type]
        assert {t: _specs(cs) for t, cs in (await a.claims.held()).items()} == {"t1": {"cpu": "DOUBLE"}}
        # The decided claim stays decided: a new writer cannot form a majority for another type with a.
        decided, _ = await claim_by_majority(pool, [pool.nodes[0], pool.nodes[1]], "t1",  # type: ignore[arg-type]
                                             [_col("cpu", "BIGINT")])
        assert _specs(list(decided.values())) == {"cpu": "DOUBLE"}
    asyncio.run(run())
