"""``dgtui versions`` and ``dgtui get --version-id`` on a versioned bucket of the local server."""

from __future__ import annotations

import json

import pytest

from .core.conftest import make_release
from .test_cli import run

pytestmark = pytest.mark.versioning  # rclone keeps no versions: skipped there, by name


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
    assert out.splitlines()[-1].startswith("as of ") and "sha256 verified" in out.splitlines()[-1]

    code, out, err = run(capsys, "get", f"s3://{bucket}/f/", str(tmp_path / "now"), "--recursive")
    assert code == 0 and not (tmp_path / "now" / "notes.txt").exists()
    code, out, err = run(capsys, "get", f"s3://{bucket}/f/", str(tmp_path / "now"), "--recursive",
                         "--include-deleted")
    assert code == 0, err
    assert (tmp_path / "now" / "notes.txt").read_text() == "two"

    code, out, err = run(capsys, "get", f"s3://{bucket}/f/", str(tmp_path / "then"), "--recursive", "--at", moment)
    assert code == 0 and "1 file was already restored (same size and sha256)" in out, err
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


def _versioned_folder(capsys, bucket, boto3_s3, tmp_path):
    """rel/app.zip (deltas) and rel/notes.txt written twice, a moment between; returns (moment, the files then)."""
    import time
    from datetime import datetime, timezone

    boto3_s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    first = tmp_path / "first"
    first.mkdir()
    make_release(first / "app.zip", 1)
    (first / "notes.txt").write_text("first notes")
    assert run(capsys, "put", str(first / "app.zip"), str(first / "notes.txt"), f"s3://{bucket}/rel/")[0] == 0
    time.sleep(1.1)  # the server keeps dates to the second: the moment lies strictly between two writes
    moment = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    time.sleep(1.1)
    second = tmp_path / "second"
    second.mkdir()
    make_release(second / "app.zip", 2)
    (second / "notes.txt").write_text("second notes, longer")
    assert run(capsys, "put", str(second / "app.zip"), str(second / "notes.txt"), f"s3://{bucket}/rel/")[0] == 0
    return moment, {"app.zip": (first / "app.zip").read_bytes(), "notes.txt": b"first notes"}


def test_get_recursive_at_keeps_identical_files_and_refuses_differing_ones(capsys, s3_env, bucket, boto3_s3,
                                                                            tmp_path):
    moment, then = _versioned_folder(capsys, bucket, boto3_s3, tmp_path)
    dest = tmp_path / "restored"
    code, out, err = run(capsys, "get", f"s3://{bucket}/rel/", str(dest), "-r", "--at", moment)
    assert code == 0, err
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == then

    # the same again: both files hold those versions already (the delta's by its sha256)
    code, out, err = run(capsys, "get", f"s3://{bucket}/rel/", str(dest), "-r", "--at", moment, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["restored"] == [] and sorted(data["already_restored"]) == sorted(str(dest / n) for n in then)

    # a file that differs is kept and said so, the others are not touched
    (dest / "notes.txt").write_text("edited")
    (dest / "app.zip").write_bytes(then["app.zip"][:-1] + bytes([then["app.zip"][-1] ^ 1]))
    code, out, err = run(capsys, "get", f"s3://{bucket}/rel/", str(dest), "-r", "--at", moment)
    assert code == 1
    assert f"kept {dest / 'notes.txt'}: it already exists and differs from the object (6 B here, 11 B once " \
        "restored); use --overwrite to replace it" in err
    assert "app.zip: it already exists and differs from the object (same size, different sha256)" in err
    assert (dest / "notes.txt").read_text() == "edited"
    assert "nothing restored: kept the 2 existing files" in out

    code, out, err = run(capsys, "get", f"s3://{bucket}/rel/", str(dest), "-r", "--at", moment, "--overwrite")
    assert code == 0, err
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == then
    assert not [p for p in dest.iterdir() if p.name.startswith(".")]  # no temp file left beside them


def test_verify_a_version(capsys, s3_env, bucket, boto3_s3, tmp_path):
    _versioned_folder(capsys, bucket, boto3_s3, tmp_path)
    code, out, _ = run(capsys, "versions", f"s3://{bucket}/rel/app.zip", "--json")
    assert code == 0
    ids = [json.loads(line)["version_id"] for line in out.splitlines()]
    assert len(ids) == 2
    for version_id in ids:
        code, out, err = run(capsys, "verify", f"s3://{bucket}/rel/app.zip", "--version-id", version_id)
        assert code == 0, err
        assert out.startswith(f"OK s3://{bucket}/rel/app.zip version {version_id}: sha256 verified")

    # the first delta's reference version gone (a lifecycle rule, a delete of that version): it fails, saying why
    ref_versions = boto3_s3.list_object_versions(Bucket=bucket, Prefix="rel/reference.bin")["Versions"]
    assert len(ref_versions) == 1  # both deltas were made against it
    boto3_s3.put_object(Bucket=bucket, Key="rel/reference.bin", Body=b"another tool's reference",
                        Metadata={"dg-file-sha256": "0" * 64, "dg-note": "reference"})
    boto3_s3.delete_object(Bucket=bucket, Key="rel/reference.bin", VersionId=ref_versions[0]["VersionId"])
    code, out, err = run(capsys, "verify", f"s3://{bucket}/rel/app.zip", "--version-id", ids[-1])
    assert code == 3 and out == ""
    assert err.startswith(f"FAILED s3://{bucket}/rel/app.zip version {ids[-1]}: ") and err.count("\n") == 1
    assert "no version of the reference" in err

    code, _out, err = run(capsys, "verify", f"s3://{bucket}/rel/app.zip", "--version-id", "no-such-version")
    assert code == 1 and "has no version no-such-version" in err and err.count("\n") == 1
    code, _out, err = run(capsys, "verify", f"s3://{bucket}/rel/", "--version-id", ids[0])
    assert code == 1 and "names a version of one object" in err and err.count("\n") == 1
