"""A TCP proxy in front of a node, for network-partition faults in a local cluster.

The node registers the proxy's address (``--advertise``), so every connection to it from clients, ingest
nodes, coordinators and its peers passes through the proxy, which can then:

- ``open``: forward bytes both ways (the default);
- ``blackhole``: stop moving bytes on every connection and hold new ones without connecting them, as a
  network that drops packets does (callers find out only by their deadlines and keepalive pings); back to
  ``open``, the held connections go on where they stopped, like TCP after a partition heals;
- ``reject``: reset every connection and every new one, as a host that answers with RST does.

Only traffic *to* the node is cut: its own outgoing connections (its lease in discovery, its calls to its
peers) go on, which is the asymmetric partition where a node looks alive to the control plane but nothing
reaches it. All proxies of a process share one event loop on a daemon thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Literal

Mode = Literal["open", "blackhole", "reject"]
MODES: tuple[Mode, ...] = ("open", "blackhole", "reject")
_CHUNK = 1 << 16


class _Loop:
    """The event loop every proxy of this process runs on."""

    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def get(cls) -> asyncio.AbstractEventLoop:
        with cls._lock:
            if cls._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="fault-proxies", daemon=True).start()
                cls._loop = loop
            return cls._loop


class FaultProxy:
    """Listens on a free loopback port and forwards to ``target`` (set once the node has bound its port)."""

    def __init__(self) -> None:
        self._loop = _Loop.get()
        self._target: tuple[str, int] | None = None
        self._mode: Mode = "open"
        self._flowing: asyncio.Event | None = None
        self._targeted: asyncio.Event | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.AbstractServer | None = None
        self._closed = False
        self.address = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)

    async def _listen(self) -> str:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._targeted = asyncio.Event()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"{host}:{port}"

    @property
    def mode(self) -> Mode:
        return self._mode

    def set_target(self, address: str) -> None:
        """Where connections go: the node's bound address."""
        host, _, port = address.rpartition(":")
        self._call(self._set_target, (host, int(port)))

    def set_mode(self, mode: Mode) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        self._call(self._set_mode, mode)

    def close(self) -> None:
        self._call(self._close)

    def _call(self, fn: Callable[..., None], *args: object) -> None:
        async def run() -> None:
            fn(*args)
        asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def _set_target(self, target: tuple[str, int]) -> None:
        assert self._targeted is not None
        self._target = target
        self._targeted.set()

    def _set_mode(self, mode: Mode) -> None:
        assert self._flowing is not None
        self._mode = mode
        if mode == "open":
            self._flowing.set()
            return
        self._flowing.clear()
        if mode == "reject":
            for w in list(self._writers):
                w.transport.abort()

    def _rejecting(self) -> bool:
        return self._mode == "reject"

    def _close(self) -> None:
        self._closed = True
        assert self._flowing is not None and self._targeted is not None
        self._flowing.set()  # connections held by a black hole or waiting for a target end now
        self._targeted.set()
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        assert self._flowing is not None and self._targeted is not None
        self._writers.add(client_w)
        upstream_w: asyncio.StreamWriter | None = None
        try:
            if self._rejecting():
                return
            await self._targeted.wait()
            await self._flowing.wait()  # black-holed: held, never connected, until the partition heals
            if self._rejecting() or self._closed or client_w.is_closing():
                return  # reset meanwhile (a reject, or the proxy closed): its bytes must not reach the node
            assert self._target is not None
            try:
                upstream_r, upstream_w = await asyncio.open_connection(*self._target)
            except OSError:
                return  # the node is down: the caller sees its connection reset
            self._writers.add(upstream_w)
            await asyncio.gather(self._pump(client_r, upstream_w), self._pump(upstream_r, client_w))
        finally:
            for w in (client_w, upstream_w):
                if w is not None:
                    self._writers.discard(w)
                    w.transport.abort()

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        assert self._flowing is not None
        try:
            while True:
                await self._flowing.wait()
                data = await source.read(_CHUNK)
                if not data:
                    break
                await self._flowing.wait()  # bytes read just before a partition are held with the rest
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            sink.transport.abort()  # one side gone: so is the other (gather's sibling then ends too)
