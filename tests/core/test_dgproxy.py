"""Buckets written by deltaglider_proxy 1.19 (objects built by its rules), and dgtui's objects read by them."""

from __future__ import annotations

import dataclasses
import json
import os
import time

import pytest

from dgtui import DgError, ObjectKind, ProxyEncryptedError, create_client
from dgtui.cli import main
from dgtui.core import stats as stats_module
from dgtui.core import walk as walk_module
from dgtui.core.format import parse_metadata, proxy_encryption

from .. import dgproxy
from .conftest import make_release, random_bytes

V1 = random_bytes(200_000, seed=3)
V2 = V1[:50_000] + b"changed" + V1[50_007:]
V3 = V1[:120_000] + b"again!!" + V1[120_007:]


def leftovers(folder) -> list[str]:
    return sorted(os.listdir(folder))


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- 1. notes and reference paths ---------------------------------------------------------

def test_zero_diff_and_delta_notes_list_and_restore(client, bucket, boto3_s3, tmp_path):
    dgproxy.put_first(boto3_s3, bucket, "rel/app-1.zip", V1)
    dgproxy.put_delta(boto3_s3, bucket, "rel/app-2.zip", V2, V1, when=60)
    page = client.list_objects(Bucket=bucket, Prefix="rel/", Delimiter="/", FetchMetadata=True)
    assert [(o.key, o.is_delta) for o in page.contents] == [("rel/app-1.zip", True), ("rel/app-2.zip", True)]
    assert all(o.kind == ObjectKind.DELTA and o.metadata_problem is None for o in page.contents)
    assert [o.original_size for o in page.contents] == [len(V1), len(V2)]
    assert page.contents[0].note.startswith("zero-diff")
    for key, data in (("app-1.zip", V1), ("app-2.zip", V2)):
        result = client.download(f"s3://{bucket}/rel/{key}", tmp_path / key)
        assert result.verified and (tmp_path / key).read_bytes() == data


def test_ref_path_is_the_last_segment_in_the_deltas_own_folder(client, bucket, boto3_s3, tmp_path):
    # A decoy reference where a full path would point; the proxy ignores everything before the last '/'.
    dgproxy.put_reference(boto3_s3, bucket, "elsewhere", V3, source_key="elsewhere/x.zip")
    dgproxy.put_first(boto3_s3, bucket, "rel/app-1.zip", V1)
    dgproxy.put_delta(boto3_s3, bucket, "rel/app-2.zip", V2, V1, ref_path="elsewhere/reference.bin")
    info = client.get_object_info(f"s3://{bucket}/rel/app-2.zip")
    assert info.reference_key == "rel/reference.bin"
    client.download(f"s3://{bucket}/rel/app-2.zip", tmp_path / "out.zip")
    assert (tmp_path / "out.zip").read_bytes() == V2


def test_passthrough_and_its_direct_alias(client, bucket, boto3_s3, tmp_path):
    dgproxy.put_passthrough(boto3_s3, bucket, "docs/readme.txt", b"hello")
    dgproxy.put_passthrough(boto3_s3, bucket, "docs/notes.txt", b"notes", note="direct")
    for name, data in (("readme.txt", b"hello"), ("notes.txt", b"notes")):
        info = client.get_object_info(f"s3://{bucket}/docs/{name}")
        assert info.kind == ObjectKind.DIRECT and info.file_sha256 == dgproxy.sha256(data)
        assert client.download(f"s3://{bucket}/docs/{name}", tmp_path / name).verified


# -- 2. the object's own metadata ----------------------------------------------------------

def test_user_metadata_and_content_type_come_back_as_the_proxy_serves_them(client, bucket, boto3_s3, tmp_path):
    dgproxy.put_passthrough(boto3_s3, bucket, "docs/page.html", b"<p>hi</p>", content_type="text/html",
                            user={"owner": "ops", "build": "42"})
    dgproxy.put_first(boto3_s3, bucket, "rel/app-1.zip", V1)
    dgproxy.put_delta(boto3_s3, bucket, "rel/app-2.zip", V2, V1, content_type="application/zip",
                      user={"release": "2"})
    head = client.head_object(Bucket=bucket, Key="docs/page.html")
    assert head["ContentType"] == "text/html"
    assert head["Metadata"]["owner"] == "ops" and head["Metadata"]["build"] == "42"
    assert not any(k.startswith("user-") or k == "content-type" for k in head["Metadata"])
    got = client.get_object(Bucket=bucket, Key="rel/app-2.zip")
    assert got["Body"].read() == V2 and got["ContentType"] == "application/zip"
    assert got["Metadata"]["release"] == "2" and got["ContentLength"] == len(V2)
    served = dgproxy.read(boto3_s3, bucket, "rel/app-2.zip")
    assert {k: v for k, v in got["Metadata"].items()} == served.metadata
    # Restored files are the bytes, nothing else.
    client.download(f"s3://{bucket}/docs/page.html", tmp_path / "page.html")
    assert (tmp_path / "page.html").read_bytes() == b"<p>hi</p>"


def test_put_object_metadata_is_stored_as_the_proxy_stores_it(client, bucket, boto3_s3):
    client.put_object(Bucket=bucket, Key="docs/a.txt", Body=b"abc", Metadata={"owner": "ops"},
                      ContentType="text/plain")
    raw = boto3_s3.head_object(Bucket=bucket, Key="docs/a.txt")["Metadata"]
    # Under its own name as boto3 stores it, and as the proxy keeps it.
    assert raw["owner"] == raw["user-owner"] == "ops" and raw["content-type"] == "text/plain"
    head = client.head_object(Bucket=bucket, Key="docs/a.txt")
    assert head["Metadata"]["owner"] == "ops" and head["ContentType"] == "text/plain"
    served = dgproxy.read(boto3_s3, bucket, "docs/a.txt")
    assert served.metadata["owner"] == "ops" and served.content_type == "text/plain"


# -- 3. replicas without checksums --------------------------------------------------------------

def test_replica_without_checksums_lists_and_restores_with_a_size_check(client, bucket, boto3_s3, tmp_path, capsys):
    data = random_bytes(300_000, seed=9)
    dgproxy.put_passthrough(boto3_s3, bucket, "big/disk.img", data, replica=True)
    info = client.get_object_info(f"s3://{bucket}/big/disk.img")
    assert info.kind == ObjectKind.DIRECT and info.sha256_missing and info.metadata_problem is None
    result = client.download(f"s3://{bucket}/big/disk.img", tmp_path / "disk.img")
    assert (tmp_path / "disk.img").read_bytes() == data
    assert result.check_note == "not checked: no sha256 stored" and not result.verified
    code, out, err = run(capsys, "get", "--overwrite", f"s3://{bucket}/big/disk.img", str(tmp_path / "again.img"))
    assert code == 0 and "not checked: no sha256 stored" in out, err
    stats = client.get_bucket_stats(bucket, detailed_stats=True)
    assert stats.object_count == 1 and stats.metadata_invalid == 0
    code, out, err = run(capsys, "verify", f"s3://{bucket}/big/disk.img")
    assert "not checked: no sha256 stored" in out + err and "mismatch" not in out + err, (code, out, err)
    checked = client.verify_object(f"s3://{bucket}/big/disk.img")
    assert "not checked: no sha256 stored" in (checked.reason or "")
    assert checked.size_checked and checked.error is None, "a field says so, not only the words"
    # The object is rebuilt in the work folder given, not elsewhere.
    work = tmp_path / "verify-work"
    work.mkdir()
    assert client.verify_object(f"s3://{bucket}/big/disk.img", work_dir=work).status == "unchecked"
    with pytest.raises(FileNotFoundError):
        client.verify_object(f"s3://{bucket}/big/disk.img", work_dir=tmp_path / "no-such-folder")


def test_replica_whose_size_disagrees_is_refused_and_leaves_nothing(client, bucket, boto3_s3, tmp_path):
    dgproxy.put_passthrough(boto3_s3, bucket, "big/disk.img", b"x" * 1000, replica=True)
    head = boto3_s3.head_object(Bucket=bucket, Key="big/disk.img")["Metadata"]
    head["dg-file-size"] = "999"
    boto3_s3.copy_object(Bucket=bucket, Key="big/disk.img", CopySource={"Bucket": bucket, "Key": "big/disk.img"},
                         Metadata=head, MetadataDirective="REPLACE")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(DgError, match="999"):
        client.download(f"s3://{bucket}/big/disk.img", out / "disk.img")
    assert leftovers(out) == []


# -- 4. proxy-side encryption ---------------------------------------------------------------------

def test_proxy_encryption_detection():
    assert proxy_encryption({"user-dg-encrypted": "aes-256-gcm-v1"}) == "aes-256-gcm-v1"
    assert proxy_encryption({"User-Dg-Encrypted": "aes-256-gcm-chunked-v1"}) == "aes-256-gcm-chunked-v1"
    assert proxy_encryption({"dg-encrypted-native": "sse-kms"}) is None
    assert proxy_encryption({"dg-tool": "x"}) is None
    assert parse_metadata("a.txt", {"dg-tool": "t", "dg-file-sha256": "a" * 64, "dg-note": "passthrough",
                                    "user-dg-encrypted": "aes-256-gcm-v1"}).encryption == "aes-256-gcm-v1"


@pytest.mark.parametrize("scheme", ["aes-256-gcm-v1", "aes-256-gcm-chunked-v1"])
def test_encrypted_objects_list_count_and_are_refused_on_restore(client, bucket, boto3_s3, tmp_path, capsys,
                                                                 scheme):
    dgproxy.put_first(boto3_s3, bucket, "rel/app-1.zip", V1, encrypted=scheme)
    dgproxy.put_delta(boto3_s3, bucket, "rel/app-2.zip", V2, V1, encrypted=scheme)
    dgproxy.put_passthrough(boto3_s3, bucket, "rel/notes.txt", b"secret notes", encrypted=scheme)
    page = client.list_objects(Bucket=bucket, Prefix="rel/", Delimiter="/")
    assert sorted(o.key for o in page.contents) == ["rel/app-1.zip", "rel/app-2.zip", "rel/notes.txt"]
    info = client.get_object_info(f"s3://{bucket}/rel/notes.txt")
    assert info.encryption == scheme and info.metadata_problem is None
    stats = client.get_bucket_stats(bucket, detailed_stats=True)
    # the two deltas and the passthrough object (the reference is no object of its own)
    assert stats.object_count == 3 and stats.encrypted_objects == 3 and stats.metadata_invalid == 0
    assert stats.total_size == len(V1) + len(V2) + len(b"secret notes") and not stats.estimated
    again = client.get_bucket_stats(bucket, detailed_stats=True)  # from the cached totals
    assert again.encrypted_objects == 3 and again.total_size == stats.total_size

    out = tmp_path / "out"
    out.mkdir()
    for key in ("rel/app-2.zip", "rel/notes.txt"):
        with pytest.raises(ProxyEncryptedError, match="encrypted by deltaglider_proxy"):
            client.download(f"s3://{bucket}/{key}", out / "x")
        with pytest.raises(ProxyEncryptedError):
            client.get_object(Bucket=bucket, Key=key)
        code, _, err = run(capsys, "get", f"s3://{bucket}/{key}", str(out / "y"))
        assert code == 1 and err.count("\n") == 1 and "read it through the proxy" in err
    done, problems = client.download_prefix(f"s3://{bucket}/rel/", out)
    assert done == [] and len(problems) == 3 and all("deltaglider_proxy" in p for _, p in problems)
    assert leftovers(out) == []


def test_an_encrypted_reference_is_refused_and_new_uploads_go_direct(client, bucket, boto3_s3, tmp_path):
    dgproxy.put_reference(boto3_s3, bucket, "rel", V1, source_key="rel/app-1.zip", encrypted="aes-256-gcm-v1")
    dgproxy.put_delta(boto3_s3, bucket, "rel/app-2.zip", V2, V1)  # the delta itself is plain
    with pytest.raises(ProxyEncryptedError, match="the reference"):
        client.download(f"s3://{bucket}/rel/app-2.zip", tmp_path / "x.zip")
    assert leftovers(tmp_path) == [] or "dgtui-cache" in leftovers(tmp_path)
    new = tmp_path / "app-3.zip"
    new.write_bytes(V3)
    summary = client.upload(new, f"s3://{bucket}/rel/")
    assert not summary.is_delta and "encrypted" in summary.fallback_reason
    client.download(f"s3://{bucket}/rel/app-3.zip", tmp_path / "back.zip")
    assert (tmp_path / "back.zip").read_bytes() == V3


def test_native_encryption_reads_as_usual(client, bucket, boto3_s3, tmp_path):
    dgproxy.put_passthrough(boto3_s3, bucket, "docs/a.txt", b"plain", native="sse-kms")
    assert client.get_object_info(f"s3://{bucket}/docs/a.txt").encryption is None
    assert client.download(f"s3://{bucket}/docs/a.txt", tmp_path / "a.txt").verified


# -- 4b. detailed statistics read every object's metadata ------------------------------------------

NOTES = b"notes only the proxy reads" * 20
SECRET = b"a secret kept by the proxy" * 3000  # chunked: more than one 64 KiB frame


@pytest.fixture
def mixed_bucket(client, dg, bucket, boto3_s3, tmp_path) -> dict[str, bytes]:
    """Encrypted deltas and passthrough objects beside plain ones, objects of other tools, a DeltaGlider 5.x
    direct upload and DeltaGlider 6.2.0's own deltas and direct upload. Returns every object's original
    bytes by logical key."""
    s3 = boto3_s3
    files = {"enc/app-1.zip": V1, "enc/app-2.zip": V2, "enc/notes.txt": NOTES, "docs/secret.bin": SECRET,
             "rel/app-1.zip": V1, "rel/app-3.zip": V3, "docs/readme.txt": b"read me", "docs/native.txt": b"native",
             "docs/plain.log": b"a line of log\n" * 50}
    dgproxy.put_first(s3, bucket, "enc/app-1.zip", V1, encrypted="aes-256-gcm-chunked-v1")
    dgproxy.put_delta(s3, bucket, "enc/app-2.zip", V2, V1, encrypted="aes-256-gcm-v1")
    dgproxy.put_passthrough(s3, bucket, "enc/notes.txt", NOTES, encrypted="aes-256-gcm-v1")
    dgproxy.put_passthrough(s3, bucket, "docs/secret.bin", SECRET, encrypted="aes-256-gcm-chunked-v1")
    dgproxy.put_first(s3, bucket, "rel/app-1.zip", V1)
    dgproxy.put_delta(s3, bucket, "rel/app-3.zip", V3, V1)
    dgproxy.put_passthrough(s3, bucket, "docs/readme.txt", b"read me")
    dgproxy.put_passthrough(s3, bucket, "docs/native.txt", b"native", native="sse-kms")  # S3 decrypts: readable
    s3.put_object(Bucket=bucket, Key="docs/plain.log", Body=files["docs/plain.log"])  # another tool's
    old = files["old/notes.txt"] = b"written by DeltaGlider 5"
    s3.put_object(Bucket=bucket, Key="old/notes.txt", Body=old, Metadata={
        "tool": "deltaglider/5.1.0", "original_name": "notes.txt", "file_sha256": dgproxy.sha256(old),
        "file_size": str(len(old)), "created_at": "2024-05-01T10:00:00", "compression": "none"})
    for version in range(2):
        path = make_release(tmp_path / f"tool-1.{version}.zip", version)
        dg.upload(str(path), f"s3://{bucket}/dg/")
        files[f"dg/{path.name}"] = path.read_bytes()
    (tmp_path / "changes.txt").write_text("what changed\n")
    dg.upload(str(tmp_path / "changes.txt"), f"s3://{bucket}/dg/")
    files["dg/changes.txt"] = b"what changed\n"
    assert client.get_object_info(f"s3://{bucket}/dg/changes.txt").kind == ObjectKind.DIRECT
    return files


ENCRYPTED = ["docs/secret.bin", "enc/app-1.zip", "enc/app-2.zip", "enc/notes.txt"]


class HeadCounter:
    """Every HEAD a client sends: through botocore, and over the fast path (see ``FastHead``)."""

    def __init__(self, client):
        self.fast = client._fetcher.fast_head
        self.botocore = 0
        self._base = self.fast.fast_requests
        client.boto3_client.meta.events.register("before-call.s3.HeadObject", self._count)

    def _count(self, **_):
        self.botocore += 1

    @property
    def sent(self) -> int:
        return self.botocore + self.fast.fast_requests - self._base

    def reset(self) -> None:
        self.botocore, self._base = 0, self.fast.fast_requests


def test_detailed_stats_count_every_encrypted_object(client, mixed_bucket, bucket, boto3_s3):
    for key in ENCRYPTED:
        assert client.get_object_info(f"s3://{bucket}/{key}").encryption, key
    heads = HeadCounter(client)
    quick = client.get_bucket_stats(bucket)
    assert heads.sent == 0 and quick.encrypted_objects is None, "quick mode reads no metadata and claims no count"
    assert quick.object_count == len(mixed_bucket)

    stats = client.get_bucket_stats(bucket, mode="detailed")
    assert stats.encrypted_objects == len(ENCRYPTED) and stats.metadata_invalid == 0
    assert stats.object_count == len(mixed_bucket) and stats.delta_objects == 6
    # original sizes: the files', not the ciphertexts' the listing gives
    assert stats.total_size == sum(map(len, mixed_bucket.values())) and not stats.estimated
    stored = sum(o["Size"] for o in boto3_s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert stats.compressed_size == stored
    assert heads.sent == len(mixed_bucket), "each object's metadata is read once"

    heads.reset()
    again = client.get_bucket_stats(bucket, mode="detailed")
    assert heads.sent == 0 and dataclasses.asdict(again) == dataclasses.asdict(stats)

    # One object rewritten: the listing differs, and only that object's metadata is read again.
    dgproxy.put_passthrough(boto3_s3, bucket, "docs/readme.txt", b"read me, again", encrypted="aes-256-gcm-v1")
    heads.reset()
    changed = client.get_bucket_stats(bucket, mode="detailed")
    assert heads.sent == 1
    assert changed.encrypted_objects == len(ENCRYPTED) + 1
    assert changed.total_size == stats.total_size - len(b"read me") + len(b"read me, again")


def test_cli_stats_count_encrypted_objects_in_detailed_mode_only(client, mixed_bucket, bucket, s3_env, capsys):
    code, out, _ = run(capsys, "stats", f"s3://{bucket}")
    assert code == 0 and "proxy-encrypted" not in out and "encryption and invalid metadata not checked" in out
    code, out, _ = run(capsys, "stats", "--json", f"s3://{bucket}")
    assert code == 0 and json.loads(out)["encrypted_objects"] is None and json.loads(out)["metadata_invalid"] is None
    code, out, _ = run(capsys, "stats", "--detailed", f"s3://{bucket}")
    assert code == 0 and f"proxy-encrypted: {len(ENCRYPTED)} (readable only through deltaglider_proxy)" in out
    assert "not checked" not in out and "metadata invalid" not in out
    code, out, _ = run(capsys, "stats", "--detailed", "--json", f"s3://{bucket}")
    data = json.loads(out)
    assert code == 0 and data["encrypted_objects"] == len(ENCRYPTED) and data["metadata_invalid"] == 0
    assert data["total_size"] == sum(map(len, mixed_bucket.values()))


def test_detailed_stats_read_while_listing_drop_a_replaced_twin(client, bucket, boto3_s3, s3_server, tmp_path,
                                                                 monkeypatch):
    # An encrypted <name> that its newer <name>.delta replaces, split across pages by keys in between.
    dgproxy.put_passthrough(boto3_s3, bucket, "rel/a.zip", V3, encrypted="aes-256-gcm-v1")
    time.sleep(1.1)  # listing dates have one-second steps: the delta is strictly newer
    dgproxy.put_first(boto3_s3, bucket, "rel/a.zip", V1)
    for i in range(5):
        boto3_s3.put_object(Bucket=bucket, Key=f"rel/a.zip-{i}", Body=b"x" * (i + 1))
    whole = client.get_bucket_stats(bucket, detailed_stats=True)
    assert whole.object_count == 6 and whole.older_copies == 1
    assert whole.encrypted_objects == 0, "the older, encrypted copy is not the object"
    assert whole.total_size == len(V1) + sum(range(1, 6)) and not whole.estimated

    # Metadata read batch by batch while the pages arrive: in the background on a first run (nothing
    # counted for the prefix before), in the listing's own thread on a bucket too big to keep in memory.
    monkeypatch.setattr(walk_module, "STATS_PAGE_SIZE", 2)
    monkeypatch.setattr(stats_module, "EAGER_BATCH", 2)
    monkeypatch.setattr(stats_module, "DEFER_OBJECTS", 2)
    monkeypatch.setattr(stats_module, "EXACT_BATCH", 2)
    for run in ("first run, read in the background", "counted before, read while listing"):
        streaming = create_client(endpoint_url=s3_server.endpoint_url, aws_access_key_id=s3_server.access_key,
                                  aws_secret_access_key=s3_server.secret_key, region_name=s3_server.region,
                                  cache_dir=tmp_path / "other-cache")
        try:
            cache = streaming._fetcher.cache
            assert cache.has_totals(streaming.endpoint_url, bucket, "") == (run.startswith("counted")), run
            stats = streaming.get_bucket_stats(bucket, detailed_stats=True)
            assert dataclasses.asdict(stats) == dataclasses.asdict(whole), run
        finally:
            streaming.close()


# -- 5. <name> beside <name>.delta ------------------------------------------------------------------------

@pytest.mark.parametrize("newer", ["delta", "plain"])
def test_twins_list_once_and_the_newer_by_created_at_is_read(client, bucket, boto3_s3, tmp_path, capsys, newer):
    dgproxy.put_first(boto3_s3, bucket, "rel/app-1.zip", V1)
    # Written in this order, so modification times say the delta is newer; dg-created-at decides.
    dgproxy.put_passthrough(boto3_s3, bucket, "rel/app-2.zip", V3, when=500 if newer == "plain" else 10)
    dgproxy.put_delta(boto3_s3, bucket, "rel/app-2.zip", V2, V1, when=100)
    want = V3 if newer == "plain" else V2
    assert dgproxy.read(boto3_s3, bucket, "rel/app-2.zip").body == want
    keys = [o.key for o in client.list_objects(Bucket=bucket, Prefix="rel/", Delimiter="/").contents]
    assert keys == ["rel/app-1.zip", "rel/app-2.zip"]
    assert [o.key for o in client.iter_objects(bucket)] == ["rel/app-1.zip", "rel/app-2.zip"]
    info = client.get_object_info(f"s3://{bucket}/rel/app-2.zip")
    assert info.older_copy_key == ("rel/app-2.zip.delta" if newer == "plain" else "rel/app-2.zip")
    client.download(f"s3://{bucket}/rel/app-2.zip", tmp_path / "app-2.zip")
    assert (tmp_path / "app-2.zip").read_bytes() == want
    assert client.get_object(Bucket=bucket, Key="rel/app-2.zip")["Body"].read() == want
    stats = client.get_bucket_stats(bucket)
    assert stats.object_count == 2 and stats.older_copies == 1
    stored = sum(o["Size"] for o in boto3_s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert stats.compressed_size == stored
    code, out, _ = run(capsys, "ls", "--recursive", f"s3://{bucket}/")
    assert code == 0 and out.count("app-2.zip") == 1


def test_twins_split_across_pages_are_listed_once(client, bucket, boto3_s3):
    dgproxy.put_first(boto3_s3, bucket, "rel/a.zip", V1)
    dgproxy.put_passthrough(boto3_s3, bucket, "rel/a.zip", V3, when=5)
    # Keys that sort between "rel/a.zip" and "rel/a.zip.delta" push the twin onto later pages.
    for i in range(5):
        boto3_s3.put_object(Bucket=bucket, Key=f"rel/a.zip-{i}", Body=b"x")
    for size in (1, 2, 3, 7):
        for ranged in (False, True):
            keys = [o.key for page in client.iter_pages(bucket, "rel/", delimiter=None, page_size=size,
                                                        ranged=ranged) for o in page.contents]
            assert keys.count("rel/a.zip") == 1 and len(keys) == 6, (size, ranged, keys)
    stats = client.get_bucket_stats(bucket, detailed_stats=True)
    assert stats.object_count == 6 and stats.older_copies == 1


# -- 6. housekeeping keys -----------------------------------------------------------------------------

def test_housekeeping_keys(client, bucket, boto3_s3, tmp_path, capsys):
    for key in (".deltaglider/stats_quick.json", ".deltaglider/config.db", ".deltaglider/tmp/x",
                "_dgp/locks/rel", "_dgp/leases/worker-1"):
        boto3_s3.put_object(Bucket=bucket, Key=key, Body=b"{}")
    dgproxy.put_passthrough(boto3_s3, bucket, "docs/a.txt", b"a")
    root = client.list_objects(Bucket=bucket, Delimiter="/")
    assert root.common_prefixes == ["_dgp/", "docs/"]
    inner = client.list_objects(Bucket=bucket, Prefix="_dgp/locks/", Delimiter="/")
    assert [o.key for o in inner.contents] == ["_dgp/locks/rel"] and inner.contents[0].housekeeping
    stats = client.get_bucket_stats(bucket)
    assert stats.object_count == 1 and stats.housekeeping_objects == 2
    upload = tmp_path / "f.txt"
    upload.write_text("x")
    with pytest.raises(DgError, match="_dgp/"):
        client.upload(upload, f"s3://{bucket}/_dgp/locks/")
    done, problems = client.download_prefix(f"s3://{bucket}/", tmp_path / "all")
    assert [d.key for d in done] == ["docs/a.txt"] and problems == []
    code, out, _ = run(capsys, "stats", f"s3://{bucket}")
    assert code == 0 and "housekeeping" in out and "objects: 1 (" in out


# -- 7. what dgtui writes, read by the proxy's rules ---------------------------------------------------------

def test_what_dgtui_writes_reads_through_the_proxy_rules(client, dg, bucket, boto3_s3, tmp_path):
    files = [make_release(tmp_path / f"tool-1.{v}.zip", v) for v in range(3)]
    notes = tmp_path / "notes.txt"
    notes.write_text("release notes")
    odd = tmp_path / "café.txt"
    odd.write_text("accents")
    summaries = [client.upload(f, f"s3://{bucket}/rel/") for f in [*files, notes, odd]]
    assert [s.stored_key.endswith(".delta") for s in summaries] == [True, True, True, False, False]
    for f in [*files, notes, odd]:
        served = dgproxy.read(boto3_s3, bucket, f"rel/{f.name}")
        data = f.read_bytes()
        assert served.body == data
        assert served.content_length == len(data)
        assert served.etag == dgproxy.md5(data)
    kinds = {f.name: dgproxy.read(boto3_s3, bucket, f"rel/{f.name}").kind for f in [*files, notes]}
    assert kinds == {"tool-1.0.zip": "delta", "tool-1.1.zip": "delta", "tool-1.2.zip": "delta",
                     "notes.txt": "passthrough"}
    ref = dgproxy.parse(boto3_s3.head_object(Bucket=bucket, Key="rel/reference.bin")["Metadata"])
    assert ref["kind"] == "reference" and ref["md5"] == dgproxy.md5(files[0].read_bytes())
    assert ref["file_size"] == files[0].stat().st_size
    # ... and DeltaGlider 6.2.0 still restores every one of them.
    for f in [*files, notes]:
        dest = tmp_path / "dg" / f.name
        dest.parent.mkdir(exist_ok=True)
        dg.download(f"s3://{bucket}/rel/{f.name}", str(dest))
        assert dest.read_bytes() == f.read_bytes()


def test_dgtui_metadata_keys_the_proxy_needs(client, bucket, boto3_s3, tmp_path):
    files = [make_release(tmp_path / f"tool-1.{v}.zip", v) for v in range(2)]
    for f in files:
        client.upload(f, f"s3://{bucket}/rel/")
    first = boto3_s3.head_object(Bucket=bucket, Key="rel/tool-1.0.zip.delta")["Metadata"]
    second = boto3_s3.head_object(Bucket=bucket, Key="rel/tool-1.1.zip.delta")["Metadata"]
    assert first["dg-note"].startswith("zero-diff") and second["dg-note"] == "delta"
    for meta, f in ((first, files[0]), (second, files[1])):
        assert meta["dg-ref-path"] == "reference.bin" and meta["dg-ref-key"] == "rel/reference.bin"
        assert meta["dg-md5"] == dgproxy.md5(f.read_bytes()) and meta["dg-file-size"] == str(f.stat().st_size)
    client.put_object(Bucket=bucket, Key="rel/x.txt", Body=b"x")
    direct = boto3_s3.head_object(Bucket=bucket, Key="rel/x.txt")["Metadata"]
    assert direct["dg-note"] == "passthrough" and direct["dg-compression"] == "none"
    assert direct["dg-md5"] == dgproxy.md5(b"x")
    assert json.dumps(direct)  # plain strings only


@pytest.mark.parametrize("empty", [True, False])
def test_replica_metadata_with_empty_or_dropped_checksums(empty):
    md = {"dg-tool": dgproxy.TOOL, "dg-original-name": "disk.img", "dg-file-size": "10", "dg-note": "passthrough",
          "dg-created-at": dgproxy.created_at()}
    if empty:
        md |= {"dg-file-sha256": "", "dg-md5": ""}
    parsed = parse_metadata("big/disk.img", md)
    assert parsed.kind == ObjectKind.DIRECT and parsed.sha256_missing and parsed.file_size == 10
    assert not parsed.problems
    assert parse_metadata("big/other.img", {"owner": "x"}).kind == ObjectKind.PLAIN


def test_dgtui_adds_versions_to_a_folder_the_proxy_started(client, bucket, boto3_s3, tmp_path):
    # The proxy makes deltas of .sql files too, which DeltaGlider 6.2.0's policy stores whole.
    dgproxy.put_first(boto3_s3, bucket, "db/dump-1.sql", V1)
    dgproxy.put_first(boto3_s3, bucket, "rel/app-1.zip", V1)
    new = tmp_path / "app-2.zip"
    new.write_bytes(V2)
    summary = client.upload(new, f"s3://{bucket}/rel/")
    assert summary.is_delta and summary.reference_key == "rel/reference.bin"
    assert dgproxy.read(boto3_s3, bucket, "rel/app-2.zip").body == V2
    assert [o.key for o in client.iter_objects(bucket)] == ["db/dump-1.sql", "rel/app-1.zip", "rel/app-2.zip"]
    for key, data in (("db/dump-1.sql", V1), ("rel/app-1.zip", V1), ("rel/app-2.zip", V2)):
        assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == data
