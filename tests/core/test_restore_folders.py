"""A restore that did not write a file leaves no folder of its own making behind (and keeps the others)."""

from __future__ import annotations

import pytest

from dgtui import CancelledError, NotFoundError

from .conftest import make_release


@pytest.fixture
def releases(client, bucket, tmp_path):
    for v in range(3):
        client.upload(make_release(tmp_path / f"app-{v}.zip", v, size=60_000), f"s3://{bucket}/rel/sub/")
    return f"s3://{bucket}/rel/"


def test_a_cancelled_folder_restore_removes_the_folders_it_made(client, releases, tmp_path):
    kept = tmp_path / "restore"
    kept.mkdir()
    (kept / "mine.txt").write_text("the user's")
    started = []
    with pytest.raises(CancelledError):
        client.download_prefix(releases, kept / "acme" / "server", should_cancel=lambda: bool(started),
                               on_start=started.append)
    assert started, "the restore had begun"
    assert sorted(p.name for p in kept.iterdir()) == ["mine.txt"], "acme/server/sub/ went again"
    # A folder that existed before stays, even when it is empty.
    empty = tmp_path / "empty"
    empty.mkdir()
    started.clear()
    with pytest.raises(CancelledError):
        client.download_prefix(releases, empty, should_cancel=lambda: bool(started), on_start=started.append)
    assert empty.is_dir() and list(empty.iterdir()) == []


def test_a_folder_restore_where_files_fail_removes_only_the_folders_left_empty(client, bucket, boto3_s3, tmp_path):
    # Deltas without their metadata cannot be checked: they are refused, nothing is written for them.
    for key in ("bad/a/one.zip.delta", "bad/a/two.zip.delta", "bad/b/c/three.zip.delta"):
        boto3_s3.put_object(Bucket=bucket, Key=key, Body=b"not a delta")
    client.put_object(Bucket=bucket, Key="bad/b/fine.txt", Body=b"fine")
    restored, problems = client.download_prefix(f"s3://{bucket}/bad/", tmp_path / "bad2")
    assert [r.key for r in restored] == ["bad/b/fine.txt"] and len(problems) == 3
    assert sorted(str(p.relative_to(tmp_path / "bad2")) for p in (tmp_path / "bad2").rglob("*")) == \
        ["b", "b/fine.txt"], "a/ and b/c/ held nothing restored: gone"
    # Nothing restored at all: not even the folder named for the restore is left.
    boto3_s3.delete_object(Bucket=bucket, Key="bad/b/fine.txt")
    restored, problems = client.download_prefix(f"s3://{bucket}/bad/", tmp_path / "bad3")
    assert restored == [] and len(problems) == 3
    assert not (tmp_path / "bad3").exists()


def test_a_failed_or_cancelled_single_restore_leaves_no_folder(client, bucket, releases, tmp_path):
    with pytest.raises(NotFoundError):
        client.download(f"s3://{bucket}/no/such.zip", str(tmp_path / "new" / "deeper") + "/")
    assert not (tmp_path / "new").exists()
    with pytest.raises(CancelledError):
        client.download(f"{releases}sub/app-2.zip", str(tmp_path / "new" / "deeper") + "/",
                        should_cancel=lambda: True)
    assert not (tmp_path / "new").exists()
