"""Interop with the real deltaglider==6.2.0 package, in both directions,
and with hand-made objects in the 4.x/5.x and Rust proxy metadata styles."""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dgtui import ObjectKind, RecompressionError

from .conftest import make_release, upload_gzip_trap

DG_BIN = Path(sys.executable).with_name("deltaglider")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def deltaglider_cp(s3_server, src: str, dest: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, **s3_server.env()}
    return subprocess.run([str(DG_BIN), "cp", src, str(dest), "--endpoint-url", s3_server.endpoint_url],
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def dg_bucket(dg, bucket, tmp_path):
    """A bucket written by DeltaGlider 6.2.0: several deltaspaces, nested prefixes, direct files."""
    files: dict[str, Path] = {}
    for space, count in (("releases/cli", 3), ("releases/server/linux", 2), ("", 2)):
        for v in range(count):
            folder = tmp_path / "src" / (space.replace("/", "_") or "root")
            folder.mkdir(parents=True, exist_ok=True)
            f = make_release(folder / f"pkg-1.{v}.zip", v, seed=len(space) + 3)
            dg.upload(str(f), f"s3://{bucket}/{space}/" if space else f"s3://{bucket}/")
            files[f"{space}/{f.name}" if space else f.name] = f
    notes = tmp_path / "src" / "NOTES.txt"
    notes.write_text("release notes\n")
    dg.upload(str(notes), f"s3://{bucket}/releases/")
    files["releases/NOTES.txt"] = notes
    return files


def test_deltaglider_bucket_lists_counts_and_restores(client, dg_bucket, bucket, boto3_s3, tmp_path):
    stored = {o["Key"] for o in boto3_s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert "releases/cli/reference.bin" in stored and "releases/cli/pkg-1.0.zip.delta" in stored
    logical = {o.key for o in client.iter_objects(bucket)}
    assert logical == set(dg_bucket)
    page = client.list_objects(Bucket=bucket, Prefix="releases/", Delimiter="/")
    assert page.common_prefixes == ["releases/cli/", "releases/server/"]
    assert [o.key for o in page.contents] == ["releases/NOTES.txt"]
    stats = client.get_bucket_stats(bucket, detailed_stats=True)
    assert stats.object_count == len(dg_bucket) and stats.delta_objects == len(dg_bucket) - 1
    assert stats.total_size == sum(f.stat().st_size for f in dg_bucket.values())
    assert stats.metadata_invalid == 0
    for key, src in dg_bucket.items():
        out = tmp_path / "restored" / key
        result = client.download(f"s3://{bucket}/{key}", out)
        assert result.verified
        assert out.read_bytes() == src.read_bytes(), key
    info = client.get_object_info(f"s3://{bucket}/releases/NOTES.txt")
    assert info.kind == ObjectKind.DIRECT and info.tool.startswith("deltaglider/6.2.0")


def test_what_dgtui_writes_restores_with_deltaglider_cp(client, s3_server, bucket, tmp_path):
    files = [make_release(tmp_path / f"app-2.{v}.zip", v) for v in range(3)]
    text = tmp_path / "readme.txt"
    text.write_text("plain words")
    gz = tmp_path / "dump.sql.gz"
    gz.write_bytes(gzip.compress(b"select 1;\n" * 5000, mtime=5))
    for f in [*files, text, gz]:
        client.upload(f, f"s3://{bucket}/rel/")
    for f in [*files, text, gz]:
        out = tmp_path / "dg-out" / f.name
        out.parent.mkdir(exist_ok=True)
        proc = deltaglider_cp(s3_server, f"s3://{bucket}/rel/{f.name}", out)
        assert proc.returncode == 0, proc.stderr[-500:]
        assert out.read_bytes() == f.read_bytes(), f.name


def test_deltaglider_gzip_trap_is_explained_and_rescuable(client, dg, bucket, tmp_path):
    # DeltaGlider 6.2.0 encodes without -D: xdelta3 stores the decompressed
    # stream and recompresses differently on decode.
    text_v2 = upload_gzip_trap(dg, bucket, tmp_path)
    dest = tmp_path / "restore" / "db-02.sql.gz"
    with pytest.raises(RecompressionError) as info:
        client.download(f"s3://{bucket}/backups/db-02.sql.gz", dest)
    assert info.value.compressor == "gzip" and "rescued" in str(info.value)
    assert not dest.exists() and not dest.parent.exists()  # nor the folder the restore made for it
    rescued = client.download(f"s3://{bucket}/backups/db-02.sql.gz", dest, rescue=True)
    assert rescued.rescued and rescued.path.endswith("db-02.sql.gz.decompressed")
    assert Path(rescued.path).read_bytes() == text_v2
    assert not dest.exists()
    assert client.verify(f"s3://{bucket}/backups/db-02.sql.gz") is False


def _xdelta_encode(ref: Path, target: Path, out: Path) -> None:
    subprocess.run(["xdelta3", "-e", "-f", "-9", "-s", str(ref), str(target), str(out)], check=True)


def test_legacy_4x_and_proxy_objects_restore(client, bucket, boto3_s3, tmp_path):
    ref = make_release(tmp_path / "ref.zip", 0)
    new = make_release(tmp_path / "new.zip", 5)
    delta = tmp_path / "new.delta"
    _xdelta_encode(ref, new, delta)
    ref_sha, new_sha = sha(ref.read_bytes()), sha(new.read_bytes())
    # 4.x/5.x: bare underscore keys
    boto3_s3.put_object(Bucket=bucket, Key="old/reference.bin", Body=ref.read_bytes(),
                        Metadata={"tool": "deltaglider/4.2.1", "source_name": "ref.zip", "file_sha256": ref_sha,
                                  "created_at": "2024-01-01T00:00:00Z"})
    boto3_s3.put_object(Bucket=bucket, Key="old/new.zip.delta", Body=delta.read_bytes(),
                        Metadata={"tool": "deltaglider/4.2.1", "original_name": "new.zip", "file_sha256": new_sha,
                                  "file_size": str(new.stat().st_size), "created_at": "2024-01-02T00:00:00Z",
                                  "ref_key": "old/reference.bin", "ref_sha256": ref_sha,
                                  "delta_size": str(delta.stat().st_size), "delta_cmd": "xdelta3 -e -9 -s ..."})
    boto3_s3.put_object(Bucket=bucket, Key="old/notes.txt", Body=b"legacy direct",
                        Metadata={"original_name": "notes.txt", "file_sha256": sha(b"legacy direct"),
                                  "file_size": "13", "compression": "none"})
    # the Rust proxy: dg-ref-path relative to the deltaspace, passthrough for direct
    boto3_s3.put_object(Bucket=bucket, Key="proxy/a/reference.bin", Body=ref.read_bytes(),
                        Metadata={"dg-file-sha256": ref_sha, "dg-note": "reference"})
    boto3_s3.put_object(Bucket=bucket, Key="proxy/a/new.zip.delta", Body=delta.read_bytes(),
                        Metadata={"dg-file-sha256": new_sha, "dg-file-size": str(new.stat().st_size),
                                  "dg-ref-path": "reference.bin", "dg-ref-sha256": ref_sha, "dg-note": "delta",
                                  "dg-md5": "x", "user-owner": "ops"})
    boto3_s3.put_object(Bucket=bucket, Key="proxy/a/image.bin", Body=b"pass",
                        Metadata={"dg-file-sha256": sha(b"pass"), "dg-file-size": "4", "dg-note": "passthrough"})
    boto3_s3.put_object(Bucket=bucket, Key="plain/other-tool.bin", Body=b"no metadata")
    expect = {"old/new.zip": new.read_bytes(), "old/notes.txt": b"legacy direct",
              "proxy/a/new.zip": new.read_bytes(), "proxy/a/image.bin": b"pass",
              "plain/other-tool.bin": b"no metadata"}
    for key, data in expect.items():
        out = tmp_path / "out" / key
        result = client.download(f"s3://{bucket}/{key}", out)
        assert out.read_bytes() == data, key
        assert result.verified  # sha256 for dg objects, MD5 ETag for the plain one
    kinds = {key: client.get_object_info(f"s3://{bucket}/{key}").kind for key in expect}
    assert kinds == {"old/new.zip": ObjectKind.DELTA, "old/notes.txt": ObjectKind.DIRECT,
                     "proxy/a/new.zip": ObjectKind.DELTA, "proxy/a/image.bin": ObjectKind.DIRECT,
                     "plain/other-tool.bin": ObjectKind.PLAIN}


def test_a_version_of_a_reference_bigger_than_the_default_window_restores_with_deltaglider(
        client, s3_server, bucket, tmp_path):
    """References over 64 MiB are encoded with a 32 MiB source window (the encoder's memory stays bounded):
    the delta still finds the matches past the first window and restores byte for byte with DeltaGlider."""
    from dgtui.core import codec

    size = 70 * 2**20
    first = tmp_path / "v1" / "disk.tar"
    second = tmp_path / "v2" / "disk.tar"
    first.parent.mkdir()
    second.parent.mkdir()
    data = bytearray(os.urandom(size))
    first.write_bytes(data)
    for offset in (1_000, 40 * 2**20, size - 5_000):  # edits before, past and at the end of a 32 MiB window
        data[offset:offset + 64] = os.urandom(64)
    second.write_bytes(data)
    assert codec.source_window_args(first) == ["-B", str(32 * 2**20)]
    client.upload(first, f"s3://{bucket}/img/")
    summary = client.upload(second, f"s3://{bucket}/img/")
    assert summary.is_delta and summary.stored_size < 2**20, summary  # every match found, far past 32 MiB
    out = tmp_path / "dg-out" / "disk.tar"
    out.parent.mkdir()
    proc = deltaglider_cp(s3_server, f"s3://{bucket}/img/disk.tar", out)
    assert proc.returncode == 0, proc.stderr[-500:]
    assert sha(out.read_bytes()) == sha(bytes(data))


def test_a_reference_that_fits_the_default_window_is_encoded_as_before(tmp_path):
    from dgtui.core import codec

    small = tmp_path / "small.bin"
    small.write_bytes(b"x" * 1024)
    assert codec.source_window_args(small) == []
    assert codec.source_window_args(tmp_path / "missing.bin") == []
