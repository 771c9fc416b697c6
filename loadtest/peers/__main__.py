"""``python -m loadtest.peers up|load|query|compare|down --data-dir DIR ...`` (see loadtest/peers/__init__.py).

- ``up``: install missing Debian packages (apt-get), start InfluxDB, VictoriaMetrics and PostgreSQL on
  loopback with fresh ports and data under DIR; pids go to DIR/peers.json. Prints versions and settings.
- ``load``: (re)create the database/table and load the TSBS data set into the running peers.
- ``query``: run the TSBS query types on the running peers (median/p95 per type) and check that their
  answers agree with each other's (or with an already-loaded Tessera: ``--tessera DISCOVERY``).
- ``compare``: the whole side-by-side run with a fresh Tessera local cluster under DIR/tessera (see
  compare.py), then the ``<!-- peers:begin -->`` section of docs/benchmarks.md (``--no-docs`` to skip).
  Stops what it started (``--keep`` leaves peers started by it running).
- ``down``: SIGTERM (then SIGKILL after ``--timeout``) exactly the pids recorded in DIR/peers.json.
"""

from __future__ import annotations

import argparse
import functools
import json
import pathlib
import shlex
import sys
from typing import Any

from loadtest import driver
from loadtest.peers import compare, runner
from loadtest.tsbs_queries import KINDS

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scale", type=int, default=100, help="hosts (TSBS --scale)")
    p.add_argument("--hours", type=float, default=24.0, help="span of the data set")
    p.add_argument("--interval", type=float, default=10.0, help="seconds between points")
    p.add_argument("--start", default=None, help="RFC3339 start (default TSBS's 2016-01-01T00:00:00Z)")
    p.add_argument("--seed", type=int, default=123)
    p.add_argument("--float", action="store_true", help="two-decimal values instead of TSBS's integers")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch", type=int, default=10_000, help="rows per batch")


def _query_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS), metavar="KIND",
                   help="query types (default: all 15)")
    p.add_argument("--count", type=int, default=10, help="queries per type")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m loadtest.peers", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    cmds = {name: sub.add_parser(name) for name in ("up", "load", "query", "compare", "down", "status")}
    for name, p in cmds.items():
        p.add_argument("--data-dir", required=True, type=pathlib.Path)
        p.add_argument("--peers", nargs="+", default=list(runner.PEERS), choices=runner.PEERS)
    for name in ("up", "compare"):
        cmds[name].add_argument("--no-install", action="store_true", help="fail instead of apt-get install")
    for name in ("load", "compare"):
        _data_args(cmds[name])
    for name in ("query", "compare"):
        _query_args(cmds[name])
    cmds["query"].add_argument("--tessera", default="", help="discovery address of a Tessera loaded with the "
                               "same data (table benchmark.cpu): check the peers against it")
    cmds["compare"].add_argument("--keep", action="store_true", help="leave the peers this run started running")
    cmds["compare"].add_argument("--rounds", type=int, default=3,
                                 help="ingest rounds, interleaved over the systems; the median round is reported")
    cmds["compare"].add_argument("--tessera-cells", nargs="+", default=["1", "all"], metavar="N|all",
                                 help="Tessera layouts to load, each into its own table: 1 = the table on one "
                                      "cell, all = spread over every cell; the first is queried (default: 1 all)")
    cmds["compare"].add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md")
    cmds["compare"].add_argument("--doc", type=pathlib.Path, default=DOC)
    cmds["down"].add_argument("--timeout", type=float, default=30.0, help="seconds before SIGKILL")
    return ap


def _print_started(started: dict[str, runner.Started]) -> None:
    for name, s in started.items():
        print(f"{name}: pid {s.pid}, {s.url if name != 'postgres' else f'postgresql://127.0.0.1:{s.port}'}, "
              f"{s.version}")
        for k, v in s.settings.items():
            print(f"    {k}: {v}")


def _running(args: Any) -> dict[str, runner.Started]:
    state = runner.read_state(args.data_dir.resolve())
    out = {p: state[p] for p in args.peers if p in state and runner.is_ours_and_alive(state[p])}
    if not out:
        sys.exit(f"no peer is running from {args.data_dir}: run `python -m loadtest.peers up` first")
    return out


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.command_line = "python -m loadtest.peers " + shlex.join(argv if argv is not None else sys.argv[1:])
    data_dir: pathlib.Path = args.data_dir.resolve()
    if args.cmd == "up":
        _print_started(runner.up(data_dir, args.peers, do_install=not args.no_install))
    elif args.cmd == "status":
        state = runner.read_state(data_dir)
        for name, s in state.items():
            print(f"{name}: pid {s.pid} {'running' if runner.is_ours_and_alive(s) else 'NOT running'}, "
                  f"port {s.port}, {s.version}")
    elif args.cmd == "down":
        state = runner.read_state(data_dir)
        for name, what in runner.down(data_dir, args.peers, args.timeout).items():
            print(f"{name}: pid {state[name].pid} {what}")
    elif args.cmd == "load":
        peers = _running(args)
        data = compare.dataset_from(args)
        print(f"data: {driver.describe(data)}; {args.workers} workers, batches of {args.batch:,} rows")
        config = driver.IngestConfig(workers=args.workers, batch_rows=args.batch, progress=False)
        loaded = compare.load_peers(data, peers, config, data_dir)
        for name, r in loaded.items():
            size = r.disk_bytes or 0
            print(f"{compare.TITLES[name]}: {r.ingest['rows_per_s']:,.0f} rows/s, {r.ingest['values_per_s']:,.0f} "
                  f"values/s, {size:,} bytes on disk = {size / (data.rows * 10):.2f} bytes/value "
                  f"({r.disk_note})")
        (data_dir / "dataset.json").write_text(json.dumps({k: getattr(args, k) for k in (
            "scale", "hours", "interval", "start", "seed", "float")}))
    elif args.cmd == "query":
        peers = _running(args)
        saved = data_dir / "dataset.json"
        if not saved.exists():
            sys.exit(f"{saved} is missing: run `load` first")
        data = compare.dataset_from(argparse.Namespace(**json.loads(saved.read_text())))
        specs = compare.query_specs(data, args.kinds, args.count, seed=123)
        results: dict[str, compare.SystemResult] = {}
        make: dict[str, Any] = {}
        if args.tessera:
            results["tessera"] = compare.SystemResult("tessera", "Tessera")
            make["tessera"] = lambda: compare.querier("tessera", discovery=args.tessera)
        for name, s in peers.items():
            results[name] = compare.SystemResult(name, s.version)
            make[name] = functools.partial(compare.querier, name, s)
        reference = next(iter(results))
        print(f"{len(specs)} queries; answers checked against {compare.TITLES[reference]}'s")
        compare.check_and_time(specs, results, make)
        print("type".ljust(24) + "".join(compare.TITLES[n].rjust(22) for n in results) + "   (median / p95 ms)")
        for kind in dict.fromkeys(s.kind for s in specs):
            cells = [f"{q['p50_ms']:.1f} / {q['p95_ms']:.1f}" if (q := r.queries.get(kind)) else "n/a"
                     for r in results.values()]
            print(kind.ljust(24) + "".join(c.rjust(22) for c in cells))
        bad = 0
        for name, r in list(results.items())[1:]:
            print(f"{compare.TITLES[name]}: {r.agreed}/{r.checked} agree with {compare.TITLES[reference]}")
            for d in r.disagreements:
                print("   " + d)
            bad += r.checked - r.agreed
        return 1 if bad else 0
    elif args.cmd == "compare":
        report = compare.run(args)
        section = compare.markdown(report)
        print(section)
        if not args.no_docs:
            compare.update_doc(args.doc, section)
            print(f"updated the peers section of {args.doc}")
        disagreements = sum(s["checked"] - s["agreed"] for s in report["systems"].values())
        return 1 if disagreements else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
