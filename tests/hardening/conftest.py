"""Fixtures for the failure-mode tests: clients, the CLI in a subprocess,
a second real S3 backend (moto's server) and private SeaweedFS servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from dgtui import create_client
from dgtui.demo.server import S3_CONFIG_FILE, LocalS3Server

PYTHON = sys.executable
LIMITED_KEY = "limited-key-id"
LIMITED_SECRET = "limited-secret-value"
#: an identity that may list the allowed bucket and nothing else (no HEAD, no GET)
LIST_ONLY_KEY = "list-only-key-id"
LIST_ONLY_SECRET = "list-only-secret-value"


def make_client(endpoint_url: str, access_key: str, secret_key: str, cache_dir: Path, **kw: Any):
    return create_client(endpoint_url=endpoint_url, aws_access_key_id=access_key,
                         aws_secret_access_key=secret_key, region_name="us-east-1", cache_dir=cache_dir, **kw)


@pytest.fixture
def client(s3_server, s3_env, tmp_path):
    c = make_client(s3_server.endpoint_url, s3_server.access_key, s3_server.secret_key, tmp_path / "client-cache")
    yield c
    c.close()


@pytest.fixture
def fresh_client(s3_server, s3_env, tmp_path):
    """Another client with an empty cache (nothing restored before)."""
    made = []

    def make(name: str = "fresh"):
        c = make_client(s3_server.endpoint_url, s3_server.access_key, s3_server.secret_key,
                        tmp_path / f"cache-{name}-{len(made)}")
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def dg(s3_server, s3_env):
    """The real DeltaGlider 6.2.0 SDK on the test server."""
    from deltaglider import create_client as dg_create_client

    return dg_create_client(endpoint_url=s3_server.endpoint_url, log_level="WARNING")


def cli_env(base: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(base or {})
    env.update(extra)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_cli(*argv: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """``dgtui`` as a separate process, stdout and stderr as bytes."""
    return subprocess.run([PYTHON, "-m", "dgtui.cli", *argv], env=env, capture_output=True, timeout=timeout,
                          cwd=str(Path(__file__).resolve().parents[2]))


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    """Exit 1, one line on stderr, no traceback; returns the line."""
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 1, (proc.returncode, err[-2000:])
    assert err.count("\n") == 1 and err.startswith("dgtui: error: "), err[-2000:]
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err.strip()


def leftovers(folder: Path) -> list[Path]:
    """Files below ``folder`` (temporary files included)."""
    return sorted(p for p in folder.rglob("*") if p.is_file())


# --- moto's server: it stores keys with '..', '//', backslashes, leading '/' ---

@pytest.fixture
def moto_s3(moto_endpoint) -> Any:
    return boto3.client("s3", endpoint_url=moto_endpoint, aws_access_key_id="moto-key", aws_secret_access_key="moto-secret",
                        region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))


@pytest.fixture
def moto_bucket(moto_s3, request) -> str:
    from tests.conftest import bucket_name_for

    name = bucket_name_for(request.node.name)
    moto_s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def moto_client(moto_endpoint, tmp_path, monkeypatch):
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    c = make_client(moto_endpoint, "moto-key", "moto-secret", tmp_path / "moto-cache")
    yield c
    c.close()


# --- a private SeaweedFS with a second identity limited to one bucket ---

class TwoIdentityServer(LocalS3Server):
    """LocalS3Server plus an identity that may read, list and write one bucket only, and one that may
    only list it."""

    def __init__(self, data_dir: Path, allowed_bucket: str):
        super().__init__(data_dir)
        self.allowed_bucket = allowed_bucket

    def _write_identities(self) -> None:
        b = self.allowed_bucket
        identities = {"identities": [
            {"name": "admin", "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
             "actions": ["Admin", "Read", "Write", "List", "Tagging"]},
            {"name": "limited", "credentials": [{"accessKey": LIMITED_KEY, "secretKey": LIMITED_SECRET}],
             "actions": [f"Read:{b}", f"List:{b}", f"Write:{b}"]},
            {"name": "list-only", "credentials": [{"accessKey": LIST_ONLY_KEY, "secretKey": LIST_ONLY_SECRET}],
             "actions": [f"List:{b}"]},
        ]}
        path = self.data_dir / S3_CONFIG_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(identities, out)


TWO_IDENTITY_BUCKETS = ("team-a", "team-b")


def serve_two_identities(data_dir: Path) -> Iterator[TwoIdentityServer]:
    """A private server with buckets 'team-a' (the limited identity's) and 'team-b' (not)."""
    server = TwoIdentityServer(data_dir, allowed_bucket="team-a")
    server.start()
    admin = server.boto3_client()
    for name in TWO_IDENTITY_BUCKETS:
        admin.create_bucket(Bucket=name)
        admin.put_object(Bucket=name, Key="docs/readme.txt", Body=b"readme")
    try:
        yield server
    finally:
        server.stop()


def as_new(server: TwoIdentityServer) -> TwoIdentityServer:
    """The session's two-identity server with its buckets as ``serve_two_identities`` made them: the
    modules that use it share one server (a start costs seconds) but never each other's objects."""
    admin = server.boto3_client()
    for name in TWO_IDENTITY_BUCKETS:
        for page in admin.get_paginator("list_objects_v2").paginate(Bucket=name):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                admin.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
        admin.put_object(Bucket=name, Key="docs/readme.txt", Body=b"readme")
        listed = [o["Key"] for o in admin.list_objects_v2(Bucket=name).get("Contents", [])]
        assert listed == ["docs/readme.txt"], (name, listed)
    return server
