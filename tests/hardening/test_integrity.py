"""Damaged storage: restores refuse with the reason and write nothing."""

from __future__ import annotations

import pytest

from dgtui import IntegrityError, NotFoundError, RecompressionError
from dgtui.cli import main
from tests.core.conftest import make_release, upload_gzip_trap

from .conftest import leftovers

SIZE = 80_000


@pytest.fixture
def stored(client, bucket, tmp_path):
    """Two releases (reference + zero-diff delta, and a real delta) and a direct file."""
    src = tmp_path / "src"
    src.mkdir()
    files = [make_release(src / f"app-{v}.zip", v, size=SIZE) for v in range(2)]
    for f in files:
        client.upload(f, f"s3://{bucket}/rel/")
    (src / "notes.txt").write_bytes(b"notes " * 100)
    client.upload(src / "notes.txt", f"s3://{bucket}/rel/")
    return files


def rewrite_body(boto3_s3, bucket, key, change):
    """Replace an object's body, keeping its metadata (as a faulty disk or tool would)."""
    head = boto3_s3.head_object(Bucket=bucket, Key=key)
    body = boto3_s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    boto3_s3.put_object(Bucket=bucket, Key=key, Body=change(body), Metadata=head["Metadata"])


def flip_middle(body: bytes) -> bytes:
    middle = len(body) // 2
    return body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1:]


def assert_refused(fresh_client, capsys, bucket, key, error, fragment, tmp_path):
    """The SDK and the CLI both refuse, with the reason, and write nothing."""
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    c = fresh_client()
    with pytest.raises(error) as info:
        c.download(f"s3://{bucket}/{key}", out / "restored")
    assert fragment in str(info.value)
    if issubclass(error, IntegrityError):
        assert c.verify(f"s3://{bucket}/{key}") is False
    code = main(["get", f"s3://{bucket}/{key}", str(out)])
    _, err = capsys.readouterr()
    assert code == 1 and fragment in err and err.count("\n") == 1, err
    assert leftovers(out) == []
    assert leftovers(c.work_dir) == [] and list(c.reference_cache.dir.glob(".incoming-*")) == []
    return str(info.value)


def test_corrupted_delta_body(stored, fresh_client, capsys, s3_env, bucket, boto3_s3, tmp_path):
    rewrite_body(boto3_s3, bucket, "rel/app-1.zip.delta", flip_middle)
    message = assert_refused(fresh_client, capsys, bucket, "rel/app-1.zip", IntegrityError, "nothing was written",
                             tmp_path)
    assert "rel/app-1.zip" in message
    code = main(["verify", f"s3://{bucket}/rel/app-1.zip"])
    assert code == 3 and "FAILED" in capsys.readouterr().err


def test_truncated_delta_body(stored, fresh_client, capsys, s3_env, bucket, boto3_s3, tmp_path):
    rewrite_body(boto3_s3, bucket, "rel/app-1.zip.delta", lambda b: b[: len(b) // 2])
    assert_refused(fresh_client, capsys, bucket, "rel/app-1.zip", IntegrityError, "nothing was written", tmp_path)


def test_corrupted_direct_body(stored, fresh_client, capsys, s3_env, bucket, boto3_s3, tmp_path):
    rewrite_body(boto3_s3, bucket, "rel/notes.txt", flip_middle)
    assert_refused(fresh_client, capsys, bucket, "rel/notes.txt", IntegrityError, "does not match its stored sha256",
                   tmp_path)


def test_reference_missing(stored, client, fresh_client, capsys, s3_env, bucket, boto3_s3, tmp_path):
    boto3_s3.delete_object(Bucket=bucket, Key="rel/reference.bin")
    # A client that still holds the reference in its cache (checked by sha256) restores.
    assert client.download(f"s3://{bucket}/rel/app-1.zip", tmp_path / "cached.zip").verified
    assert (tmp_path / "cached.zip").read_bytes() == stored[1].read_bytes()
    out = tmp_path / "out"
    out.mkdir()
    for key in ("rel/app-0.zip", "rel/app-1.zip"):
        with pytest.raises(NotFoundError) as info:
            fresh_client().download(f"s3://{bucket}/{key}", out / "x.zip")
        assert "reference s3://" in str(info.value) and "rel/reference.bin is missing" in str(info.value)
        code = main(["get", f"s3://{bucket}/{key}", str(out)])
        err = capsys.readouterr().err
        assert code == 1 and "is missing" in err and err.count("\n") == 1
    assert leftovers(out) == []


def test_reference_differs_from_ref_sha256(stored, fresh_client, capsys, s3_env, bucket, boto3_s3, tmp_path):
    rewrite_body(boto3_s3, bucket, "rel/reference.bin", flip_middle)
    for key in ("rel/app-0.zip", "rel/app-1.zip"):
        assert_refused(fresh_client, capsys, bucket, key, IntegrityError, "dg-ref-sha256", tmp_path)


def test_replaced_reference_with_its_own_metadata(stored, fresh_client, capsys, s3_env, bucket, boto3_s3,
                                                  tmp_path):
    # Another writer replaced the reference, metadata and all: the deltas
    # still name the old one's sha256.
    other = make_release(tmp_path / "other.zip", 7, size=SIZE, seed=99)
    boto3_s3.put_object(Bucket=bucket, Key="rel/reference.bin", Body=other.read_bytes(),
                        Metadata={"dg-file-sha256": "0" * 64, "dg-note": "reference"})
    assert_refused(fresh_client, capsys, bucket, "rel/app-1.zip", IntegrityError, "dg-ref-sha256", tmp_path)


def test_gzip_trap_cli_explains_and_rescues(dg, capsys, s3_env, bucket, tmp_path):
    text_v2 = upload_gzip_trap(dg, bucket, tmp_path, rows=20_000)
    out = tmp_path / "out"
    out.mkdir()
    code = main(["get", f"s3://{bucket}/backups/db-02.sql.gz", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert "gzip" in err and "sha256" in err and "--rescue" in err
    assert leftovers(out) == []
    code = main(["get", "--rescue", f"s3://{bucket}/backups/db-02.sql.gz", str(out)])
    stdout = capsys.readouterr().out
    assert code == 0 and "rescued" in stdout and "db-02.sql.gz.decompressed" in stdout
    assert leftovers(out) == [out / "db-02.sql.gz.decompressed"]
    assert (out / "db-02.sql.gz.decompressed").read_bytes() == text_v2
    code = main(["verify", f"s3://{bucket}/backups/db-02.sql.gz"])
    assert code == 3
    capsys.readouterr()
    with pytest.raises(RecompressionError):
        from dgtui import create_client

        create_client(cache_dir=tmp_path / "c").download(f"s3://{bucket}/backups/db-02.sql.gz", out / "x")
