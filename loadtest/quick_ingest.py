"""A first ingest measurement on a fresh local cluster: both write forms, sample IoT data.

Usage: .venv/bin/python loadtest/quick_ingest.py [--hours 3]
Starts its own cluster under a temporary directory, writes, prints one JSON line per form, stops it.
The full load generator (TSBS, worker processes, histograms, peers) comes with its own issue.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import tempfile
import time

from tessera import sample
from tessera.client import Client
from tessera.cluster import ClusterSpec, LocalCluster


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--hours", type=float, default=3.0)
    p.add_argument("--records", type=int, default=20_000, help="records for the WriteRecords form")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cluster = LocalCluster(ClusterSpec(data_dir=pathlib.Path(tmp)))
        cluster.start()
        try:
            with Client(cluster.discovery_address) as client:
                client.create_database("bench")
                client.create_table("bench", "arrow", memory_retention_hours=48)
                client.create_table("bench", "records", memory_retention_hours=48)
                rows = sample.machine_metrics(end_ms=int(time.time() * 1000), hours=args.hours)
                t0 = time.perf_counter()
                client.write_arrow("bench", "arrow", rows, ["factory", "machine", "line"], measure_name="metrics")
                dt = time.perf_counter() - t0
                print(json.dumps({"form": "WriteBatch (Arrow)", "rows": rows.num_rows, "values": rows.num_rows * 4,
                                  "seconds": round(dt, 3), "rows_per_s": round(rows.num_rows / dt)}))
                sub = rows.slice(0, args.records).to_pylist()
                records = [{"Dimensions": [{"Name": k, "Value": r[k]} for k in ("factory", "machine", "line")],
                            "MeasureName": "metrics", "MeasureValueType": "MULTI", "Time": str(r["time"]),
                            "MeasureValues": [{"Name": "temperature", "Value": str(r["temperature"]), "Type": "DOUBLE"},
                                              {"Name": "pressure", "Value": str(r["pressure"]), "Type": "DOUBLE"},
                                              {"Name": "vibration", "Value": str(r["vibration"]), "Type": "DOUBLE"},
                                              {"Name": "energy", "Value": str(r["energy"]), "Type": "BIGINT"}]}
                           for r in sub]
                t0 = time.perf_counter()
                client.write_records("bench", "records", records)
                dt = time.perf_counter() - t0
                print(json.dumps({"form": "WriteRecords (100/request, 1 client thread)", "rows": len(records),
                                  "values": len(records) * 4, "seconds": round(dt, 3),
                                  "rows_per_s": round(len(records) / dt)}))
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
