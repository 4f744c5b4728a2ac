"""SDK behaviour over HTTP against the local S3 server."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from dgtui import (BucketNotEmptyError, DestinationExistsError, InvalidKeyError, NotFoundError, ObjectKind,
                   create_client)

from .conftest import make_release, random_bytes, read_all


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class CallCounter:
    """Counts S3 operations a client sends, by registering on its botocore events."""

    def __init__(self, client):
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()
        client.boto3_client.meta.events.register("before-call.s3.*", self._count)

    def _count(self, model, **_):
        with self._lock:
            self.counts[model.name] = self.counts.get(model.name, 0) + 1

    def __getitem__(self, name: str) -> int:
        return self.counts.get(name, 0)

    def reset(self) -> None:
        self.counts.clear()


def test_first_upload_writes_reference_and_zero_diff_delta(client, bucket, boto3_s3, tmp_path):
    summary = client.upload(make_release(tmp_path / "app-1.0.zip", 0), f"s3://{bucket}/rel/")
    # The whole file went up as the reference (plus a zero-diff delta): reported as stored, as DeltaGlider does.
    assert summary.operation == "create_reference" and not summary.is_delta and summary.verified
    assert summary.key == "rel/app-1.0.zip" and summary.stored_key == "rel/app-1.0.zip.delta"
    size = (tmp_path / "app-1.0.zip").stat().st_size
    assert summary.stored_size > size and summary.savings_percent <= 0
    keys = {o["Key"] for o in boto3_s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert keys == {"rel/reference.bin", "rel/app-1.0.zip.delta"}
    ref_meta = boto3_s3.head_object(Bucket=bucket, Key="rel/reference.bin")["Metadata"]
    delta_meta = boto3_s3.head_object(Bucket=bucket, Key="rel/app-1.0.zip.delta")["Metadata"]
    assert ref_meta["dg-note"] == "reference"
    assert delta_meta["dg-ref-key"] == "rel/reference.bin"
    assert delta_meta["dg-ref-sha256"] == ref_meta["dg-file-sha256"] == summary.file_sha256
    assert delta_meta["dg-note"].startswith("zero-diff")


def test_later_versions_are_small_verified_deltas_and_restore_exactly(client, bucket, tmp_path):
    files = [make_release(tmp_path / f"app-1.{v}.zip", v) for v in range(3)]
    summaries = [client.upload(f, f"s3://{bucket}/rel/") for f in files]
    assert [s.operation for s in summaries] == ["create_reference", "create_delta", "create_delta"]
    assert all(s.verified for s in summaries)
    assert summaries[2].stored_size < summaries[2].original_size * 0.05
    assert summaries[2].savings_percent > 95
    for f in files:
        result = client.download(f"s3://{bucket}/rel/{f.name}", tmp_path / "out" / f.name)
        assert result.verified and result.kind == ObjectKind.DELTA
        assert (tmp_path / "out" / f.name).read_bytes() == f.read_bytes()


def test_upload_url_forms_and_direct_files(client, bucket, tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("hello")
    assert client.upload(f, f"s3://{bucket}/docs/").key == "docs/notes.txt"
    s = client.upload(f, f"s3://{bucket}/docs/renamed.txt")
    assert s.key == "docs/renamed.txt" and not s.is_delta and s.operation == "upload_direct"
    assert client.get_object_info(f"s3://{bucket}/docs/renamed.txt").kind == ObjectKind.DIRECT


def test_delta_too_large_is_stored_direct(client, bucket, boto3_s3, tmp_path):
    client.upload(make_release(tmp_path / "a.zip", 0, seed=1), f"s3://{bucket}/r/")
    unrelated = tmp_path / "b.zip"
    unrelated.write_bytes(random_bytes(300_000, seed=99))
    s = client.upload(unrelated, f"s3://{bucket}/r/", max_ratio=0.5)
    assert not s.is_delta and "limit" in s.fallback_reason
    head = boto3_s3.head_object(Bucket=bucket, Key="r/b.zip")
    assert head["Metadata"]["dg-compression"] == "none"
    out = client.download(f"s3://{bucket}/r/b.zip", tmp_path / "o.zip")
    assert out.verified and (tmp_path / "o.zip").read_bytes() == unrelated.read_bytes()


def test_gzip_input_is_never_recompressed(client, bucket, tmp_path):
    # Without -D xdelta3 would diff the decompressed stream and recompress on
    # decode with different bytes; ours must restore the exact file.
    text = b"".join(b"INSERT INTO t VALUES (%d);\n" % i for i in range(40_000))
    a, b = tmp_path / "db-1.sql.gz", tmp_path / "db-2.sql.gz"
    a.write_bytes(gzip.compress(text, mtime=1))
    b.write_bytes(gzip.compress(text.replace(b"(7)", b"(77)"), mtime=2))
    first = client.upload(a, f"s3://{bucket}/db/")
    # DeltaGlider's decoder would gunzip a gzip reference before applying any
    # delta, so a gzip file never becomes a deltaspace's reference.
    assert not first.is_delta and "gzip" in first.fallback_reason
    client.upload(b, f"s3://{bucket}/db/", max_ratio=1.0)
    for f in (a, b):
        out = tmp_path / "o" / f.name
        assert client.download(f"s3://{bucket}/db/{f.name}", out).verified
        assert out.read_bytes() == f.read_bytes()


def test_gzip_file_against_a_plain_reference_is_an_exact_delta(client, bucket, tmp_path):
    client.upload(make_release(tmp_path / "a.zip", 0), f"s3://{bucket}/mix/")
    gz = tmp_path / "a-debug.tar.gz"
    gz.write_bytes(gzip.compress(make_release(tmp_path / "b.zip", 1).read_bytes(), mtime=3))
    s = client.upload(gz, f"s3://{bucket}/mix/", max_ratio=1.0)
    assert s.is_delta and s.verified
    out = tmp_path / "o" / gz.name
    assert client.download(f"s3://{bucket}/mix/{gz.name}", out).verified
    assert out.read_bytes() == gz.read_bytes()


def test_restore_refuses_existing_file_and_leaves_no_temp(client, bucket, tmp_path):
    f = make_release(tmp_path / "x.zip", 1)
    client.upload(f, f"s3://{bucket}/r/")
    dest_dir = tmp_path / "dest"
    dest_dir.mkdir()
    (dest_dir / "x.zip").write_bytes(b"precious")
    with pytest.raises(DestinationExistsError):
        client.download(f"s3://{bucket}/r/x.zip", dest_dir / "x.zip", overwrite=False)
    assert (dest_dir / "x.zip").read_bytes() == b"precious"
    assert sorted(p.name for p in dest_dir.iterdir()) == ["x.zip"]
    client.download(f"s3://{bucket}/r/x.zip", dest_dir / "x.zip")  # DeltaGlider's default: replace
    assert (dest_dir / "x.zip").read_bytes() == f.read_bytes()
    # a folder as destination keeps the object's name
    client.download(f"s3://{bucket}/r/x.zip", str(tmp_path / "folder") + os.sep, overwrite=False)
    assert (tmp_path / "folder" / "x.zip").exists()
    assert sorted(p.name for p in dest_dir.iterdir()) == ["x.zip"]


def test_missing_object_and_verify(client, bucket, tmp_path):
    with pytest.raises(NotFoundError) as info:
        client.download(f"s3://{bucket}/nope.zip", tmp_path / "o")
    assert "nope.zip" in str(info.value)
    assert not (tmp_path / "o").exists()
    client.upload(make_release(tmp_path / "v.zip", 2), f"s3://{bucket}/r/")
    assert client.verify(f"s3://{bucket}/r/v.zip") is True


def test_second_restore_downloads_only_the_delta(client, bucket, tmp_path, s3_server):
    for v in range(3):
        client.upload(make_release(tmp_path / f"a{v}.zip", v), f"s3://{bucket}/r/")
    # a new client with an empty cache, as on another machine
    fresh = create_client(endpoint_url=s3_server.endpoint_url, aws_access_key_id=s3_server.access_key,
                          aws_secret_access_key=s3_server.secret_key, region_name=s3_server.region,
                          cache_dir=tmp_path / "fresh-cache")
    calls = CallCounter(fresh)
    first = fresh.download(f"s3://{bucket}/r/a1.zip", tmp_path / "o1")
    assert calls["GetObject"] == 2 and not first.reference_cache_hit  # reference + delta
    calls.reset()
    second = fresh.download(f"s3://{bucket}/r/a2.zip", tmp_path / "o2")
    assert calls["GetObject"] == 1 and second.reference_cache_hit
    # the cache is shared by processes through the disk: a third client reuses it
    again = create_client(endpoint_url=s3_server.endpoint_url, aws_access_key_id=s3_server.access_key,
                          aws_secret_access_key=s3_server.secret_key, region_name=s3_server.region,
                          cache_dir=tmp_path / "fresh-cache")
    calls3 = CallCounter(again)
    assert again.download(f"s3://{bucket}/r/a0.zip", tmp_path / "o0").reference_cache_hit
    assert calls3["GetObject"] == 1


def test_damaged_cached_reference_is_not_used(client, bucket, tmp_path):
    client.upload(make_release(tmp_path / "a.zip", 0), f"s3://{bucket}/r/")
    s = client.upload(make_release(tmp_path / "b.zip", 1), f"s3://{bucket}/r/")
    cached = client.reference_cache.path_for(client.get_object_info(f"s3://{bucket}/r/b.zip").ref_sha256)
    cached.write_bytes(b"damaged")
    result = client.download(f"s3://{bucket}/r/b.zip", tmp_path / "o.zip")
    assert result.verified and not result.reference_cache_hit
    assert (tmp_path / "o.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    assert s.is_delta


def test_listing_is_logical_and_answers_boto3_keys(client, bucket, tmp_path, boto3_s3):
    client.upload(make_release(tmp_path / "a.zip", 0), f"s3://{bucket}/r/")
    client.upload(make_release(tmp_path / "b.zip", 1), f"s3://{bucket}/r/sub/")
    client.put_object(Bucket=bucket, Key="r/readme.txt", Body=b"hi")
    boto3_s3.put_object(Bucket=bucket, Key=".deltaglider/stats.json", Body=b"{}")
    calls = CallCounter(client)
    page = client.list_objects(Bucket=bucket, Prefix="r/", Delimiter="/")
    assert calls["ListObjectsV2"] == 1 and calls["HeadObject"] == 0
    assert [o.key for o in page.contents] == ["r/a.zip", "r/readme.txt"]
    assert page.common_prefixes == ["r/sub/"]
    a = page.contents[0]
    assert a.is_delta and a.kind == ObjectKind.DELTA and a.original_size is None and a.stored_key == "r/a.zip.delta"
    assert page["Contents"][0]["Key"] == "r/a.zip" and page["CommonPrefixes"] == [{"Prefix": "r/sub/"}]
    assert page["IsTruncated"] is False and page.get("NextContinuationToken") is None
    root = client.list_objects(Bucket=bucket, Delimiter="/")
    assert root.common_prefixes == ["r/"]  # .deltaglider/ is hidden


def test_fetch_metadata_heads_deltas_only(client, bucket, tmp_path):
    client.upload(make_release(tmp_path / "a.zip", 0), f"s3://{bucket}/r/")
    client.upload(make_release(tmp_path / "b.zip", 1), f"s3://{bucket}/r/")
    client.put_object(Bucket=bucket, Key="r/readme.txt", Body=b"hi")
    calls = CallCounter(client)
    page = client.list_objects(Bucket=bucket, Prefix="r/", FetchMetadata=True)
    assert calls["HeadObject"] == 2
    by_key = {o.key: o for o in page.contents}
    assert by_key["r/b.zip"].original_size == os.path.getsize(tmp_path / "b.zip")
    assert by_key["r/b.zip"].compression_ratio > 0.9  # the fraction saved
    assert by_key["r/readme.txt"].kind == ObjectKind.UNKNOWN
    # a second fetch is answered by the metadata cache, validated by ETag
    calls.reset()
    client.list_objects(Bucket=bucket, Prefix="r/", FetchMetadata=True)
    assert calls["HeadObject"] == 0


def test_pagination_with_hidden_keys_at_page_borders(client, bucket, boto3_s3):
    # Stored keys sort so that references and .delta objects fall on page borders.
    keys = []
    for i in range(7):
        keys.append(f"p/d{i}/reference.bin")
        keys.append(f"p/d{i}/x.zip.delta")
        keys.append(f"p/f{i}.txt")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: boto3_s3.put_object(Bucket=bucket, Key=k, Body=b"x"), keys))
    sent = []
    client.boto3_client.meta.events.register(
        "before-parameter-build.s3.ListObjectsV2", lambda params, **_: sent.append(dict(params)))
    seen_prefixes, seen_objects, token, pages = [], [], None, 0
    while True:
        page = client.list_objects(Bucket=bucket, Prefix="p/", Delimiter="/", MaxKeys=2, ContinuationToken=token)
        pages += 1
        seen_prefixes += page.common_prefixes
        seen_objects += [o.key for o in page.contents]
        if not page.is_truncated:
            break
        token = page.next_continuation_token
        assert token
    # S3's own continuation token goes back as ContinuationToken, never as StartAfter
    assert all("StartAfter" not in p for p in sent)
    assert [p.get("ContinuationToken") for p in sent[1:]] and all(p.get("ContinuationToken") for p in sent[1:])
    assert pages > 3
    assert seen_prefixes == [f"p/d{i}/" for i in range(7)]
    assert seen_objects == [f"p/f{i}.txt" for i in range(7)]
    flat, token = [], None
    while True:
        page = client.list_objects(Bucket=bucket, Prefix="p/", MaxKeys=3, ContinuationToken=token)
        flat += [o.key for o in page.contents]
        if not page.is_truncated:
            break
        token = page.next_continuation_token
    assert sorted(flat) == sorted([f"p/d{i}/x.zip" for i in range(7)] + [f"p/f{i}.txt" for i in range(7)])


def test_stats_quick_and_detailed(client, bucket, tmp_path):
    files = [make_release(tmp_path / f"a{v}.zip", v) for v in range(3)]
    for f in files:
        client.upload(f, f"s3://{bucket}/r/")
    client.put_object(Bucket=bucket, Key="r/readme.txt", Body=b"hello")
    quick = client.get_bucket_stats(bucket)
    assert quick.object_count == 4 and quick.delta_objects == 3 and quick.direct_objects == 1
    assert quick.estimated and not quick.detailed
    assert quick.encrypted_objects is None, "quick mode reads no metadata: encryption is not checked"
    assert quick.metadata_invalid is None, "nor whether metadata is valid"
    seen = []
    detailed = client.get_bucket_stats(bucket, detailed_stats=True, progress=lambda d, t: seen.append((d, t)))
    logical = sum(f.stat().st_size for f in files) + 5
    assert detailed.total_size == logical and not detailed.estimated
    assert detailed.compressed_size == quick.compressed_size  # stored bytes, the reference included
    assert detailed.space_saved == logical - detailed.compressed_size
    assert 0.5 < detailed.average_compression_ratio < 1
    assert seen and seen[-1] == (4, 4), "every object's metadata is read, the direct one's too"
    assert detailed.encrypted_objects == 0 and detailed.metadata_invalid == 0
    assert client.get_bucket_stats(bucket, "detailed", prefix="r/").total_size == logical
    assert client.get_bucket_stats(bucket, prefix="none/").object_count == 0


def test_boto3_style_object_calls(client, bucket, tmp_path):
    client.put_object(Bucket=bucket, Key="r/a.zip", Body=make_release(tmp_path / "a.zip", 0).read_bytes())
    body_b = make_release(tmp_path / "b.zip", 1).read_bytes()
    client.put_object(Bucket=bucket, Key="r/b.zip", Body=io.BytesIO(body_b), Metadata={"team": "ops"})
    client.put_object(Bucket=bucket, Key="r/t.txt", Body="text")
    got = client.get_object(Bucket=bucket, Key="r/b.zip")
    assert read_all(got["Body"]) == body_b and got["ContentLength"] == len(body_b)
    head = client.head_object(Bucket=bucket, Key="r/b.zip")
    assert head["ContentLength"] == len(body_b) and head["Metadata"]["team"] == "ops"
    client.copy_object(Bucket=bucket, Key="copy/b.zip", CopySource={"Bucket": bucket, "Key": "r/b.zip"})
    assert read_all(client.get_object(Bucket=bucket, Key="copy/b.zip")["Body"]) == body_b
    client.copy_object(Bucket=bucket, Key="copy/t.txt", CopySource=f"{bucket}/r/t.txt")
    assert read_all(client.get_object(Bucket=bucket, Key="copy/t.txt")["Body"]) == b"text"
    with pytest.raises(NotFoundError):
        client.head_object(Bucket=bucket, Key="r/missing.zip")


@pytest.mark.parametrize("key", ["r/reference.bin", "r/x.zip.delta", ".deltaglider/tmp/x"])
def test_reserved_keys_are_refused(client, bucket, key, boto3_s3):
    with pytest.raises(InvalidKeyError) as info:
        client.put_object(Bucket=bucket, Key=key, Body=b"x")
    assert "refusing" in str(info.value)
    assert boto3_s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_delete_keeps_reference_until_last_delta(client, bucket, boto3_s3, tmp_path):
    for v in range(3):
        client.upload(make_release(tmp_path / f"a{v}.zip", v), f"s3://{bucket}/r/")
    stored = lambda: sorted(o["Key"] for o in boto3_s3.list_objects_v2(Bucket=bucket).get("Contents", []))
    client.delete_object(Bucket=bucket, Key="r/a0.zip")
    assert "r/reference.bin" in stored()
    # the remaining deltas still restore after the first file (the reference's source) went
    assert client.verify(f"s3://{bucket}/r/a1.zip")
    result = client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "r/a1.zip"}, {"Key": "r/a2.zip"}]})
    assert {d["Key"] for d in result["Deleted"]} == {"r/a1.zip", "r/a2.zip"}
    assert result["RemovedReferences"] == ["r/reference.bin"]
    assert stored() == []


def test_buckets(client, s3_server):
    name = "dgtui-bucket-calls"
    client.create_bucket(Bucket=name)
    client.create_bucket(Bucket=name)  # idempotent
    assert name in [b["Name"] for b in client.list_buckets()["Buckets"]]
    client.put_object(Bucket=name, Key="x.txt", Body=b"1")
    with pytest.raises(BucketNotEmptyError) as info:
        client.delete_bucket(Bucket=name)
    assert name in str(info.value)
    client.delete_object(Bucket=name, Key="x.txt")
    client.delete_bucket(Bucket=name)
    client.delete_bucket(Bucket=name)  # idempotent
    assert name not in [b["Name"] for b in client.list_buckets()["Buckets"]]


def test_concurrent_uploaders_into_empty_deltaspace_share_one_reference(s3_server, bucket, tmp_path, boto3_s3):
    files = [make_release(tmp_path / f"c{v}.zip", v) for v in range(6)]
    clients = [create_client(endpoint_url=s3_server.endpoint_url, aws_access_key_id=s3_server.access_key,
                             aws_secret_access_key=s3_server.secret_key, region_name=s3_server.region,
                             cache_dir=tmp_path / f"cache{i}") for i in range(6)]
    barrier = threading.Barrier(6)

    def go(i):
        barrier.wait()
        return clients[i].upload(files[i], f"s3://{bucket}/race/")

    with ThreadPoolExecutor(6) as pool:
        summaries = list(pool.map(go, range(6)))
    assert all(s.stored_key.endswith(".delta") and s.verified for s in summaries)
    assert [s.operation for s in summaries].count("create_reference") == 1
    keys = [o["Key"] for o in boto3_s3.list_objects_v2(Bucket=bucket, Prefix="race/")["Contents"]]
    assert keys.count("race/reference.bin") == 1
    for f in files:
        out = tmp_path / "out" / f.name
        assert clients[0].download(f"s3://{bucket}/race/{f.name}", out).verified
        assert out.read_bytes() == f.read_bytes()


def test_prefix_restore_skips_unsafe_keys(client, bucket, boto3_s3, tmp_path):
    good = {"p/a.txt": b"a", "p/sub/b.txt": b"b", "p/[red]x.txt": b"c"}
    # Keys this server stores as given; '..' keys are covered against moto's server.
    bad = ["p/ctl\x1b[31m.txt", "p/new\nline.txt"]
    for k, v in good.items():
        client.put_object(Bucket=bucket, Key=k, Body=v)
    for k in bad:
        boto3_s3.put_object(Bucket=bucket, Key=k, Body=b"evil")
    dest = tmp_path / "restore"
    results, problems = client.download_prefix(f"s3://{bucket}/p/", dest)
    assert {r.key for r in results} == set(good)
    assert {k for k, _ in problems} == set(bad)
    written = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")
               if p.is_file() and "dgtui-cache" not in p.parts}
    assert written == {"restore/a.txt", "restore/sub/b.txt", "restore/[red]x.txt"}


def test_prefix_restore_does_not_follow_symlinks_out(client, bucket, tmp_path):
    client.put_object(Bucket=bucket, Key="p/link/x.txt", Body=b"x")
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "link").symlink_to(outside)
    results, problems = client.download_prefix(f"s3://{bucket}/p/", dest)
    assert results == [] and problems and "outside" in problems[0][1]
    assert list(outside.iterdir()) == []


def test_large_file_is_streamed_multipart(client, bucket, tmp_path, boto3_s3):
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        for i in range(5):
            f.write(random_bytes(16 * 1024 * 1024, seed=i))
    calls = CallCounter(client)
    client.upload(big, f"s3://{bucket}/big/")
    assert calls["CreateMultipartUpload"] == 1 and calls["UploadPart"] >= 5
    out = tmp_path / "big.out"
    assert client.download(f"s3://{bucket}/big/big.bin", out).verified
    assert sha(out.read_bytes()) == sha(big.read_bytes())


def test_deltas_carry_no_local_paths(client, bucket, boto3_s3, tmp_path):
    """xdelta3's application header would store the local file and cache paths in every delta."""
    for v in range(2):
        client.upload(make_release(tmp_path / f"secret-name-{v}.zip", v), f"s3://{bucket}/rel/")
    body = boto3_s3.get_object(Bucket=bucket, Key="rel/secret-name-1.zip.delta")["Body"].read()
    assert body.startswith(b"\xd6\xc3\xc4")  # VCDIFF
    assert b"secret-name" not in body and str(tmp_path).encode() not in body and b"dgtui-cache" not in body
    assert body[4] & 0x04 == 0  # no application header (VCD_APPHEADER)


def test_delta_and_reference_come_down_together_and_report_one_stage_at_a_time(client, bucket, tmp_path,
                                                                                 s3_server):
    for v in range(2):
        client.upload(make_release(tmp_path / f"a{v}.zip", v), f"s3://{bucket}/r/")
    fresh = create_client(endpoint_url=s3_server.endpoint_url, aws_access_key_id=s3_server.access_key,
                          aws_secret_access_key=s3_server.secret_key, region_name=s3_server.region,
                          cache_dir=tmp_path / "fresh-cache")
    stages: list[str] = []
    out = tmp_path / "out"
    result = fresh.download(f"s3://{bucket}/r/a1.zip", out / "a1.zip",
                            progress=lambda done, total, stage: stages.append(stage))
    assert result.verified and (out / "a1.zip").read_bytes() == (tmp_path / "a1.zip").read_bytes()
    # the delta was fetched while the reference came down, but its progress shows after the reference's
    runs = [stage for i, stage in enumerate(stages) if i == 0 or stages[i - 1] != stage]
    assert runs == ["reference", "downloading", "rebuilding"], runs
    fresh.close()


def test_a_missing_reference_stops_the_delta_download_and_leaves_nothing(client, bucket, tmp_path, boto3_s3,
                                                                         s3_server):
    for v in range(2):
        client.upload(make_release(tmp_path / f"a{v}.zip", v), f"s3://{bucket}/gone/")
    boto3_s3.delete_object(Bucket=bucket, Key="gone/reference.bin")
    out = tmp_path / "restore-here"
    out.mkdir()
    other = create_client(endpoint_url=s3_server.endpoint_url, aws_access_key_id=s3_server.access_key,
                          aws_secret_access_key=s3_server.secret_key, region_name=s3_server.region,
                          cache_dir=tmp_path / "empty-cache")  # no cached copy to fall back on
    with pytest.raises(NotFoundError) as missing:
        other.download(f"s3://{bucket}/gone/a1.zip", out / "a1.zip")
    assert "gone/reference.bin is missing" in str(missing.value)
    assert list(out.iterdir()) == [], "no partial delta or output left beside the target"
    other.close()
