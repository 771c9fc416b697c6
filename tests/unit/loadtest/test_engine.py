"""Disk use is split by tier; settling repeats Maintain rounds until nothing moves (a fake node on port 0)."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest

from loadtest import engine
from tessera.v1 import storage_pb2, storage_pb2_grpc


def _file(path: pathlib.Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)


def test_a_node_directory_splits_into_wal_magnetic_and_the_rest(tmp_path: pathlib.Path) -> None:
    _file(tmp_path / "wal" / "00000001.wal", 10_000)
    _file(tmp_path / "magnetic" / "t" / "0000000000000000" / "s1.parquet", 5_000)
    _file(tmp_path / "magnetic" / "t" / "0000000000000000" / "manifest.json", 100)
    use = engine.disk_use(tmp_path)
    assert use.wal >= 10_000 and use.magnetic >= 5_100 and use.other > 0  # du: blocks, directories included
    assert use.total == use.wal + use.magnetic + use.other
    both = engine.total_disk([use, use])
    assert (both.wal, both.magnetic, both.other) == (2 * use.wal, 2 * use.magnetic, 2 * use.other)


def test_a_missing_directory_holds_nothing(tmp_path: pathlib.Path) -> None:
    assert engine.disk_use(tmp_path / "absent") == engine.DiskUse()


def test_this_process_has_memory_and_cpu_time_and_a_gone_one_has_none() -> None:
    assert engine.rss_bytes(os.getpid()) > 0 and engine.cpu_seconds(os.getpid()) > 0
    assert engine.rss_bytes(2**22 + 1) == 0 and engine.cpu_seconds(2**22 + 1) == 0.0


def test_sizes_read_as_binary_units() -> None:
    assert [engine.human(n) for n in (512, 2048, 3 * 2**20, 5 * 2**30)] == ["512 B", "2.0 KiB", "3.0 MiB", "5.0 GiB"]


class FakeNode(storage_pb2_grpc.StorageServicer):
    """Flushes ``rows`` in its first round, compacts in its second, then has nothing left to do."""

    def __init__(self, rows: int) -> None:
        self.requests: list[storage_pb2.MaintainRequest] = []
        self.rows = rows

    def Maintain(self, request: storage_pb2.MaintainRequest, context: Any) -> storage_pb2.MaintainResponse:
        self.requests.append(request)
        n = len(self.requests)
        return storage_pb2.MaintainResponse(flushed_rows=self.rows if n == 1 else 0, flushed_segments=int(n == 1),
                                            compacted_segments=4 if n == 2 else 0, memory_bytes=0 if n > 1 else 9)


@pytest.fixture
def nodes() -> Iterator[tuple[list[str], list[FakeNode]]]:
    fakes = [FakeNode(100), FakeNode(50)]
    servers, addresses = [], []
    for fake in fakes:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        storage_pb2_grpc.add_StorageServicer_to_server(fake, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        addresses.append(f"127.0.0.1:{port}")
    yield addresses, fakes
    for server in servers:
        server.stop(None)


def test_settling_flushes_and_compacts_every_node_until_a_round_moves_nothing(
        nodes: tuple[list[str], list[FakeNode]]) -> None:
    addresses, fakes = nodes
    settled = engine.settle(addresses)
    assert settled == engine.Settled(rounds=3, flushed_rows=150, flushed_segments=2, compacted_segments=8,
                                     memory_bytes=0)
    for fake in fakes:
        assert [(r.flush_all, r.compact, r.expire) for r in fake.requests] == [(True, True, False)] * 3


def test_settling_stops_after_its_round_limit(nodes: tuple[list[str], list[FakeNode]]) -> None:
    addresses, fakes = nodes
    assert engine.settle(addresses, max_rounds=1).rounds == 1
    assert all(len(f.requests) == 1 for f in fakes)
