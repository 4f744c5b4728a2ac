"""Restores and uploads in one pass over the bytes, with every byte still checked.

A restore does not hash a cached reference before using it: the rebuilt file
is checked against its stored sha256, and only a failed check hashes the
cached copy (a damaged one is dropped and fetched again). An upload hashes the
file while the encoder reads it and checks the delta by decoding it into a hash.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from dgtui import IntegrityError, SourceChangedError, create_client
from dgtui.core import cache as cache_module
from dgtui.core import codec
from dgtui.core import engine as transfer_module
from dgtui.core.config import encoder_level, fast_first
from dgtui.core.errors import CancelledError, DgError

from .conftest import make_release, random_bytes

DG_BIN = Path(sys.executable).with_name("deltaglider")


def stored_keys(boto3_s3, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in boto3_s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def new_client(s3_server, cache: Path):
    return create_client(s3_server.endpoint_url, "WARNING", s3_server.access_key, s3_server.secret_key,
                         region_name=s3_server.region, cache_dir=cache)


def big_versions(tmp_path: Path) -> tuple[Path, Path]:
    """Two versions of a 3 MiB file (more than one read chunk) with a few edits between them."""
    base = bytearray(random_bytes(3 * 1024 * 1024, seed=5))
    first = tmp_path / "v1.tar"
    first.write_bytes(bytes(base))
    for at in (10, 900_000, 2_500_000):
        base[at:at + 8] = b"EDITED!!"
    second = tmp_path / "v2.tar"
    second.write_bytes(bytes(base))
    return first, second


class HashCount:
    """Counts the files the reference cache hashes (the real function still runs)."""

    def __init__(self, monkeypatch):
        self.paths: list[str] = []
        real = cache_module.sha256_file

        def counting(path, progress=None):
            self.paths.append(str(path))
            return real(path, progress)

        monkeypatch.setattr(cache_module, "sha256_file", counting)
        monkeypatch.setattr(transfer_module, "sha256_file", counting)


def test_a_cached_reference_is_not_hashed_again_when_the_output_is_checked(client, s3_server, bucket,
                                                                           tmp_path, monkeypatch):
    v1, v2 = big_versions(tmp_path)
    client.upload(v1, f"s3://{bucket}/d/")
    client.upload(v2, f"s3://{bucket}/d/")
    fresh = new_client(s3_server, tmp_path / "fresh")
    assert not fresh.download(f"s3://{bucket}/d/v2.tar", tmp_path / "a.bin").reference_cache_hit
    hashed = HashCount(monkeypatch)
    again = new_client(s3_server, tmp_path / "fresh")  # a new process: nothing remembered in memory
    result = again.download(f"s3://{bucket}/d/v2.tar", tmp_path / "b.bin")
    assert result.verified and result.reference_cache_hit
    assert (tmp_path / "b.bin").read_bytes() == v2.read_bytes()
    assert not [p for p in hashed.paths if "references" in p]


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty"])
def test_a_damaged_cached_reference_is_caught_by_the_output_check_dropped_and_fetched_again(
        client, s3_server, bucket, tmp_path, damage):
    v1, v2 = big_versions(tmp_path)
    client.upload(v1, f"s3://{bucket}/d/")
    client.upload(v2, f"s3://{bucket}/d/")
    reader = new_client(s3_server, tmp_path / "fresh")
    reader.download(f"s3://{bucket}/d/v2.tar", tmp_path / "first.bin")  # fills the cache (and hashes it once)
    ref_sha = reader.get_object_info(f"s3://{bucket}/d/v2.tar").ref_sha256
    cached = reader.reference_cache.path_for(ref_sha)
    data = bytearray(cached.read_bytes())
    if damage == "flip":
        data[1_500_000] ^= 0xFF  # far from the edits: the delta copies this byte from the reference
    elif damage == "truncate":
        del data[len(data) // 2:]
    else:
        data = bytearray()
    cached.write_bytes(bytes(data))
    # the same process, which hashed the entry before, and a new one
    for who, out in ((reader, "same.bin"), (new_client(s3_server, tmp_path / "fresh"), "new.bin")):
        if who is not reader:
            who.reference_cache.path_for(ref_sha).write_bytes(bytes(data))
        result = who.download(f"s3://{bucket}/d/v2.tar", tmp_path / out)
        assert result.verified and not result.reference_cache_hit
        assert (tmp_path / out).read_bytes() == v2.read_bytes()
        assert hashlib.sha256(who.reference_cache.path_for(ref_sha).read_bytes()).hexdigest() == ref_sha


def test_a_damaged_cached_copy_standing_in_for_a_missing_reference_is_refused(client, s3_server, bucket,
                                                                             boto3_s3, tmp_path):
    v1, v2 = big_versions(tmp_path)
    client.upload(v1, f"s3://{bucket}/d/")
    client.upload(v2, f"s3://{bucket}/d/")
    ref_sha = client.get_object_info(f"s3://{bucket}/d/v2.tar").ref_sha256
    boto3_s3.delete_object(Bucket=bucket, Key="d/reference.bin")
    cached = client.reference_cache.path_for(ref_sha)
    data = bytearray(cached.read_bytes())
    data[1_500_000] ^= 0xFF
    cached.write_bytes(bytes(data))
    with pytest.raises(DgError, match="reference.bin is missing"):
        client.download(f"s3://{bucket}/d/v2.tar", tmp_path / "out.bin")
    assert not (tmp_path / "out.bin").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".dgtui-")] == []
    assert not cached.exists()  # the damaged copy is gone, never used again


def test_a_rescue_hashes_the_cached_reference_first(client, s3_server, bucket, tmp_path, monkeypatch):
    """A rescue's output has no sha256 to check: its reference must be checked before it is used."""
    v1, v2 = big_versions(tmp_path)
    client.upload(v1, f"s3://{bucket}/d/")
    client.upload(v2, f"s3://{bucket}/d/")
    reader = new_client(s3_server, tmp_path / "fresh")
    reader.download(f"s3://{bucket}/d/v2.tar", tmp_path / "first.bin")
    hashed = HashCount(monkeypatch)
    again = new_client(s3_server, tmp_path / "fresh")
    again._engine.restore(bucket, "d/v2.tar", tmp_path / "rescued.bin", rescue=True)
    assert [p for p in hashed.paths if "references" in p]


def test_an_upload_hashes_what_the_encoder_reads_and_restores_with_deltaglider(client, s3_server, bucket,
                                                                             boto3_s3, tmp_path, monkeypatch):
    v1, v2 = big_versions(tmp_path)
    client.upload(v1, f"s3://{bucket}/d/")
    hashed = HashCount(monkeypatch)
    stages: list[str] = []
    summary = client.upload(v2, f"s3://{bucket}/d/", progress=lambda done, total, stage: stages.append(stage))
    assert summary.is_delta and summary.file_sha256 == hashlib.sha256(v2.read_bytes()).hexdigest()
    # the file is hashed by the encoder's feed, not in a read of its own
    assert not [p for p in hashed.paths if p == str(v2)] and "hashing" not in stages and "encoding" in stages
    metadata = boto3_s3.head_object(Bucket=bucket, Key="d/v2.tar.delta")["Metadata"]
    assert hashlib.md5(v2.read_bytes()).hexdigest() in metadata.values()  # dg-md5, the proxy's ETag
    out = tmp_path / "dg-out.bin"
    env = {**os.environ, **s3_server.env()}
    proc = subprocess.run([str(DG_BIN), "cp", f"s3://{bucket}/d/v2.tar", str(out), "--endpoint-url",
                           s3_server.endpoint_url], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-500:]
    assert out.read_bytes() == v2.read_bytes()


def test_a_file_growing_while_the_encoder_reads_it_is_refused_and_nothing_is_stored(client, bucket, boto3_s3,
                                                                                   tmp_path):
    v1, v2 = big_versions(tmp_path)
    client.upload(v1, f"s3://{bucket}/d/")
    before = stored_keys(boto3_s3, bucket)
    grown: list[bool] = []

    def grow(done: int, total: int, stage: str) -> None:
        if stage == "encoding" and done > 0 and not grown:
            grown.append(True)
            with open(v2, "ab") as f:
                f.write(b"appended while the encoder reads")

    with pytest.raises(SourceChangedError, match="changed while it was uploaded"):
        client.upload(v2, f"s3://{bucket}/d/", progress=grow)
    assert grown and stored_keys(boto3_s3, bucket) == before


def test_a_delta_that_does_not_rebuild_the_hashed_bytes_is_not_stored(client, bucket, boto3_s3, tmp_path,
                                                                    monkeypatch):
    """The verify step decodes into a hash: a delta cut short by the encoder is refused before any write."""
    v1, v2 = big_versions(tmp_path)
    client.upload(v1, f"s3://{bucket}/d/")
    before = stored_keys(boto3_s3, bucket)
    real = codec.encode_hashing

    def cut_short(reference, target, delta_out, *args, **kwargs):
        size = real(reference, target, delta_out, *args, **kwargs)
        with open(delta_out, "r+b") as f:
            f.truncate(size // 2)
        return size // 2

    monkeypatch.setattr(codec, "encode_hashing", cut_short)
    with pytest.raises(IntegrityError, match="did not rebuild the file"):
        client.upload(v2, f"s3://{bucket}/d/")
    assert stored_keys(boto3_s3, bucket) == before


def test_encode_hashing_hashes_every_byte_and_stops_on_cancel(tmp_path):
    v1, v2 = big_versions(tmp_path)
    sha, md5 = hashlib.sha256(), hashlib.md5()
    size = codec.encode_hashing(v1, v2, tmp_path / "delta", level=1, hashers=(sha, md5))
    assert size == (tmp_path / "delta").stat().st_size
    assert sha.hexdigest() == hashlib.sha256(v2.read_bytes()).hexdigest()
    assert md5.hexdigest() == hashlib.md5(v2.read_bytes()).hexdigest()
    assert codec.decode_sha256(v1, tmp_path / "delta", limit=v2.stat().st_size) == sha.hexdigest()
    with pytest.raises(CancelledError):
        codec.encode_hashing(v1, v2, tmp_path / "delta2", lambda: True, level=9)
    with pytest.raises(FileNotFoundError):
        codec.encode_hashing(v1, tmp_path / "missing", tmp_path / "delta3", level=1)


@pytest.mark.parametrize("level", [1, 3, 6, 9])
def test_every_encoder_level_restores_with_deltaglider(level, s3_server, bucket, tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text(f"xdelta3_level = {level}\n")
    monkeypatch.setenv("DGTUI_CONFIG", str(config))
    assert encoder_level() == level
    c = new_client(s3_server, tmp_path / "c")
    files = [make_release(tmp_path / f"app-{v}.zip", v) for v in range(2)]
    for f in files:
        c.upload(f, f"s3://{bucket}/lvl/")
    out = tmp_path / "dg.zip"
    env = {**os.environ, **s3_server.env()}
    proc = subprocess.run([str(DG_BIN), "cp", f"s3://{bucket}/lvl/app-1.zip", str(out), "--endpoint-url",
                           s3_server.endpoint_url], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-500:]
    assert out.read_bytes() == files[1].read_bytes()
    metadata = c.boto3_client.head_object(Bucket=bucket, Key="lvl/app-1.zip.delta")["Metadata"]
    assert metadata["dg-delta-cmd"].startswith(f"xdelta3 -e -{level} ")


@pytest.mark.parametrize("text", ["xdelta3_level = 10", "xdelta3_level = -1", "xdelta3_level = 'fast'",
                                  "xdelta3_level = true"])
def test_a_wrong_encoder_level_is_one_clear_error(text, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(text + "\n")
    with pytest.raises(DgError, match="xdelta3_level .* must be a whole number from 0 to 9"):
        encoder_level(config)


def test_a_first_version_changing_before_its_zero_diff_delta_leaves_nothing(client, bucket, boto3_s3, tmp_path):
    """The reference went up, then the file changed before the encoder read it: both are refused and removed."""
    v1, _ = big_versions(tmp_path)
    grown: list[bool] = []

    def grow(done: int, total: int, stage: str) -> None:
        if stage == "encoding" and not grown:
            grown.append(True)
            with open(v1, "ab") as f:
                f.write(b"appended after the reference went up")

    with pytest.raises(SourceChangedError, match="changed while it was uploaded"):
        client.upload(v1, f"s3://{bucket}/d/", progress=grow)
    assert grown and stored_keys(boto3_s3, bucket) == []


def test_upload_chunked_reports_the_chunks_of_a_delta_as_the_encoder_reads_them(client, bucket, tmp_path):
    v1, v2 = big_versions(tmp_path)
    client.upload(v1, f"s3://{bucket}/d/")
    chunks: list[tuple[int, int, int, int]] = []
    summary = client.upload_chunked(v2, f"s3://{bucket}/d/", chunk_size=1024 * 1024,
                                    progress_callback=lambda *a: chunks.append(a))
    size = v2.stat().st_size
    assert summary.is_delta
    assert chunks[0][0] == 1 and chunks[-1] == (3, 3, size, size) and len(chunks) >= 2


@pytest.fixture
def fast_first_from_1_mib(monkeypatch):
    """Big files, as the fast pass sees them, from 1 MiB (64 MiB in use), so tests stay small."""
    monkeypatch.setattr(transfer_module, "FAST_FIRST_MIN_BYTES", 1024 * 1024)


def levels_tried(monkeypatch) -> list[tuple[int, int | None]]:
    """(level, delta size or None when that pass gave up) of every encode an upload runs."""
    tried: list[tuple[int, int | None]] = []
    real = codec.encode_hashing

    def spy(*args, **kwargs):
        try:
            size = real(*args, **kwargs)
        except codec.DeltaTooLarge:
            tried.append((kwargs["level"], None))
            raise
        tried.append((kwargs["level"], size))
        return size

    monkeypatch.setattr(codec, "encode_hashing", spy)
    return tried


def restore_with_deltaglider(s3_server, url: str, out: Path) -> bytes:
    env = {**os.environ, **s3_server.env()}
    proc = subprocess.run([str(DG_BIN), "cp", url, str(out), "--endpoint-url", s3_server.endpoint_url], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-500:]
    return out.read_bytes()


def test_a_big_version_with_a_few_edits_is_kept_from_the_fast_pass(client, s3_server, bucket, boto3_s3, tmp_path,
                                                                   monkeypatch, fast_first_from_1_mib):
    v1, v2 = big_versions(tmp_path)
    client.upload(v1, f"s3://{bucket}/d/")
    tried = levels_tried(monkeypatch)
    summary = client.upload(v2, f"s3://{bucket}/d/")
    assert summary.is_delta and summary.stored_size <= v2.stat().st_size * transfer_module.FAST_FIRST_SHARE
    assert tried == [(1, summary.stored_size)]
    metadata = boto3_s3.head_object(Bucket=bucket, Key="d/v2.tar.delta")["Metadata"]
    assert metadata["dg-delta-cmd"].startswith("xdelta3 -e -1 ")  # the level that wrote it
    assert restore_with_deltaglider(s3_server, f"s3://{bucket}/d/v2.tar", tmp_path / "dg.tar") == v2.read_bytes()


def test_a_big_version_with_much_new_data_is_encoded_again_at_the_settings_level(
        client, s3_server, bucket, boto3_s3, tmp_path, monkeypatch, fast_first_from_1_mib):
    v1, _ = big_versions(tmp_path)
    v2 = tmp_path / "v2.tar"
    v2.write_bytes(v1.read_bytes()[:1024 * 1024] + random_bytes(2 * 1024 * 1024, seed=9))  # 2 MiB new
    client.upload(v1, f"s3://{bucket}/d/")
    tried = levels_tried(monkeypatch)
    summary = client.upload(v2, f"s3://{bucket}/d/", max_ratio=1.0)
    assert [level for level, _ in tried] == [1, encoder_level()]
    assert tried[-1][1] == summary.stored_size and summary.file_sha256 == hashlib.sha256(v2.read_bytes()).hexdigest()
    metadata = boto3_s3.head_object(Bucket=bucket, Key="d/v2.tar.delta")["Metadata"]
    assert metadata["dg-delta-cmd"].startswith(f"xdelta3 -e -{encoder_level()} ")
    assert restore_with_deltaglider(s3_server, f"s3://{bucket}/d/v2.tar", tmp_path / "dg.tar") == v2.read_bytes()


def test_fast_first_off_in_the_settings_encodes_at_the_settings_level_only(client, bucket, tmp_path, monkeypatch,
                                                                           fast_first_from_1_mib):
    config = tmp_path / "config.toml"
    config.write_text("xdelta3_level = 9\nxdelta3_fast_first = false\n")
    monkeypatch.setenv("DGTUI_CONFIG", str(config))
    v1, v2 = big_versions(tmp_path)
    client.upload(v1, f"s3://{bucket}/d/")
    tried = levels_tried(monkeypatch)
    client.upload(v2, f"s3://{bucket}/d/")
    assert [level for level, _ in tried] == [9]
    assert transfer_module.encoder_levels(64 * 1024 * 1024) == [9]
    config.write_text("xdelta3_level = 9\n")
    assert transfer_module.encoder_levels(64 * 1024 * 1024) == [1, 9]
    assert transfer_module.encoder_levels(1024 * 1024 - 1) == [9]  # small files: the settings' level only


@pytest.mark.parametrize("value", ["'no'", "0", "1"])
def test_a_wrong_fast_first_setting_is_one_clear_error(value, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f"xdelta3_fast_first = {value}\n")
    with pytest.raises(DgError, match="xdelta3_fast_first .* must be true or false"):
        fast_first(config)


def test_a_fast_pass_gives_up_while_the_file_is_still_being_read(tmp_path):
    """The delta outgrows its share long before the end: the encode stops there, without reading the rest."""
    v1, _ = big_versions(tmp_path)
    fifo = tmp_path / "incoming"
    os.mkfifo(fifo)
    done = threading.Event()

    def write_new_data() -> None:
        try:
            with open(fifo, "wb") as f:
                for seed in range(1000):  # far more than is read before the encode gives up
                    if done.is_set():
                        break
                    f.write(random_bytes(1024 * 1024, seed=100 + seed))
        except BrokenPipeError:
            pass  # the encode stopped reading: what the test waits for

    writer = threading.Thread(target=write_new_data, daemon=True)
    writer.start()
    sha = hashlib.sha256()
    try:
        with pytest.raises(codec.DeltaTooLarge):
            codec.encode_hashing(v1, fifo, tmp_path / "delta", level=1, hashers=(sha,),
                                 check=codec.StreamCheck(limit=10**12), give_up_above=1 / 512)
    finally:
        done.set()
        writer.join(timeout=60)
    assert not writer.is_alive()
