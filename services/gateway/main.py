"""Entry point: python -m services.gateway.main --discovery HOST:PORT --credentials FILE [--listen H:P]
[--listen-tls H:P --tls-cert PEM --tls-key PEM] [--account-id ID] [--region R ...].

A stateless HTTP gateway speaking Timestream's own API (timestream-write and timestream-query, AWS JSON 1.0,
SigV4); run as many as you like behind any load balancer: a query's NextToken works on every one of them."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import signal
import ssl

import structlog
from aiohttp import web

from services.gateway.context import Gateway
from services.gateway.protocol import Handler, application
from tessera import objectstore, runtime
from tessera.credentials import KeyFile

log = structlog.get_logger()
DEFAULT_ACCOUNT_ID = "000000000000"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="tessera-gateway")
    p.add_argument("--discovery", required=True, help="host:port of a discovery service")
    p.add_argument("--credentials", type=pathlib.Path, required=True,
                   help="AWS-style shared credentials file holding the access keys this gateway accepts")
    p.add_argument("--listen", default="127.0.0.1:0", help="plain HTTP host:port (port 0 = any free port)")
    p.add_argument("--listen-tls", default="", help="HTTPS host:port (needs --tls-cert and --tls-key)")
    p.add_argument("--tls-cert", type=pathlib.Path)
    p.add_argument("--tls-key", type=pathlib.Path)
    p.add_argument("--account-id", default=DEFAULT_ACCOUNT_ID, help="the account id in ARNs (12 digits)")
    p.add_argument("--region", action="append", default=[],
                   help="a region signatures may name (repeat for several; default any)")
    p.add_argument("--advertise-url", default="",
                   help="the URL DescribeEndpoints returns (default: the scheme and host each request came in on; "
                        "set it behind a proxy that terminates TLS), e.g. https://timestream.example.com")
    p.add_argument("--node-id", default="gateway")
    p.add_argument("--ready-file", type=pathlib.Path)
    objectstore.add_arguments(p, "batch-load tasks read their files and write their reports there; none: "
                                 "they are refused with an error saying so")
    a = p.parse_args(argv)
    a.object_store = objectstore.from_arguments(p, a)
    if not (len(a.account_id) == 12 and a.account_id.isdigit()):
        p.error("--account-id must be 12 digits")
    if a.listen_tls and not (a.tls_cert and a.tls_key):
        p.error("--listen-tls needs --tls-cert and --tls-key")
    if not a.credentials.exists():
        p.error(f"--credentials {a.credentials} does not exist (`tessera up` writes one)")
    return a


async def serve(a: argparse.Namespace) -> None:
    keys = KeyFile(a.credentials)
    gateway = Gateway.connect(a.discovery, a.account_id, a.object_store)
    handler = Handler(gateway, keys.secrets, frozenset(a.region) or None, a.advertise_url.rstrip("/"))
    # handler_cancellation: a client that hangs up cancels its handler (work not yet on a thread is dropped).
    runner = web.AppRunner(application(handler), access_log=None, handle_signals=False, handler_cancellation=True)
    await runner.setup()
    addresses = {}
    sites: list[tuple[str, str, ssl.SSLContext | None]] = [("http", a.listen, None)]
    if a.listen_tls:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(a.tls_cert, a.tls_key)
        sites.append(("https", a.listen_tls, tls))
    for scheme, listen, context in sites:
        host, port = listen.rsplit(":", 1)
        before = set(map(tuple, runner.addresses))
        await web.TCPSite(runner, host, int(port), ssl_context=context, reuse_address=True).start()
        bound = next(a for a in map(tuple, runner.addresses) if a not in before)  # the port actually bound
        addresses[scheme] = f"{host}:{bound[1]}"
    if a.ready_file is not None:
        tmp = a.ready_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"address": addresses["http"], "https": addresses.get("https", ""),
                                   "pid": os.getpid()}))
        tmp.replace(a.ready_file)
    log.info("serving", **addresses)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping")
    await runner.cleanup()  # stops accepting, lets requests in flight finish
    gateway.close()
    log.info("stopped")


def main(argv: list[str] | None = None) -> None:
    a = parse_args(argv)
    runtime.configure_logging("gateway", a.node_id)
    runtime.run(lambda: serve(a))


if __name__ == "__main__":
    main()
