"""An endpoint password is never shown nor stored; the caches are for this user only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dgtui import ConnectionFailedError, create_client
from dgtui.core.logs import redact

from .conftest import cli_env, run_cli

PASSWORD = "hunter2-endpoint-pw"


def _everything_under(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file()) if root.exists() else b""


@pytest.mark.parametrize("how", ["option", "environment"])
@pytest.mark.parametrize("debug", [False, True])
def test_an_endpoint_password_is_refused_and_never_shown(s3_server, bucket, tmp_path, how, debug):
    host = s3_server.endpoint_url.split("://", 1)[1]
    url = f"http://someone:{PASSWORD}@{host}"
    env = cli_env(AWS_ACCESS_KEY_ID=s3_server.access_key, AWS_SECRET_ACCESS_KEY=s3_server.secret_key,
                  AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
                  DGTUI_CACHE_DIR=str(tmp_path / "cache"))
    argv = ["ls", f"s3://{bucket}/"] + (["--debug"] if debug else [])
    if how == "option":
        argv += ["--endpoint-url", url]
    else:
        env["AWS_ENDPOINT_URL"] = url
    proc = run_cli(*argv, env=env, timeout=60)
    assert proc.returncode == 1
    assert PASSWORD.encode() not in proc.stdout + proc.stderr and b"someone" not in proc.stderr
    lines = [line for line in proc.stderr.decode().splitlines() if line.startswith("dgtui:")]
    assert lines == [f"dgtui: error: the endpoint URL http://[redacted]@{host} holds a user name or password; "
                     f"S3 requests are signed with AWS credentials instead: give the endpoint without them"]
    if not debug:
        assert proc.stderr.decode().count("\n") == 1
    assert PASSWORD.encode() not in _everything_under(tmp_path / "cache")


def test_the_sdk_refuses_an_endpoint_password(s3_server, s3_env, tmp_path):
    host = s3_server.endpoint_url.split("://", 1)[1]
    with pytest.raises(ConnectionFailedError) as refused:
        create_client(endpoint_url=f"http://u:{PASSWORD}@{host}", cache_dir=tmp_path / "cache")
    assert PASSWORD not in str(refused.value) and "[redacted]@" in str(refused.value)


def test_debug_logs_redact_a_password_in_any_url():
    assert redact(f"GET https://u:{PASSWORD}@example.test:9000/b?x=1") == "GET https://[redacted]@example.test:9000/b?x=1"
    assert redact("http://example.test/a@b") == "http://example.test/a@b"  # an @ in the path is no password


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _assert_private(root: Path) -> None:
    assert _mode(root) == 0o700
    for path in root.rglob("*"):
        if path.is_symlink():
            continue
        assert _mode(path) == (0o700 if path.is_dir() else 0o600), (path, oct(_mode(path)))


@pytest.fixture
def open_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_caches_are_private_whatever_the_umask(s3_server, s3_env, bucket, boto3_s3, tmp_path, open_umask):
    boto3_s3.put_object(Bucket=bucket, Key="a/x.txt", Body=b"x")
    root = tmp_path / "cache"
    client = create_client(endpoint_url=s3_server.endpoint_url, cache_dir=root)
    try:
        assert client.get_bucket_stats(bucket, "detailed").object_count == 1
        client.download(f"s3://{bucket}/a/x.txt", tmp_path / "x.txt")
    finally:
        client.close()
    assert (root / "metadata.sqlite3").exists() and (root / "references").is_dir() and (root / "work").is_dir()
    _assert_private(root)


def test_a_loose_existing_cache_is_tightened(s3_server, s3_env, bucket, tmp_path, open_umask):
    root = tmp_path / "cache"
    client = create_client(endpoint_url=s3_server.endpoint_url, cache_dir=root)
    client.list_objects(Bucket=bucket)
    client.close()
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    client = create_client(endpoint_url=s3_server.endpoint_url, cache_dir=root)
    client.close()
    _assert_private(root)
