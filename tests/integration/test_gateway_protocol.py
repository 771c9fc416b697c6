"""The gateway's protocol edges: refused signatures in AWS's error codes, endpoint discovery through the
AWS_ENDPOINT_URL_* variables, raw requests that break the protocol, HTTPS, and the AWS CLI."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

import boto3
import botocore.auth
import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError

from tessera.cluster import LocalCluster
from tests.integration import aws

pytestmark = pytest.mark.integration


def _error(call: Any) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as info:
        call()
    r = info.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"]["Message"]


def test_unsigned_wrongly_signed_unknown_and_expired_requests_are_refused(cluster: LocalCluster,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    unsigned = aws.client(cluster, "timestream-write", signature_version=UNSIGNED)
    assert _error(unsigned.list_databases) == (403, "MissingAuthenticationTokenException",
                                               "Missing Authentication Token")
    status, code, message = _error(aws.client(cluster, "timestream-write", secret="x" * 40).list_databases)
    assert (status, code) == (403, "InvalidSignatureException") and "signature we calculated" in message
    status, code, _ = _error(aws.client(cluster, "timestream-query", key_id="TSRANOTAKEY000000000").list_scheduled_queries)
    assert (status, code) == (403, "UnrecognizedClientException")
    stale = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: stale)
    status, code, message = _error(aws.client(cluster, "timestream-write", retries={"max_attempts": 1}).list_databases)
    assert (status, code) == (403, "InvalidSignatureException") and message.startswith("Signature expired")


def test_clients_configured_by_environment_discover_the_gateway(cluster: LocalCluster,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    key_id, secret = aws.keys(cluster)
    monkeypatch.setenv("AWS_ENDPOINT_URL_TIMESTREAM_WRITE", aws.endpoint(cluster, 1))
    monkeypatch.setenv("AWS_ENDPOINT_URL_TIMESTREAM_QUERY", aws.endpoint(cluster, 2))
    session = boto3.session.Session(aws_access_key_id=key_id, aws_secret_access_key=secret, region_name=aws.REGION)
    calls: list[str] = []
    write = session.client("timestream-write")
    query = session.client("timestream-query")
    for c in (write, query):
        c.meta.events.register("before-call", lambda model, **_: calls.append(model.name))
    assert isinstance(write.list_databases()["Databases"], list)
    assert query.query(QueryString="SELECT 1 AS one")["Rows"] == [{"Data": [{"ScalarValue": "1"}]}]
    assert calls.count("DescribeEndpoints") == 2, calls


def _raw(cluster: LocalCluster, target: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """A correctly signed POST with any body and target."""
    key_id, secret = aws.keys(cluster)
    request = botocore.awsrequest.AWSRequest(method="POST", url=aws.endpoint(cluster) + "/", data=body, headers={
        "X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.0"})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(key_id, secret), "timestream", aws.REGION).add_auth(request)
    prepared = request.prepare()
    req = urllib.request.Request(prepared.url, data=body, headers=dict(prepared.headers), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        assert exc.headers["Content-Type"] == "application/x-amz-json-1.0"
        return exc.code, json.loads(exc.read())


def test_protocol_errors_are_json_with_aws_types(cluster: LocalCluster) -> None:
    status, body = _raw(cluster, "Timestream_20181101.ListDatabases", b"{not json")
    assert status == 400 and body["__type"].endswith("#SerializationException")
    status, body = _raw(cluster, "Timestream_20181101.ListDatabases", b'{"MaxResults": "ten"}')
    assert status == 400 and body["__type"].endswith("#SerializationException") and "maxResults" in body["message"]
    status, body = _raw(cluster, "Timestream_20181101.DropEverything", b"{}")
    assert status == 400 and body["__type"].endswith("#UnknownOperationException")
    status, body = _raw(cluster, "Other_1.ListDatabases", b"{}")
    assert status == 400 and body["__type"].endswith("#UnknownOperationException")
    status, body = _raw(cluster, "Timestream_20181101.ListDatabases", b'{"MaxResults": 0}')
    assert (status, body["__type"].split("#")[1]) == (400, "ValidationException")
    assert body["message"] == ("1 validation error detected: Value '0' at 'maxResults' failed to satisfy "
                               "constraint: Member must have value greater than or equal to 1")
    status, body = _raw(cluster, "Timestream_20181101.WriteRecords", b'{"DatabaseName": "abc"}')
    assert status == 400 and "2 validation errors detected" in body["message"]
    assert "Value null at 'tableName'" in body["message"] and "Value null at 'records'" in body["message"]


@pytest.fixture(scope="module")
def tls_gateway(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A third gateway serving HTTPS with a self-signed certificate; (https endpoint, certificate path)."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    https = cluster.start_gateway("gateway-tls", ["--listen-tls", "127.0.0.1:0", "--tls-cert", str(cert),
                                                  "--tls-key", str(key)])
    yield f"https://{https}", str(cert)
    cluster.kill("gateway-tls", sig=15)
    del cluster.processes["gateway-tls"]  # gone for good: later tests check every process of the cluster


def test_https_with_a_configured_certificate(cluster: LocalCluster, tls_gateway: tuple[str, str]) -> None:
    url, cert = tls_gateway
    key_id, secret = aws.keys(cluster)
    write = boto3.session.Session().client("timestream-write", endpoint_url=url, region_name=aws.REGION,
                                           aws_access_key_id=key_id, aws_secret_access_key=secret, verify=cert)
    assert write.describe_endpoints()["Endpoints"][0]["Address"] == url
    assert isinstance(write.list_databases()["Databases"], list)


def test_the_aws_cli_lists_and_queries_through_the_gateway(cluster: LocalCluster) -> None:
    key_id, secret = aws.keys(cluster)
    env = {**os.environ, "AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret,
           "AWS_DEFAULT_REGION": aws.REGION, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}

    def cli(*args: str) -> Any:
        done = subprocess.run([sys.executable, "-m", "awscli", *args, "--endpoint-url", aws.endpoint(cluster),
                               "--output", "json"], check=False, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    db = f"cli_{os.getpid()}"
    assert cli("timestream-write", "create-database", "--database-name", db)["Database"]["DatabaseName"] == db
    assert db in [d["DatabaseName"] for d in cli("timestream-write", "list-databases")["Databases"]]
    rows = cli("timestream-query", "query", "--query-string", "SELECT 40 + 2 AS answer")["Rows"]
    assert rows == [{"Data": [{"ScalarValue": "42"}]}]
