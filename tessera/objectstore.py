"""The S3-compatible object store UNLOAD writes to and batch-load tasks read from: its endpoint, region and
access key, from a query node's or a gateway's flags (``--s3-endpoint``, ``--s3-region``, ``--s3-credentials``
FILE with ``--s3-profile``; without a file the standard ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``
variables). Timestream uses the caller's permissions on the caller's buckets; a Tessera cluster uses this one
key on this one store, so the buckets a statement or task names must live there and the key must be allowed
to use them."""

from __future__ import annotations

import argparse
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


def add_arguments(parser: argparse.ArgumentParser, used_for: str) -> None:
    """The ``--s3-*`` flags; ``used_for`` ends the endpoint's help: what needs the store."""
    parser.add_argument("--s3-endpoint", default="",
                        help=f"the S3-compatible object store, http(s)://host:port ({used_for})")
    parser.add_argument("--s3-region", default="us-east-1", help="the object store's region (default us-east-1)")
    parser.add_argument("--s3-credentials", default="",
                        help="an AWS shared credentials file holding the object store's key (default: "
                             "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)")
    parser.add_argument("--s3-profile", default="default", help="the profile of --s3-credentials (default 'default')")


def from_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> ObjectStore | None:
    """The store of the ``--s3-*`` flags, or None; exits through ``parser.error`` when they are wrong."""
    try:
        return configure(args.s3_endpoint, args.s3_region, args.s3_credentials, args.s3_profile)
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
