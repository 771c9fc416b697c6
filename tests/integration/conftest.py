"""One real local cluster per test session: etcd, discovery and two cells, on loopback ports chosen now."""

from __future__ import annotations

import contextlib
import itertools
import os
import pathlib
from collections.abc import Iterator

import pytest

from tessera.client import Client
from tessera.cluster import ClusterSpec, LocalCluster

_names = itertools.count(1)
REPAIR_INTERVAL_S = 1.0
"""Anti-entropy rounds of the session cluster's storage nodes (10 s by default): repair tests wait less."""


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    data_dir = pathlib.Path(tmp_path_factory.mktemp("cluster"))
    c = LocalCluster(ClusterSpec(data_dir=data_dir, lease_ttl_s=4, gateways=2, object_store=True,
                                 storage_args=("--test-hooks", "--repair-interval-s", str(REPAIR_INTERVAL_S))))
    c.start()
    try:
        yield c
    finally:
        c.stop()
        if os.environ.get("TESSERA_KEEP_LOGS") is None:
            pass


@pytest.fixture(scope="session")
def client(cluster: LocalCluster) -> Iterator[Client]:
    with Client(cluster.discovery_address, timeout_s=30) as c:
        yield c


@contextlib.contextmanager
def own_cluster(spec: ClusterSpec) -> Iterator[tuple[LocalCluster, Client]]:
    """A cluster of its own shape for one test module (placement changes, small memory limits...), with a
    client; stopped on the way out."""
    cluster = LocalCluster(spec)
    cluster.start()
    try:
        with Client(cluster.discovery_address) as client:
            yield cluster, client
    finally:
        cluster.stop()


def unique(prefix: str) -> str:
    """A database or table name no other test uses."""
    return f"{prefix}_{os.getpid()}_{next(_names)}"


@pytest.fixture
def database(client: Client) -> str:
    name = unique("db")
    client.create_database(name)
    return name
