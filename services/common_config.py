"""Command-line settings every data-plane node shares (ingest, storage, query)."""

from __future__ import annotations

import argparse
import pathlib
from dataclasses import dataclass


@dataclass(frozen=True)
class NodeConfig:
    """Identity and wiring of one data-plane node."""

    listen: str
    """host:port to serve gRPC on; port 0 picks a free port."""
    discovery: str
    """host:port of a discovery service."""
    cell: str
    """The cell this node belongs to."""
    zone: str
    """Failure domain label (a, b, c locally; an availability zone in production)."""
    node_id: str
    """Unique, stable node name; a restarted node keeps it."""
    data_dir: pathlib.Path | None = None
    """Storage nodes only: where tiles and their WALs live."""
    ready_file: pathlib.Path | None = None
    """Written with the bound address once serving."""
    lease_ttl_s: int = 10
    """Liveness lease; a node whose lease expires is reported down."""
    advertise: str = ""
    """host:port other nodes and clients reach this node at, registered in discovery (a pod or service
    address, a proxy); empty: the bound listen address."""


def node_arg_parser(prog: str, needs_data_dir: bool = False) -> argparse.ArgumentParser:
    """The flags every data-plane node takes; a service adds its own before parsing."""
    p = argparse.ArgumentParser(prog=prog)
    p.add_argument("--listen", default="127.0.0.1:0")
    p.add_argument("--discovery", required=True)
    p.add_argument("--cell", required=True)
    p.add_argument("--zone", required=True)
    p.add_argument("--node-id", required=True)
    p.add_argument("--data-dir", type=pathlib.Path, required=needs_data_dir)
    p.add_argument("--ready-file", type=pathlib.Path)
    p.add_argument("--lease-ttl", type=int, default=10)
    p.add_argument("--advertise", default="", metavar="HOST:PORT",
                   help="the address to register in discovery, when others reach this node at another address "
                        "than --listen (default: the bound --listen address)")
    return p


def node_config(p: argparse.ArgumentParser, a: argparse.Namespace) -> NodeConfig:
    """Validate the common flags; exit with a usage error naming the flag otherwise."""
    if not 2 <= a.lease_ttl <= 300:
        p.error("--lease-ttl must be 2..300 seconds")
    host, _, port = a.advertise.rpartition(":")
    if a.advertise and not (host and port.isdigit() and 0 < int(port) < 65536):
        p.error(f"--advertise must be HOST:PORT with a port 1..65535, not {a.advertise!r}")
    return NodeConfig(listen=a.listen, discovery=a.discovery, cell=a.cell, zone=a.zone, node_id=a.node_id,
                      data_dir=a.data_dir, ready_file=a.ready_file, lease_ttl_s=a.lease_ttl, advertise=a.advertise)


def parse_node_args(prog: str, argv: list[str] | None, needs_data_dir: bool = False) -> NodeConfig:
    """Parse and validate a node's command line."""
    p = node_arg_parser(prog, needs_data_dir)
    return node_config(p, p.parse_args(argv))
