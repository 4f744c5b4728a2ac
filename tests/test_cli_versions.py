"""``dgtui versions`` and ``dgtui get --version-id`` on a versioned bucket of the local server."""

from __future__ import annotations

import json

from .core.conftest import make_release
from .test_cli import run


def test_versions_lists_and_get_restores_every_version(capsys, s3_env, bucket, boto3_s3, tmp_path):
    boto3_s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for n in range(3):
        (tmp_path / f"v{n}").mkdir()
    files = [make_release(tmp_path / f"v{n}" / "app.zip", n) for n in range(3)]
    for f in files:
        code, _out, err = run(capsys, "put", str(f), f"s3://{bucket}/rel/")
        assert code == 0, err

    code, out, err = run(capsys, "versions", f"s3://{bucket}/rel/app.zip", "--json", "--sizes")
    assert code == 0 and "warning" not in err, err
    rows = [json.loads(line) for line in out.splitlines()]
    # no upload leaves a delete marker over the plain name it did not use
    assert not any(r["is_delete_marker"] for r in rows)
    files_kept = [r for r in rows if not r["is_delete_marker"]]
    assert [r["original_size"] for r in files_kept] == [f.stat().st_size for f in reversed(files)]
    assert [r["stored_form"] for r in files_kept] == ["delta"] * 3
    assert [r["is_latest"] for r in rows].count(True) == 1 and files_kept[0]["is_latest"]

    code, out, _ = run(capsys, "versions", f"s3://{bucket}/rel/", "--recursive")
    assert code == 0
    assert out.splitlines()[0] == "rel/app.zip"
    assert sum(" delta " in line for line in out.splitlines()) == 3 and "latest" in out
    assert "reference.bin" not in out

    for n, row in enumerate(reversed(files_kept)):
        dest = tmp_path / "out" / f"{n}.zip"
        code, out, err = run(capsys, "get", f"s3://{bucket}/rel/app.zip", str(dest), "--version-id",
                             row["version_id"])
        assert code == 0, err
        assert dest.read_bytes() == files[n].read_bytes()
        assert "sha256" in out

    code, _out, err = run(capsys, "get", f"s3://{bucket}/rel/app.zip", str(tmp_path / "x.zip"),
                          "--version-id", "no-such-version")
    assert code == 1 and err.count("\n") == 1 and "has no version no-such-version" in err
    assert not (tmp_path / "x.zip").exists()
    code, _out, err = run(capsys, "get", f"s3://{bucket}/rel/", str(tmp_path / "all"), "--recursive",
                          "--version-id", "x")
    assert code == 1 and "cannot go with --recursive" in err


def test_versions_on_a_bucket_without_versioning_says_so(capsys, s3_env, bucket, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("one")
    assert run(capsys, "put", str(notes), f"s3://{bucket}/notes.txt")[0] == 0
    code, out, err = run(capsys, "versions", f"s3://{bucket}/notes.txt")
    assert code == 0
    assert "versioning is off" in err and err.count("\n") == 1
    assert out.splitlines()[0] == "notes.txt" and "latest" in out
    code, _out, err = run(capsys, "versions", f"s3://{bucket}/missing.txt")
    assert code == 1 and "has no versions" in err


def test_get_recursive_at_a_time_and_with_deleted_keys(capsys, s3_env, bucket, boto3_s3, tmp_path):
    import time
    from datetime import datetime, timezone

    boto3_s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    notes = tmp_path / "notes.txt"
    notes.write_text("one")
    assert run(capsys, "put", str(notes), f"s3://{bucket}/f/")[0] == 0
    time.sleep(1.1)  # the server keeps dates to the second: the moment lies strictly between two writes
    moment = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    time.sleep(1.1)
    notes.write_text("two")
    assert run(capsys, "put", str(notes), f"s3://{bucket}/f/")[0] == 0
    assert run(capsys, "rm", f"s3://{bucket}/f/notes.txt")[0] == 0

    code, out, err = run(capsys, "get", f"s3://{bucket}/f/", str(tmp_path / "then"), "--recursive", "--at", moment)
    assert code == 0, err
    assert (tmp_path / "then" / "notes.txt").read_text() == "one"
    assert out.splitlines()[-1].startswith("restored 1 file as of ")

    code, out, err = run(capsys, "get", f"s3://{bucket}/f/", str(tmp_path / "now"), "--recursive")
    assert code == 0 and not (tmp_path / "now" / "notes.txt").exists()
    code, out, err = run(capsys, "get", f"s3://{bucket}/f/", str(tmp_path / "now"), "--recursive",
                         "--include-deleted")
    assert code == 0, err
    assert (tmp_path / "now" / "notes.txt").read_text() == "two"

    code, out, err = run(capsys, "get", f"s3://{bucket}/f/", str(tmp_path / "then"), "--recursive", "--at", moment)
    assert code == 1 and "failed f/notes.txt" in err and "already exists" in err
    assert (tmp_path / "then" / "notes.txt").read_text() == "one"
    code, _out, err = run(capsys, "get", f"s3://{bucket}/f/notes.txt", str(tmp_path / "x"), "--at", moment)
    assert code == 1 and "add --recursive" in err and err.count("\n") == 1
    code, _out, err = run(capsys, "get", f"s3://{bucket}/f/", str(tmp_path / "x"), "-r", "--at", "last week")
    assert code == 1 and "not a time" in err and err.count("\n") == 1
    assert not (tmp_path / "x").exists()


def test_stats_versions_counts_older_versions_and_markers(capsys, s3_env, bucket, boto3_s3, tmp_path):
    boto3_s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    notes = tmp_path / "notes.txt"
    for text in ("one", "two!"):
        notes.write_text(text)
        assert run(capsys, "put", str(notes), f"s3://{bucket}/docs/")[0] == 0
        assert run(capsys, "put", str(notes), f"s3://{bucket}/keep/")[0] == 0
    assert run(capsys, "rm", f"s3://{bucket}/docs/notes.txt")[0] == 0

    code, out, err = run(capsys, "stats", f"s3://{bucket}/", "--versions")
    assert code == 0, err
    assert "versioning is on" in out
    assert "current: 1 object, 4 B" in out
    assert "older versions: 3 versions, 10 B" in out
    assert "over 1 deleted key whose versions still store 7 B" in out

    code, out, err = run(capsys, "stats", f"s3://{bucket}/", "--versions", "--by-folder")
    assert code == 0, err
    lines = out.splitlines()
    docs = next(line for line in lines if line.endswith("  docs/"))
    assert docs.split() == ["0", "B", "7", "B", "2", "1", "7", "B", "docs/"]
    keep = next(line for line in lines if line.endswith("  keep/"))
    assert keep.split() == ["4", "B", "3", "B", "1", "0", "0", "B", "keep/"]
    assert lines[-2].endswith("(total)")

    code, out, err = run(capsys, "stats", f"s3://{bucket}/", "--versions", "--by-folder", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["versioning"] == "Enabled"
    assert data["total"]["noncurrent_bytes"] == 10 and data["total"]["delete_markers"] == 1
    assert {f["folder"]: f["deleted_bytes"] for f in data["folders"]} == {"docs/": 7, "keep/": 0}

    code, _out, err = run(capsys, "stats", f"s3://{bucket}/", "--versions", "--sampled")
    assert code == 1 and "does not go with --sampled" in err and err.count("\n") == 1


def test_stats_versions_on_a_bucket_without_versioning(capsys, s3_env, bucket, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("one")
    assert run(capsys, "put", str(notes), f"s3://{bucket}/notes.txt")[0] == 0
    code, out, err = run(capsys, "stats", f"s3://{bucket}", "--versions")
    assert code == 0, err
    assert "versioning is off" in out and "older versions: 0 versions, 0 B" in out
