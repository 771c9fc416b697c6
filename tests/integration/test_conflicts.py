"""One value per key: a replica that missed an acknowledged write and then stored a conflicting same-version
value (which the other two rejected) never makes a query return that value, and never makes an exact retry
of the acknowledged write fail. The replicas are real processes; the lagging one is made by a SIGKILL."""

from __future__ import annotations

import signal
import time

import pytest

from tessera import errors
from tessera.client import Client
from tessera.cluster import LocalCluster
from tests.integration.conftest import unique

KEYS = [f"k{i}" for i in range(24)]  # enough that some rejected values hash above the acknowledged ones


def _recs(value: float, t: int) -> list[dict[str, object]]:
    return [{"Dimensions": [{"Name": "k", "Value": k}], "MeasureName": "m", "MeasureValue": str(value + i),
             "Time": str(t), "Version": 1} for i, k in enumerate(KEYS)]


def _values(client: Client, db: str) -> list[float]:
    got = client.query(f'SELECT k, "measure_value::double" AS v FROM "{db}"."tab" ORDER BY k')
    return got.column("v").to_pylist()


def test_a_rejected_conflicting_value_is_never_read_and_retries_of_the_acknowledged_one_succeed(
        cluster: LocalCluster, client: Client) -> None:
    db = unique("conflict")
    client.create_database(db)
    client.create_table(db, "tab", memory_retention_hours=6)
    cell = client.route(db, "tab").ranges[0].cell
    t = int(time.time() * 1000)
    acknowledged = sorted(100.0 + i for i in range(len(KEYS)))
    lagging, _, third = cluster.nodes("storage", cell)
    cluster.kill(lagging.name, signal.SIGKILL)
    try:
        client.write_records(db, "tab", _recs(100.0, t))  # acknowledged by the other two only
    finally:
        cluster.restart(lagging.name)  # back without those rows
    with pytest.raises(errors.RejectedRecords) as info:  # the lagging replica stores these; the others refuse
        client.write_records(db, "tab", _recs(500.0, t))
    assert len(info.value.rejected_records) == len(KEYS)
    expected = {k: 100.0 + i for i, k in enumerate(KEYS)}
    for _ in range(6):  # every rotation of the data and digest roles over the three replicas
        assert sorted(_values(client, db)) == acknowledged
        # An exact retry of an acknowledged write is accepted, whichever replicas answer first.
        assert client.write_records(db, "tab", _recs(100.0, t)).total == len(KEYS)
    # With the third replica down, the two left disagree and neither can decide: an error, never 500+.
    cluster.kill(third.name, signal.SIGKILL)
    try:
        for _ in range(3):
            try:
                got = client.query(f'SELECT k, "measure_value::double" AS v FROM "{db}"."tab"')
            except errors.Unavailable as exc:
                assert "disagree" in exc.message or "replicas" in exc.message
                continue
            assert dict(zip(got.column("k").to_pylist(), got.column("v").to_pylist())) == expected
    finally:
        cluster.restart(third.name)
    assert sorted(_values(client, db)) == acknowledged
