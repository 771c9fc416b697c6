"""The fault proxy chaos tests put in front of nodes: forwards, black-holes (and resumes), rejects."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from tessera.faultproxy import FaultProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    p = FaultProxy()
    p.set_target(f"127.0.0.1:{server.server_address[1]}")
    yield p
    p.close()
    server.shutdown()
    server.server_close()


def _connect(p: FaultProxy) -> socket.socket:
    host, port = p.address.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=2)
    s.settimeout(0.5)
    return s


def test_open_forwards_both_ways(proxy: FaultProxy) -> None:
    with _connect(proxy) as s:
        s.sendall(b"ping")
        assert s.recv(16) == b"ping"


def test_a_blackhole_holds_bytes_and_connections_until_it_heals(proxy: FaultProxy) -> None:
    with _connect(proxy) as s:
        s.sendall(b"one")
        assert s.recv(16) == b"one"
        proxy.set_mode("blackhole")
        s.sendall(b"two")
        with pytest.raises(TimeoutError):
            s.recv(16)
        with _connect(proxy) as new:  # accepted, never connected onwards
            new.sendall(b"three")
            with pytest.raises(TimeoutError):
                new.recv(16)
            proxy.set_mode("open")
            new.settimeout(2)
            assert new.recv(16) == b"three"
        s.settimeout(2)
        assert s.recv(16) == b"two"  # held, then delivered: TCP after a partition heals


def test_reject_resets_every_connection_old_and_new(proxy: FaultProxy) -> None:
    with _connect(proxy) as s:
        s.sendall(b"x")
        assert s.recv(16) == b"x"
        proxy.set_mode("reject")
        s.settimeout(2)
        with pytest.raises((ConnectionResetError, BrokenPipeError)):
            s.sendall(b"y")
            if not s.recv(16):
                raise ConnectionResetError("closed")
        with _connect(proxy) as new:
            new.settimeout(2)
            with pytest.raises((ConnectionResetError, BrokenPipeError)):
                new.sendall(b"z")
                if not new.recv(16):
                    raise ConnectionResetError("closed")
    with pytest.raises(ValueError, match="mode"):
        proxy.set_mode("drop")  # type: ignore[arg-type]
