"""SigV4 verification against requests signed by botocore itself (an independent signer)."""

from __future__ import annotations

import datetime as dt

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest

from services.gateway import sigv4

KEYS = {"TSRAKEYEXAMPLE000001": "secret/with+odd=chars", "TSRAKEYEXAMPLE000002": "other"}


def _signed(body: bytes = b'{"MaxResults": 5}', url: str = "http://127.0.0.1:8700/", key: str = "TSRAKEYEXAMPLE000001",
            region: str = "eu-west-1", service: str = "timestream", headers: dict[str, str] | None = None
            ) -> tuple[str, str, str, list[tuple[str, str]], bytes]:
    request = botocore.awsrequest.AWSRequest(method="POST", url=url, data=body, headers={
        "X-Amz-Target": "Timestream_20181101.ListDatabases", "Content-Type": "application/x-amz-json-1.0",
        **(headers or {})})
    creds = botocore.credentials.Credentials(key, KEYS.get(key, "unknown"))
    botocore.auth.SigV4Auth(creds, service, region).add_auth(request)
    prepared = request.prepare()
    path, _, query = prepared.url.split("8700", 1)[1].partition("?")
    hdrs = [(k, v) for k, v in prepared.headers.items()]
    hdrs.append(("Host", "127.0.0.1:8700"))
    return prepared.method, path, query, hdrs, body


def test_a_botocore_signature_verifies_and_names_key_and_region() -> None:
    method, path, query, headers, body = _signed()
    identity = sigv4.verify(method, path, query, headers, body, KEYS)
    assert (identity.access_key_id, identity.region) == ("TSRAKEYEXAMPLE000001", "eu-west-1")


def test_query_strings_odd_header_spacing_and_another_key_verify() -> None:
    method, path, query, headers, body = _signed(url="http://127.0.0.1:8700/?b=2&a=x%20y", key="TSRAKEYEXAMPLE000002",
                                                 headers={"X-Custom": "  two   spaces "})
    assert sigv4.verify(method, path, query, headers, body, KEYS).access_key_id == "TSRAKEYEXAMPLE000002"


@pytest.mark.parametrize("change, code", [
    ("body", "InvalidSignatureException"), ("target", "InvalidSignatureException"),
    ("key", "UnrecognizedClientException"), ("service", "InvalidSignatureException"),
    ("missing", "MissingAuthenticationTokenException"), ("garbled", "IncompleteSignatureException"),
])
def test_tampered_or_foreign_requests_are_refused_with_aws_codes(change: str, code: str) -> None:
    method, path, query, headers, body = _signed(key="TSRANOTAKEY000000000" if change == "key" else
                                                 "TSRAKEYEXAMPLE000001",
                                                 service="dynamodb" if change == "service" else "timestream")
    if change == "body":
        body = b'{"MaxResults": 6}'
    if change == "target":
        headers = [(k, "Timestream_20181101.DeleteDatabase" if k == "X-Amz-Target" else v) for k, v in headers]
    if change == "missing":
        headers = [(k, v) for k, v in headers if k.lower() != "authorization"]
    if change == "garbled":
        headers = [(k, "AWS4-HMAC-SHA256 Credential=x" if k.lower() == "authorization" else v) for k, v in headers]
    with pytest.raises(sigv4.AuthError) as info:
        sigv4.verify(method, path, query, headers, body, KEYS)
    assert info.value.code == code


def test_signatures_expire_after_fifteen_minutes_either_way() -> None:
    method, path, query, headers, body = _signed()
    now = dt.datetime.now(dt.UTC)
    sigv4.verify(method, path, query, headers, body, KEYS, now=now + dt.timedelta(minutes=14))
    with pytest.raises(sigv4.AuthError, match="Signature expired"):
        sigv4.verify(method, path, query, headers, body, KEYS, now=now + dt.timedelta(minutes=16))
    with pytest.raises(sigv4.AuthError, match="not yet current"):
        sigv4.verify(method, path, query, headers, body, KEYS, now=now - dt.timedelta(minutes=16))


def test_a_gateway_limited_to_regions_refuses_others() -> None:
    method, path, query, headers, body = _signed(region="ap-south-1")
    with pytest.raises(sigv4.AuthError, match="region"):
        sigv4.verify(method, path, query, headers, body, KEYS, regions=frozenset({"eu-west-1"}))


def test_a_content_hash_header_that_lies_about_the_body_is_refused() -> None:
    method, path, query, headers, body = _signed(headers={"X-Amz-Content-Sha256": "0" * 64})
    with pytest.raises(sigv4.AuthError, match="x-amz-content-sha256"):
        sigv4.verify(method, path, query, headers, body, KEYS)


def test_the_operation_header_must_be_signed_and_the_body_always_is() -> None:
    method, path, query, headers, body = _signed()
    auth = next(v for k, v in headers if k.lower() == "authorization")
    unsigned_target = auth.replace("x-amz-target;", "").replace(";x-amz-target", "")
    headers = [(k, unsigned_target if k.lower() == "authorization" else v) for k, v in headers]
    with pytest.raises(sigv4.AuthError, match="x-amz-target"):
        sigv4.verify(method, path, query, headers, body, KEYS)
    method, path, query, headers, body = _signed(headers={"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"})
    with pytest.raises(sigv4.AuthError, match="x-amz-content-sha256"):
        sigv4.verify(method, path, query, headers, body, KEYS)


def test_each_key_gets_its_own_token_key() -> None:
    first = sigv4.verify(*_signed(key="TSRAKEYEXAMPLE000001"), KEYS)
    second = sigv4.verify(*_signed(key="TSRAKEYEXAMPLE000002"), KEYS)
    assert first.token_key and first.token_key != second.token_key
