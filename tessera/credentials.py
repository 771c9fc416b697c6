"""Access keys the gateway accepts: an AWS-style shared credentials file (INI, one profile per key), so the
file ``tessera up`` writes is also one that boto3 and the AWS CLI read (AWS_SHARED_CREDENTIALS_FILE).

    [tessera]
    aws_access_key_id = TSRK6W3Q...
    aws_secret_access_key = 9fJ...
"""

from __future__ import annotations

import configparser
import os
import pathlib
import secrets
import string
import time

import structlog

log = structlog.get_logger()
PROFILE = "tessera"
"""The profile `tessera up` creates."""
RELOAD_EVERY_S = 2.0
_KEY_ALPHABET = string.ascii_uppercase + string.digits


class KeyFile:
    """The keys of a credentials file, re-read when the file changes (checked at most every 2 s), so a key
    added or removed takes effect without restarting the gateway. A file that cannot be read at start is an
    error; later, the last good keys stay in use and the problem is logged."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        self._keys = read_keys(path)
        self._mtime = path.stat().st_mtime
        self._checked = time.monotonic()
        if path.stat().st_mode & 0o077:
            log.warning("credentials_file_readable_by_others", path=str(path),
                        hint="chmod 600 it: it holds secret keys")

    def secrets(self) -> dict[str, str]:
        """access key id → secret access key."""
        now = time.monotonic()
        if now - self._checked >= RELOAD_EVERY_S:
            self._checked = now
            try:
                mtime = self.path.stat().st_mtime
                if mtime != self._mtime:
                    self._keys, self._mtime = read_keys(self.path), mtime
                    log.info("credentials_reloaded", path=str(self.path), keys=len(self._keys))
            except (OSError, ValueError, configparser.Error) as exc:
                log.error("credentials_reload_failed", path=str(self.path), error=str(exc),
                          kept_keys=len(self._keys))
        return self._keys


def read_keys(path: pathlib.Path) -> dict[str, str]:
    """Every (access key id, secret) pair of a shared credentials file. Profiles without a key pair (a role,
    an SSO profile) are skipped; one with only half a pair is an error naming it."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(path.read_text())
    keys = {}
    for name in parser.sections():
        section = parser[name]
        key_id, secret = section.get("aws_access_key_id"), section.get("aws_secret_access_key")
        if not key_id and not secret:
            continue
        if not key_id or not secret:
            raise ValueError(f"{path}: profile [{name}] needs both aws_access_key_id and aws_secret_access_key")
        keys[key_id.strip()] = secret.strip()
    return keys


def profile_key(path: pathlib.Path, profile: str) -> tuple[str, str] | None:
    """The (access key id, secret) of one profile of a shared credentials file, or None when it has none."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(path.read_text())
    if not parser.has_section(profile):
        return None
    key_id, secret = parser[profile].get("aws_access_key_id"), parser[profile].get("aws_secret_access_key")
    return (key_id.strip(), secret.strip()) if key_id and secret else None


def new_key() -> tuple[str, str]:
    """A fresh (access key id, secret): 20 and 40 characters, like AWS's."""
    key_id = "TSRA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))
    return key_id, secrets.token_urlsafe(30)[:40]


def ensure_profile(path: pathlib.Path, profile: str) -> tuple[str, str]:
    """The key of ``profile`` in the credentials file at ``path``, created (with the file, mode 0600) when
    missing; other profiles are kept."""
    parser = configparser.ConfigParser(interpolation=None)
    if path.exists():
        parser.read_string(path.read_text())
    if parser.has_section(profile) and parser[profile].get("aws_access_key_id"):
        return parser[profile]["aws_access_key_id"], parser[profile]["aws_secret_access_key"]
    key_id, secret = new_key()
    parser[profile] = {"aws_access_key_id": key_id, "aws_secret_access_key": secret}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)  # O_EXCL: the new file gets mode 0600, never a leftover's mode
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        parser.write(f)
    tmp.replace(path)
    return key_id, secret


def write_config(path: pathlib.Path, profile: str, region: str, endpoints: dict[str, str]) -> None:
    """An AWS config file whose ``profile`` points boto3 and the AWS CLI at ``endpoints`` in ``region``, one
    endpoint per service (botocore's service-specific endpoints: ``timestream_write``, ``timestream_query``,
    ``s3``), so the profile's other services (STS, …) are not sent to the gateway."""
    parser = configparser.ConfigParser(interpolation=None)
    if path.exists():
        parser.read_string(path.read_text())
    parser[f"profile {profile}"] = {"region": region, "services": profile}
    parser[f"services {profile}"] = {service: f"\nendpoint_url = {url}" for service, url in endpoints.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        parser.write(f)
