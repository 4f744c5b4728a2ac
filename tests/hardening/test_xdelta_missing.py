"""Without xdelta3: browsing works; delta restores and uploads say how to install it."""

from __future__ import annotations

import pytest

from dgtui import XdeltaMissingError
from dgtui.core import codec
from tests.core.conftest import make_release

from .conftest import assert_one_line_error, cli_env, leftovers, run_cli

HINT = "sudo apt-get install xdelta3"


@pytest.fixture
def releases(client, bucket, tmp_path):
    (tmp_path / "src").mkdir()
    files = [make_release(tmp_path / "src" / f"app-{v}.zip", v, size=60_000) for v in range(2)]
    for f in files:
        client.upload(f, f"s3://{bucket}/rel/")
    client.put_object(Bucket=bucket, Key="rel/notes.txt", Body=b"notes")
    return files


@pytest.fixture
def no_xdelta3(monkeypatch):
    monkeypatch.setattr(codec, "_xdelta3_path", None)  # the found path is remembered per process
    monkeypatch.setenv("DGTUI_XDELTA3", "/nonexistent/xdelta3")


def test_sdk_browses_and_explains(releases, no_xdelta3, client, bucket, boto3_s3, tmp_path):
    stored = sorted(o["Key"] for o in boto3_s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert {o.key for o in client.iter_objects(bucket)} == {"rel/app-0.zip", "rel/app-1.zip", "rel/notes.txt"}
    stats = client.get_bucket_stats(bucket, detailed_stats=True)
    assert stats.delta_objects == 2 and stats.metadata_invalid == 0
    assert client.get_object_info(f"s3://{bucket}/rel/app-1.zip").original_size == releases[1].stat().st_size
    out = tmp_path / "out"
    out.mkdir()
    assert client.download(f"s3://{bucket}/rel/notes.txt", out / "notes.txt").verified
    for call in (lambda: client.download(f"s3://{bucket}/rel/app-1.zip", out / "app-1.zip"),
                 lambda: client.verify(f"s3://{bucket}/rel/app-1.zip"),
                 lambda: client.upload(make_release(tmp_path / "app-9.zip", 9, size=60_000), f"s3://{bucket}/rel/"),
                 lambda: client.upload(tmp_path / "app-9.zip", f"s3://{bucket}/new-space/")):
        with pytest.raises(XdeltaMissingError) as info:
            call()
        assert HINT in str(info.value)
    assert leftovers(out) == [out / "notes.txt"]
    # Nothing was written to the bucket by the refused uploads.
    assert sorted(o["Key"] for o in boto3_s3.list_objects_v2(Bucket=bucket)["Contents"]) == stored
    # Direct files still upload.
    (tmp_path / "more.txt").write_text("more")
    assert not client.upload(tmp_path / "more.txt", f"s3://{bucket}/rel/").is_delta


def test_cli_browses_and_explains(releases, s3_env, bucket, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    env = cli_env(s3_env, DGTUI_XDELTA3="/nonexistent/xdelta3")
    proc = run_cli("ls", "-r", f"s3://{bucket}/", env=env)
    assert proc.returncode == 0 and b"rel/app-1.zip" in proc.stdout, proc.stderr
    proc = run_cli("stats", "--detailed", f"s3://{bucket}", env=env)
    assert proc.returncode == 0 and b"2 delta" in proc.stdout, proc.stderr
    proc = run_cli("get", f"s3://{bucket}/rel/notes.txt", str(out / "notes.txt"), env=env)
    assert proc.returncode == 0, proc.stderr
    assert_one_line_error(run_cli("get", f"s3://{bucket}/rel/app-1.zip", str(out), env=env), HINT)
    assert_one_line_error(run_cli("put", str(releases[0]), f"s3://{bucket}/other/", env=env), HINT)
    # No xdelta3 on PATH at all (the interpreter is started by its full path).
    env = cli_env(s3_env, PATH="/nonexistent")
    assert_one_line_error(run_cli("verify", f"s3://{bucket}/rel/app-1.zip", env=env), HINT)
    assert leftovers(out) == [out / "notes.txt"]
