"""Query answers through the coordinators equal an independent DuckDB reference over the same raw rows."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from tessera import errors
from tessera.client import Client
from tessera.cluster import LocalCluster
from tests.integration.conftest import unique

HOUR_MS = 3_600_000


@pytest.fixture(scope="module")
def dataset(client: Client) -> tuple[str, pa.Table]:
    """A table spread over both cells, holding 2 hours of multi-measure rows for 12 machines."""
    db = unique("q")
    client.create_database(db)
    client.create_table(db, "metrics", memory_retention_hours=24, cells=["cell-a", "cell-b"])
    rng = np.random.default_rng(11)
    end = (int(time.time() * 1000) // 60_000) * 60_000
    times = end - np.arange(1, 2 * 60 * 6 + 1, dtype=np.int64) * 10_000  # every 10 s for 2 hours
    parts = []
    for m in range(12):
        parts.append(pa.table({
            "time": times, "region": [f"r{m % 3}"] * len(times), "machine": [f"m{m:02d}"] * len(times),
            "temperature": np.round(rng.normal(60 + m, 5, len(times)), 2),
            "load": rng.integers(0, 100, len(times)),
            "status": rng.choice(["ok", "warn", "fail"], len(times)),
        }))
    data = pa.concat_tables(parts)
    # Some rows lack a measure, to exercise NULL handling.
    temp = data.column("temperature").to_numpy().copy()
    mask = np.zeros(len(temp), dtype=bool)
    mask[::97] = True
    data = data.set_column(data.schema.get_field_index("temperature"), "temperature",
                           pa.array(temp, mask=mask))
    client.write_arrow(db, "metrics", data, ["region", "machine"], measure_name="metrics")
    return db, data


def _reference(data: pa.Table, sql: str) -> list[dict[str, object]]:
    con = duckdb.connect()
    ref = data.set_column(0, "time", pa.array(data.column("time").to_numpy().astype("datetime64[ms]"))
                          .cast(pa.timestamp("ns")))
    ref = ref.append_column("measure_name", pa.array(["metrics"] * ref.num_rows))
    con.register("ref", ref)
    con.execute("SET TimeZone = 'UTC'")
    return con.sql(sql).to_arrow_table().to_pylist()


def _close(a: list[dict[str, object]], b: list[dict[str, object]]) -> bool:
    if len(a) != len(b):
        return False
    for ra, rb in zip(a, b):
        if ra.keys() != rb.keys():
            return False
        for k in ra:
            x, y = ra[k], rb[k]
            if isinstance(x, float) and isinstance(y, float):
                if not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9):
                    return False
            elif x != y:
                return False
    return True


# Each case: Timestream SQL over the table, and the same question in plain DuckDB SQL over `ref`.
CASES = [
    ("SELECT count(*) AS n FROM {t}", "SELECT count(*) AS n FROM ref"),
    (("SELECT region, count(*) AS n, round(avg(temperature), 6) AS a, min(load) AS lo, max(load) AS hi, "
     "sum(load) AS s FROM {t} GROUP BY region ORDER BY region"),
     ("SELECT region, count(*) AS n, round(avg(temperature), 6) AS a, min(load) AS lo, max(load) AS hi, "
     "sum(load) AS s FROM ref GROUP BY region ORDER BY region")),
    (("SELECT machine, max(temperature) AS t FROM {t} WHERE region IN ('r1', 'r2') AND NOT status = 'fail' "
     "GROUP BY machine HAVING count(*) > 100 ORDER BY t DESC LIMIT 5"),
     ("SELECT machine, max(temperature) AS t FROM ref WHERE region IN ('r1', 'r2') AND NOT status = 'fail' "
     "GROUP BY machine HAVING count(*) > 100 ORDER BY t DESC LIMIT 5")),
    ("SELECT count(*) AS n FROM {t} WHERE temperature IS NULL OR load BETWEEN 10 AND 20",
     "SELECT count(*) AS n FROM ref WHERE temperature IS NULL OR load BETWEEN 10 AND 20"),
    ("SELECT count(*) AS n FROM {t} WHERE machine LIKE 'm0%' AND status <> 'ok'",
     "SELECT count(*) AS n FROM ref WHERE machine LIKE 'm0%' AND status <> 'ok'"),
    (("SELECT bin(time, 30m) AS b, round(avg(load), 6) AS a FROM {t} WHERE machine = 'm03' GROUP BY bin(time, 30m) "
     "ORDER BY b"),
     ("SELECT time_bucket(INTERVAL 30 MINUTE, time::TIMESTAMP) AS b, round(avg(load), 6) AS a FROM ref "
     "WHERE machine = 'm03' GROUP BY b ORDER BY b")),
    (("SELECT machine, load * 2 + 1 AS x, temperature FROM {t} WHERE time = (SELECT max(time) FROM {t}) "
     "ORDER BY machine"),
     ("SELECT machine, load * 2 + 1 AS x, temperature FROM ref WHERE time = (SELECT max(time) FROM ref) "
     "ORDER BY machine")),
]


@pytest.mark.parametrize("tessera_sql, reference_sql", CASES)
def test_query_answers_equal_a_duckdb_reference(client: Client, dataset: tuple[str, pa.Table], tessera_sql: str,
                                                reference_sql: str) -> None:
    db, data = dataset
    got = client.query(tessera_sql.format(t=f'"{db}"."metrics"')).to_pylist()
    want = _reference(data, reference_sql)
    assert _close(got, want), f"\n got: {got[:5]}\nwant: {want[:5]}"


def test_time_filters_with_ago_select_the_recent_rows(client: Client, dataset: tuple[str, pa.Table]) -> None:
    db, data = dataset
    got = client.query(f'SELECT count(*) AS n FROM "{db}"."metrics" WHERE time > ago(30m)').column("n")[0].as_py()
    cutoff = int(time.time() * 1000) - 30 * 60_000
    want = int(np.count_nonzero(data.column("time").to_numpy() > cutoff))
    assert abs(got - want) <= 12  # the clock moved between the two cut-offs by at most one 10 s step


def test_the_table_spans_both_cells_and_both_hold_rows(client: Client, dataset: tuple[str, pa.Table]) -> None:
    db, data = dataset
    route = client.route(db, "metrics", refresh=True)
    assert sorted({r.cell for r in route.ranges}) == ["cell-a", "cell-b"]
    from tests.integration.replicas import replica_rows, storage_addresses

    held = {cell: replica_rows(storage_addresses(client, cell)[0], route).num_rows for cell in ("cell-a", "cell-b")}
    assert all(n > 0 for n in held.values()) and sum(held.values()) == data.num_rows


def test_results_page_with_max_rows_and_next_token(client: Client, dataset: tuple[str, pa.Table]) -> None:
    db, _ = dataset
    sql = f'SELECT machine, count(*) AS n FROM "{db}"."metrics" GROUP BY machine ORDER BY machine'
    pages = list(client.query_pages(sql, max_rows=5))
    assert [len(p.rows) for p in pages] == [5, 5, 2]
    assert all(p.next_token for p in pages[:-1]) and not pages[-1].next_token
    assert [c.name for c in pages[0].column_info] == ["machine", "n"]
    assert [c.type for c in pages[0].column_info] == ["VARCHAR", "BIGINT"]
    machines = [r.data[0].scalar_value for p in pages for r in p.rows]
    assert machines == [f"m{m:02d}" for m in range(12)]
    assert pages[0].query_status.cumulative_bytes_scanned > 0


def test_rows_come_back_as_timestream_scalar_strings(client: Client, dataset: tuple[str, pa.Table]) -> None:
    db, _ = dataset
    rows = list(client.query_rows(f'SELECT time, temperature, load, status = \'ok\' AS fine, NULL AS nothing '
                                  f'FROM "{db}"."metrics" WHERE machine = \'m05\' ORDER BY time DESC LIMIT 1'))
    row = rows[0]
    assert len(row["time"]) == len("2019-12-04 19:00:00.000000000") and row["time"].endswith("000000")
    float(row["temperature"])
    int(row["load"])
    assert row["fine"] in ("true", "false") and row["nothing"] is None


def test_a_syntax_error_is_a_validation_error_with_its_position(client: Client) -> None:
    from tessera import errors

    with pytest.raises(errors.ValidationError):
        client.query('SELECT FROM WHERE "x"."y"')
    with pytest.raises(errors.ValidationError, match="SELECT"):
        client.query('DELETE FROM "a"."b"')


def test_a_running_query_can_be_cancelled_by_its_id(client: Client, dataset: tuple[str, pa.Table]) -> None:
    import threading

    from tessera import errors

    db, _ = dataset
    t = f'"{db}"."metrics"'
    slow = f"SELECT count(*) AS n FROM {t} a, {t} b, {t} c WHERE a.load + b.load + c.load = 7"
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            list(client.query_pages(slow, query_id="cancelme1"))
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    worker = threading.Thread(target=run)
    started = time.monotonic()
    worker.start()
    time.sleep(2.0)
    assert client.cancel_query("cancelme1").endswith("cancelled")
    worker.join(30)
    assert isinstance(outcome[0], errors.Cancelled)
    assert time.monotonic() - started < 20


def test_a_query_on_a_one_cell_table_runs_in_that_cell_whichever_coordinator_gets_it(cluster: LocalCluster,
                                                                                   client: Client) -> None:
    """Cell a's coordinator forwards a query over a table of cell b to cell b (CellQuery) and gets back only
    the result; answers, errors and cancellation are the same as when asked in cell b."""
    import threading

    import grpc

    from tessera import arrowipc
    from tessera.v1 import query_pb2, query_pb2_grpc

    db = unique("fw")
    client.create_database(db)
    client.create_table(db, "solo", cells=["cell-b"])
    now = int(time.time() * 1000)
    data = pa.table({"time": pa.array([now - i * 1000 for i in range(600)], pa.int64()),
                     "machine": [f"m{i % 6}" for i in range(600)], "load": list(range(600))})
    client.write_arrow(db, "solo", data, ["machine"], measure_name="metrics")
    sql = f'SELECT machine, sum(load) AS total, count(*) AS n FROM "{db}"."solo" GROUP BY machine ORDER BY machine'
    expected = [{"machine": f"m{k}", "total": sum(range(k, 600, 6)), "n": 100} for k in range(6)]
    empty = f'SELECT machine FROM "{db}"."solo" WHERE load > 10000'
    coordinators = {p.cell: p for p in cluster.nodes("query")}

    def ask(cell: str, text: str, token: str) -> pa.Table:
        with grpc.insecure_channel(coordinators[cell].address) as ch:
            resp = query_pb2_grpc.QueryStub(ch).Query(query_pb2.QueryRequest(
                query_string=text, arrow_format=True, client_token=token), timeout=60)
        return arrowipc.from_ipc(resp.arrow_ipc)

    for cell in ("cell-a", "cell-b"):
        assert ask(cell, sql, f"fw{cell[-1]}1").to_pylist() == expected
        got = ask(cell, empty, f"fw{cell[-1]}2")
        assert got.num_rows == 0 and got.column_names == ["machine"]
    logs = cluster.spec.data_dir / "logs"
    forwarded = (logs / f"{coordinators['cell-a'].name}.log").read_text()
    assert '"query_forwarded"' in forwarded and '"fwa1"' in forwarded
    in_b = "".join((logs / f"{p.name}.log").read_text() for p in cluster.nodes("query", "cell-b"))
    assert '"fwa1"' in in_b  # it ran in cell b (on either of its coordinators)

    with grpc.insecure_channel(coordinators["cell-a"].address) as ch, pytest.raises(grpc.RpcError) as info:
        query_pb2_grpc.QueryStub(ch).Query(query_pb2.QueryRequest(
            query_string=f'SELECT nope FROM "{db}"."solo"'), timeout=60)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "nope" in info.value.details()

    t = f'"{db}"."solo"'
    slow = f"SELECT count(*) AS n FROM {t} a, {t} b, {t} c, {t} d WHERE a.load + b.load + c.load + d.load = 7"
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            ask("cell-a", slow, "fwslow1")
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(1.0)  # translated, forwarded and running in cell b's final stage by now (it would take hours)
    with grpc.insecure_channel(coordinators["cell-a"].address) as ch:
        query_pb2_grpc.QueryStub(ch).CancelQuery(query_pb2.CancelQueryRequest(query_id="fwslow1"), timeout=10)
    worker.join(30)
    assert not worker.is_alive()
    assert isinstance(outcome[0], grpc.RpcError) and outcome[0].code() == grpc.StatusCode.CANCELLED
    deadline = time.time() + 10

    def cell_b_logs() -> str:  # the forwarded query ran on either of cell b's coordinators
        return "".join((logs / f"{p.name}.log").read_text() for p in cluster.nodes("query", "cell-b"))

    while time.time() < deadline and "forwarded_query_cancelled" not in cell_b_logs():
        time.sleep(0.05)
    assert '"forwarded_query_cancelled"' in cell_b_logs()


def test_a_retried_query_with_the_same_client_token_gets_the_first_runs_result(cluster: LocalCluster,
                                                                               client: Client,
                                                                               dataset: tuple[str, pa.Table]) -> None:
    import grpc

    from tessera.v1 import query_pb2, query_pb2_grpc

    db, _ = dataset
    sql = f'SELECT machine, count(*) AS n FROM "{db}"."metrics" GROUP BY machine ORDER BY machine'
    coordinator = cluster.nodes("query")[0]
    token = "retrytoken0123456789abcdefABCDEF"
    with grpc.insecure_channel(coordinator.address) as ch:
        stub = query_pb2_grpc.QueryStub(ch)
        first = stub.Query(query_pb2.QueryRequest(query_string=sql, client_token=token), timeout=60)
        again = stub.Query(query_pb2.QueryRequest(query_string=sql, client_token=token), timeout=60)
        assert again.query_id == first.query_id == token
        assert [list(r.data) for r in again.rows] == [list(r.data) for r in first.rows] and len(first.rows) == 12
        with pytest.raises(grpc.RpcError) as info:
            stub.Query(query_pb2.QueryRequest(query_string=sql + " LIMIT 1", client_token=token), timeout=60)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "ClientToken" in info.value.details()
        # A replay that pages differently leaves the first caller's NextToken working.
        paged = "pagedtoken0123456789abcdefABCDEF"
        page1 = stub.Query(query_pb2.QueryRequest(query_string=sql, client_token=paged, max_rows=5), timeout=60)
        whole = stub.Query(query_pb2.QueryRequest(query_string=sql, client_token=paged, max_rows=1000), timeout=60)
        page2 = stub.Query(query_pb2.QueryRequest(query_string=sql, next_token=page1.next_token, max_rows=5),
                           timeout=60)
        assert len(whole.rows) == 12 and not whole.next_token
        assert [list(r.data) for r in [*page1.rows, *page2.rows]] == [list(r.data) for r in whole.rows[:10]]
        with pytest.raises(grpc.RpcError) as too_long:
            stub.Query(query_pb2.QueryRequest(query_string=sql, client_token="x" * 129), timeout=60)
        assert too_long.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "128" in too_long.value.details()
    log = (cluster.spec.data_dir / "logs" / f"{coordinator.name}.log").read_text()
    assert log.count(f'"query_id": "{token}"') == 1  # one run (query_done), however many calls


def _slow_query(db: str) -> str:
    t = f'"{db}"."metrics"'
    return f"SELECT count(*) AS n FROM {t} a, {t} b, {t} c WHERE a.load + b.load + c.load = 7"  # runs for hours


def _query_in_thread(address: str, sql: str, token: str, timeout_ms: int, codes: dict[str, Any], name: str
                     ) -> threading.Thread:
    """Start a Query call in a thread; its gRPC status code lands in ``codes[name]``."""
    import grpc

    from tessera.v1 import query_pb2, query_pb2_grpc

    def call() -> None:
        with grpc.insecure_channel(address) as ch:
            try:
                query_pb2_grpc.QueryStub(ch).Query(query_pb2.QueryRequest(
                    query_string=sql, client_token=token, timeout_ms=timeout_ms), timeout=30)
                codes[name] = grpc.StatusCode.OK
            except grpc.RpcError as exc:
                codes[name] = exc.code()

    thread = threading.Thread(target=call)
    thread.start()
    return thread


def test_a_retry_waiting_on_a_run_that_times_out_runs_again_under_its_own_deadline(
        cluster: LocalCluster, dataset: tuple[str, pa.Table]) -> None:
    import grpc

    db, _ = dataset
    address, token = cluster.nodes("query")[0].address, "slowtoken0123456789abcdefABCDEF0"
    codes: dict[str, Any] = {}
    first = _query_in_thread(address, _slow_query(db), token, 1000, codes, "first")
    time.sleep(0.3)
    retry = _query_in_thread(address, _slow_query(db), token, 1500, codes, "retry")
    first.join(30)
    retry.join(30)
    assert codes == {"first": grpc.StatusCode.DEADLINE_EXCEEDED, "retry": grpc.StatusCode.DEADLINE_EXCEEDED}


def test_a_retry_waits_for_the_first_run_only_as_long_as_its_own_deadline(
        cluster: LocalCluster, dataset: tuple[str, pa.Table]) -> None:
    import grpc

    from tessera.v1 import query_pb2, query_pb2_grpc

    db, _ = dataset
    address, token = cluster.nodes("query")[0].address, "deadlinetoken0123456789abcdefABC"
    codes: dict[str, Any] = {}
    first = _query_in_thread(address, _slow_query(db), token, 20_000, codes, "first")
    time.sleep(0.3)
    with grpc.insecure_channel(address) as ch:
        stub = query_pb2_grpc.QueryStub(ch)
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as info:
            stub.Query(query_pb2.QueryRequest(query_string=_slow_query(db), client_token=token, timeout_ms=500),
                       timeout=60)
        waited = time.monotonic() - started
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED and waited < 5
        stub.CancelQuery(query_pb2.CancelQueryRequest(query_id=token), timeout=10)  # stop the first run
    first.join(30)
    assert codes == {"first": grpc.StatusCode.CANCELLED}


def test_dimensions_whose_names_differ_only_in_case_are_never_read_for_each_other(client: Client) -> None:
    db = unique("case")
    client.create_database(db)
    client.create_table(db, "tab", cells=["cell-a", "cell-b"])
    now = int(time.time() * 1000)
    client.write_records(db, "tab", [
        {"Dimensions": [{"Name": "Host", "Value": "B1"}, {"Name": "host", "Value": "a1"}], "MeasureName": "m",
         "MeasureValue": "1", "Time": str(now)},
        {"Dimensions": [{"Name": "Host", "Value": "a1"}, {"Name": "host", "Value": "b2"}], "MeasureName": "m",
         "MeasureValue": "2", "Time": str(now - 1000)}])
    value = '"measure_value::double"'
    assert client.query(f"SELECT {value} FROM {db}.tab WHERE host = 'a1'").column(0).to_pylist() == [1.0]
    assert client.query(f'SELECT {value} FROM {db}.tab WHERE "Host" = \'a1\'').column(0).to_pylist() == [2.0]
    assert client.query(f'SELECT "Host" FROM {db}.tab ORDER BY time').column(0).to_pylist() == ["a1", "B1"]
    for both in (f"SELECT * FROM {db}.tab", f'SELECT "Host", host FROM {db}.tab',
                 f"SELECT \"Host\" FROM {db}.tab WHERE host = 'a1'"):
        with pytest.raises(errors.ValidationError, match="differ only in case"):
            client.query(both)


def test_the_sdk_sends_a_query_to_a_coordinator_of_the_cell_holding_its_tables(client: Client) -> None:
    db = unique("owner")
    client.create_database(db)
    client.create_table(db, "tab", cells=["cell-b"])
    client.write_records(db, "tab", [{"Dimensions": [{"Name": "k", "Value": "a"}], "MeasureName": "m",
                                      "MeasureValue": "1", "Time": str(int(time.time() * 1000))}])
    cell_b = {n.address for c in client.cells() if c.cell == "cell-b" for n in c.nodes if n.role == "query"}
    answered = {client.query_page(f'SELECT count(*) FROM "{db}"."tab"')[1] for _ in range(8)}
    assert answered and answered <= cell_b  # round robin alone would reach cell a's coordinators too
    elsewhere = {client.query_page("SELECT 1")[1] for _ in range(8)}  # no table: any coordinator
    assert elsewhere - cell_b


def test_explain_shows_the_plan_and_explain_analyze_measures_each_fragment(client: Client,
                                                                           dataset: tuple[str, pa.Table]) -> None:
    db, data = dataset
    sql = f"SELECT machine, max(temperature) FROM {db}.metrics WHERE region = 'r1' GROUP BY machine"
    plan = client.query(f"EXPLAIN {sql}").column("Query Plan").to_pylist()
    assert plan[0].startswith("Fragment 0 [coordinator]") and any(f"read {db}.metrics" in line for line in plan)
    analyzed = client.query(f"EXPLAIN ANALYZE {sql}").column("Query Plan").to_pylist()
    expected_rows = sum(1 for r in data.column("region").to_pylist() if r == "r1")
    scan = next(line for line in analyzed if f"read {db}.metrics" in line)
    assert f": {expected_rows:,} rows," in scan and "bytes scanned" in scan
    assert "4 row(s) out" in analyzed[0]  # machines m01, m04, m07, m10 are in r1
    with pytest.raises(errors.ValidationError, match="EXPLAIN takes a SELECT"):
        client.query(f"EXPLAIN SHOW TABLES FROM {db}")
