"""In-process costs of the write and read path's steps, on TSBS data: ``python -m loadtest.micro``.

No cluster: each step runs alone on one core, best of three repeats, so the figures say what a step costs,
not how a node behaves under load (the ``ingest`` and ``query`` commands measure that). The records are
TSBS cpu-only rows as boto3 MULTI records; the batch is 5,000 rows; the tile is one hour of 100 hosts.
"""

from __future__ import annotations

import argparse
import tempfile
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from loadtest import iot, tsbs
from services.query.translate import translate
from services.storage.blobstore import LocalBlobStore
from services.storage.scan import scan_views
from services.storage.segment_reader import read_segment
from services.storage.segments import encode_segment
from services.storage.tileview import TileView
from tessera import arrowipc, layout, record_columns, sqlsession
from tessera.records import routing_hash, to_record
from tessera.v1 import ingest_pb2, storage_pb2
from tessera.validation import TableContext, validate_write_batch, validate_write_records

NOW_NS = tsbs.DEFAULT_START_NS + 2 * 3600 * 1_000_000_000
CTX = TableContext(columns={}, memory_retention_ns=10**18, magnetic_retention_ns=10**18, magnetic_writes=True,
                   now_ns=NOW_NS)
SINGLE_GROUPBY = ('SELECT bin(time, 1m) AS minute, max(usage_user) AS max_usage_user FROM "bench"."cpu" WHERE '
                  "hostname IN ('host_5') AND time >= from_nanoseconds({start}) AND time < from_nanoseconds({end}) "
                  "GROUP BY bin(time, 1m) ORDER BY minute ASC")


def best(fn: Callable[[], Any], repeat: int = 3) -> float:
    """Seconds of the fastest of ``repeat`` calls."""
    return min(timeit.repeat(fn, number=1, repeat=repeat))


def measure(records: int = 2_500, batch_rows: int = 5_000) -> list[tuple[str, float, str]]:
    """(step, cost, unit) for every step."""
    data = tsbs.CpuOnly(scale=100)
    hour = next(data.chunks(360))  # one hour of 100 hosts: one tile's worth
    dicts = iot.to_records(hour.slice(0, records), tsbs.TAGS, "cpu")
    messages = [to_record(r) for r in dicts]
    batch = record_columns.encode(dicts)
    assert batch is not None
    per_record = 1e6 / records
    out = [("SDK: boto3 dicts → protobuf Records (to_record)", best(lambda: [to_record(r) for r in dicts]) * per_record,
            "µs a record"),
           ("SDK: routing hash per protobuf Record", best(lambda: [routing_hash(m, None) for m in messages]) * per_record,
            "µs a record"),
           ("SDK: boto3 dicts → Arrow columns (record_columns.encode)", best(lambda: record_columns.encode(dicts))
            * per_record, "µs a record"),
           ("SDK: routing hashes, column-wise", best(lambda: record_columns.routing_hashes(batch, None)) * per_record,
            "µs a record")]
    proto = ingest_pb2.WriteRecordsRequest(records=messages[:100])
    arrow = ingest_pb2.WriteRecordsRequest(records_arrow=record_columns.to_ipc(batch))
    out += [("ingest: validate 100 protobuf Records", best(lambda: validate_write_records(proto, CTX)) * 1e6 / 100,
             "µs a record"),
            (f"ingest: validate {records:,} records as Arrow columns", best(lambda: validate_write_records(arrow, CTX))
             * per_record, "µs a record")]
    rows = hour.slice(0, batch_rows)
    request = ingest_pb2.WriteBatchRequest(arrow_ipc=arrowipc.to_ipc(rows), dimension_columns=list(tsbs.TAGS),
                                           measure_name="cpu")
    valid = validate_write_batch(request, CTX)
    keyed, _ = layout.with_key_columns(valid.rows, valid.dimension_columns, valid.measure_columns, valid.versions)
    append = storage_pb2.AppendRequest(arrow_ipc=arrowipc.to_ipc(keyed))
    out += [(f"ingest: validate a {batch_rows:,}-row Arrow batch", best(lambda: validate_write_batch(request, CTX))
             * 1e3, "ms"),
            (f"ingest: key hashes of {batch_rows:,} rows", best(lambda: layout.with_key_columns(
                valid.rows, valid.dimension_columns, valid.measure_columns, valid.versions)) * 1e3, "ms"),
            (f"ingest: serialise the append ({append.ByteSize() / 1e6:.2f} MB)",
             best(append.SerializeToString) * 1e3, "ms")]
    out += [_large_batch_validation()]
    out += _read_steps(hour, CTX)
    return out


def _large_batch_validation(n: int = 200_000) -> tuple[str, float, str]:
    """The batch validator's rate on a wide mix of types (it was a timed unit test; speed belongs here)."""
    rng = np.random.default_rng(1)
    now_ms = NOW_NS // 1_000_000
    table = pa.table({
        "time": pa.array(now_ms - rng.integers(0, 3_600_000, n), pa.int64()),
        "host": pa.array([f"host-{i % 500}" for i in range(n)]),
        "cpu": rng.random(n), "mem": rng.integers(0, 1 << 40, n), "state": pa.array(["up", "down"] * (n // 2)),
    })
    request = ingest_pb2.WriteBatchRequest(arrow_ipc=arrowipc.to_ipc(table), dimension_columns=["host"])
    return (f"ingest: validate a {n:,}-row mixed-type Arrow batch", n / best(lambda: validate_write_batch(request, CTX))
            / 1e3, "k rows/s")


def _read_steps(hour: pa.Table, ctx: TableContext) -> list[tuple[str, float, str]]:
    request = ingest_pb2.WriteBatchRequest(arrow_ipc=arrowipc.to_ipc(hour), dimension_columns=list(tsbs.TAGS),
                                           measure_name="cpu")
    valid = validate_write_batch(request, ctx)
    tile, _ = layout.with_key_columns(valid.rows, valid.dimension_columns, valid.measure_columns, valid.versions)
    schema = [(c, layout.type_name_of(tile.schema.field(c).type)) for c in tile.column_names
              if c not in layout.FIXED_COLUMNS]
    start = tsbs.DEFAULT_START_NS
    end = start + 1800 * 1_000_000_000
    cursor = sqlsession.shared().cursor()
    sql = SINGLE_GROUPBY.format(start=start, end=end)
    translation = translate(sql, NOW_NS)
    view = tile.filter(pa.compute.equal(tile.column("hostname"), "host_5")).select(["time", "hostname", "usage_user"])

    def final_stage() -> pa.Table:
        con = sqlsession.shared().cursor()
        for scan in translation.scans:
            con.register(scan.view, view)
        result = con.sql(translation.sql).to_arrow_table()
        con.close()
        return result

    measures = [c for c in tile.column_names if c not in layout.FIXED_COLUMNS and c not in tsbs.TAGS]
    segment = encode_segment(tile, measures)
    blobs = LocalBlobStore(Path(tempfile.mkdtemp(prefix="tessera-micro-")))
    blobs.put("seg.parquet", segment.data)

    def segment_read() -> object:
        return read_segment(blobs, "seg.parquet", columns=["usage_user"], start_ns=start, end_ns=end,
                            dimension_in={"hostname": ["host_5"]})

    return [(f"storage: scan a {tile.num_rows:,}-row tile (1 host, 30 min, 2 columns)",
             best(lambda: scan_views(cursor, [_memory_view(tile)], schema, ["time", "usage_user"],
                                     "hostname IN ('host_5')", start, end, False, True, ["hostname"])) * 1e3, "ms"),
            ((f"storage: read 1 host's 30 min of usage_user (with the value hash) from a {tile.num_rows:,}-row "
             "segment"), best(segment_read) * 1e3, "ms"),
            ("query: translate single-groupby-1-1-1 (sqlglot)", best(lambda: translate(sql, NOW_NS)) * 1e3, "ms"),
            ("query: final stage of single-groupby-1-1-1 in DuckDB", best(final_stage) * 1e3, "ms")]


def _memory_view(rows: pa.Table) -> TileView:
    """A view of one tile held in the memory store only (no segments: no file is read)."""
    bucket = rows.column("time").cast(pa.int64())[0].as_py() // layout.TILE_BUCKET_NS
    return TileView("bench/0000000000000000", LocalBlobStore(Path(tempfile.gettempdir()) / "tessera-micro"), frozenset([bucket]), [rows],
                    [], False)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m loadtest.micro", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=2_500, help="records per step (1..3,600)")
    p.add_argument("--batch", type=int, default=5_000, help="rows of the Arrow batch (1..36,000)")
    a = p.parse_args(argv)
    if not 1 <= a.records <= 3_600 or not 1 <= a.batch <= 36_000:
        p.error("--records must be 1..3,600 and --batch 1..36,000 (one hour of 100 hosts)")
    print("| step | cost | unit |\n|---|---:|---|")
    for step, cost, unit in measure(a.records, a.batch):
        print(f"| {step} | {cost:.2f} | {unit} |")


if __name__ == "__main__":
    main()
