"""The partition key's range hash is one rule, computed alike by the SDK (row-wise and column-wise), the
ingest node and the storage layout; REQUIRED keys are enforced alike by every validation path."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from services.ingest.replication import QuorumWriter
from services.ingest.writer import Writer, _prepare, table_context
from tessera import arrowipc, errors, layout, record_columns
from tessera._record_fastpath import validate_fast, validate_fast_columns
from tessera.client import Client
from tessera.layout import ABSENT_KEY_HASH, HASH_SPACE, dimension_hash
from tessera.partition_key import PartitionKey, column_hashes, missing_reason
from tessera.records import routing_hash, to_record
from tessera.v1 import common_pb2, ingest_pb2
from tessera.validation import TableContext, Validated, validate_write_batch, validate_write_records

NOW_NS = 1_800_000_000_000_000_000
NOW_MS = NOW_NS // 1_000_000
HOST = PartitionKey("DIMENSION", "host", "OPTIONAL")
HOST_REQUIRED = PartitionKey("DIMENSION", "host", "REQUIRED")
MEASURE = PartitionKey("MEASURE")


def _ctx(key: PartitionKey | None = None) -> TableContext:
    return TableContext({}, 6 * 3600 * 10**9, 10**18, False, NOW_NS,
                        required_dimension=key.required_dimension if key is not None else None)


def _record(dims: dict[str, str], i: int = 0, measure: str | None = "cpu") -> dict[str, Any]:
    out: dict[str, Any] = {"Dimensions": [{"Name": n, "Value": v} for n, v in dims.items()],
                           "MeasureValue": str(i), "MeasureValueType": "BIGINT", "Time": str(NOW_MS - i)}
    if measure is not None:
        out["MeasureName"] = measure
    return out


# --- the rule ---------------------------------------------------------------------------------------------


def test_a_keyed_records_range_hash_is_the_dimension_hash_of_its_key_pair_alone() -> None:
    a = to_record(_record({"host": "h1", "region": "eu"}))
    b = to_record(_record({"region": "us", "host": "h1", "az": "1"}, measure="mem"))
    assert routing_hash(a, None, HOST) == routing_hash(b, None, HOST) == dimension_hash([("host", "h1")])
    assert routing_hash(a, None) == dimension_hash([("host", "h1"), ("region", "eu")])  # no key: as before
    assert routing_hash(a, None, HOST) != routing_hash(to_record(_record({"host": "h2"})), None, HOST)


def test_a_measure_key_hashes_the_measure_name_taking_it_from_common_attributes_when_absent() -> None:
    expected = dimension_hash([("measure_name", "cpu")])
    assert routing_hash(to_record(_record({"host": "h1"})), None, MEASURE) == expected
    common = to_record({"MeasureName": "cpu"})
    assert routing_hash(to_record(_record({"host": "h9"}, measure=None)), common, MEASURE) == expected


def test_a_record_lacking_the_key_hashes_as_an_absent_value() -> None:
    assert routing_hash(to_record(_record({"region": "eu"})), None, HOST) == ABSENT_KEY_HASH == dimension_hash([])
    common = to_record({"Dimensions": [{"Name": "host", "Value": "h1"}]})
    assert routing_hash(to_record(_record({"region": "eu"})), common, HOST) == dimension_hash([("host", "h1")])


# --- one rule everywhere ------------------------------------------------------------------------------------


def _random_request(seed: int, key: PartitionKey) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Valid records, some lacking the key, some taking it (or the measure name) from CommonAttributes."""
    rng = random.Random(seed)
    common: dict[str, Any] | None = rng.choice([
        None, {"Dimensions": [{"Name": "rack", "Value": "r1"}]}, {"Dimensions": [{"Name": "host", "Value": "hc"}]},
        {"MeasureName": "cpu"}])
    host_in_common = common is not None and any(d["Name"] == "host" for d in common.get("Dimensions", []))
    records = []
    for i in range(rng.randint(1, 80)):
        dims = {n: f"{n}-{rng.randint(0, 5)}" for n in ("host", "region", "az") if rng.random() < 0.7}
        if host_in_common:
            dims.pop("host", None)
        measure = None if common is not None and "MeasureName" in common and rng.random() < 0.5 else \
            rng.choice(["cpu", "mem", "disk"])
        records.append(_record(dims, i, measure))
    return records, common


def _ingest_hashes(v: Validated, key: PartitionKey) -> dict[int, int]:
    """By input record, the range hash the ingest node checks ownership with (storage layout included)."""
    _, range_hash = layout.with_key_columns(v.rows, v.dimension_columns, v.measure_columns, v.versions,
                                            range_column=key.column)
    return dict(zip(v.source_index.tolist(), range_hash.tolist()))


@pytest.mark.parametrize("key", [HOST, MEASURE], ids=["dimension key", "measure key"])
@pytest.mark.parametrize("seed", range(12))
def test_sdk_row_wise_column_wise_and_ingest_range_hashes_agree_on_every_record(seed: int, key: PartitionKey) -> None:
    records, common_dict = _random_request(seed, key)
    common = to_record(common_dict, "CommonAttributes") if common_dict is not None else None
    row_wise = [routing_hash(to_record(r), common, key) for r in records]
    batch = record_columns.encode(records)
    assert batch is not None
    assert record_columns.routing_hashes(batch, common, key).tolist() == row_wise
    for form in ("records", "records_arrow"):
        request = ingest_pb2.WriteRecordsRequest(database_name="db", table_name="t")
        if form == "records":
            request.records.extend(to_record(r) for r in records)
        else:
            request.records_arrow = record_columns.to_ipc(batch)
        if common is not None:
            request.common_attributes.CopyFrom(common)
        v = validate_write_records(request, _ctx(key))
        assert not v.rejected, v.rejected
        assert _ingest_hashes(v, key) == dict(enumerate(row_wise)), form


@pytest.mark.parametrize("key", [HOST, MEASURE], ids=["dimension key", "measure key"])
@pytest.mark.parametrize("measure", ["constant", "column"])
def test_write_arrow_routing_and_the_ingest_batch_path_agree_on_every_row(key: PartitionKey, measure: str) -> None:
    rng = np.random.default_rng(3)
    n = 200
    host = pa.array([None if i % 7 == 0 else f"h{i % 13}" for i in range(n)], pa.string())
    data = pa.table({"time": pa.array(NOW_MS - np.arange(n), pa.int64()), "host": host,
                     "region": pa.array([f"r{i % 3}" for i in range(n)]), "v": rng.random(n),
                     "kind": pa.array([f"m{i % 4}" for i in range(n)])})
    request = ingest_pb2.WriteBatchRequest(database_name="db", table_name="t", arrow_ipc=arrowipc.to_ipc(data),
                                           dimension_columns=["host", "region"])
    if measure == "column":
        request.measure_name_column = "kind"
        names = data.column("kind")
    else:
        request.measure_name = "metrics"
        names = pa.array(["metrics"] * n)
    sdk = column_hashes(key, data, ["host", "region"], names).tolist()
    v = validate_write_batch(request, _ctx(key))
    assert not v.rejected
    assert _ingest_hashes(v, key) == dict(enumerate(sdk))
    if key is HOST:
        assert sdk[0] == ABSENT_KEY_HASH and sdk[1] == dimension_hash([("host", "h1")])


def test_the_series_hash_does_not_change_with_a_partition_key_and_without_one_nothing_does() -> None:
    records = [to_record(_record({"host": f"h{i % 3}", "region": f"r{i % 2}"}, i)) for i in range(30)]
    v = validate_write_records(ingest_pb2.WriteRecordsRequest(records=records), _ctx())
    plain, plain_hash = layout.with_key_columns(v.rows, v.dimension_columns, v.measure_columns, v.versions)
    keyed, keyed_hash = layout.with_key_columns(v.rows, v.dimension_columns, v.measure_columns, v.versions,
                                                range_column="host")
    assert keyed.equals(plain)  # ts_series, ts_version, ts_vhash: bit for bit
    assert plain_hash.tolist() == layout.dimension_hashes(v.rows, v.dimension_columns).tolist()
    assert keyed_hash.tolist() == [dimension_hash([("host", h)]) for h in v.rows.column("host").to_pylist()]


# --- the ingest node --------------------------------------------------------------------------------------


def _value_in(half: int) -> str:
    """A host value whose key hash falls in the lower (0) or upper (1) half of the hash space."""
    return next(f"h{i}" for i in range(1000) if (HOST.hash_of(f"h{i}") >= HASH_SPACE // 2) == bool(half))


def test_the_ingest_node_accepts_rows_routed_by_the_key_and_refuses_those_of_another_cells_range() -> None:
    route = common_pb2.TableRoute(table_id="t1", epoch=1, partition_key=HOST.to_proto(), memory_retention_hours=6,
                                  ranges=[common_pb2.HashRange(lo=0, hi=HASH_SPACE // 2, cell="mine"),
                                          common_pb2.HashRange(lo=HASH_SPACE // 2, hi=0, cell="other")])
    writer = Writer("mine", routes=None, new_columns=None, members=None, quorum=QuorumWriter(None))  # type: ignore[arg-type]
    mine = [to_record(_record({"host": _value_in(0), "region": f"r{i}"}, i)) for i in range(20)]

    def check(records: list[common_pb2.Record]) -> list[tuple[tuple[int, int], np.ndarray]]:
        request = ingest_pb2.WriteRecordsRequest(records=records)
        _, rows, range_hash = _prepare(route, lambda ctx: validate_write_records(
            request, dataclasses.replace(ctx, now_ns=NOW_NS)))  # the records' clock, not the wall clock
        assert rows is not None
        return writer._tiles(route, rows, range_hash)

    assert {lo for (lo, _), _ in check(mine)} == {0}  # twenty series, one range
    with pytest.raises(errors.StaleRoute, match="owned by cell other"):
        check(mine + [to_record(_record({"host": _value_in(1)}))])


def test_the_validation_context_of_a_table_requires_its_key_only_when_enforcement_is_required() -> None:
    def required(key: PartitionKey | None) -> str | None:
        route = common_pb2.TableRoute(partition_key=key.to_proto() if key is not None else None)
        return table_context(route, NOW_NS).required_dimension

    assert required(HOST_REQUIRED) == "host"
    assert required(HOST) is None and required(PartitionKey("DIMENSION", "host")) is None
    assert required(PartitionKey("MEASURE", "", "REQUIRED")) is None  # every record has a measure name
    assert required(None) is None


# --- enforcement ----------------------------------------------------------------------------------------------


def test_a_required_key_rejects_records_without_it_with_the_reason_in_both_record_forms() -> None:
    records = [_record({"host": "h1"}, 0), _record({"region": "eu"}, 1), _record({"host": "h2", "az": "1"}, 2)]
    expected = [common_pb2.RejectedRecord(record_index=1, reason=missing_reason("Records[1]", "host"))]
    for form in ("records", "records_arrow"):
        request = ingest_pb2.WriteRecordsRequest()
        if form == "records":
            request.records.extend(to_record(r) for r in records)
        else:
            batch = record_columns.encode(records)
            assert batch is not None
            request.records_arrow = record_columns.to_ipc(batch)
        v = validate_write_records(request, _ctx(HOST_REQUIRED))
        assert list(v.rejected) == expected, form
        assert v.source_index.tolist() == [0, 2]
    assert "Records[1] does not have the dimension 'host', the table's partition key, which is REQUIRED" in \
        expected[0].reason


def test_a_required_key_given_in_common_attributes_satisfies_every_record() -> None:
    request = ingest_pb2.WriteRecordsRequest(records=[to_record(_record({"region": "eu"}, i)) for i in range(3)])
    request.common_attributes.CopyFrom(to_record({"Dimensions": [{"Name": "host", "Value": "h1"}]}))
    assert not validate_write_records(request, _ctx(HOST_REQUIRED)).rejected


def test_the_fast_paths_leave_records_lacking_a_required_key_to_the_exact_validator() -> None:
    with_key = [_record({"host": f"h{i}"}, i) for i in range(20)]
    lacking = [*with_key, _record({"az": "1"}, 30)]

    def fast(records: list[dict[str, Any]], key: PartitionKey) -> tuple[bool, bool]:
        batch = record_columns.encode(records)
        assert batch is not None
        return (validate_fast([to_record(r) for r in records], _ctx(key)) is not None,
                validate_fast_columns(batch, _ctx(key)) is not None)

    assert fast(with_key, HOST_REQUIRED) == (True, True)
    assert fast(lacking, HOST_REQUIRED) == (False, False)
    assert fast(lacking, HOST) == (True, True)


def test_an_optional_key_accepts_records_without_it() -> None:
    request = ingest_pb2.WriteRecordsRequest(records=[to_record(_record({"region": "eu"}))])
    assert not validate_write_records(request, _ctx(HOST)).rejected


def test_a_required_key_rejects_batch_rows_where_it_is_null_or_not_a_dimension_column() -> None:
    data = pa.table({"time": pa.array([NOW_MS, NOW_MS - 1, NOW_MS - 2], pa.int64()),
                     "host": pa.array(["h1", None, "h3"]), "region": ["a", "b", "c"], "v": [1.0, 2.0, 3.0]})
    request = ingest_pb2.WriteBatchRequest(arrow_ipc=arrowipc.to_ipc(data), dimension_columns=["host", "region"])
    v = validate_write_batch(request, _ctx(HOST_REQUIRED))
    assert [(r.record_index, r.reason) for r in v.rejected] == [(1, missing_reason("the row", "host"))]
    request = ingest_pb2.WriteBatchRequest(arrow_ipc=arrowipc.to_ipc(data.drop_columns(["host"])),
                                           dimension_columns=["region"])
    assert [r.record_index for r in validate_write_batch(request, _ctx(HOST_REQUIRED)).rejected] == [0, 1, 2]
    assert not validate_write_batch(request, _ctx(HOST)).rejected


# --- the SDK ----------------------------------------------------------------------------------------------


class KeyedClient(Client):
    """A Client over a fake table split between cells "low" and "high", partitioned by ``key``; it records
    the key value of every row each cell receives, in any write form."""

    def __init__(self, key: PartitionKey) -> None:
        super().__init__("127.0.0.1:1")
        self.key = key
        self.received: list[tuple[str, str | None]] = []

    def route(self, database: str, table: str, refresh: bool = False) -> common_pb2.TableRoute:
        cells = [common_pb2.CellInfo(cell=c, nodes=[common_pb2.NodeInfo(node_id=c, cell=c, role="ingest",
                                                                        address=c, live=True)]) for c in ("low", "high")]
        return common_pb2.TableRoute(epoch=1, cells=cells, partition_key=self.key.to_proto(), ranges=[
            common_pb2.HashRange(lo=0, hi=HASH_SPACE // 2, cell="low"),
            common_pb2.HashRange(lo=HASH_SPACE // 2, hi=0, cell="high")])

    def _ingest(self, route: common_pb2.TableRoute, cell: str, method: str, request: Any) -> Any:
        if method == "WriteBatch":
            data = arrowipc.from_ipc(request.arrow_ipc)
            column = request.measure_name_column if self.key.type == "MEASURE" else "host"
            values = data.column(column).to_pylist() if column else [request.measure_name or None] * data.num_rows
            self.received += [(cell, v) for v in values]
            return ingest_pb2.WriteBatchResponse()
        records = record_columns.to_records(record_columns.decode(request.records_arrow)) if request.records_arrow \
            else list(request.records)
        for r in records:
            if self.key.type == "MEASURE":
                self.received.append((cell, r.measure_name or None))
            else:
                self.received.append((cell, next((d.value for d in r.dimensions if d.name == "host"), None)))
        return ingest_pb2.WriteRecordsResponse()

    def misrouted(self) -> list[tuple[str, str | None]]:
        """Rows that reached the cell their key value does not hash to."""
        return [(cell, v) for cell, v in self.received
                if cell != ("high" if self.key.hash_of(v) >= HASH_SPACE // 2 else "low")]


@pytest.mark.parametrize("form", ["dicts", "Record messages", "write_arrow"])
def test_the_sdk_sends_every_row_to_the_cell_its_partition_key_value_hashes_to(form: str) -> None:
    client = KeyedClient(HOST)
    rows = [{"host": None if i % 9 == 0 else f"h{i % 17}", "region": f"r{i % 5}"} for i in range(300)]
    if form == "write_arrow":
        client.write_arrow("db", "t", pa.table({"time": [NOW_MS] * 300, "host": [r["host"] for r in rows],
                                                "region": [r["region"] for r in rows], "v": [1.0] * 300}),
                           ["host", "region"])
    else:
        records: list[Any] = [_record({k: v for k, v in r.items() if v is not None}, i) for i, r in enumerate(rows)]
        client.write_records("db", "t", records if form == "dicts" else [to_record(r) for r in records])
    assert len(client.received) == 300 and {c for c, _ in client.received} == {"low", "high"}
    assert client.misrouted() == []
    client.close()


@pytest.mark.parametrize("form", ["constant measure name", "default measure name", "measure name column"])
def test_write_arrow_routes_a_measure_keyed_table_by_the_measure_name_the_ingest_node_will_use(form: str) -> None:
    client = KeyedClient(MEASURE)
    data = pa.table({"time": [NOW_MS] * 40, "host": [f"h{i}" for i in range(40)], "v": [1.0] * 40,
                     "kind": [f"m{i % 6}" for i in range(40)]})
    if form == "measure name column":
        client.write_arrow("db", "t", data, ["host"], measure_name_column="kind")
        assert {c for c, _ in client.received} == {"low", "high"}
    else:
        client.write_arrow("db", "t", data, ["host"], measure_name="cpu" if form.startswith("constant") else "")
        if form.startswith("default"):  # the ingest node names such rows "metrics"
            client.received = [(c, v or "metrics") for c, v in client.received]
    assert client.misrouted() == []
    client.close()
