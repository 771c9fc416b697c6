"""Discovery's configuration, validated at start-up."""

from __future__ import annotations

import argparse
import pathlib
from dataclasses import dataclass


@dataclass(frozen=True)
class DiscoveryConfig:
    """Settings of one discovery process."""

    listen: str
    """host:port to serve gRPC on; port 0 picks a free port."""
    etcd: str
    """host:port of etcd's client URL."""
    node_id: str = "discovery"
    """Name in logs."""
    ready_file: pathlib.Path | None = None
    """Written with the bound address once serving (used by the local-cluster launcher)."""

    @classmethod
    def from_args(cls, argv: list[str] | None = None) -> DiscoveryConfig:
        """Parse the command line of `python -m services.discovery.main`."""
        p = argparse.ArgumentParser(prog="tessera-discovery")
        p.add_argument("--listen", default="127.0.0.1:7100")
        p.add_argument("--etcd", default="127.0.0.1:2379")
        p.add_argument("--node-id", default="discovery")
        p.add_argument("--ready-file", type=pathlib.Path)
        a = p.parse_args(argv)
        if ":" not in a.etcd:
            p.error("--etcd must be host:port")
        return cls(listen=a.listen, etcd=a.etcd, node_id=a.node_id, ready_file=a.ready_file)
