"""The one lifecycle every Tessera service shares: JSON logs, a gRPC server with health, graceful stop.

Services call ``run_service`` from their ``main``; servicer methods are wrapped with ``rpc`` so domain
errors become status codes in one place (tessera.errors.to_status).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import pathlib
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol, TypeVar

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from tessera import errors, memory

T = TypeVar("T")
log = structlog.get_logger()

# Generous message limits: Arrow batches of 10k+ rows travel in one message.
GRPC_OPTIONS = [
    ("grpc.max_send_message_length", 256 * 1024 * 1024),
    ("grpc.max_receive_message_length", 256 * 1024 * 1024),
    ("grpc.so_reuseport", 0),
    # A restarted node is back on its port within seconds; gRPC's default reconnect backoff (up to 120 s)
    # would keep callers' channels to it failing long after. Retry the connection quickly instead.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    # A stuck peer (SIGSTOP, a hung host) keeps its TCP connection open and answers nothing: without this a
    # call to it waits for its whole deadline. While a call is in flight, ping every second, and drop the
    # connection when a ping goes unanswered for 2.5 s (``ping_timeout_ms`` is the one that counts: gRPC's
    # own flow-control ping is usually the one outstanding, and its timeout is a minute by default): the call
    # then fails UNAVAILABLE within ~3.5 s and callers retry another node (the SDK, ingest's replication, the
    # coordinators' fan-out); the SDK then tries that node last for a while (``client.SUSPECT_S``). Pings are
    # answered by gRPC's transport threads, not the service's event loop, so a busy node still answers them.
    ("grpc.keepalive_time_ms", 1000),
    ("grpc.keepalive_timeout_ms", 2500),
    ("grpc.http2.ping_timeout_ms", 2500),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.keepalive_permit_without_calls", 0),
    # Servers accept those pings (by default they allow one every 5 minutes and hang up on more).
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 500),
    ("grpc.http2.max_ping_strikes", 0),
]


def configure_logging(service: str, node_id: str, level: str = "info") -> None:
    """Structured JSON logs on stderr, one object a line, stamped with the service and node."""
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, level.upper(), logging.INFO), format="%(message)s")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service, node=node_id)


async def _abort(context: grpc.aio.ServicerContext, err: errors.TesseraError) -> None:
    code, message, metadata = errors.to_status(err)
    context.set_trailing_metadata(metadata)
    await context.abort(code, message)


def rpc(method: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """Wrap a unary servicer method: TesseraError → its status; anything else → INTERNAL, logged."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> T:
        try:
            return await method(self, request, context)
        except errors.TesseraError as err:
            await _abort(context, err)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the boundary: log it whole, answer INTERNAL with the cause
            if isinstance(exc, grpc.aio.AbortError):
                raise
            log.exception("rpc_failed", method=method.__name__)
            await _abort(context, errors.InternalError(f"{method.__name__} failed: {exc!r}"))
        raise AssertionError("unreachable")

    return wrapper


def stream_rpc(method: Callable[..., AsyncIterator[T]]) -> Callable[..., AsyncIterator[T]]:
    """The same as ``rpc`` for server-streaming methods."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[T]:
        try:
            async for item in method(self, request, context):
                yield item
        except errors.TesseraError as err:
            await _abort(context, err)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if isinstance(exc, grpc.aio.AbortError):
                raise
            log.exception("rpc_failed", method=method.__name__)
            await _abort(context, errors.InternalError(f"{method.__name__} failed: {exc!r}"))

    return wrapper


class Service(Protocol):
    """What ``serve`` needs from a service: its servicers, and start/stop of its background work."""

    name: str

    def add_to_server(self, server: grpc.aio.Server) -> None:
        """Register the service's servicers."""

    async def start(self, address: str) -> None:
        """Called once the server is bound; ``address`` is the host:port actually listened on."""

    async def stop(self) -> None:
        """Called on SIGTERM/SIGINT once the server has stopped and drained its RPCs; safe to call twice."""


async def serve(service: Service, listen: str, ready_file: pathlib.Path | None, grace_s: float = 5.0,
                advertise: str = "") -> None:
    """Run ``service`` on ``listen`` (port 0 = any free port) until SIGTERM or SIGINT; it registers as
    ``advertise`` when given, else as the bound address."""
    server = grpc.aio.server(options=GRPC_OPTIONS)
    service.add_to_server(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    host = listen.rsplit(":", 1)[0]
    port = server.add_insecure_port(listen)
    if port == 0:
        raise SystemExit(f"cannot listen on {listen}: address in use? (set --listen to another port)")
    address = f"{host}:{port}"
    await server.start()
    await service.start(advertise or address)
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    await health_servicer.set(service.name, health_pb2.HealthCheckResponse.SERVING)
    if ready_file is not None:
        tmp = ready_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"address": address, "advertised": advertise or address, "pid": os.getpid()}))
        tmp.replace(ready_file)
    log.info("serving", address=address, advertised=advertise or address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping", grace_s=grace_s)
    await health_servicer.enter_graceful_shutdown()
    # Stop taking new RPCs and let those in flight finish (up to the grace period) while the service can
    # still serve them; only then stop the service. The other way round, an append or scan in flight met a
    # closed store and failed with INTERNAL, which clients do not retry; now a caller sees at worst
    # UNAVAILABLE (the port closed), which they retry elsewhere.
    await server.stop(grace_s)
    await service.stop()
    log.info("stopped")


def run(main: Callable[[], Awaitable[None]], heap: memory.HeapPolicy = memory.FAST_HEAP) -> None:
    """Run an async entry point on uvloop; ``main`` is called inside the loop, so it may build channels."""
    import uvloop

    if memory.enabled(os.environ):  # read here, at every service's entry point
        memory.keep_heap_memory(heap)
    async def inside() -> None:
        await main()

    uvloop.run(inside())
