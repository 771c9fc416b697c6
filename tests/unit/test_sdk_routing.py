"""The SDK re-routes only unacknowledged records after a stale route, so counts and indexes stay exact."""

from __future__ import annotations

from typing import Any

import pytest

from tessera import errors, record_columns
from tessera.client import Client
from tessera.layout import HASH_SPACE
from tessera.records import to_record
from tessera.v1 import common_pb2, ingest_pb2


class FakeClient(Client):
    """A Client whose network calls are replaced: two cells, the second answers StaleRoute once."""

    def __init__(self) -> None:
        super().__init__("127.0.0.1:1")
        self.sent: list[tuple[str, int]] = []
        self.stale_once = True

    def route(self, database: str, table: str, refresh: bool = False) -> common_pb2.TableRoute:
        nodes = [common_pb2.CellInfo(cell=c, nodes=[common_pb2.NodeInfo(node_id=f"{c}-i", cell=c, role="ingest",
                                                                        address=c, live=True)]) for c in "ab"]
        return common_pb2.TableRoute(epoch=2 if refresh else 1, cells=nodes, ranges=[
            common_pb2.HashRange(lo=0, hi=HASH_SPACE // 2, cell="a"),
            common_pb2.HashRange(lo=HASH_SPACE // 2, hi=0, cell="b")])

    def _ingest(self, route: common_pb2.TableRoute, cell: str, method: str, request: Any) -> Any:
        if cell == "b" and self.stale_once:
            self.stale_once = False
            raise errors.StaleRoute("moved", epoch=2)
        count = record_columns.decode(request.records_arrow).num_rows if request.records_arrow else len(request.records)
        self.sent.append((cell, count))
        rejected = [common_pb2.RejectedRecord(record_index=0, reason="first of chunk")]
        return ingest_pb2.WriteRecordsResponse(
            records_ingested=common_pb2.RecordsIngested(total=count - 1, memory_store=count - 1),
            rejected_records=rejected)


@pytest.mark.parametrize("form", ["dicts (Arrow columns on the wire)", "Record messages (protobuf on the wire)"])
def test_a_stale_route_resends_only_what_was_not_acknowledged(form: str) -> None:
    client = FakeClient()
    records: list[Any] = [{"Dimensions": [{"Name": "k", "Value": str(i)}], "MeasureName": "m", "MeasureValue": "1",
                           "Time": "1"} for i in range(10)]
    if form.startswith("Record"):
        records = [to_record(r) for r in records]
    with pytest.raises(errors.RejectedRecords) as info:
        client.write_records("db", "tbl", records)
    sent = sum(n for _, n in client.sent)
    assert sent == 10  # nothing twice
    assert info.value.records_ingested == 10 - len(client.sent)
    indexes = [r.record_index for r in info.value.rejected_records]
    assert len(indexes) == len(set(indexes)) == len(client.sent)
    client.close()


def test_a_cell_that_no_ingest_node_answers_is_named_in_the_error() -> None:
    calls: list[str] = []

    class DeadCell(Client):
        def _call(self, fn: Any, request: Any) -> Any:
            calls.append("call")
            raise errors.Unreachable("cannot reach the server: failed to connect to all addresses; last error: "
                                     "Connection refused")

    client = DeadCell("127.0.0.1:1", attempts=2)
    route = FakeClient().route("db", "tbl")
    with pytest.raises(errors.Unavailable) as info:
        client._ingest(route, "b", "WriteRecords", ingest_pb2.WriteRecordsRequest())
    message = info.value.message
    assert "cell b is unreachable" in message and "b-i (b, cell b)" in message and "Connection refused" in message
    assert len(calls) == 2
    client.close()


def test_an_unavailable_answer_from_the_cell_is_passed_on_as_it_is() -> None:
    class NoQuorum(Client):
        def _call(self, fn: Any, request: Any) -> Any:
            raise errors.Unavailable("cannot write tile x: 2 of 3 replicas are unavailable")

    client = NoQuorum("127.0.0.1:1", attempts=2)
    with pytest.raises(errors.Unavailable, match="2 of 3 replicas are unavailable") as info:
        client._ingest(FakeClient().route("db", "tbl"), "b", "WriteRecords", ingest_pb2.WriteRecordsRequest())
    assert "unreachable" not in info.value.message
    client.close()


def test_a_query_that_no_coordinator_answers_names_them() -> None:
    class NoCoordinator(Client):
        def _coordinators(self, cell: str = "") -> list[common_pb2.NodeInfo]:
            return [common_pb2.NodeInfo(node_id="a-q1", cell="a", role="query", address="127.0.0.1:9")]

        def _call(self, fn: Any, request: Any) -> Any:
            raise errors.Unreachable("cannot reach the server: Connection refused")

    client = NoCoordinator("127.0.0.1:1", attempts=2)
    with pytest.raises(errors.Unreachable, match=r"no query coordinator answered \(a-q1 \(127.0.0.1:9, cell a\)\)"):
        client.query("SELECT 1")
    client.close()


def test_an_ingest_node_that_gave_no_answer_is_tried_last_until_it_answers_again() -> None:
    """A stopped or partitioned node keeps its lease (it looks live), so the SDK remembers that it gave no
    answer: the next calls start with the other nodes instead of waiting on it again."""
    tried: list[str] = []
    stuck = {"i1"}

    class Cell(Client):
        def _call(self, fn: Any, request: Any) -> Any:
            if tried[-1] in stuck:  # the node whose channel the call was made on
                raise errors.Unreachable("cannot reach the server: keepalive watchdog timeout")
            return ingest_pb2.WriteRecordsResponse()

        def _channel(self, address: str) -> Any:
            tried.append(address)
            return super()._channel(address)

    nodes = [common_pb2.NodeInfo(node_id=n, cell="a", role="ingest", address=n, live=True) for n in ("i1", "i2")]
    route = common_pb2.TableRoute(cells=[common_pb2.CellInfo(cell="a", nodes=nodes)])
    client = Cell("127.0.0.1:1", attempts=3)
    for _ in range(6):
        client._ingest(route, "a", "WriteRecords", ingest_pb2.WriteRecordsRequest())
    assert tried.count("i1") == 1  # once, then it goes last and the first node tried answers
    stuck.clear()
    client._suspects["i1"] = 0.0  # its time as a suspect is over: back in the rotation
    for _ in range(4):
        client._ingest(route, "a", "WriteRecords", ingest_pb2.WriteRecordsRequest())
    assert tried.count("i1") > 1
    client.close()
