"""The S3-compatible object store UNLOAD writes to: its endpoint, region and access key, from a query node's
flags (``--s3-endpoint``, ``--s3-region``, ``--s3-credentials`` FILE with ``--s3-profile``; without a file the
standard ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` variables). Timestream writes with the caller's
permissions to the caller's bucket; a Tessera cluster writes with this one key to this one store, so the
bucket named in ``TO 's3://bucket/…'`` must live there and the key must be allowed to write it."""

from __future__ import annotations

import configparser
import os
import pathlib
import urllib.parse
from dataclasses import dataclass, field

import pyarrow.fs as pafs

from tessera import credentials


@dataclass(frozen=True)
class ObjectStore:
    endpoint: str
    """``http://host:port`` or ``https://host:port``."""
    region: str
    access_key: str
    secret_key: str = field(repr=False)

    def filesystem(self) -> pafs.S3FileSystem:
        url = urllib.parse.urlsplit(self.endpoint)
        return pafs.S3FileSystem(access_key=self.access_key, secret_key=self.secret_key, region=self.region,
                                 endpoint_override=url.netloc, scheme=url.scheme, connect_timeout=5,
                                 request_timeout=60)


def configure(endpoint: str, region: str, credentials_file: str, profile: str) -> ObjectStore | None:
    """The store the flags describe, or None without ``endpoint``. Raises ValueError naming what is wrong."""
    if not endpoint:
        return None
    url = urllib.parse.urlsplit(endpoint)
    if url.scheme not in ("http", "https") or not url.netloc or url.path.strip("/"):
        raise ValueError(f"--s3-endpoint {endpoint!r} must be http://host:port or https://host:port")
    if credentials_file:
        try:
            keys = credentials.profile_key(pathlib.Path(credentials_file), profile)
        except configparser.Error as exc:
            raise ValueError(f"--s3-credentials {credentials_file} cannot be read: {exc}") from exc
        if keys is None:
            raise ValueError(f"--s3-credentials {credentials_file} has no key pair in profile [{profile}]")
        key_id, secret = keys
    else:
        key_id, secret = os.environ.get("AWS_ACCESS_KEY_ID", ""), os.environ.get("AWS_SECRET_ACCESS_KEY", "")
        if not key_id or not secret:
            raise ValueError("--s3-endpoint needs a key: --s3-credentials FILE (with --s3-profile) or "
                             "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment")
    return ObjectStore(endpoint.rstrip("/"), region, key_id, secret)
