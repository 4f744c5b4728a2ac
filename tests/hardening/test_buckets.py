"""A missing bucket, and a bucket this identity may not read: the message
names that bucket and every other bucket keeps working."""

from __future__ import annotations

import json
import secrets

import pytest

from dgtui import AccessDeniedError, BucketNotFoundError
from dgtui.cli import main
from tests.core.conftest import make_release

from .conftest import LIMITED_KEY, LIMITED_SECRET, as_new, make_client


@pytest.fixture
def missing() -> str:
    return f"no-such-bucket-{secrets.token_hex(4)}"


def test_missing_bucket_sdk(client, bucket, missing, tmp_path):
    calls = {
        "list": lambda: client.list_objects(Bucket=missing, Prefix="a/"),
        "iter": lambda: list(client.iter_objects(missing)),
        "stats": lambda: client.get_bucket_stats(missing, detailed_stats=True),
        "download": lambda: client.download(f"s3://{missing}/a/x.txt", tmp_path / "x.txt"),
        "delta download": lambda: client.download(f"s3://{missing}/a/x.zip", tmp_path / "x.zip"),
        "info": lambda: client.get_object_info(f"s3://{missing}/a/x.txt"),
        "prefix": lambda: client.download_prefix(f"s3://{missing}/a/", tmp_path / "out"),
        "verify": lambda: client.verify(f"s3://{missing}/a/x.txt"),
    }
    for name, call in calls.items():
        with pytest.raises(BucketNotFoundError) as info:
            call()
        assert f"s3://{missing}" in str(info.value) and info.value.bucket == missing, name
    assert not (tmp_path / "x.txt").exists() and not (tmp_path / "x.zip").exists()
    # The same client still works on a bucket that exists.
    (tmp_path / "f.txt").write_text("x")
    client.upload(tmp_path / "f.txt", f"s3://{bucket}/a/")
    assert [o.key for o in client.iter_objects(bucket)] == ["a/f.txt"]


def test_upload_to_missing_bucket(moto_client, moto_bucket, missing, tmp_path):
    # SeaweedFS creates a bucket on the first PUT; AWS (and moto) refuse.
    (tmp_path / "f.txt").write_text("x")
    make_release(tmp_path / "f.zip", 1, size=20_000)
    for name in ("f.txt", "f.zip"):
        with pytest.raises(BucketNotFoundError) as info:
            moto_client.upload(tmp_path / name, f"s3://{missing}/a/")
        assert str(info.value) == f"bucket not found: s3://{missing}"
    assert moto_client.upload(tmp_path / "f.zip", f"s3://{moto_bucket}/a/").verified


def test_missing_bucket_cli(capsys, s3_env, bucket, missing, tmp_path):
    for argv in (["ls", f"s3://{missing}/"], ["ls", "-r", f"s3://{missing}"], ["stats", f"s3://{missing}"],
                 ["get", f"s3://{missing}/x.txt", str(tmp_path / "x.txt")],
                 ["get", "-r", f"s3://{missing}/p/", str(tmp_path / "p")],
                 ["verify", f"s3://{missing}/x.tar.gz"], ["rm", f"s3://{missing}/x.txt"]):
        code = main(argv)
        out, err = capsys.readouterr()
        assert code == 1 and err == f"dgtui: error: bucket not found: s3://{missing}\n", (argv, err)
    assert main(["ls", f"s3://{bucket}/"]) == 0


@pytest.fixture(scope="module")
def two_identities(two_identity_server):
    """A private server: the admin, and an identity limited to bucket 'team-a'."""
    return as_new(two_identity_server)


def test_access_denied_on_one_bucket_sdk(two_identities, s3_env, tmp_path):
    c = make_client(two_identities.endpoint_url, LIMITED_KEY, LIMITED_SECRET, tmp_path / "c")
    (tmp_path / "up.txt").write_text("up")
    calls = {
        "list": lambda: c.list_objects(Bucket="team-b", Prefix="docs/"),
        "stats": lambda: c.get_bucket_stats("team-b"),
        "download": lambda: c.download("s3://team-b/docs/readme.txt", tmp_path / "readme.txt"),
        "info": lambda: c.get_object_info("s3://team-b/docs/readme.txt"),
        "upload": lambda: c.upload(tmp_path / "up.txt", "s3://team-b/docs/"),
    }
    for name, call in calls.items():
        with pytest.raises(AccessDeniedError) as info:
            call()
        assert "s3://team-b" in str(info.value) and "permission" in str(info.value), name
    assert not (tmp_path / "readme.txt").exists()
    # Bucket team-a works for the same client.
    assert [o.key for o in c.iter_objects("team-a")] == ["docs/readme.txt"]
    assert c.download("s3://team-a/docs/readme.txt", tmp_path / "readme.txt").verified
    assert c.upload(tmp_path / "up.txt", "s3://team-a/docs/").verified
    assert c.get_bucket_stats("team-a").object_count == 2
    assert [b["Name"] for b in c.list_buckets()["Buckets"]] == ["team-a"]


def test_access_denied_on_one_bucket_cli(two_identities, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", LIMITED_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", LIMITED_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", two_identities.endpoint_url)
    monkeypatch.setenv("DGTUI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for argv in (["ls", "s3://team-b/docs/"], ["stats", "s3://team-b"],
                 ["get", "s3://team-b/docs/readme.txt", str(tmp_path / "r.txt")],
                 ["get", "-r", "s3://team-b/docs/", str(tmp_path / "all")]):
        code = main(argv)
        out, err = capsys.readouterr()
        assert code == 1 and err.startswith("dgtui: error: access denied to s3://team-b"), (argv, err)
        assert err.count("\n") == 1
    assert main(["ls", "s3://team-a/docs/"]) == 0
    assert "docs/readme.txt" in capsys.readouterr().out
    assert main(["get", "s3://team-a/docs/readme.txt", str(tmp_path / "r.txt")]) == 0
    assert (tmp_path / "r.txt").read_bytes() == b"readme"


def test_denied_stored_form_does_not_hide_the_readable_one(moto_s3, moto_bucket, moto_client, tmp_path):
    # AWS answers 403 instead of 404 for a key that a role may not list. A
    # bucket policy denying '*.delta' keys gives that answer for real here.
    body = make_release(tmp_path / "app.zip", 1, size=20_000).read_bytes()
    moto_s3.put_object(Bucket=moto_bucket, Key="rel/app.zip", Body=body)
    moto_s3.put_bucket_policy(Bucket=moto_bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": f"arn:aws:s3:::{moto_bucket}/*.delta"}]}))
    with pytest.raises(Exception):
        moto_s3.head_object(Bucket=moto_bucket, Key="rel/app.zip.delta")
    result = moto_client.download(f"s3://{moto_bucket}/rel/app.zip", tmp_path / "out.zip")
    assert result.verified and (tmp_path / "out.zip").read_bytes() == body
    with pytest.raises(AccessDeniedError):
        moto_client.download(f"s3://{moto_bucket}/rel/other.zip", tmp_path / "other.zip")
