"""The SDK as a drop-in for DeltaGlider 6.2.0's: shapes, signatures, exceptions, and no silent wrong answers."""

from __future__ import annotations

import hashlib
import json
import os
import urllib.request
from pathlib import Path

import pytest

from dgtui import (
    BucketNotEmptyError,
    DestinationExistsError,
    DgError,
    MetadataError,
    NotFoundError,
    SourceChangedError,
    UnsupportedParameterError,
    create_client,
)

from .conftest import make_release, random_bytes, read_all


def stored_keys(boto3_s3, bucket: str) -> list[str]:
    return sorted(o["Key"] for page in boto3_s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
                  for o in page.get("Contents", []))


# -- point 5: no silent wrong answers --------------------------------------------------------------

def test_raw_boto3_client_lists_what_is_there(client, bucket, tmp_path):
    client.upload(make_release(tmp_path / "a.zip", 0), f"s3://{bucket}/r/")
    raw = client.boto3_client.list_objects_v2(Bucket=bucket)
    assert sorted(o["Key"] for o in raw["Contents"]) == ["r/a.zip.delta", "r/reference.bin"]
    assert raw["KeyCount"] == 2
    pages = list(client.boto3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="r/"))
    assert sum(len(p["Contents"]) for p in pages) == 2
    # and dgtui's own listing on the same client is still logical
    assert [o.key for o in client.list_objects(Bucket=bucket, Prefix="r/").contents] == ["r/a.zip"]


def test_unknown_parameters_are_refused_by_name(client, bucket):
    client.put_object(Bucket=bucket, Key="a.txt", Body=b"x")
    for call in (lambda: client.get_object(Bucket=bucket, Key="a.txt", VersionID="typo"),
                 lambda: client.put_object(Bucket=bucket, Key="b.txt", Body=b"x", Colour="red"),
                 lambda: client.list_objects(Bucket=bucket, Fetch=True),
                 lambda: client.delete_object(Bucket=bucket, Key="a.txt", MFA="123456")):
        with pytest.raises(UnsupportedParameterError) as info:
            call()
        assert isinstance(info.value, TypeError)
        assert any(name in str(info.value) for name in ("VersionID", "Colour", "Fetch", "MFA"))
    assert stored_keys(client.boto3_client, bucket) == ["a.txt"]
    with pytest.raises(TypeError, match="cache_size"):
        create_client(cache_size=3)


@pytest.mark.versioning
def test_read_parameters_pass_through_for_plain_objects(client, bucket, boto3_s3):
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})  # boto3's own
    v1 = boto3_s3.put_object(Bucket=bucket, Key="notes.txt", Body=b"first version")["VersionId"]
    boto3_s3.put_object(Bucket=bucket, Key="notes.txt", Body=b"second version")
    assert read_all(client.get_object(Bucket=bucket, Key="notes.txt", VersionId=v1)["Body"]) == b"first version"
    assert read_all(client.get_object(Bucket=bucket, Key="notes.txt")["Body"]) == b"second version"
    assert client.head_object(Bucket=bucket, Key="notes.txt", VersionId=v1)["ContentLength"] == 13
    ranged = client.get_object(Bucket=bucket, Key="notes.txt", Range="bytes=0-5")
    assert read_all(ranged["Body"]) == b"second"


def test_read_parameters_on_a_delta(client, bucket, tmp_path):
    files = [make_release(tmp_path / f"app-{v}.zip", v) for v in range(2)]
    for f in files:
        client.upload(f, f"s3://{bucket}/rel/")
    data = files[1].read_bytes()
    part = client.get_object(Bucket=bucket, Key="rel/app-1.zip", Range="bytes=100-199")
    assert read_all(part["Body"]) == data[100:200] and part["ContentRange"] == f"bytes 100-199/{len(data)}"
    assert read_all(client.get_object(Bucket=bucket, Key="rel/app-1.zip", Range="bytes=-10")["Body"]) == data[-10:]
    etag = client.head_object(Bucket=bucket, Key="rel/app-1.zip")["ETag"]
    assert read_all(client.get_object(Bucket=bucket, Key="rel/app-1.zip", IfMatch=etag)["Body"]) == data
    with pytest.raises(DgError):
        client.get_object(Bucket=bucket, Key="rel/app-1.zip", IfMatch='"0123"')
    with pytest.raises(NotFoundError, match="has no version abc"):  # a delta's versions are read (test_versions)
        client.get_object(Bucket=bucket, Key="rel/app-1.zip", VersionId="abc")
    with pytest.raises(UnsupportedParameterError, match="SSECustomerKey"):
        client.get_object(Bucket=bucket, Key="rel/app-1.zip", SSECustomerAlgorithm="AES256", SSECustomerKey="k" * 32)


def open_restore_handles() -> list[str]:
    """Files of get_object's restores this process still holds open (Linux: /proc/self/fd)."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if "dgtui-get-" in target:
            held.append(target)
    return held


def test_a_bad_range_on_a_delta_leaves_no_open_file(client, bucket, tmp_path):
    for v in range(2):
        client.upload(make_release(tmp_path / f"app-{v}.zip", v), f"s3://{bucket}/rel/")
    size = client.head_object(Bucket=bucket, Key="rel/app-1.zip")["ContentLength"]
    assert open_restore_handles() == []
    failures = []  # kept alive: a handle held by the failed call's frame would stay open
    for bad in ("bytes=a-b", f"bytes={size + 10}-", "items=0-1"):
        with pytest.raises(DgError, match="Range") as info:
            client.get_object(Bucket=bucket, Key="rel/app-1.zip", Range=bad)
        failures.append(info)
    assert open_restore_handles() == [], "a refused Range leaves no restored file open"


def test_put_object_parameters_reach_the_stored_object(client, bucket, boto3_s3, tmp_path):
    client.put_object(Bucket=bucket, Key="docs/a.txt", Body=b"hello", ContentType="text/plain", Tagging="team=ops")
    assert boto3_s3.head_object(Bucket=bucket, Key="docs/a.txt")["ContentType"] == "text/plain"
    assert boto3_s3.get_object_tagging(Bucket=bucket, Key="docs/a.txt")["TagSet"] == [{"Key": "team", "Value": "ops"}]
    client.upload(make_release(tmp_path / "a.zip", 0), f"s3://{bucket}/rel/", tags={"stage": "beta"})
    tags = boto3_s3.get_object_tagging(Bucket=bucket, Key="rel/a.zip.delta")["TagSet"]
    assert tags == [{"Key": "stage", "Value": "beta"}]


def test_non_ascii_folder_is_stored_whole_without_orphans(client, dg, bucket, boto3_s3, tmp_path):
    f = make_release(tmp_path / "app.zip", 0)
    summary = client.upload(f, f"s3://{bucket}/dossié/")
    assert not summary.is_delta and "ASCII" in summary.fallback_reason
    assert stored_keys(boto3_s3, bucket) == ["dossié/app.zip"]
    out = tmp_path / "out"
    out.mkdir()
    assert client.download(f"s3://{bucket}/dossié/app.zip", out / "a.zip").verified
    dg.download(f"s3://{bucket}/dossié/app.zip", out / "b.zip")  # and DeltaGlider 6.2.0 restores it too
    assert (out / "a.zip").read_bytes() == (out / "b.zip").read_bytes() == f.read_bytes()


def test_metadata_s3_cannot_carry_is_refused_before_any_write(client, bucket, boto3_s3, tmp_path):
    f = make_release(tmp_path / "app.zip", 0)
    with pytest.raises(MetadataError, match="ASCII"):
        client.upload(f, f"s3://{bucket}/rel/", metadata={"owner": "Zoë"})
    with pytest.raises(MetadataError, match="2048"):
        client.put_object(Bucket=bucket, Key="rel/b.zip", Body=f.read_bytes(), Metadata={"big": "x" * 3000})
    with pytest.raises(MetadataError, match="DeltaGlider's own"):
        client.put_object(Bucket=bucket, Key="rel/c.txt", Body=b"c", Metadata={"dg-file-sha256": "0" * 64})
    assert stored_keys(boto3_s3, bucket) == []


@pytest.fixture
def small_multipart(monkeypatch):
    """Multipart from 6 MiB in 5 MiB parts (S3's smallest), so the races run on modest files."""
    monkeypatch.setattr("dgtui.core.s3.MULTIPART_THRESHOLD", 6 * 1024 * 1024)
    monkeypatch.setattr("dgtui.core.s3.MULTIPART_CHUNK", 5 * 1024 * 1024)


def big_version(path: Path, version: int) -> Path:
    base = bytearray(random_bytes(7 * 1024 * 1024, seed=11))
    base[1000 * version:1000 * version + 16] = b"version %08d" % version
    path.write_bytes(bytes(base))
    return path


def new_client(s3_server, cache: Path):
    return create_client(s3_server.endpoint_url, "WARNING", s3_server.access_key, s3_server.secret_key,
                         region_name=s3_server.region, cache_dir=cache)


def test_multipart_reference_is_created_only_if_absent(s3_server, bucket, boto3_s3, tmp_path, small_multipart):
    """B starts its reference first, A creates one and finishes; B's must not replace A's."""
    import threading

    a, b = new_client(s3_server, tmp_path / "ca"), new_client(s3_server, tmp_path / "cb")
    fa, fb = big_version(tmp_path / "a.zip", 1), big_version(tmp_path / "b.zip", 2)
    b_waiting, a_done = threading.Event(), threading.Event()
    completes = []

    def hold_b(params, **_):
        if params.get("Key", "").endswith("reference.bin"):
            completes.append(params)
            b_waiting.set()
            assert a_done.wait(120)

    b.boto3_client.meta.events.register("provide-client-params.s3.CompleteMultipartUpload", hold_b)
    result = {}
    thread = threading.Thread(target=lambda: result.update(b=b.upload(fb, f"s3://{bucket}/rel/")))
    thread.start()
    assert b_waiting.wait(120)
    summary_a = a.upload(fa, f"s3://{bucket}/rel/")
    a_done.set()
    thread.join(180)
    assert completes and summary_a.operation == "create_reference"
    assert result["b"].operation == "create_delta" and result["b"].is_delta  # against A's reference
    assert boto3_s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    fresh = new_client(s3_server, tmp_path / "cf")
    for f in (fa, fb):
        out = tmp_path / f"out-{f.name}"
        assert fresh.download(f"s3://{bucket}/rel/{f.name}", out).verified
        assert out.read_bytes() == f.read_bytes()


def test_reference_removed_while_an_upload_uses_it_comes_back(s3_server, bucket, boto3_s3, tmp_path,
                                                             small_multipart):
    """D deletes the last delta; U makes a delta against the reference between D's listing and D's delete."""
    import threading

    d, u = new_client(s3_server, tmp_path / "cd"), new_client(s3_server, tmp_path / "cu")
    d.upload(big_version(tmp_path / "x.zip", 1), f"s3://{bucket}/rel/")
    y = big_version(tmp_path / "y.zip", 2)
    u.download(f"s3://{bucket}/rel/x.zip", tmp_path / "warm.zip")  # U has the reference cached
    d_waiting, u_done = threading.Event(), threading.Event()

    def hold_reference_delete(params, **_):
        if any(o["Key"] == "rel/reference.bin" for o in params.get("Delete", {}).get("Objects", [])):
            d_waiting.set()
            assert u_done.wait(120)

    d.boto3_client.meta.events.register("provide-client-params.s3.DeleteObjects", hold_reference_delete)
    result = {}
    thread = threading.Thread(target=lambda: result.update(d=d.delete_object(Bucket=bucket, Key="rel/x.zip")))
    thread.start()
    assert d_waiting.wait(120)
    summary = u.upload(y, f"s3://{bucket}/rel/")
    u_done.set()
    thread.join(180)
    assert summary.is_delta and result["d"]["RemovedReferences"] == []
    assert stored_keys(boto3_s3, bucket) == ["rel/reference.bin", "rel/y.zip.delta"]
    out = tmp_path / "y-out.zip"
    assert new_client(s3_server, tmp_path / "cf").download(f"s3://{bucket}/rel/y.zip", out).verified
    assert out.read_bytes() == y.read_bytes()


@pytest.mark.parametrize("name, operation", [("notes.txt", "PutObject"), ("big.zip", "UploadPart")])
def test_source_changing_during_upload_is_refused_and_cleaned(client, bucket, boto3_s3, tmp_path, small_multipart,
                                                              name, operation):
    src = big_version(tmp_path / name, 1) if name.endswith(".zip") else tmp_path / name
    if not name.endswith(".zip"):
        src.write_bytes(b"line\n" * 1000)
    changed = []

    def grow(**_):
        if not changed:
            changed.append(True)
            with open(src, "ab") as f:
                f.write(b"appended while uploading")

    client.boto3_client.meta.events.register(f"before-call.s3.{operation}", grow)
    with pytest.raises(SourceChangedError, match="changed while it was uploaded"):
        client.upload(src, f"s3://{bucket}/d/")
    assert changed and stored_keys(boto3_s3, bucket) == []


def test_reference_cache_cleans_up_after_crashes_and_checks_entries(s3_server, tmp_path):
    cache = tmp_path / "cache"
    first = new_client(s3_server, cache)
    refs = first.reference_cache
    stale = refs.dir / ".incoming-dead"
    stale.write_bytes(b"x" * 10)
    os.utime(stale, (1, 1))
    work = first.work_dir / "dgtui-up-dead"
    work.mkdir()
    (work / "delta").write_bytes(b"y")
    os.utime(work / "delta", (1, 1))
    os.utime(work, (1, 1))
    new_client(s3_server, cache)  # a new client sweeps what a dead process left
    assert not stale.exists() and not work.exists()
    # a damaged entry is replaced, not returned
    src = tmp_path / "src.bin"
    src.write_bytes(b"reference bytes")
    sha = hashlib.sha256(b"reference bytes").hexdigest()
    refs.path_for(sha).write_bytes(b"damaged")
    assert refs.put_copy(src, sha).read_bytes() == b"reference bytes"
    # files being written count toward the size bound
    refs.max_bytes = 100
    (refs.dir / ".incoming-live").write_bytes(b"z" * 90)
    other = tmp_path / "other.bin"
    other.write_bytes(b"o" * 20)
    refs.put_copy(other, hashlib.sha256(other.read_bytes()).hexdigest())
    assert not refs.path_for(sha).exists()  # evicted: 90 incoming + 20 + 15 > 100


def test_no_overwrite_restore_never_replaces_a_file_that_appears_meanwhile(client, bucket, tmp_path):
    client.put_object(Bucket=bucket, Key="a.txt", Body=b"from the bucket" * 1000)
    dest = tmp_path / "a.txt"

    def appear(done, total, stage):
        if stage == "downloading" and not dest.exists():
            dest.write_bytes(b"written by someone else")

    with pytest.raises(DestinationExistsError):
        client.download(f"s3://{bucket}/a.txt", dest, overwrite=False, progress=appear)
    assert dest.read_bytes() == b"written by someone else"
    assert [p.name for p in tmp_path.iterdir() if p.name != "dgtui-cache"] == ["a.txt"]


# -- point 6: DeltaGlider's examples ------------------------------------------------------------------

def test_download_replaces_an_existing_file_atomically(client, bucket, boto3_s3, tmp_path):
    import tempfile

    f = make_release(tmp_path / "app.zip", 1)
    client.upload(f, f"s3://{bucket}/rel/")
    with tempfile.NamedTemporaryFile(dir=tmp_path, suffix=".zip") as tmp:  # as DeltaGlider's examples do
        client.download(f"s3://{bucket}/rel/app.zip", tmp.name)
        assert Path(tmp.name).read_bytes() == f.read_bytes()
    # a restore that fails its check leaves the old file as it was, and no temp file
    keep = tmp_path / "keep.zip"
    keep.write_bytes(b"old contents")
    body = boto3_s3.get_object(Bucket=bucket, Key="rel/app.zip.delta")
    meta = body["Metadata"]
    meta["dg-file-sha256"] = "0" * 64
    boto3_s3.put_object(Bucket=bucket, Key="rel/app.zip.delta", Body=body["Body"].read(), Metadata=meta)
    with pytest.raises(DgError):
        client.download(f"s3://{bucket}/rel/app.zip", keep)
    assert keep.read_bytes() == b"old contents"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".dgtui-")]


def test_positional_order_is_deltagliders(s3_server, client, bucket, tmp_path):
    files = [make_release(tmp_path / f"app-{v}.zip", v) for v in range(3)]
    for f in files:
        client.upload(f, f"s3://{bucket}/releases/")
    detailed = client.get_bucket_stats(bucket, "detailed")
    assert detailed.object_count == 3 and detailed.detailed and not detailed.estimated
    assert detailed.total_size == sum(f.stat().st_size for f in files)
    with pytest.raises(ValueError, match="releases/"):
        client.get_bucket_stats(bucket, "releases/")  # a prefix where the mode goes: said, not 0 objects
    assert client.get_bucket_stats(bucket, prefix="releases/").object_count == 3
    positional = create_client(s3_server.endpoint_url, "WARNING", s3_server.access_key, s3_server.secret_key,
                               None, s3_server.region, cache_dir=tmp_path / "c2")
    assert positional.list_objects(Bucket=bucket, Prefix="releases/")["KeyCount"] == 3


def test_missing_local_file_is_a_file_not_found_error(client, bucket, tmp_path):
    with pytest.raises(FileNotFoundError):
        client.upload(tmp_path / "missing.zip", f"s3://{bucket}/rel/")
    with pytest.raises(OSError):
        client.upload(tmp_path / "missing.txt", f"s3://{bucket}/rel/")
    with pytest.raises(FileNotFoundError):
        client.head_object(Bucket=bucket, Key="nope.txt")
    with pytest.raises(NotFoundError):
        client.get_object_info(f"s3://{bucket}/nope.txt")


def test_list_objects_dict_equals_deltagliders(client, dg, bucket, tmp_path):
    for v in range(2):
        dg.upload(str(make_release(tmp_path / f"app-{v}.zip", v)), f"s3://{bucket}/rel/")
    (tmp_path / "notes.txt").write_text("notes")
    dg.upload(str(tmp_path / "notes.txt"), f"s3://{bucket}/rel/")
    for params in ({"Prefix": "rel/"}, {"Prefix": "", "Delimiter": "/"}, {"Prefix": "rel/", "MaxKeys": 2}):
        ours = client.list_objects(Bucket=bucket, **params)
        theirs = dg.list_objects(Bucket=bucket, **params)
        assert isinstance(ours, dict)
        if "MaxKeys" in params:  # DeltaGlider pages by StartAfter, so only the first page's shape compares
            ours, theirs = {k: v for k, v in ours.items() if k != "NextContinuationToken"}, \
                {k: v for k, v in theirs.items() if k != "NextContinuationToken"}
        assert dict(ours) == theirs
    page = client.list_objects(Bucket=bucket, Prefix="rel/")
    assert json.loads(json.dumps(page))["Contents"][0]["Metadata"]["deltaglider-is-delta"] == "true"
    assert page.contents[0].is_delta and page.is_truncated is False  # the attribute API stays
    meta = client.list_objects(Bucket=bucket, Prefix="rel/", FetchMetadata=True)["Contents"][1]["Metadata"]
    assert meta["deltaglider-original-size"] == str((tmp_path / "app-1.zip").stat().st_size)
    assert 0.9 < float(meta["deltaglider-compression-ratio"]) < 1


def test_responses_and_exceptions_as_deltagliders(client, bucket, boto3_s3, tmp_path):
    client.upload(make_release(tmp_path / "a.zip", 0), f"s3://{bucket}/rel/")
    put = client.put_object(Bucket=bucket, Key="rel/b.zip", Body=make_release(tmp_path / "b.zip", 1).read_bytes())
    assert put["DeltaGliderInfo"]["IsDelta"] is True and put["DeltaGliderInfo"]["SavingsPercent"] > 90
    gone = client.delete_object(Bucket=bucket, Key="rel/b.zip")
    assert gone["DeltaGliderInfo"] == {"Type": "delta", "Deleted": True, "StoredKey": "rel/b.zip.delta"}
    stats = client.get_bucket_stats(bucket, "detailed")
    entry = next(b for b in client.list_buckets()["Buckets"] if b["Name"] == bucket)
    assert entry["DeltaGliderStats"]["ObjectCount"] == stats.object_count == 1
    client.upload(tmp_path / "b.zip", f"s3://{bucket}/rel/")  # a write forgets the remembered stats
    assert "DeltaGliderStats" not in next(b for b in client.list_buckets()["Buckets"] if b["Name"] == bucket)
    with pytest.raises(RuntimeError, match="Failed to delete bucket") as info:
        client.delete_bucket(Bucket=bucket)
    assert isinstance(info.value, BucketNotEmptyError)


def test_calls_the_sdk_does_not_wrap_reach_boto3(client, bucket):
    client.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    assert json.loads(client.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"][0]["Action"] == "s3:GetObject"
    for name in ("list_objects_v2", "upload_file", "get_object_tagging"):
        with pytest.raises(AttributeError, match="boto3_client"):
            getattr(client, name)
    assert client.service.storage.client is client.boto3_client


# -- point 1: the rest of DeltaGlider's client ------------------------------------------------------------

def test_presigned_url_of_a_delta_serves_the_file_and_expires_for_deltagliders_purge(client, dg, bucket,
                                                                                       boto3_s3, tmp_path):
    files = [make_release(tmp_path / f"app-{v}.zip", v) for v in range(2)]
    for f in files:
        client.upload(f, f"s3://{bucket}/rel/")
    url = client.generate_presigned_url("get_object", {"Bucket": bucket, "Key": "rel/app-1.zip"}, ExpiresIn=300)
    with urllib.request.urlopen(url) as response:
        assert response.read() == files[1].read_bytes()
        assert "app-1.zip" in response.headers["Content-Disposition"]
    tmp_keys = [k for k in stored_keys(boto3_s3, bucket) if k.startswith(".deltaglider/tmp/")]
    assert len(tmp_keys) == 1
    assert client.purge_temp_files(bucket)["deleted_count"] == 0  # not expired yet
    # expired copies, one written as DeltaGlider 6.2.0 writes them, one as we do: our purge removes both
    # (DeltaGlider's own purge compares a naive clock with an aware date and removes none, its own included)
    dg.rehydrate_for_download(bucket, "rel/app-0.zip.delta", ExpiresIn=0)
    assert client.purge_temp_files(bucket)["deleted_count"] == 1
    client.rehydrate_for_download(bucket, "rel/app-0.zip", ExpiresIn=0)  # its purge runs before it is written
    assert client.purge_temp_files(bucket)["deleted_count"] == 1
    assert [k for k in stored_keys(boto3_s3, bucket) if k.startswith(".deltaglider/tmp/")] == tmp_keys
    plain_url = client.generate_presigned_url("get_object", {"Bucket": bucket, "Key": "missing.txt"})
    assert "missing.txt" in plain_url


def test_batches_estimates_and_similar_files(client, bucket, tmp_path):
    files = [make_release(tmp_path / f"app-1.{v}.zip", v) for v in range(3)]
    seen = []
    summaries = client.upload_batch(files[:2], f"s3://{bucket}/rel", progress_callback=lambda *a: seen.append(a))
    assert [s.operation for s in summaries] == ["create_reference", "create_delta"]
    assert seen == [("app-1.0.zip", 1, 2), ("app-1.1.zip", 2, 2)]
    estimate = client.estimate_compression(files[2], bucket, "rel/")
    assert estimate.should_use_delta and estimate.estimated_ratio > 0.9 and estimate.recommended_reference
    actual = client.upload(files[2], f"s3://{bucket}/rel/")
    assert abs(estimate.estimated_compressed_size - actual.stored_size) < files[2].stat().st_size * 0.05
    similar = client.find_similar_files(bucket, "rel/", "app-1.9.zip")
    assert {s["Key"] for s in similar} == {f"rel/{f.name}" for f in files}
    out = client.download_batch([f"s3://{bucket}/rel/{f.name}" for f in files], tmp_path / "out")
    assert [p.read_bytes() for p in out] == [f.read_bytes() for f in files]
    chunks = []
    big = make_release(tmp_path / "big.zip", 5, size=1_000_000)
    client.upload_chunked(big, f"s3://{bucket}/other/", chunk_size=300_000,
                          progress_callback=lambda *a: chunks.append(a))
    assert chunks[-1] == (4, 4, big.stat().st_size, big.stat().st_size) and len(chunks) >= 2


def test_recursive_delete_and_acls(client, bucket, boto3_s3, tmp_path):
    for v in range(2):
        client.upload(make_release(tmp_path / f"a{v}.zip", v), f"s3://{bucket}/rel/")
    client.put_object(Bucket=bucket, Key="rel/notes.txt", Body=b"n")
    client.put_object(Bucket=bucket, Key="release.txt", Body=b"keep me: only starts with the prefix")
    result = client.delete_objects_recursive(Bucket=bucket, Prefix="rel")
    assert result["DeletedCount"] == 4 and result["FailedCount"] == 0
    assert result["DeltaGliderInfo"]["DeltasDeleted"] == 2 and result["DeltaGliderInfo"]["ReferencesDeleted"] == 1
    assert stored_keys(boto3_s3, bucket) == ["release.txt"]
    assert client.get_bucket_acl(Bucket=bucket)["Grants"]
    with pytest.raises(RuntimeError, match="Failed to get bucket ACL"):
        client.get_bucket_acl(Bucket=bucket + "-missing")


def test_ci_gate_of_deltagliders_examples_sees_what_was_stored(client, dg, bucket, tmp_path):
    """DeltaGlider's CI example fails the build when "compression was not effective"."""
    def gate(summary) -> bool:
        return summary.is_delta or summary.savings_percent > 0

    first = make_release(tmp_path / "app-1.zip", 1)
    ours, theirs = client.upload(first, f"s3://{bucket}/ours/"), dg.upload(str(first), f"s3://{bucket}/theirs/")
    assert (ours.operation, ours.is_delta, gate(ours)) == (theirs.operation, theirs.is_delta, gate(theirs)) \
        == ("create_reference", False, False)
    second = make_release(tmp_path / "app-2.zip", 2)
    assert gate(client.upload(second, f"s3://{bucket}/ours/")) and gate(dg.upload(str(second), f"s3://{bucket}/theirs/"))
