"""Versions of logical keys on versioned buckets, and restores of every version, byte-exact.

On SeaweedFS and moto's server, both with versioning on: a release is stored
whole by another tool, then overwritten by dgtui several times (deltas),
``reference.bin`` is replaced as a second uploader would, the key is deleted,
and every version comes back with its own bytes; a delta whose reference
version is gone fails with the reason and writes nothing.
"""

from __future__ import annotations

import hashlib
import http.client
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from dgtui.core import errors
from dgtui.core import format as fmt
from dgtui.testing.backends import KEEPS_VERSIONS, NO_VERSIONING

from ..rewriting_proxy import HOP_BY_HOP, Rewriting
from ..scripted_http import QuietHandler, serving
from .conftest import make_release

#: every local server by name: those that keep versions run the tests, rclone is skipped and says why
VERSIONED_BACKENDS = [*KEEPS_VERSIONS] + [pytest.param(name, marks=pytest.mark.skip(reason=f"{name}: {why}"))
                                         for name, why in NO_VERSIONING.items()]


@pytest.fixture(params=VERSIONED_BACKENDS)
def versioned(request: pytest.FixtureRequest, tmp_path: Path):
    """(dgtui client, boto3 client, bucket with versioning on) on each server that keeps versions."""
    from tests.conftest import bucket_name_for

    backend = request.getfixturevalue(f"{request.param}_backend")
    s3 = backend.boto3_client()
    name = bucket_name_for(request.node.originalname)
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    client = backend.dgtui_client(cache_dir=tmp_path / "dgtui-cache")
    request.node.versioned_backend = backend  # for a client of another machine (another cache)
    yield client, s3, name
    client.close()


def _other_machine(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A client with a cache of its own: it holds none of the references the uploads cached."""
    return request.node.versioned_backend.dgtui_client(cache_dir=tmp_path / "other-machine-cache")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _latest_version_id(s3: Any, bucket: str, key: str) -> str:
    return s3.head_object(Bucket=bucket, Key=key)["VersionId"]


def _history(client: Any, s3: Any, bucket: str, tmp_path: Path) -> tuple[list[tuple[str, bytes]], str]:
    """Writes the history every test here reads; returns [(version id, bytes)] oldest first, and the id
    of the reference version the first deltas were made against."""
    written: list[tuple[str, bytes]] = []
    plain = make_release(tmp_path / "v0.zip", 0).read_bytes()
    s3.put_object(Bucket=bucket, Key="rel/app.zip", Body=plain)  # stored whole by another tool
    written.append((_latest_version_id(s3, bucket, "rel/app.zip"), plain))
    for n in (1, 2, 3):
        path = make_release(tmp_path / f"v{n}.zip", n)
        summary = client.upload(path, f"s3://{bucket}/rel/app.zip")
        assert summary.stored_key == "rel/app.zip.delta"
        written.append((_latest_version_id(s3, bucket, "rel/app.zip.delta"), path.read_bytes()))
    first_reference = _latest_version_id(s3, bucket, "rel/reference.bin")
    # A second uploader replaces the reference with another release of its own.
    other = make_release(tmp_path / "other.zip", 9).read_bytes()
    s3.put_object(Bucket=bucket, Key="rel/reference.bin", Body=other,
                  Metadata={"dg-tool": "deltaglider/6.2.0", "dg-source-name": "other.zip",
                            "dg-file-sha256": _sha(other), "dg-note": "reference",
                            "dg-created-at": "2026-12-01T00:00:00Z"})
    path = make_release(tmp_path / "v4.zip", 4)
    assert client.upload(path, f"s3://{bucket}/rel/app.zip").stored_key == "rel/app.zip.delta"
    written.append((_latest_version_id(s3, bucket, "rel/app.zip.delta"), path.read_bytes()))
    client.delete_object(Bucket=bucket, Key="rel/app.zip")
    return written, first_reference


def test_every_version_of_an_overwritten_and_deleted_delta_restores_byte_exact(versioned, tmp_path):
    client, s3, bucket = versioned
    written, _ = _history(client, s3, bucket, tmp_path)

    [(key, versions)] = list(client.versions(f"s3://{bucket}/rel/app.zip", original_sizes=True))
    assert key == "rel/app.zip"
    assert versions[0].is_delete_marker and versions[0].is_latest
    assert sum(v.is_latest for v in versions) == 1
    kept = [v for v in versions if not v.is_delete_marker]
    assert [v.version_id for v in kept] == [vid for vid, _ in reversed(written)]  # newest first
    assert [v.stored_form for v in kept] == ["delta"] * 4 + ["whole"]
    assert [v.original_size for v in kept] == [len(data) for _, data in reversed(written)]
    assert all(v.size < len(data) // 2 for v, (_, data) in zip(kept[:3], reversed(written)))

    for n, (version_id, data) in enumerate(written):
        dest = tmp_path / "out" / f"{n}.zip"
        result = client.download(f"s3://{bucket}/rel/app.zip", dest, version_id=version_id)
        assert result.verified
        assert dest.read_bytes() == data
        assert client.verify(f"s3://{bucket}/rel/app.zip", version_id=version_id)
        got = client.get_object(Bucket=bucket, Key="rel/app.zip", VersionId=version_id)
        assert got["Body"].read() == data
        got["Body"].close()
        head = client.head_object(Bucket=bucket, Key="rel/app.zip", VersionId=version_id)
        assert head["ContentLength"] == len(data)
        assert head["VersionId"] == version_id


def test_a_delta_whose_reference_version_is_gone_fails_with_the_reason(versioned, request, tmp_path):
    uploader, s3, bucket = versioned
    written, first_reference = _history(uploader, s3, bucket, tmp_path)
    s3.delete_object(Bucket=bucket, Key="rel/reference.bin", VersionId=first_reference)
    client = _other_machine(request, tmp_path)

    dest = tmp_path / "out" / "v1.zip"
    with pytest.raises(errors.NotFoundError) as caught:
        client.download(f"s3://{bucket}/rel/app.zip", dest, version_id=written[1][0])
    message = str(caught.value)
    assert "no version of the reference s3://" in message and "rel/reference.bin" in message
    assert "looked at 1 version(s)" in message and "\n" not in message
    assert not dest.exists() and not (tmp_path / "out").exists()
    verdict = client.verify_object(f"s3://{bucket}/rel/app.zip", version_id=written[1][0])
    assert not verdict.valid and "no version of the reference" in (verdict.reason or "")
    # the version made against the second reference still restores
    client.download(f"s3://{bucket}/rel/app.zip", dest, version_id=written[4][0])
    assert dest.read_bytes() == written[4][1]
    client.close()


def test_an_unknown_version_and_a_delete_marker_are_refused_in_one_line(versioned, tmp_path):
    client, s3, bucket = versioned
    written, _ = _history(client, s3, bucket, tmp_path)
    [(_, versions)] = list(client.versions(f"s3://{bucket}/rel/app.zip"))
    marker = versions[0].version_id
    with pytest.raises(errors.NotFoundError, match="is a delete marker"):
        client.download(f"s3://{bucket}/rel/app.zip", tmp_path / "x.zip", version_id=marker)
    with pytest.raises(errors.NotFoundError, match="has no version"):
        client.download(f"s3://{bucket}/rel/app.zip", tmp_path / "x.zip", version_id="no-such-version")
    assert not (tmp_path / "x.zip").exists()


def test_versions_under_a_prefix_group_logical_keys_and_hide_references(versioned, tmp_path):
    client, s3, bucket = versioned
    _history(client, s3, bucket, tmp_path)
    notes = tmp_path / "notes.txt"
    for text in ("one", "two"):
        notes.write_text(text)
        client.upload(notes, f"s3://{bucket}/rel/notes.txt")
    found = dict(client.versions(f"s3://{bucket}/rel/", recursive=True))
    assert sorted(found) == ["rel/app.zip", "rel/notes.txt"]
    assert [v.stored_form for v in found["rel/notes.txt"]] == ["whole", "whole"]
    listed = client.list_object_versions(Bucket=bucket, Prefix="rel/")
    assert {v["Key"] for v in listed["Versions"]} == {"rel/app.zip", "rel/notes.txt"}
    assert {m["Key"] for m in listed["DeleteMarkers"]} == {"rel/app.zip"}
    assert [m["IsLatest"] for m in listed["DeleteMarkers"]].count(True) == 1
    assert not any(v["IsLatest"] for v in listed["Versions"] if v["Key"] == "rel/app.zip")
    assert [v["Size"] for v in listed["Versions"] if v["Key"] == "rel/notes.txt"] == [3, 3]
    assert not any(fmt.is_internal_key(v["StoredKey"]) for v in listed["Versions"])


_LOOPING_PAGE = b"""<?xml version="1.0" encoding="UTF-8"?>
<ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix></Prefix>
<KeyMarker></KeyMarker><VersionIdMarker></VersionIdMarker><NextKeyMarker>a</NextKeyMarker>
<NextVersionIdMarker>1</NextVersionIdMarker><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>
<Version><Key>a</Key><VersionId>1</VersionId><IsLatest>true</IsLatest>
<LastModified>2026-11-30T12:00:00.000Z</LastModified><ETag>"x"</ETag><Size>1</Size></Version>
</ListVersionsResult>"""


class _SameMarkersForEver(QuietHandler):
    """A server whose version listing hands out the same markers on every page."""

    pages = 0

    def do_GET(self) -> None:
        type(self).pages += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(_LOOPING_PAGE)))
        self.end_headers()
        self.wfile.write(_LOOPING_PAGE)


def test_a_version_listing_that_does_not_advance_stops_with_one_line(tmp_path):
    from dgtui import create_client

    with serving(_SameMarkersForEver) as endpoint:
        client = create_client(endpoint_url=endpoint, aws_access_key_id="k", aws_secret_access_key="s",
                               region_name="us-east-1", cache_dir=tmp_path / "cache")
        try:
            with pytest.raises(errors.ListingLoopError, match="does not advance") as caught:
                list(client.versions("s3://b/", recursive=True))
        finally:
            client.close()
    assert "\n" not in str(caught.value)
    assert _SameMarkersForEver.pages == 2  # the first page, and the one that gave its markers again


def _tick() -> datetime:
    """A moment strictly between what was written before and what is written after (servers that keep
    seconds only included): wait past the next whole second on either side."""
    time.sleep(1.1)
    moment = datetime.now(timezone.utc)
    time.sleep(1.1)
    return moment


def _restored(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_folder_restores_as_it_stood_at_each_time(versioned, tmp_path):
    client, _s3, bucket = versioned
    a = [make_release(tmp_path / f"a{n}.zip", n) for n in range(3)]
    notes = tmp_path / "notes.txt"

    client.upload(a[0], f"s3://{bucket}/f/a.zip")
    notes.write_bytes(b"one")
    client.upload(notes, f"s3://{bucket}/f/notes.txt")
    first = _tick()
    client.upload(a[1], f"s3://{bucket}/f/a.zip")
    notes.write_bytes(b"two")
    client.upload(notes, f"s3://{bucket}/f/notes.txt")
    client.put_object(Bucket=bucket, Key="f/sub/b.txt", Body=b"bee")
    second = _tick()
    client.delete_object(Bucket=bucket, Key="f/notes.txt")
    client.upload(a[2], f"s3://{bucket}/f/a.zip")

    expected = {
        "first": (first, False, {"a.zip": a[0].read_bytes(), "notes.txt": b"one"}),
        "second": (second, False, {"a.zip": a[1].read_bytes(), "notes.txt": b"two", "sub/b.txt": b"bee"}),
        "now": (None, False, {"a.zip": a[2].read_bytes(), "sub/b.txt": b"bee"}),
        "now-with-deleted": (None, True, {"a.zip": a[2].read_bytes(), "notes.txt": b"two", "sub/b.txt": b"bee"}),
        "second-with-deleted": (second, True, {"a.zip": a[1].read_bytes(), "notes.txt": b"two",
                                               "sub/b.txt": b"bee"}),
    }
    for name, (at, include_deleted, files) in expected.items():
        out = tmp_path / "out" / name
        done, problems = client.download_prefix_as_of(f"s3://{bucket}/f/", out, at=at,
                                                       include_deleted=include_deleted)
        assert problems == [], name
        assert all(r.verified for r in done)
        assert _restored(out) == files, name
    # before anything was written there is nothing to restore, and no folder is left behind
    done, problems = client.download_prefix_as_of(f"s3://{bucket}/f/", tmp_path / "empty",
                                                  at=first - timedelta(days=1))
    assert done == [] and problems == [] and not (tmp_path / "empty").exists()
    # existing files are kept unless overwriting is allowed
    done, problems = client.download_prefix_as_of(f"s3://{bucket}/f/", tmp_path / "out" / "first", at=second)
    assert [r.key for r in done] == ["f/sub/b.txt"]  # new since then
    assert sorted(k for k, _ in problems) == ["f/a.zip", "f/notes.txt"]
    assert all("already exists" in why for _, why in problems)
    assert _restored(tmp_path / "out" / "first")["a.zip"] == a[0].read_bytes()
    done, problems = client.download_prefix_as_of(f"s3://{bucket}/f/", tmp_path / "out" / "first", at=second,
                                                  overwrite=True)
    assert problems == [] and _restored(tmp_path / "out" / "first") == expected["second"][2]


def test_points_in_time_read_local_time_unless_they_say_otherwise():
    from dgtui.core.versions import parse_point_in_time

    assert parse_point_in_time("2026-11-30T12:00Z") == datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
    assert parse_point_in_time("2026-11-30T12:00+02:00") == datetime(2026, 11, 30, 10, 0, tzinfo=timezone.utc)
    local = parse_point_in_time("2026-11-30T12:00")
    assert local == datetime(2026, 11, 30, 12, 0).astimezone()
    assert parse_point_in_time("2026-11-30") == datetime(2026, 11, 30).astimezone()
    with pytest.raises(errors.DgError, match="not a time"):
        parse_point_in_time("yesterday")


@pytest.mark.versioning
def test_versions_written_by_deltaglider_restore_with_dgtui(client, dg, bucket, boto3_s3, tmp_path):
    """DeltaGlider 6.2.0 overwrites a release in a versioned bucket; then its reference is replaced (a
    folder emptied and filled again): every version comes back from dgtui, byte-exact."""
    boto3_s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    written: list[tuple[str, bytes]] = []
    for n in range(3):
        folder = tmp_path / f"v{n}"
        folder.mkdir()
        path = make_release(folder / "app.zip", n)
        dg.upload(str(path), f"s3://{bucket}/rel/")
        written.append((boto3_s3.head_object(Bucket=bucket, Key="rel/app.zip.delta")["VersionId"],
                        path.read_bytes()))
    # deleting the folder's last file takes its reference with it; the next upload makes a new one
    dg.delete_object(Bucket=bucket, Key="rel/app.zip")
    folder = tmp_path / "v3"
    folder.mkdir()
    path = make_release(folder / "app.zip", 3, seed=99)
    dg.upload(str(path), f"s3://{bucket}/rel/")
    written.append((boto3_s3.head_object(Bucket=bucket, Key="rel/app.zip.delta")["VersionId"], path.read_bytes()))
    references = [v for v in boto3_s3.list_object_versions(Bucket=bucket, Prefix="rel/reference.bin")["Versions"]]
    assert len(references) == 2

    [(_, versions)] = list(client.versions(f"s3://{bucket}/rel/app.zip"))
    assert [v.version_id for v in versions if not v.is_delete_marker] == [vid for vid, _ in reversed(written)]
    for n, (version_id, data) in enumerate(written):
        dest = tmp_path / "out" / f"{n}.zip"
        assert client.download(f"s3://{bucket}/rel/app.zip", dest, version_id=version_id).verified
        assert dest.read_bytes() == data


def test_a_gone_reference_version_this_machine_cached_restores_with_a_warning(versioned, tmp_path):
    client, s3, bucket = versioned
    written, first_reference = _history(client, s3, bucket, tmp_path)
    url = f"s3://{bucket}/rel/app.zip"
    assert client.download(url, tmp_path / "before.zip", version_id=written[1][0]).reference_warning is None
    s3.delete_object(Bucket=bucket, Key="rel/reference.bin", VersionId=first_reference)

    result = client.download(url, tmp_path / "after.zip", version_id=written[2][0])
    assert (tmp_path / "after.zip").read_bytes() == written[2][1]
    assert result.verified and "cached copy" in (result.reference_warning or "")
    # verify trusts the bucket alone
    verdict = client.verify_object(url, version_id=written[2][0])
    assert not verdict.valid and "no version of the reference" in (verdict.reason or "")


def _delete_markers(s3: Any, bucket: str) -> list[str]:
    page = s3.list_object_versions(Bucket=bucket)
    assert not page.get("IsTruncated")
    return sorted(m["Key"] for m in page.get("DeleteMarkers", []))


def test_ordinary_uploads_write_no_delete_markers_and_a_change_of_form_removes_the_old_one(versioned, tmp_path):
    client, s3, bucket = versioned
    for n in (1, 2, 3):  # a reference and a zero-diff delta, then deltas: the plain name never existed
        assert client.upload(make_release(tmp_path / f"v{n}.zip", n),
                             f"s3://{bucket}/rel/app.zip").stored_key == "rel/app.zip.delta"
    unrelated = make_release(tmp_path / "other.zip", 1, seed=99)  # too unlike the reference for a delta
    assert client.upload(unrelated, f"s3://{bucket}/rel/other.zip").stored_key == "rel/other.zip"
    assert client.upload(tmp_path / "v1.zip", f"s3://{bucket}/notes.txt").stored_key == "notes.txt"
    assert _delete_markers(s3, bucket) == []

    # A real change of form: a whole copy another tool wrote is replaced by a delta, and a delta by
    # a whole copy; each time the old form gets its delete marker (its versions stay restorable).
    s3.put_object(Bucket=bucket, Key="rel/lib.zip", Body=b"whole, by another tool")
    assert client.upload(tmp_path / "v2.zip", f"s3://{bucket}/rel/lib.zip").stored_key == "rel/lib.zip.delta"
    assert client.upload(make_release(tmp_path / "other2.zip", 2, seed=98),
                         f"s3://{bucket}/rel/app.zip").stored_key == "rel/app.zip"
    assert _delete_markers(s3, bucket) == ["rel/app.zip.delta", "rel/lib.zip"]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="rel/")
    assert sorted(o["Key"] for o in listed["Contents"]) == [
        "rel/app.zip", "rel/lib.zip.delta", "rel/other.zip", "rel/reference.bin"]


@pytest.mark.parametrize("full", [False, True])
def test_audit_names_the_reference_version_a_mismatched_delta_restores_from(versioned, tmp_path, full, capsys):
    import shlex

    from dgtui.cli.audit import audit_summary_line

    client, s3, bucket = versioned
    releases = [make_release(tmp_path / f"v{n}.zip", n) for n in range(4)]
    client.upload(releases[0], f"s3://{bucket}/rel/app.zip")
    client.upload(releases[1], f"s3://{bucket}/rel/lib.zip")
    client.upload(releases[2], f"s3://{bucket}/old/app.zip")
    first_reference = _latest_version_id(s3, bucket, "rel/reference.bin")
    # A second uploader replaces both references; in old/ no version of the first one is left.
    other = make_release(tmp_path / "other.zip", 9).read_bytes()
    for folder in ("rel", "old"):
        s3.put_object(Bucket=bucket, Key=f"{folder}/reference.bin", Body=other,
                      Metadata={"dg-tool": "deltaglider/6.2.0", "dg-source-name": "other.zip",
                                "dg-file-sha256": _sha(other), "dg-note": "reference",
                                "dg-created-at": "2026-12-01T00:00:00Z"})
    s3.delete_object(Bucket=bucket, Key="old/reference.bin",
                     VersionId=s3.list_object_versions(Bucket=bucket, Prefix="old/reference.bin")["Versions"][-1][
                         "VersionId"])
    client.upload(releases[3], f"s3://{bucket}/rel/new.zip")  # against the current reference: no finding

    auditor = client.audit(f"s3://{bucket}/", full=full)
    found = {p.key: p for p in auditor}
    restorable = {k: p for k, p in found.items() if p.kind.value == "restorable-from-reference-version"}
    assert sorted(restorable) == ["rel/app.zip.delta", "rel/lib.zip.delta"]
    assert found["old/app.zip.delta"].kind.value == "reference-mismatch"
    assert "rel/new.zip.delta" not in found
    for key, problem in restorable.items():
        assert problem.reference_version == first_reference and problem.reference_key == "rel/reference.bin"
        assert first_reference in problem.message and "\n" not in problem.message
        as_dict = problem.to_dict()
        assert as_dict["kind"] == "restorable-from-reference-version"
        assert as_dict["reference_version"] == first_reference
        # the command it names restores the exact bytes
        words = shlex.split(problem.command or "")
        assert words[:2] == ["dgtui", "get"] and words[2] == f"s3://{bucket}/{problem.logical_key}"
        assert words[4] == "--version-id" and words[5] == _latest_version_id(s3, bucket, key)
        dest = tmp_path / "back" / problem.logical_key
        client.download(words[2], dest, version_id=words[5])
        original = releases[0] if key == "rel/app.zip.delta" else releases[1]
        assert dest.read_bytes() == original.read_bytes()
    summary = auditor.summary
    assert summary.restorable_from_reference_versions == {"rel": 2}
    assert summary.problems["restorable-from-reference-version"] == 2
    assert summary.problems["reference-mismatch"] == 1
    assert "restorable-from-reference-version" in summary.to_dict()["problems"]
    line = audit_summary_line(summary)
    assert "deltas restorable from an older reference version: 2 in rel/" in line


def test_audit_on_a_bucket_without_versioning_keeps_the_plain_mismatch(client, bucket, boto3_s3, tmp_path):
    client.upload(make_release(tmp_path / "v0.zip", 0), f"s3://{bucket}/rel/app.zip")
    other = make_release(tmp_path / "other.zip", 9).read_bytes()
    boto3_s3.put_object(Bucket=bucket, Key="rel/reference.bin", Body=other,
                        Metadata={"dg-file-sha256": _sha(other), "dg-note": "reference"})
    auditor = client.audit(f"s3://{bucket}/")
    assert [p.kind.value for p in auditor] == ["reference-mismatch"]
    assert auditor.summary.restorable_from_reference_versions == {}


def test_version_usage_counts_older_versions_and_delete_markers_per_folder(versioned, tmp_path):
    client, s3, bucket = versioned

    def stored(key: str) -> int:
        return s3.head_object(Bucket=bucket, Key=key)["ContentLength"]

    deltas = []
    for n in (1, 2, 3):
        client.upload(make_release(tmp_path / f"v{n}.zip", n), f"s3://{bucket}/rel/app.zip")
        deltas.append(stored("rel/app.zip.delta"))
    first_reference = stored("rel/reference.bin")
    other = make_release(tmp_path / "other.zip", 9).read_bytes()
    s3.put_object(Bucket=bucket, Key="rel/reference.bin", Body=other,
                  Metadata={"dg-file-sha256": _sha(other), "dg-note": "reference"})
    notes = tmp_path / "notes.txt"
    for text in ("first notes", "second, longer notes"):
        notes.write_text(text)
        client.upload(notes, f"s3://{bucket}/docs/notes.txt")
    s3.delete_object(Bucket=bucket, Key="docs/notes.txt")  # one delete marker, over two versions

    report = client.version_usage(f"s3://{bucket}/", by_folder=True)
    assert report.versioning == "Enabled" and not report.cancelled
    total = report.total
    assert (total.current_objects, total.current_bytes) == (2, len(other) + deltas[2])
    older = deltas[0] + deltas[1] + first_reference + len("first notes") + len("second, longer notes")
    assert (total.noncurrent_versions, total.noncurrent_bytes) == (5, older)
    assert (total.noncurrent_reference_versions, total.noncurrent_reference_bytes) == (1, first_reference)
    assert total.delete_markers == 1
    assert (total.deleted_keys, total.deleted_bytes) == (1, len("first notes") + len("second, longer notes"))
    assert total.stored_bytes == len(other) + deltas[2] + older
    rows = {row.folder: row for row in report.folders}
    assert list(rows) == ["rel/", "docs/"]  # the larger older versions first
    assert rows["rel/"].noncurrent_versions == 3 and rows["rel/"].delete_markers == 0
    assert rows["docs/"].current_objects == 0 and rows["docs/"].deleted_keys == 1
    as_json = report.as_dict()
    assert as_json["total"]["noncurrent_bytes"] == older and as_json["folders"][1]["folder"] == "docs/"

    only_docs = client.version_usage(f"s3://{bucket}/docs/")
    assert only_docs.folders == [] and only_docs.total.noncurrent_versions == 2


def test_deleting_a_key_marks_only_the_stored_form_it_has(versioned, tmp_path):
    client, s3, bucket = versioned
    client.upload(make_release(tmp_path / "v1.zip", 1), f"s3://{bucket}/rel/app.zip")
    notes = tmp_path / "notes.txt"
    notes.write_text("notes")
    client.upload(notes, f"s3://{bucket}/docs/notes.txt")

    gone = client.delete_object(Bucket=bucket, Key="rel/app.zip")
    assert gone["DeltaGliderInfo"]["Deleted"] and gone["RemovedReferences"] == ["rel/reference.bin"]
    client.delete_object(Bucket=bucket, Key="docs/notes.txt")
    nothing = client.delete_object(Bucket=bucket, Key="docs/never-written.txt")
    assert not nothing["DeltaGliderInfo"]["Deleted"]
    # The reference's copy made aside under .deltaglider/tmp/ while it is removed goes for good: no marker,
    # no older version of it left on the bill.
    assert _delete_markers(s3, bucket) == ["docs/notes.txt", "rel/app.zip.delta", "rel/reference.bin"]
    assert _stray_versions(s3, bucket) == []


def _stray_versions(s3: Any, bucket: str) -> list[str]:
    """Delete markers over a key that never held a file, and anything left under .deltaglider/."""
    page = s3.list_object_versions(Bucket=bucket)
    assert not page.get("IsTruncated")
    files = {v["Key"] for v in page.get("Versions", [])}
    return sorted([f"marker over nothing: {m['Key']}" for m in page.get("DeleteMarkers", []) if m["Key"] not in files]
                  + [f"left behind: {e['Key']}" for e in page.get("Versions", []) + page.get("DeleteMarkers", [])
                     if e["Key"].startswith(fmt.INTERNAL_PREFIX)])


def test_deleting_many_keys_sends_only_the_stored_forms_they_have(versioned, tmp_path):
    """The batch delete (the app's delete job, the SDK's delete_objects; delete_object and rm are in the test
    above), on few keys of a folder (HEADs) and on many (one listing): every delete marker lies over a file,
    and nothing stays under .deltaglider/."""
    from dgtui.jobs.delete import delete_objects
    from dgtui.jobs.job import Job

    client, s3, bucket = versioned
    for n in (1, 2):
        client.upload(make_release(tmp_path / f"v{n}.zip", n), f"s3://{bucket}/rel/app-{n}.zip")
    s3.put_object(Bucket=bucket, Key="rel/readme.txt", Body=b"whole")
    many = [f"logs/day-{n:02d}.txt" for n in range(25)]  # more than one folder's HEADs: listed instead
    for key in many:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())

    outcome = delete_objects(client, Job(), bucket, ["rel/app-2.zip", "rel/readme.txt", "rel/never.txt"])
    assert outcome.deleted == 3 and not outcome.failures
    assert delete_objects(client, Job(), bucket, many + ["logs/never.zip"]).deleted == 26
    client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "rel/app-1.zip"}]})  # the last delta

    assert _stray_versions(s3, bucket) == []
    assert _delete_markers(s3, bucket) == sorted(
        ["rel/app-1.zip.delta", "rel/app-2.zip.delta", "rel/readme.txt", "rel/reference.bin"] + many)
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    # what `versions` and `stats --versions` read: the deleted files, each with its one version
    listed = dict(client.versions(f"s3://{bucket}/", recursive=True))
    assert sorted(listed) == sorted(["rel/app-1.zip", "rel/app-2.zip", "rel/readme.txt"] + many)
    assert all([v.is_delete_marker for v in versions] == [True, False] for versions in listed.values())
    usage = client.version_usage(f"s3://{bucket}/")
    assert usage.total.delete_markers == len(many) + 4


def test_a_restore_as_of_compares_existing_files_as_a_folder_restore_does(versioned, tmp_path):
    from dgtui.jobs.job import Job, Question
    from dgtui.jobs.restore import restore_prefix_as_of

    class Answering(Job):
        def __init__(self, answer: str | None) -> None:
            super().__init__()
            self.answer, self.asked = answer, []

        def ask(self, question: Question) -> str | None:
            self.asked.append(question.title)
            return self.answer

    client, _s3, bucket = versioned
    a = [make_release(tmp_path / f"a{n}.zip", n) for n in range(2)]
    notes = tmp_path / "notes.txt"
    client.upload(a[0], f"s3://{bucket}/f/a.zip")
    notes.write_bytes(b"one")
    client.upload(notes, f"s3://{bucket}/f/notes.txt")
    first = _tick()
    client.upload(a[1], f"s3://{bucket}/f/a.zip")
    notes.write_bytes(b"two")
    client.upload(notes, f"s3://{bucket}/f/notes.txt")

    out = tmp_path / "out"
    job = Answering(None)
    outcome = restore_prefix_as_of(client, job, f"s3://{bucket}/f/", str(out), at=first)
    assert outcome.state == "done" and job.asked == [] and len(outcome.results) == 2
    assert _restored(out) == {"a.zip": a[0].read_bytes(), "notes.txt": b"one"}

    # restored already: nothing written, nothing asked; the delta compared by its sha256
    outcome = restore_prefix_as_of(client, job, f"s3://{bucket}/f/", str(out), at=first)
    assert outcome.results == [] and job.asked == [] and outcome.already_by_size == set()
    assert sorted(k for k, _ in outcome.already) == ["f/a.zip", "f/notes.txt"]

    # the current state differs from both files: asked once; "skip" keeps them with the reason
    outcome = restore_prefix_as_of(client, job, f"s3://{bucket}/f/", str(out), at=None)
    assert job.asked == ["Some files already exist"] and outcome.results == []
    assert sorted(k for k, _ in outcome.kept) == ["f/a.zip", "f/notes.txt"]
    assert outcome.kept_reasons["f/notes.txt"] == "same size, different sha256"
    assert "kept" in outcome.line() and _restored(out)["a.zip"] == a[0].read_bytes()

    outcome = restore_prefix_as_of(client, Answering("overwrite"), f"s3://{bucket}/f/", str(out), at=None)
    assert outcome.state == "done" and len(outcome.results) == 2 and not outcome.kept
    assert _restored(out) == {"a.zip": a[1].read_bytes(), "notes.txt": b"two"}


class RefusingMissing(Rewriting):
    """Answers 403 instead of 404 to reads of keys ending in ``suffixes``, as AWS answers a role without
    s3:ListBucket for a missing key."""

    suffixes: tuple[str, ...] = (".zip",)

    def _refuse_missing(self) -> None:
        if not self.path.split("?", 1)[0].endswith(self.suffixes):
            self._forward()
            return
        conn = http.client.HTTPConnection(self.upstream, timeout=30)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                conn.putheader(name, value)
            conn.endheaders()
            answer = conn.getresponse()
            data = answer.read()
            headers = [(k, v) for k, v in answer.getheaders() if k.lower() not in HOP_BY_HOP]
        finally:
            conn.close()
        status = answer.status
        if status == 404:  # as AWS answers a role without s3:ListBucket
            status, headers = 403, [("Content-Type", "application/xml")]
            data = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>'
                    b"<Message>Access Denied</Message></Error>")
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if self.command == "HEAD":
            length = "0" if status == 403 else str(answer.getheader("Content-Length"))
        else:
            length = str(len(data))
        self.send_header("Content-Length", length)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_HEAD = do_GET = _refuse_missing  # noqa: N815


def test_an_upload_deletes_unseen_when_a_head_of_a_missing_key_is_refused(s3_server, bucket, boto3_s3, tmp_path):
    """AWS answers 403, not 404, to a role without s3:ListBucket for a missing key: the upload still stores
    its delta and removes a plain copy it cannot see, as before."""
    from dgtui import create_client

    boto3_s3.put_object(Bucket=bucket, Key="rel/old.zip", Body=b"whole, by another tool")
    RefusingMissing.upstream = s3_server.endpoint_url.split("://", 1)[1]
    with serving(RefusingMissing) as url:
        client = create_client(endpoint_url=url, aws_access_key_id=s3_server.access_key,
                               aws_secret_access_key=s3_server.secret_key, region_name=s3_server.region,
                               cache_dir=tmp_path / "cache")
        try:
            for name, n in (("app.zip", 1), ("old.zip", 2)):
                summary = client.upload(make_release(tmp_path / f"v{n}.zip", n), f"s3://{bucket}/rel/{name}")
                assert summary.stored_key == f"rel/{name}.delta"
        finally:
            client.close()
    keys = sorted(o["Key"] for o in boto3_s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == ["rel/app.zip.delta", "rel/old.zip.delta", "rel/reference.bin"]


def test_a_folders_deleted_keys_and_the_folders_below_come_from_one_listing(versioned, tmp_path):
    """What the object table's X shows: the folder's own deleted keys (a delta and a whole file; not one written
    again since), with their versions, and the folders below that hold versions."""
    client, s3, bucket = versioned
    for n in (1, 2):
        client.upload(make_release(tmp_path / f"v{n}.zip", n), f"s3://{bucket}/rel/app.zip")
    client.upload(make_release(tmp_path / "v3.zip", 3), f"s3://{bucket}/rel/lib.zip")
    s3.put_object(Bucket=bucket, Key="rel/notes.txt", Body=b"notes")
    s3.put_object(Bucket=bucket, Key="rel/back.txt", Body=b"one")
    s3.put_object(Bucket=bucket, Key="rel/old/a.txt", Body=b"old")
    s3.put_object(Bucket=bucket, Key="rel/live/b.txt", Body=b"live")
    for key in ("rel/app.zip", "rel/notes.txt", "rel/back.txt", "rel/old/a.txt"):
        client.delete_object(Bucket=bucket, Key=key)
    s3.put_object(Bucket=bucket, Key="rel/back.txt", Body=b"two")  # written again: not deleted

    found = client.deleted_in_folder(bucket, "rel/")
    assert [key for key, _ in found.keys] == ["rel/app.zip", "rel/notes.txt"]
    app_versions = dict(found.keys)["rel/app.zip"]
    assert [(v.stored_form, v.is_delete_marker) for v in app_versions] == [
        ("delete-marker", True), ("delta", False), ("delta", False)]
    assert found.folders == ["rel/live/", "rel/old/"], "the table tells the deleted one from the listed one"
    assert [key for key, _ in client.deleted_in_folder(bucket, "rel/old/").keys] == ["rel/old/a.txt"]
    assert client.deleted_in_folder(bucket, "").folders == ["rel/"], ".deltaglider/ is DeltaGlider's own"


def test_a_delete_whose_head_of_a_missing_form_is_refused_deletes_that_form_unseen(s3_server, bucket, boto3_s3,
                                                                                   tmp_path):
    """A role without s3:ListBucket gets 403 for the HEAD of the form a key does not have: the batch delete
    still deletes the key (and sends the refused form unseen) instead of failing."""
    from dgtui import create_client

    class RefusingMissingDeltas(RefusingMissing):
        suffixes = (".delta",)

    boto3_s3.put_object(Bucket=bucket, Key="rel/old.zip", Body=b"whole, by another tool")
    RefusingMissingDeltas.upstream = s3_server.endpoint_url.split("://", 1)[1]
    with serving(RefusingMissingDeltas) as url:
        client = create_client(endpoint_url=url, aws_access_key_id=s3_server.access_key,
                               aws_secret_access_key=s3_server.secret_key, region_name=s3_server.region,
                               cache_dir=tmp_path / "cache")
        try:
            answer = client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "rel/old.zip"}]})
        finally:
            client.close()
    assert answer["Deleted"] == [{"Key": "rel/old.zip"}] and not answer["Errors"]
    assert boto3_s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
