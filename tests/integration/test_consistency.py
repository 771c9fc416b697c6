"""Regressions for the read path: a lagging replica or a former owner cell must never resurrect an old
version, whatever the filter, and rows written between splits stay visible."""

from __future__ import annotations

import signal
import time

from tessera.client import Client
from tessera.cluster import LocalCluster
from tests.integration.conftest import unique


def _rec(key: str, value: float, version: int, t: int) -> dict[str, object]:
    return {"Dimensions": [{"Name": "k", "Value": key}], "MeasureName": "m", "MeasureValue": str(value),
            "Time": str(t), "Version": version}


def test_a_value_filter_never_returns_a_version_a_lagging_replica_still_holds(cluster: LocalCluster,
                                                                              client: Client) -> None:
    db = unique("lag")
    client.create_database(db)
    client.create_table(db, "t_lag", memory_retention_hours=6)
    cell = client.route(db, "t_lag").ranges[0].cell
    t = int(time.time() * 1000)
    client.write_records(db, "t_lag", [_rec("a", 20.0, 1, t)])
    lagging = cluster.nodes("storage", cell)[2]
    cluster.kill(lagging.name, signal.SIGKILL)
    try:
        client.write_records(db, "t_lag", [_rec("a", 5.0, 2, t)])  # acknowledged on the other two
    finally:
        cluster.restart(lagging.name)  # it comes back with version 1 only
    sql = f'SELECT "measure_value::double" AS v FROM "{db}"."t_lag" WHERE "measure_value::double" > 10'
    for _ in range(6):  # every rotation of data/digest roles over the three replicas
        assert client.query(sql).num_rows == 0
    assert client.query(f'SELECT "measure_value::double" AS v FROM "{db}"."t_lag"').column("v").to_pylist() == [5.0]


def test_versions_held_by_two_cells_after_a_split_resolve_to_the_newest(client: Client) -> None:
    db = unique("split")
    client.create_database(db)
    client.create_table(db, "t_split", memory_retention_hours=6)
    owner = client.route(db, "t_split").ranges[0].cell
    other = "cell-b" if owner == "cell-a" else "cell-a"
    t = int(time.time() * 1000)
    keys = [f"key{i}" for i in range(30)]
    client.write_records(db, "t_split", [_rec(k, 20.0, 1, t) for k in keys])
    client.split_table(db, "t_split", [other])           # the other cell now owns every key
    client.write_records(db, "t_split", [_rec(k, 5.0, 2, t) for k in keys])
    client.split_table(db, "t_split", [owner, other])    # half back again; ranges no longer start at 0 only
    client.write_records(db, "t_split", [_rec(f"new{i}", 1.0, 1, t) for i in range(30)])
    got = client.query(f'SELECT k, "measure_value::double" AS v FROM "{db}"."t_split" WHERE k LIKE \'key%\'')
    assert got.num_rows == 30 and set(got.column("v").to_pylist()) == {5.0}
    stale = client.query(f'SELECT count(*) AS n FROM "{db}"."t_split" WHERE "measure_value::double" > 10')
    assert stale.column("n").to_pylist() == [0]
    total = client.query(f'SELECT count(*) AS n FROM "{db}"."t_split"')
    assert total.column("n").to_pylist() == [60]
