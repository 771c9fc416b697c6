"""The AWS SDK for JavaScript v3 (tests/js, pinned by its package-lock.json, installed by ./dev test) against
the gateway, configured only as its users configure it: an endpoint, keys and a region."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
from typing import Any

import pytest

from tessera.cluster import LocalCluster
from tests.integration import aws

pytestmark = pytest.mark.integration
SCRIPT = pathlib.Path(__file__).parents[1] / "js" / "timestream_client.mjs"


def _run_script(cluster: LocalCluster, database: str, endpoint_env: dict[str, str]) -> dict[str, Any]:
    key_id, secret = aws.keys(cluster)
    env = {**os.environ, **endpoint_env, "TESSERA_DATABASE": database,
           "AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret, "AWS_REGION": "us-west-2",
           "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    done = subprocess.run(["node", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def test_the_javascript_sdk_writes_and_pages_a_query(cluster: LocalCluster) -> None:
    database = f"js_{os.getpid()}"
    out = _run_script(cluster, database, {"TESSERA_ENDPOINT": aws.endpoint(cluster, 2)})
    assert out["tableArn"] == f"arn:aws:timestream:us-west-2:000000000000:database/{database}/table/readings"
    assert out["retention"] == {"MemoryStoreRetentionPeriodInHours": 12, "MagneticStoreRetentionPeriodInDays": 7}
    assert out["ingested"] == {"Total": 25, "MemoryStore": 25, "MagneticStore": 0}
    assert [(r["RecordIndex"], r["ExistingVersion"]) for r in out["rejected"]] == [(0, 1)]
    assert database in out["databases"]
    assert [c["Name"] for c in out["columns"]] == ["sensor", "temp", "time"]
    assert [r["Data"][0]["ScalarValue"] for r in out["rows"]] == [f"s{i:02d}" for i in range(25)]
    assert out["rows"][1]["Data"][1] == {"ScalarValue": "20.25"} and out["pages"] == 3
    assert out["queryError"] == "ValidationException"


def test_the_javascript_sdk_finds_the_gateway_through_describe_endpoints_from_the_endpoint_variables(
        cluster: LocalCluster) -> None:
    # No endpoint in the client config (AWS's sample apps): discovery swaps only the host name of the
    # configured URL, so a URL as Address (what botocore needs) would become an unresolvable host name.
    database = f"jsd_{os.getpid()}"
    url = aws.endpoint(cluster, 1)
    out = _run_script(cluster, database, {"AWS_ENDPOINT_URL_TIMESTREAM_WRITE": url,
                                          "AWS_ENDPOINT_URL_TIMESTREAM_QUERY": url})
    assert out["ingested"] == {"Total": 25, "MemoryStore": 25, "MagneticStore": 0}
    assert [(r["RecordIndex"], r["ExistingVersion"]) for r in out["rejected"]] == [(0, 1)]
    assert database in out["databases"]
    assert len(out["rows"]) == 25 and out["pages"] == 3
    assert out["queryError"] == "ValidationException"
