"""boto3 clients for a local cluster's Timestream gateways, signed with the key `tessera up` would print."""

from __future__ import annotations

import configparser
from typing import Any

import boto3
from botocore.config import Config

from tessera.cluster import LocalCluster
from tessera.credentials import PROFILE

REGION = "eu-west-1"


def keys(cluster: LocalCluster) -> tuple[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(cluster.spec.credentials.read_text())
    return parser[PROFILE]["aws_access_key_id"], parser[PROFILE]["aws_secret_access_key"]


def endpoint(cluster: LocalCluster, gateway: int = 1) -> str:
    return f"http://{cluster.processes[f'gateway-{gateway}'].address}"


def client(cluster: LocalCluster, service: str, gateway: int = 1, secret: str | None = None,
           key_id: str | None = None, **config: Any) -> Any:
    """A boto3 client of ``service`` (timestream-write or timestream-query) for one gateway; ``secret`` or
    ``key_id`` replace the real ones (to be refused)."""
    real_id, real_secret = keys(cluster)
    return boto3.session.Session().client(
        service, endpoint_url=endpoint(cluster, gateway), region_name=REGION,
        aws_access_key_id=key_id or real_id, aws_secret_access_key=secret or real_secret,
        config=Config(**{"retries": {"max_attempts": 2, "mode": "standard"}, **config}))


def s3(cluster: LocalCluster) -> Any:
    """A boto3 S3 client of the cluster's object store, with the same key."""
    key_id, secret = keys(cluster)
    return boto3.session.Session().client("s3", endpoint_url=cluster.s3_endpoint, region_name="us-east-1",
                                          aws_access_key_id=key_id, aws_secret_access_key=secret)
