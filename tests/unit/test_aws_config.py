"""The AWS config `tessera up` writes: the Timestream services go to the gateway and S3 to the object store,
each through botocore's service-specific endpoints, and no other service (STS, …) is sent anywhere new."""

from __future__ import annotations

import pathlib

import boto3
import pytest

from tessera.credentials import write_config


def test_the_profile_names_an_endpoint_per_service_only(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config"
    config.write_text("[profile other]\nregion = eu-west-1\n")
    write_config(config, "tessera", "us-east-1", {"timestream_write": "http://127.0.0.1:1111",
                                                  "timestream_query": "http://127.0.0.1:1111",
                                                  "s3": "http://127.0.0.1:2222"})
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_TIMESTREAM_QUERY",
                 "AWS_ENDPOINT_URL_TIMESTREAM_WRITE", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    session = boto3.Session(profile_name="tessera", aws_access_key_id="k", aws_secret_access_key="s")
    assert session.client("timestream-query").meta.endpoint_url == "http://127.0.0.1:1111"
    assert session.client("timestream-write").meta.endpoint_url == "http://127.0.0.1:1111"
    assert session.client("s3").meta.endpoint_url == "http://127.0.0.1:2222"
    assert session.client("sts").meta.endpoint_url.endswith("amazonaws.com")  # untouched
    assert session.region_name == "us-east-1"
    assert "[profile other]" in config.read_text()  # other profiles kept
