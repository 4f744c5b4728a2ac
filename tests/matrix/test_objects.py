"""Objects on every server: keys with special characters, fast HEADs, uploads (single and multipart)
and restores with verify, deletes, presigned URLs, buckets, detailed statistics and audits."""

from __future__ import annotations

import hashlib
import json
import urllib.request

import pytest
from botocore.exceptions import ClientError

from dgtui import SourceChangedError
from dgtui.cli import main
from dgtui.core.fasthead import FastHead

from ..conftest import bucket_name_for
from ..core.conftest import make_release, random_bytes
from .conftest import paginator_listing

#: keys that quoting, signing, URL-encoded listings or a file system could get wrong
SPECIAL_KEYS = {
    "space": "k/a b.txt",
    "plus": "k/a+b.txt",
    "literal-%20": "k/a%20b.txt",
    "tilde": "k/a~b.txt",
    "equals": "k/a=b.txt",
    "ampersand": "k/a&b.txt",
    "e-acute": "k/\u00e9t\u00e9.txt",
    "japanese": "k/\u65e5\u672c/\u65e5\u672c.txt",
    "emoji": "k/\U0001f600.txt",
    "trailing-space": "k/trailing.txt ",
    "all-at-once": "k/\u00e9 a+b%20c~d=e&f \U0001f600.txt",
}
#: ``//`` inside a key: each server of the matrix does something else with it
DOUBLE_SLASH_KEY = "k/a//b.txt"
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_special_character_keys_list_head_and_read_back(backend, mclient, backend_bucket, backend_s3):
    bodies = {key: f"body of {name}".encode() for name, key in SPECIAL_KEYS.items()}
    for key, body in bodies.items():
        mclient.put_object(Bucket=backend_bucket, Key=key, Body=body)
    stored, _ = paginator_listing(backend_s3, backend_bucket)
    assert sorted(stored) == sorted(bodies), "every server of the matrix keeps these keys as they are"
    assert [o.key for o in mclient.iter_objects(backend_bucket)] == stored
    for ranged in (True, False):
        page_keys = [o.key for page in mclient.iter_pages(backend_bucket, "k/", delimiter=None, page_size=3,
                                                          ranged=ranged) for o in page.contents]
        assert page_keys == stored, ranged
    # with a delimiter, the folder and the files beside it
    page = mclient.list_objects(Bucket=backend_bucket, Prefix="k/", Delimiter="/")
    assert page.common_prefixes == ["k/\u65e5\u672c/"]
    assert [o.key for o in page.contents] == [k for k in stored if "\u65e5\u672c/" not in k]
    for key, body in bodies.items():
        assert mclient.get_object(Bucket=backend_bucket, Key=key)["Body"].read() == body, key


def test_fast_heads_answer_as_botocore_does(backend, mclient, backend_bucket, backend_s3):
    keys = list(SPECIAL_KEYS.values())
    for i, key in enumerate(keys):
        backend_s3.put_object(Bucket=backend_bucket, Key=key, Body=b"x" * i,
                              Metadata={"dg-tool": "deltaglider/6.2.0", "dg-file-size": str(i)})
    fast = FastHead(mclient._s3)
    try:
        batch = fast.batch(backend_bucket)
        answers = {key: batch.head(key) for key in keys}
        assert fast.enabled, fast.disabled_reason
        assert fast.fallback_requests == 0 and fast.fast_requests == len(keys) - 1
        for key in keys:
            head = backend_s3.head_object(Bucket=backend_bucket, Key=key)
            etag, metadata = answers[key]
            assert etag == head["ETag"], key
            # lowercase or not, as each server gives them back (rclone capitalises): the same names
            assert {k.lower(): v for k, v in metadata.items()} == {k.lower(): v for k, v in head["Metadata"].items()}
        assert batch.head("k/missing.txt") is None
    finally:
        fast.close()


def test_a_double_slash_in_a_key_differs_by_server(backend, backend_bucket, backend_s3):
    """Server quirks by name: moto keeps ``//``; SeaweedFS stores the key with one slash (and says
    nothing); rclone refuses it (400 InvalidArgument, as MinIO does)."""
    if backend.name == "rclone":
        with pytest.raises(ClientError) as refused:
            backend_s3.put_object(Bucket=backend_bucket, Key=DOUBLE_SLASH_KEY, Body=b"x")
        assert refused.value.response["Error"]["Code"] == "InvalidArgument"
        return
    backend_s3.put_object(Bucket=backend_bucket, Key=DOUBLE_SLASH_KEY, Body=b"x")
    stored, _ = paginator_listing(backend_s3, backend_bucket)
    if backend.name == "seaweedfs":
        assert stored == ["k/a/b.txt"]
    elif backend.name == "moto":
        assert stored == [DOUBLE_SLASH_KEY]
    else:
        assert stored in (["k/a/b.txt"], [DOUBLE_SLASH_KEY]), stored


def test_a_cold_restore_rebuilds_while_its_reference_downloads(backend, mclient, backend_bucket, tmp_path, caplog,
                                                               monkeypatch):
    # The reference goes to xdelta3 through a pipe as it arrives (dgtui/core/early_decode.py); on every server
    # the rebuild made that way is the one kept, from a reference fetched in one piece and in ranged parts.
    import logging

    caplog.set_level(logging.DEBUG, logger="dgtui.engine")
    base = bytearray(random_bytes(3 * 1024 * 1024 + 999, seed=12))
    (tmp_path / "img-1.tar").write_bytes(bytes(base))
    base[2_000_000:2_000_008] = b"CHANGED!"
    (tmp_path / "img-2.tar").write_bytes(bytes(base))
    for name in ("img-1.tar", "img-2.tar"):
        mclient.upload(str(tmp_path / name), f"s3://{backend_bucket}/img/")
    for parts in (False, True):
        caplog.clear()
        if parts:  # ranged parts of 256 KiB: the reference arrives in 13
            monkeypatch.setattr("dgtui.core.s3.PARALLEL_GET_PART", 256 * 1024)
            monkeypatch.setattr("dgtui.core.s3.PARALLEL_GET_MIN", 1024 * 1024)
        cold = backend.dgtui_client(cache_dir=tmp_path / f"cold-{parts}")
        try:
            out = tmp_path / f"out-{parts}.tar"
            result = cold.download(f"s3://{backend_bucket}/img/img-2.tar", out)
        finally:
            cold.close()
        assert out.read_bytes() == bytes(base) and result.verified and not result.reference_cache_hit
        assert "rebuilt while its reference downloaded" in caplog.text, parts


def test_a_big_first_version_is_cached_as_its_parts_go_up_and_a_changed_one_stores_nothing(
        backend, mclient, backend_bucket, tmp_path, monkeypatch):
    # Above the multipart threshold a first version is copied into the reference cache as its parts go up,
    # and its upload (If-None-Match: *) completes only when what went up hashes to its metadata's sha256.
    monkeypatch.setattr("dgtui.core.s3.MULTIPART_THRESHOLD", 6 * 1024 * 1024)
    monkeypatch.setattr("dgtui.core.s3.MULTIPART_CHUNK", 5 * 1024 * 1024)
    base = bytearray(random_bytes(12 * 1024 * 1024 + 77, seed=21))
    v1 = tmp_path / "db-1.tar"
    v1.write_bytes(bytes(base))
    base[9_000_000:9_000_008] = b"CHANGED!"
    v2 = tmp_path / "db-2.tar"
    v2.write_bytes(bytes(base))
    assert mclient.upload(str(v1), f"s3://{backend_bucket}/db/").operation == "create_reference"
    assert (tmp_path / "dgtui-cache" / "references" / sha(v1.read_bytes())).read_bytes() == v1.read_bytes()
    assert mclient.upload(str(v2), f"s3://{backend_bucket}/db/").is_delta
    for version in (v1, v2):
        cold = backend.dgtui_client(cache_dir=tmp_path / f"cold-{version.name}")
        try:
            out = tmp_path / f"out-{version.name}"
            assert cold.download(f"s3://{backend_bucket}/db/{version.name}", out).verified
        finally:
            cold.close()
        assert out.read_bytes() == version.read_bytes()
    # another first version, changed in place (same size) once its sha256 was taken: nothing is stored
    other = tmp_path / "other-1.tar"
    other.write_bytes(bytes(base))
    changed: list[bool] = []

    def rewrite(**_):
        if not changed:
            changed.append(True)
            with open(other, "r+b") as f:
                f.seek(7 * 1024 * 1024)
                f.write(b"changed in place")

    mclient.boto3_client.meta.events.register("before-call.s3.CreateMultipartUpload", rewrite)
    with pytest.raises(SourceChangedError, match="nothing was written"):
        mclient.upload(str(other), f"s3://{backend_bucket}/other/")
    stored, _ = paginator_listing(mclient.boto3_client, backend_bucket)
    assert changed and not [key for key in stored if key.startswith("other/")]


def test_uploads_single_and_multipart_restore_and_verify(backend, mclient, backend_bucket, tmp_path, monkeypatch):
    # parts of 5 MiB (S3's smallest) from 6 MiB on, so that a 12 MiB file goes in three parts
    monkeypatch.setattr("dgtui.core.s3.MULTIPART_THRESHOLD", 6 * 1024 * 1024)
    monkeypatch.setattr("dgtui.core.s3.MULTIPART_CHUNK", 5 * 1024 * 1024)
    src = tmp_path / "src"
    src.mkdir()
    releases = [make_release(src / f"app-1.{v}.zip", v) for v in range(3)]
    big = src / "disk.img"
    big.write_bytes(random_bytes(12 * 1024 * 1024, seed=3))
    small = src / "notes.txt"
    small.write_text("notes\n")
    results = [mclient.upload(str(f), f"s3://{backend_bucket}/rel/") for f in [*releases, big, small]]
    assert [r.is_delta for r in results] == [False, True, True, False, False]
    stored, _ = paginator_listing(mclient.boto3_client, backend_bucket)
    assert "rel/reference.bin" in stored and "rel/app-1.1.zip.delta" in stored and "rel/disk.img" in stored
    out = tmp_path / "out"
    out.mkdir()
    for f in [*releases, big, small]:
        url = f"s3://{backend_bucket}/rel/{f.name}"
        assert mclient.verify(url), url
        target = out / f.name
        mclient.download(url, target)
        assert sha(target.read_bytes()) == sha(f.read_bytes()), f.name
    # a folder restored at once
    restored = tmp_path / "all"
    mclient.download_prefix(f"s3://{backend_bucket}/rel/", restored)
    assert sorted(p.name for p in restored.rglob("*") if p.is_file()) == sorted(f.name for f in [*releases, big, small])
    assert all(sha((restored / f.name).read_bytes()) == sha(f.read_bytes()) for f in releases)


def test_detailed_stats_audit_and_full_audit(backend, backend_env, backend_bucket, tmp_path, capsys):
    files = [make_release(tmp_path / f"tool-1.{v}.zip", v) for v in range(3)]
    notes = tmp_path / "notes.txt"
    notes.write_text("notes")
    assert main(["put", *map(str, files), str(notes), f"s3://{backend_bucket}/rel/"]) == 0, capsys.readouterr()
    capsys.readouterr()
    assert main(["stats", "--detailed", "--json", f"s3://{backend_bucket}"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["total_size"] == sum(f.stat().st_size for f in files) + 5
    assert stats["object_count"] == 4 and stats["delta_objects"] == 3 and not stats["estimated"]
    for full in ([], ["--full"]):
        code = main(["audit", "--json", *full, f"s3://{backend_bucket}/"])
        out = capsys.readouterr().out
        assert code == 0, out
        answer = json.loads(out)
        summary = answer["summary"]
        assert answer["problems"] == [] and not any(summary["problems"].values()), answer
        assert summary["deltas"] == 3 and summary["references"] == 1 and summary["other_objects"] == 1
        if full:
            assert summary["rebuilt"] == 3 and summary["checked"] == 1


def test_deletes(backend, mclient, backend_bucket, tmp_path):
    for v in range(3):
        mclient.upload(str(make_release(tmp_path / f"a-1.{v}.zip", v)), f"s3://{backend_bucket}/gone/")
    mclient.put_object(Bucket=backend_bucket, Key="keep/x.txt", Body=b"x")
    mclient.put_object(Bucket=backend_bucket, Key="one.txt", Body=b"1")
    mclient.delete_object(Bucket=backend_bucket, Key="one.txt")
    mclient.delete_object(Bucket=backend_bucket, Key="gone/a-1.1.zip")  # a delta, by its logical name
    assert {o.key for o in mclient.iter_objects(backend_bucket)} == {"gone/a-1.0.zip", "gone/a-1.2.zip",
                                                                    "keep/x.txt"}
    mclient.delete_prefix(f"s3://{backend_bucket}/gone/")
    assert paginator_listing(mclient.boto3_client, backend_bucket)[0] == ["keep/x.txt"]


def test_presigned_urls_download_and_upload(backend, mclient, backend_bucket, tmp_path):
    files = [make_release(tmp_path / f"p-1.{v}.zip", v) for v in range(2)]
    for f in files:
        mclient.upload(str(f), f"s3://{backend_bucket}/pre/")
    url = mclient.generate_presigned_url("get_object", {"Bucket": backend_bucket, "Key": "pre/p-1.1.zip"}, 300)
    with NO_PROXY.open(url, timeout=30) as answer:
        assert sha(answer.read()) == sha(files[1].read_bytes()), "a delta's URL serves the rebuilt file"
    put_url = mclient.generate_presigned_url("put_object", {"Bucket": backend_bucket, "Key": "pre/up load.txt"}, 300)
    # as `curl -T` sends it: urllib's default form content type makes moto read the body as a form
    request = urllib.request.Request(put_url, data=b"sent by URL", method="PUT",
                                     headers={"Content-Type": "application/octet-stream"})
    with NO_PROXY.open(request, timeout=30) as answer:
        assert answer.status == 200
    assert mclient.get_object(Bucket=backend_bucket, Key="pre/up load.txt")["Body"].read() == b"sent by URL"


def test_buckets_are_created_listed_and_deleted(backend, mclient, request, tmp_path):
    name = bucket_name_for(request.node.originalname)
    mclient.create_bucket(Bucket=name)
    assert name in [b["Name"] for b in mclient.list_buckets()["Buckets"]]
    mclient.put_object(Bucket=name, Key="x.txt", Body=b"x")
    with pytest.raises(Exception, match="not empty|BucketNotEmpty"):
        mclient.delete_bucket(Bucket=name)
    mclient.delete_object(Bucket=name, Key="x.txt")
    mclient.delete_bucket(Bucket=name)
    assert name not in [b["Name"] for b in mclient.list_buckets()["Buckets"]]
