"""Shared fixtures: one local S3 server per test session, a bucket per test."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dgtui.server import LocalS3Server

MAX_BUCKET_NAME = 63


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalS3Server]:
    server = LocalS3Server(tmp_path_factory.mktemp("s3-data"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalS3Server]:
    """A second local S3 server, on https with a certificate from a CA made for the session."""
    from dgtui.testing.tls import make_local_tls

    tls = make_local_tls(tmp_path_factory.mktemp("tls"))
    server = LocalS3Server(tmp_path_factory.mktemp("s3-tls-data"), tls=tls)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 server, the second backend: it keeps what SeaweedFS rewrites or ignores
    (keys with '..', '//' or backslashes; per-grantee ACL grants)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def _session_boto3_s3(s3_server: LocalS3Server) -> Any:
    return s3_server.boto3_client()


@pytest.fixture
def boto3_s3(_session_boto3_s3: Any) -> Any:
    """A plain boto3 S3 client on the test server (no DeltaGlider logic)."""
    return _session_boto3_s3


@pytest.fixture
def s3_env(s3_server: LocalS3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """Point everything that reads the environment at the test server.

    Profiles and config files of the machine are hidden, and the SDK's
    on-disk caches live in a directory of this test only.
    """
    env = s3_server.env()
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    isolated = {
        **env,
        "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "DGTUI_CACHE_DIR": str(tmp_path / "dgtui-cache"),
    }
    for name, value in isolated.items():
        monkeypatch.setenv(name, value)
    return isolated


def bucket_name_for(test_name: str) -> str:
    """``t-<test name slug>-<random>``: lowercase, valid, at most 63 chars."""
    suffix = secrets.token_hex(4)
    slug = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")
    room = MAX_BUCKET_NAME - len("t--") - len(suffix)
    slug = slug[:room].strip("-") or "test"
    return f"t-{slug}-{suffix}"


@pytest.fixture
def bucket(boto3_s3: Any, request: pytest.FixtureRequest) -> str:
    """A fresh, empty bucket for this test."""
    name = bucket_name_for(request.node.name)
    boto3_s3.create_bucket(Bucket=name)
    return name
