"""Install, start and stop the peers: our own processes on loopback, data under one directory.

Nothing here touches a system-wide instance: no systemd, no /etc configs, no default ports. Every process
is started by us with its own data directory and a port chosen at run time, in its own session (it outlives
the ``up`` command), and recorded in ``DIR/peers.json`` with its start time (from ``/proc``), so that
``down`` signals exactly the processes it started, and not a later process that happened to reuse a pid.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import pathlib
import pwd
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

PEERS = ("influx", "victoria", "postgres")
APT_PACKAGES = {"influx": "influxdb", "victoria": "victoria-metrics", "postgres": "postgresql-15"}
BINARIES = {"influx": "/usr/bin/influxd", "victoria": "/usr/bin/victoria-metrics",
            "postgres": "/usr/lib/postgresql/15/bin/postgres"}
PG_BIN = pathlib.Path("/usr/lib/postgresql/15/bin")
STATE_FILE = "peers.json"
READY_TIMEOUT_S = 60.0


def free_port() -> int:
    """A loopback port that was free a moment ago (never a peer's default: the kernel picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- HTTP ------------------------------------------------------------------------------------------------
class HttpError(RuntimeError):
    """A non-2xx answer."""

    def __init__(self, status: int, body: bytes, what: str) -> None:
        super().__init__(f"{what}: HTTP {status}: {body[:500].decode(errors='replace')}")
        self.status = status


class HttpClient:
    """A keep-alive HTTP/1.1 client on stdlib ``http.client`` (one connection; one per thread/process)."""

    def __init__(self, base_url: str, timeout_s: float = 120.0) -> None:
        u = urllib.parse.urlsplit(base_url)
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 80
        self.timeout = timeout_s
        self._conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, params: Mapping[str, Any] | None = None, body: bytes | None = None,
                headers: Mapping[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """Send one request; a connection dropped by the server is reopened once."""
        url = path + ("?" + urllib.parse.urlencode(params) if params else "")
        for attempt in (0, 1):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self._conn.request(method, url, body=body, headers=dict(headers or {}))
                resp = self._conn.getresponse()
                data = resp.read()
                return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt:
                    raise
            except BaseException:
                self.close()
                raise
        raise AssertionError("unreachable")

    def ok(self, method: str, path: str, what: str, **kw: Any) -> bytes:
        """Like :meth:`request`, raising HttpError unless the status is 2xx; returns the body."""
        status, _, data = self.request(method, path, **kw)
        if not 200 <= status < 300:
            raise HttpError(status, data, what)
        return data

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# -- processes -------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Started:
    """One process we started."""

    peer: str
    pid: int
    start_ticks: int  # /proc/<pid>/stat field 22: tells a reused pid apart
    port: int
    data_dir: str
    version: str = ""
    settings: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def proc_start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None if there is no such process."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2:].split()[19])


def is_ours_and_alive(p: Started) -> bool:
    """True while the recorded process still runs (same pid and same start time) and is not a zombie."""
    try:
        stat = pathlib.Path(f"/proc/{p.pid}/stat").read_text()
    except OSError:
        return False
    fields = stat[stat.rindex(")") + 2:].split()
    return fields[0] != "Z" and int(fields[19]) == p.start_ticks


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (for PostgreSQL's backends if the postmaster had to be killed)."""
    out = []
    for d in pathlib.Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                out.append(int(d.name))
    return out


def stop(p: Started, timeout_s: float = 30.0) -> str:
    """SIGTERM the process, SIGKILL it (and its direct children) after ``timeout_s``. Only if it is ours."""
    if not is_ours_and_alive(p):
        return "not running"
    children = _children(p.pid)
    os.kill(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _reap(p.pid)
        if not is_ours_and_alive(p):
            return "stopped (SIGTERM)"
        time.sleep(0.1)
    for pid in [p.pid, *children, *_children(p.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _reap(p.pid)
    return "killed (SIGKILL after timeout)"


def _reap(pid: int) -> None:
    try:  # only our own child can be reaped; others are reaped by init
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def spawn(argv: Sequence[str], log: pathlib.Path, user: str | None = None,
          env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start a process in its own session (it survives this command), output appended to ``log``."""
    with open(log, "ab") as out:
        kw: dict[str, Any] = {}
        if user:
            pw = pwd.getpwnam(user)
            kw = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        return subprocess.Popen(list(argv), stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=dict(env or os.environ), **kw)


def wait_ready(check: Any, proc: subprocess.Popen[bytes], what: str, log: pathlib.Path) -> None:
    """Poll ``check()`` until it returns True; fail early if the process exits."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}; see {log}:\n{_tail(log)}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} was not ready within {READY_TIMEOUT_S:.0f} s; see {log}")


def _tail(path: pathlib.Path, n: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


# -- install ---------------------------------------------------------------------------------------------
def missing_packages(peers: Sequence[str]) -> list[str]:
    """The Debian packages to install for ``peers`` (those whose server binary is absent)."""
    return [APT_PACKAGES[p] for p in peers if not os.path.exists(BINARIES[p])]


def install(peers: Sequence[str]) -> list[str]:
    """``apt-get install -y`` what is missing. Debian's policy-rc.d / absent systemd keep the packaged
    services from starting; we never start or stop them ourselves."""
    pkgs = missing_packages(peers)
    if pkgs:
        if os.geteuid() != 0:
            raise RuntimeError(f"missing packages {pkgs}: run as root or `apt-get install -y {' '.join(pkgs)}`")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "install", "-y", *pkgs], check=True, env=env)
    return pkgs


def package_version(pkg: str) -> str:
    """The installed Debian package version (dpkg-query), or ''."""
    r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], check=False, capture_output=True,
                       text=True)
    return r.stdout.strip() if r.returncode == 0 else ""


# -- state -----------------------------------------------------------------------------------------------
def read_state(data_dir: pathlib.Path) -> dict[str, Started]:
    """The processes recorded in DIR/peers.json (empty if none)."""
    path = data_dir / STATE_FILE
    if not path.exists():
        return {}
    raw = json.loads(path.read_text())
    return {k: Started(**v) for k, v in raw.get("peers", {}).items()}


def write_state(data_dir: pathlib.Path, started: Mapping[str, Started]) -> None:
    path = data_dir / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"peers": {k: dataclasses.asdict(v) for k, v in started.items()}}, indent=2))
    tmp.replace(path)


def start_peer(peer: str, data_dir: pathlib.Path) -> Started:
    """Start one peer under ``data_dir`` on a fresh loopback port; returns its record (not yet saved)."""
    from loadtest.peers import influx, postgres, victoria

    module = {"influx": influx, "victoria": victoria, "postgres": postgres}[peer]
    started: Started = module.start(data_dir)
    return started


def up(data_dir: pathlib.Path, peers: Sequence[str], do_install: bool = True) -> dict[str, Started]:
    """Install what is missing, then start each requested peer that is not already running from this DIR."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if do_install:
        install(peers)
    else:
        missing = missing_packages(peers)
        if missing:
            raise RuntimeError(f"not installed: {missing}")
    state = read_state(data_dir)
    for peer in peers:
        if peer in state and is_ours_and_alive(state[peer]):
            continue
        state[peer] = start_peer(peer, data_dir)
        write_state(data_dir, state)
    return {p: state[p] for p in peers}


def down(data_dir: pathlib.Path, peers: Sequence[str] | None = None, timeout_s: float = 30.0) -> dict[str, str]:
    """Stop the recorded processes (all, or ``peers``); forget them. Returns what happened to each."""
    state = read_state(data_dir)
    out = {}
    for name in list(state):
        if peers is not None and name not in peers:
            continue
        out[name] = stop(state.pop(name), timeout_s)
    if state:
        write_state(data_dir, state)
    else:
        (data_dir / STATE_FILE).unlink(missing_ok=True)
    return out


def du_bytes(*paths: pathlib.Path) -> int:
    """Bytes allocated on disk under ``paths`` (like ``du -s --block-size=1``); hard links counted once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root in paths:
        if not root.exists():
            continue
        for dirpath, _, files in os.walk(root):
            for name in [".", *files]:
                try:
                    st = os.lstat(os.path.join(dirpath, name))
                except OSError:
                    continue
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def make_traversable(path: pathlib.Path) -> None:
    """Let another user (postgres) reach ``path``: o+x on every ancestor we own, or fail clearly."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            if parent.stat().st_uid == os.geteuid():
                parent.chmod(mode | 0o001)
            else:
                raise RuntimeError(f"{parent} is not traversable by other users; choose another --data-dir")


def chown_tree(path: pathlib.Path, user: str) -> None:
    pw = pwd.getpwnam(user)
    shutil.chown(path, pw.pw_uid, pw.pw_gid)
    for dirpath, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(dirpath, name), pw.pw_uid, pw.pw_gid, follow_symlinks=False)
