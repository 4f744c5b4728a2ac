"""The reason a folder's savings view gives names the real cause (uploads by dgtui, counted from the bucket)."""

from __future__ import annotations

import gzip

from .conftest import make_release, random_bytes


def row_of(report, prefix: str):
    return next(r for r in report.rows if r.prefix == prefix)


def test_compressed_files_are_said_to_be_stored_whole_by_the_policy(client, bucket, tmp_path):
    for day in range(3):
        dump = tmp_path / f"db-{day:02d}.sql.gz"
        dump.write_bytes(gzip.compress(b"INSERT INTO t VALUES (%d);\n" % day * 20_000, mtime=0))
        summary = client.upload(dump, f"s3://{bucket}/dumps/")
        assert not summary.is_delta and "compressed" in (summary.fallback_reason or "")
    report = client.folder_savings(bucket, "", exact=True)
    row = row_of(report, "dumps/")
    assert row.grade == "no deltas"
    assert "gzip/bzip2/xz-compressed" in row.reason and "policy stores compressed files whole" in row.reason
    assert "only version in its folder" not in row.reason


def test_folders_with_non_ascii_names_are_named_as_the_cause(client, bucket, tmp_path):
    # Three versions in an ASCII folder: small deltas against one reference.
    for v in range(3):
        client.upload(make_release(tmp_path / f"app-1.{v}.zip", v), f"s3://{bucket}/builds/app/")
    # Archives in folders whose names are not ASCII: stored whole (two different archives in each folder).
    for i, name in enumerate(("données", "überblick")):
        for j, stem in enumerate(("server", "client")):
            path = tmp_path / f"{i}-{j}" / f"{stem}.zip"
            path.parent.mkdir()
            path.write_bytes(random_bytes(300_000, seed=10 * i + j))
            summary = client.upload(path, f"s3://{bucket}/builds/{name}/")
            assert not summary.is_delta and "not printable ASCII" in (summary.fallback_reason or "")
    report = client.folder_savings(bucket, "", exact=True)
    row = row_of(report, "builds/")
    assert row.deltas == 3 and row.grade in ("poor", "fair"), (row.grade, row.saved_percent)
    assert "names are not ASCII" in row.reason, row.reason
    assert "versions differ a lot" not in row.reason
