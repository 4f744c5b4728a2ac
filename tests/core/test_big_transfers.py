"""Big files at disk speed, every byte still checked: a cold restore downloads its reference in ranged parts
hashed as they arrive, a first version is read once (hashed as it is copied into the cache, uploaded from that
copy), or, when it goes up in parts, copied into the cache as its parts go up and completed only when what went
up hashes to what its metadata says, and a version upload hashes its cached reference beside the encoder. Real
SeaweedFS throughout; the part size is made small so that a few MiB cross many parts."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dgtui import CancelledError, IntegrityError, SourceChangedError, create_client
from dgtui.core import s3 as s3_module

from .conftest import random_bytes

DG_BIN = Path(sys.executable).with_name("deltaglider")
PART = 64 * 1024


@pytest.fixture
def small_parts(monkeypatch):
    monkeypatch.setattr(s3_module, "PARALLEL_GET_PART", PART)
    monkeypatch.setattr(s3_module, "PARALLEL_GET_MIN", 4 * PART)


def new_client(s3_server, cache: Path):
    return create_client(s3_server.endpoint_url, "WARNING", s3_server.access_key, s3_server.secret_key,
                         region_name=s3_server.region, cache_dir=cache)


def versions(tmp_path: Path, size: int = 3 * 1024 * 1024 + 12_345) -> tuple[Path, Path]:
    """Two versions of an archive (not a whole number of parts) with a few edits between them."""
    base = bytearray(random_bytes(size, seed=24))
    first = tmp_path / "v1.tar"
    first.write_bytes(bytes(base))
    for at in (5, 700_000, size - 20):
        base[at:at + 8] = b"EDITED!!"
    second = tmp_path / "v2.tar"
    second.write_bytes(bytes(base))
    return first, second


def stored_versions(s3_server, bucket: str, tmp_path: Path) -> tuple[Path, Path]:
    """``versions``, both uploaded to ``s3://bucket/r/`` by a client with a cache of its own (the first becomes
    the reference, the second a delta against it)."""
    v1, v2 = versions(tmp_path)
    writer = new_client(s3_server, tmp_path / "writer-cache")
    writer.upload(v1, f"s3://{bucket}/r/")
    writer.upload(v2, f"s3://{bucket}/r/")
    return v1, v2


def stored_keys(boto3_s3, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in boto3_s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def ranges_asked(client) -> list[str]:
    """The Range of every GetObject the client sends from now on (botocore's own event, on the real client)."""
    seen: list[str] = []
    client._s3.client.meta.events.register(
        "before-call.s3.GetObject", lambda params, **_: seen.append(params.get("headers", {}).get("Range", "")))
    return seen


def cache_entries(cache: Path) -> list[str]:
    folder = cache / "references"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".dgtui-"))


class ReadCount:
    """Counts the bytes this process reads from one file (``open`` wrapped; the real file is read)."""

    def __init__(self, path: Path, monkeypatch):
        import builtins

        self.bytes = 0
        real_open = builtins.open
        counter = self

        class Counted:
            def __init__(self, f):
                self._f = f

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self._f.close()

            def read(self, *args):
                data = self._f.read(*args)
                counter.bytes += len(data)
                return data

            def readinto(self, buf):
                n = self._f.readinto(buf)
                counter.bytes += n or 0
                return n

            def __getattr__(self, name):
                return getattr(self._f, name)

        def counting_open(file, mode="r", *args, **kwargs):
            f = real_open(file, mode, *args, **kwargs)
            return Counted(f) if str(file) == str(path) and "r" in mode else f

        monkeypatch.setattr(builtins, "open", counting_open)


def deltaglider_restores(s3_server, url: str, out: Path) -> bytes:
    env = {**os.environ, **s3_server.env()}
    proc = subprocess.run([str(DG_BIN), "cp", url, str(out), "--endpoint-url", s3_server.endpoint_url],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-500:]
    return out.read_bytes()


def test_a_cold_restore_fetches_the_reference_in_ranged_parts_and_caches_it(s3_server, bucket, tmp_path,
                                                                           small_parts):
    v1, v2 = stored_versions(s3_server, bucket, tmp_path)
    cold = new_client(s3_server, tmp_path / "cold-cache")
    asked = ranges_asked(cold)
    out = tmp_path / "out" / "v2.tar"
    result = cold.download(f"s3://{bucket}/r/v2.tar", out)
    assert out.read_bytes() == v2.read_bytes() and result.verified and not result.reference_cache_hit
    parts = [r for r in asked if r]
    assert len(parts) == -(-v1.stat().st_size // PART)  # every part of the reference once, none twice
    assert len(set(parts)) == len(parts)
    ref_sha = hashlib.sha256(v1.read_bytes()).hexdigest()
    assert cache_entries(tmp_path / "cold-cache") == [ref_sha]
    assert (tmp_path / "cold-cache" / "references" / ref_sha).read_bytes() == v1.read_bytes()


def test_a_reference_that_does_not_match_during_a_cold_restore_is_refused_and_not_cached(s3_server, bucket,
                                                                                        boto3_s3, tmp_path,
                                                                                        small_parts, caplog):
    caplog.set_level(logging.DEBUG, logger="dgtui.engine")
    v1, v2 = stored_versions(s3_server, bucket, tmp_path)
    # Other bytes of the same size under the reference's name, its metadata kept.
    head = boto3_s3.head_object(Bucket=bucket, Key="r/reference.bin")
    boto3_s3.put_object(Bucket=bucket, Key="r/reference.bin", Body=random_bytes(v1.stat().st_size, seed=99),
                        Metadata=head["Metadata"])
    cold = new_client(s3_server, tmp_path / "cold-cache")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(IntegrityError, match="the delta was made against"):
        cold.download(f"s3://{bucket}/r/v2.tar", out_dir / "v2.tar")
    assert not (out_dir / "v2.tar").exists() and leftovers(out_dir) == []
    assert cache_entries(tmp_path / "cold-cache") == []  # no entry, and no .incoming- file left either
    assert "rebuilt while its reference downloaded" not in caplog.text  # what the wrong bytes rebuilt never counts


def test_a_truncated_delta_is_refused_and_leaves_no_file(s3_server, bucket, boto3_s3, tmp_path, small_parts):
    v1, v2 = stored_versions(s3_server, bucket, tmp_path)
    stored = boto3_s3.get_object(Bucket=bucket, Key="r/v2.tar.delta")
    body = stored["Body"].read()
    boto3_s3.put_object(Bucket=bucket, Key="r/v2.tar.delta", Body=body[: len(body) // 2],
                        Metadata=stored["Metadata"])
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    for cache in ("writer-cache", "cold-cache"):  # the reference cached, and fetched in parts
        reader = new_client(s3_server, tmp_path / cache)
        with pytest.raises(IntegrityError):
            reader.download(f"s3://{bucket}/r/v2.tar", out_dir / "v2.tar")
        assert not (out_dir / "v2.tar").exists() and leftovers(out_dir) == []


def test_a_first_version_is_read_once_and_restores_with_deltaglider(client, s3_server, bucket, boto3_s3, tmp_path,
                                                                     monkeypatch):
    v1, _ = versions(tmp_path)
    read = ReadCount(v1, monkeypatch)
    summary = client.upload(v1, f"s3://{bucket}/r/")
    monkeypatch.undo()
    assert summary.operation == "create_reference"
    assert summary.file_sha256 == hashlib.sha256(v1.read_bytes()).hexdigest()
    # hashed as it was copied into the cache; uploaded and encoded from that copy (and 6 bytes read for
    # the compression check)
    assert v1.stat().st_size <= read.bytes <= v1.stat().st_size + 64
    meta = boto3_s3.head_object(Bucket=bucket, Key="r/reference.bin")["Metadata"]
    assert hashlib.md5(v1.read_bytes()).hexdigest() in meta.values()
    assert deltaglider_restores(s3_server, f"s3://{bucket}/r/v1.tar", tmp_path / "dg-v1.tar") == v1.read_bytes()


def test_a_first_version_changing_while_it_is_read_is_refused_before_anything_is_written(client, bucket, boto3_s3,
                                                                                        tmp_path):
    v1, _ = versions(tmp_path)
    grown: list[bool] = []

    def grow(done: int, total: int, stage: str) -> None:
        if stage == "hashing" and done > 0 and not grown:
            grown.append(True)
            with open(v1, "ab") as f:
                f.write(b"appended while it is read")

    with pytest.raises(SourceChangedError, match="changed while it was read; nothing was written"):
        client.upload(v1, f"s3://{bucket}/r/", progress=grow)
    assert grown and stored_keys(boto3_s3, bucket) == []
    assert cache_entries(tmp_path / "dgtui-cache") == []


def test_a_damaged_cached_reference_found_beside_the_encoder_is_fetched_again(s3_server, bucket, tmp_path):
    v1, v2 = versions(tmp_path)
    cache = tmp_path / "cache"
    new_client(s3_server, cache).upload(v1, f"s3://{bucket}/r/")
    entry = cache / "references" / hashlib.sha256(v1.read_bytes()).hexdigest()
    damaged = bytearray(entry.read_bytes())
    damaged[1_000_000] ^= 0xFF
    entry.write_bytes(bytes(damaged))
    summary = new_client(s3_server, cache).upload(v2, f"s3://{bucket}/r/")  # a new process's view of the cache
    assert summary.is_delta
    assert entry.read_bytes() == v1.read_bytes()  # dropped and fetched again
    assert deltaglider_restores(s3_server, f"s3://{bucket}/r/v2.tar", tmp_path / "dg-v2.tar") == v2.read_bytes()


def test_a_part_cut_short_goes_on_from_where_it_stopped_and_cutting_every_connection_leaves_nothing(
        s3_server, bucket, tmp_path, small_parts):
    from dgtui import ConnectionFailedError
    from dgtui.testing import TcpProxy

    v1, v2 = stored_versions(s3_server, bucket, tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with TcpProxy.for_endpoint(s3_server.endpoint_url) as proxy:
        cold = create_client(proxy.endpoint_url, "WARNING", s3_server.access_key, s3_server.secret_key,
                             region_name=s3_server.region, cache_dir=tmp_path / "cold-cache")
        asked = ranges_asked(cold)
        # In the middle of a part, on one connection: half a part of slack for the answers (headers, HEADs, the
        # delta) that went on that connection before, so the cut lands in a body, not between two answers.
        proxy.cut_after_bytes(3 * PART + PART // 2, once=True)
        result = cold.download(f"s3://{bucket}/r/v2.tar", out_dir / "v2.tar")
        assert result.verified and (out_dir / "v2.tar").read_bytes() == v2.read_bytes()
        starts = [int(r.split("=")[1].split("-")[0]) for r in asked if r]
        assert any(start % PART for start in starts)  # a part went on from the byte it had reached
        # Cut on every connection, sooner than any part ends: refused with a clear error, nothing left.
        again = create_client(proxy.endpoint_url, "WARNING", s3_server.access_key, s3_server.secret_key,
                              region_name=s3_server.region, cache_dir=tmp_path / "cold-cache-2")
        proxy.cut_after_bytes(PART // 16)
        with pytest.raises(ConnectionFailedError, match="retry"):
            again.download(f"s3://{bucket}/r/v2.tar", out_dir / "again.tar")
        assert not (out_dir / "again.tar").exists() and leftovers(out_dir) == []
        assert cache_entries(tmp_path / "cold-cache-2") == []


def test_a_cache_copy_damaged_before_it_goes_up_is_caught_and_the_reference_removed(client, bucket, boto3_s3,
                                                                                   tmp_path, monkeypatch):
    """The reference goes up from the cache's copy; its zero-diff delta rebuilds that copy and is checked
    against the file's sha256, so a copy that went bad on the local disk cannot stand as the reference."""
    from dgtui.core.cache import ReferenceCache

    v1, _ = versions(tmp_path)
    real_adopt = ReferenceCache.adopt

    def adopt_then_damage(self, temp_path, sha256):
        final = real_adopt(self, temp_path, sha256)
        with open(final, "r+b") as f:
            f.seek(100_000)
            f.write(b"bit rot")
        return final

    monkeypatch.setattr(ReferenceCache, "adopt", adopt_then_damage)
    with pytest.raises(IntegrityError, match="did not rebuild"):
        client.upload(v1, f"s3://{bucket}/r/")
    assert stored_keys(boto3_s3, bucket) == []
    assert cache_entries(tmp_path / "dgtui-cache") == []


def test_a_server_that_answers_ranged_gets_whole_gets_one_plain_download(s3_server, bucket, tmp_path, small_parts):
    """A server (or a proxy in front of one) that answers a ranged GET with 200 and no Content-Range."""
    import http.client

    from ..rewriting_proxy import HOP_BY_HOP, Rewriting
    from ..scripted_http import serving

    ranged: list[str] = []

    class NoRanges(Rewriting):
        def _forward(self) -> None:
            if self.command != "GET" or not self.headers.get("Range"):
                super()._forward()
                return
            ranged.append(self.headers["Range"])
            conn = http.client.HTTPConnection(self.upstream, timeout=30)
            try:
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for name, value in self.headers.items():
                    conn.putheader(name, value)
                conn.endheaders()
                answer = conn.getresponse()
                data = answer.read()
                headers = [(k, v) for k, v in answer.getheaders()
                           if k.lower() not in HOP_BY_HOP and k.lower() != "content-range"]
            finally:
                conn.close()
            self.send_response(200 if answer.status == 206 else answer.status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward  # noqa: N815

    v1, v2 = stored_versions(s3_server, bucket, tmp_path)
    NoRanges.upstream = s3_server.endpoint_url.split("://", 1)[1]
    with serving(NoRanges) as url:
        cold = create_client(url, "WARNING", s3_server.access_key, s3_server.secret_key,
                             region_name=s3_server.region, cache_dir=tmp_path / "cold-cache")
        try:
            out = tmp_path / "v2.tar"
            result = cold.download(f"s3://{bucket}/r/v2.tar", out)
        finally:
            cold.close()
    assert ranged and result.verified and out.read_bytes() == v2.read_bytes()
    assert cache_entries(tmp_path / "cold-cache") == [hashlib.sha256(v1.read_bytes()).hexdigest()]


def test_a_version_is_checked_by_decoding_its_delta_as_it_is_written(client, s3_server, bucket, tmp_path,
                                                                      monkeypatch):
    from dgtui.core import codec

    v1, v2 = versions(tmp_path)
    client.upload(v1, f"s3://{bucket}/r/")
    decoded_after: list[str] = []
    real = codec.decode_sha256
    monkeypatch.setattr(codec, "decode_sha256", lambda *a, **k: decoded_after.append("file") or real(*a, **k))
    summary = client.upload(v2, f"s3://{bucket}/r/")
    assert summary.is_delta and summary.file_sha256 == hashlib.sha256(v2.read_bytes()).hexdigest()
    assert decoded_after == []  # checked while it was encoded, not by a decode of the file afterwards
    assert deltaglider_restores(s3_server, f"s3://{bucket}/r/v2.tar", tmp_path / "dg-v2.tar") == v2.read_bytes()


def test_the_decode_beside_the_encoder_names_what_it_rebuilt_and_stops_at_its_limit(tmp_path):
    from dgtui.core import codec

    v1, v2 = versions(tmp_path)
    sha = hashlib.sha256()
    check = codec.StreamCheck(limit=v2.stat().st_size)
    codec.encode_hashing(v1, v2, tmp_path / "delta", level=1, hashers=(sha,), check=check)
    assert check.rebuilt == sha.hexdigest() == hashlib.sha256(v2.read_bytes()).hexdigest()
    assert check.delta_sha256 == hashlib.sha256((tmp_path / "delta").read_bytes()).hexdigest()
    short = codec.StreamCheck(limit=v2.stat().st_size - 1)  # one byte less than it rebuilds
    codec.encode_hashing(v1, v2, tmp_path / "delta2", level=1, check=short)
    assert short.rebuilt is None
    assert (tmp_path / "delta2").read_bytes() == (tmp_path / "delta").read_bytes()  # the delta itself is whole


# -- a first version that goes up in parts ---------------------------------------------------------------

#: three parts of 5 MiB (S3's smallest), the last one short
BIG = 12 * 1024 * 1024 + 4321


@pytest.fixture
def parts_of_5mib(monkeypatch):
    """Uploads of more than 6 MiB go in parts of 5 MiB."""
    monkeypatch.setattr(s3_module, "MULTIPART_THRESHOLD", 6 * 1024 * 1024)
    monkeypatch.setattr(s3_module, "MULTIPART_CHUNK", 5 * 1024 * 1024)


def unfinished_uploads(boto3_s3, bucket: str) -> list[str]:
    return [u["Key"] for u in boto3_s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def upload_folders(client) -> list[str]:
    return sorted(p.name for p in Path(client.work_dir).iterdir() if p.name.startswith("dgtui-up-"))


def test_a_big_first_version_is_copied_into_the_cache_as_its_parts_go_up(client, s3_server, bucket, boto3_s3,
                                                                        tmp_path, parts_of_5mib):
    v1, v2 = versions(tmp_path, BIG)
    parts: list[int] = []
    client.boto3_client.meta.events.register("before-parameter-build.s3.UploadPart",
                                             lambda params, **_: parts.append(params["PartNumber"]))
    summary = client.upload(v1, f"s3://{bucket}/r/")
    sha = hashlib.sha256(v1.read_bytes()).hexdigest()
    assert summary.operation == "create_reference" and summary.file_sha256 == sha
    assert sorted(parts) == [1, 2, 3]
    # the cache holds the bytes that went up, under their sha256, and nothing half-written
    assert cache_entries(tmp_path / "dgtui-cache") == [sha]
    assert (tmp_path / "dgtui-cache" / "references" / sha).read_bytes() == v1.read_bytes()
    meta = boto3_s3.head_object(Bucket=bucket, Key="r/reference.bin")["Metadata"]
    assert sha in meta.values() and hashlib.md5(v1.read_bytes()).hexdigest() in meta.values()
    assert upload_folders(client) == [] and unfinished_uploads(boto3_s3, bucket) == []
    assert deltaglider_restores(s3_server, f"s3://{bucket}/r/v1.tar", tmp_path / "dg-v1.tar") == v1.read_bytes()
    # the next version is a delta against that copy, and restores with deltaglider too
    assert client.upload(v2, f"s3://{bucket}/r/").is_delta
    assert deltaglider_restores(s3_server, f"s3://{bucket}/r/v2.tar", tmp_path / "dg-v2.tar") == v2.read_bytes()


def test_a_big_first_version_changed_in_place_after_it_was_hashed_is_refused_and_nothing_is_kept(
        client, bucket, boto3_s3, tmp_path, parts_of_5mib):
    """Same size, other bytes: only the hash of what went up, against the sha256 its metadata carries, tells."""
    v1, _ = versions(tmp_path, BIG)
    changed: list[bool] = []

    def rewrite(**_):
        if not changed:
            changed.append(True)
            with open(v1, "r+b") as f:  # the metadata with the file's sha256 is about to be sent
                f.seek(7 * 1024 * 1024)
                f.write(b"changed in place")

    client.boto3_client.meta.events.register("before-call.s3.CreateMultipartUpload", rewrite)
    with pytest.raises(SourceChangedError, match="changed while it was uploaded; nothing was written"):
        client.upload(v1, f"s3://{bucket}/r/")
    assert changed and stored_keys(boto3_s3, bucket) == [] and unfinished_uploads(boto3_s3, bucket) == []
    assert cache_entries(tmp_path / "dgtui-cache") == [] and upload_folders(client) == []


def test_a_big_first_version_growing_as_its_parts_go_up_is_refused_and_nothing_is_kept(client, bucket, boto3_s3,
                                                                                       tmp_path, parts_of_5mib):
    v1, _ = versions(tmp_path, BIG)
    grown: list[bool] = []

    def grow(**_):
        if not grown:
            grown.append(True)
            with open(v1, "ab") as f:
                f.write(b"appended as the parts go up")

    client.boto3_client.meta.events.register("before-call.s3.UploadPart", grow)
    with pytest.raises(SourceChangedError, match="changed while it was uploaded"):
        client.upload(v1, f"s3://{bucket}/r/")
    assert grown and stored_keys(boto3_s3, bucket) == [] and unfinished_uploads(boto3_s3, bucket) == []
    assert cache_entries(tmp_path / "dgtui-cache") == [] and upload_folders(client) == []


def test_a_big_first_version_cancelled_as_its_parts_go_up_leaves_nothing(client, bucket, boto3_s3, tmp_path,
                                                                         parts_of_5mib):
    v1, _ = versions(tmp_path, BIG)
    asked: list[bool] = []

    def progress(done: int, total: int, stage: str) -> None:
        if stage == "uploading reference" and done > 0:
            asked.append(True)  # a part went up: cancel now

    with pytest.raises(CancelledError):
        client.upload(v1, f"s3://{bucket}/r/", progress=progress, should_cancel=lambda: bool(asked))
    assert asked and stored_keys(boto3_s3, bucket) == [] and unfinished_uploads(boto3_s3, bucket) == []
    assert cache_entries(tmp_path / "dgtui-cache") == [] and upload_folders(client) == []
