"""A short load-test run against the real local cluster: both write forms, then TSBS query load, with reports."""

from __future__ import annotations

import json
import pathlib

from loadtest.__main__ import main
from loadtest.tsbs_queries import KINDS
from tessera.client import Client
from tessera.cluster import LocalCluster
from tests.integration.conftest import unique

SMALL = ["--scale", "10", "--hours", "0.5", "--workers", "2", "--batch", "500", "--no-progress"]  # 1,800 rows


def _count(client: Client, database: str, table: str) -> int:
    return int(client.query(f'SELECT count(*) FROM "{database}"."{table}"').column(0)[0].as_py())


def test_both_write_forms_land_every_row_and_queries_run_on_them(cluster: LocalCluster, client: Client,
                                                               tmp_path: pathlib.Path) -> None:
    db = unique("loadtest")
    common = ["--discovery", cluster.discovery_address, "--database", db, *SMALL]

    assert main(["ingest", *common, "--form", "both", "--out", str(tmp_path / "ingest")]) == 0

    doc = json.loads((tmp_path / "ingest" / "result.json").read_text())
    assert [r["form"] for r in doc["ingest"]] == ["tessera-arrow", "tessera-records"]
    for result, table in zip(doc["ingest"], ("tsbs_arrow", "tsbs_records")):
        assert result["rows"] == 1_800 and result["errors"] == 0
        assert result["values"] == 18_000
        assert result["verified_rows"] == _count(client, db, table) == 1_800
        assert result["latency"]["count"] == result["batches"] > 0
    for name in ("result.json", "summary.md", "throughput.png", "latency.png"):
        assert (tmp_path / "ingest" / name).stat().st_size > 0

    assert main(["query", *common, "--table", "tsbs_arrow", "--reuse", "--count", "1", "--concurrency", "2",
                 "--out", str(tmp_path / "query")]) == 0

    doc = json.loads((tmp_path / "query" / "result.json").read_text())
    queries = doc["queries"]
    assert queries["errors"] == 0 and queries["queries"] == len(KINDS)
    assert set(queries["per_kind"]) == {*KINDS, "all"}
    assert queries["rows"]["lastpoint"] == 10  # one row per host
    for name in ("result.json", "summary.md", "query_latency.png"):
        assert (tmp_path / "query" / name).stat().st_size > 0
