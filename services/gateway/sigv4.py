"""AWS Signature Version 4 verification for the gateway (service ``timestream``).

The signature is recomputed from the request as received (canonical request, string to sign, the signing
key derived from the secret) and compared in constant time. Failures carry the error codes AWS JSON
services answer with, so SDKs raise what they raise against AWS (and retry a skewed clock as they do)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "timestream"
MAX_SKEW = dt.timedelta(minutes=15)
REQUIRED_SIGNED = ("host", "x-amz-target")
"""Headers a signature must cover: the target names the operation, so an unsigned one could turn a signed
DescribeDatabase into a DeleteDatabase with the same body."""
_AUTH = re.compile(r"^AWS4-HMAC-SHA256\s+Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]+)\s*,\s*Signature=([0-9a-f]{64})\s*$")


class AuthError(Exception):
    """A refused request: ``code`` is AWS's error type, ``status`` its HTTP status."""

    def __init__(self, code: str, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Identity:
    """Who signed a request, and for which region (ARNs and responses use that region); ``token_key`` is a
    key derived from the signer's secret, for what the gateway hands out to this signer only (NextTokens)."""

    access_key_id: str
    region: str
    token_key: bytes = b""


def verify(method: str, path: str, query: str, headers: Sequence[tuple[str, str]], body: bytes,
           secrets: Mapping[str, str], regions: frozenset[str] | None = None,
           now: dt.datetime | None = None) -> Identity:
    """The identity of a correctly signed request; AuthError otherwise.

    ``headers`` are the request's (name, value) pairs as received; ``secrets`` maps access key ids to
    secret keys; ``regions`` (None = any) limits the regions a signature may name."""
    lower: dict[str, list[str]] = {}
    for name, value in headers:
        lower.setdefault(name.lower(), []).append(value)
    auth = (lower.get("authorization") or [""])[0]
    if not auth:
        raise AuthError("MissingAuthenticationTokenException", "Missing Authentication Token")
    m = _AUTH.match(auth)
    if m is None:
        raise AuthError("IncompleteSignatureException",
                        "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' with the "
                        f"{ALGORITHM} algorithm", 400)
    credential, signed_names, signature = m.groups()
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise AuthError("IncompleteSignatureException",
                        f"Credential should be scoped to a valid region, date, service and aws4_request: {credential}", 400)
    key_id, date, region, service, _ = parts
    if service != SERVICE:
        raise AuthError("InvalidSignatureException",
                        f"Credential should be scoped to correct service: '{SERVICE}'.")
    if regions is not None and region not in regions:
        raise AuthError("InvalidSignatureException",
                        f"Credential should be scoped to a valid region. This gateway serves {sorted(regions)}.")
    secret = secrets.get(key_id)
    if secret is None:
        raise AuthError("UnrecognizedClientException", "The security token included in the request is invalid.")
    stamp = (lower.get("x-amz-date") or [""])[0]
    try:
        when = dt.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        raise AuthError("IncompleteSignatureException", "Missing or malformed X-Amz-Date header "
                        "(expected yyyyMMddTHHmmssZ)", 400) from None
    if stamp[:8] != date:
        raise AuthError("InvalidSignatureException", f"Date in Credential scope does not match YYYYMMDD from "
                        f"ISO-8601 version of date from HTTP: '{date}' != '{stamp[:8]}'")
    now = now or dt.datetime.now(dt.UTC)
    if abs(now - when) > MAX_SKEW:
        raise AuthError("InvalidSignatureException",
                        f"Signature expired: {stamp} is now earlier than {_stamp(now - MAX_SKEW)} "
                        f"({_stamp(now)} - 15 min.)" if when < now else
                        f"Signature not yet current: {stamp} is still later than {_stamp(now + MAX_SKEW)} "
                        f"({_stamp(now)} + 15 min.)")
    names = signed_names.split(";")
    for required in REQUIRED_SIGNED:
        if required not in names:
            raise AuthError("InvalidSignatureException",
                            f"'{required}' must be a 'SignedHeader' in the AWS Authorization.")
    missing = [n for n in names if n not in lower]
    if missing:
        raise AuthError("InvalidSignatureException", f"Signed header(s) {missing} are missing from the request")
    payload_hash = hashlib.sha256(body).hexdigest()  # the body is always signed (no UNSIGNED-PAYLOAD here)
    claimed = (lower.get("x-amz-content-sha256") or [payload_hash])[0]
    if claimed != payload_hash:
        raise AuthError("InvalidSignatureException", "The provided x-amz-content-sha256 header does not match "
                        "what was computed.")
    canonical = "\n".join([
        method.upper(), _canonical_path(path), _canonical_query(query),
        "".join(f"{n}:{','.join(_trim(v) for v in lower[n])}\n" for n in names), signed_names, payload_hash])
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join([ALGORITHM, stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    expected = hmac.new(signing_key(secret, date, region, service), to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise AuthError("InvalidSignatureException",
                        "The request signature we calculated does not match the signature you provided. Check "
                        "your AWS Secret Access Key and signing method. Consult the service documentation for "
                        "details.")
    return Identity(key_id, region, hmac.new(secret.encode(), b"tessera next token", hashlib.sha256).digest())


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _stamp(t: dt.datetime) -> str:
    return t.strftime("%Y%m%dT%H%M%SZ")


def _trim(value: str) -> str:
    return " ".join(value.strip().split())


def _canonical_path(path: str) -> str:
    return urllib.parse.quote(urllib.parse.unquote(path or "/"), safe="/~")


def _canonical_query(query: str) -> str:
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    return "&".join(f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
                    for k, v in sorted(pairs))
