"""A cold restore rebuilds the file while its reference downloads (xdelta3 reads the reference from a pipe
fed as the download's bytes are written); whatever that rebuilds counts only when its sha256 is the stored
one, and every way it can fail ends in the restore from the downloaded reference. Real SeaweedFS, the
reference in small ranged parts so that it arrives in many pieces."""

from __future__ import annotations

import gzip
import hashlib
import logging
import random

import pytest

from dgtui.core import early_decode

from .. import dgproxy
from .test_big_transfers import cache_entries, deltaglider_restores, leftovers, new_client, small_parts, stored_versions

__all__ = ["small_parts"]  # the fixture, used by name below

EARLY = "rebuilt while its reference downloaded"
LATE = "during the download did not finish"


@pytest.fixture
def engine_log(caplog):
    caplog.set_level(logging.DEBUG, logger="dgtui.engine")
    return caplog


def test_a_cold_restore_is_rebuilt_while_its_reference_downloads(s3_server, bucket, tmp_path, small_parts,
                                                                 engine_log):
    v1, v2 = stored_versions(s3_server, bucket, tmp_path)
    cold = new_client(s3_server, tmp_path / "cold-cache")
    out = tmp_path / "out" / "v2.tar"
    result = cold.download(f"s3://{bucket}/r/v2.tar", out)
    assert out.read_bytes() == v2.read_bytes() and result.verified and not result.reference_cache_hit
    assert EARLY in engine_log.text and LATE not in engine_log.text
    # the reference is cached as ever, whole and checked
    ref_sha = hashlib.sha256(v1.read_bytes()).hexdigest()
    assert cache_entries(tmp_path / "cold-cache") == [ref_sha]
    assert leftovers(out.parent) == []
    # and a second restore uses the cache, with no early rebuild to make
    engine_log.clear()
    again = cold.download(f"s3://{bucket}/r/v2.tar", tmp_path / "out" / "again.tar")
    assert again.reference_cache_hit and (tmp_path / "out" / "again.tar").read_bytes() == v2.read_bytes()
    assert EARLY not in engine_log.text


def test_a_small_reference_in_one_piece_is_rebuilt_from_as_well(client, s3_server, bucket, tmp_path, engine_log):
    rng = random.Random(5)
    base = bytearray(rng.randbytes(300_000))
    (tmp_path / "app-1.tar").write_bytes(bytes(base))
    base[1000:1010] = b"0123456789"
    (tmp_path / "app-2.tar").write_bytes(bytes(base))
    client.upload(tmp_path / "app-1.tar", f"s3://{bucket}/s/")
    client.upload(tmp_path / "app-2.tar", f"s3://{bucket}/s/")
    cold = new_client(s3_server, tmp_path / "cold-cache")
    cold.download(f"s3://{bucket}/s/app-2.tar", tmp_path / "out.bin")
    assert (tmp_path / "out.bin").read_bytes() == bytes(base)
    assert EARLY in engine_log.text


def test_a_delta_copying_from_further_back_than_the_pipe_holds_is_rebuilt_after_the_download(
        s3_server, bucket, tmp_path, small_parts, engine_log, monkeypatch):
    # The second version starts with the first one's tail: read from a pipe, the decoder has passed the
    # head by the time it is asked for, and a window of xdelta3's least (512 KiB) no longer holds it.
    monkeypatch.setattr(early_decode, "SOURCE_WINDOW", 512 * 1024)
    head = random.Random(8).randbytes(3 * 1024 * 1024)
    (tmp_path / "v1.tar").write_bytes(head)
    turned = head[2 * 1024 * 1024:] + head[:2 * 1024 * 1024]
    (tmp_path / "v2.tar").write_bytes(turned)
    writer = new_client(s3_server, tmp_path / "writer-cache")
    writer.upload(tmp_path / "v1.tar", f"s3://{bucket}/t/")
    summary = writer.upload(tmp_path / "v2.tar", f"s3://{bucket}/t/")
    assert summary.is_delta  # the encoder found the turned halves
    cold = new_client(s3_server, tmp_path / "cold-cache")
    out = tmp_path / "out" / "v2.tar"
    result = cold.download(f"s3://{bucket}/t/v2.tar", out)
    assert out.read_bytes() == turned and result.verified
    assert LATE in engine_log.text and EARLY not in engine_log.text
    assert leftovers(out.parent) == []
    assert deltaglider_restores(s3_server, f"s3://{bucket}/t/v2.tar", tmp_path / "dg.bin") == turned


def test_a_compressed_reference_is_left_to_the_rebuild_after_the_download(boto3_s3, s3_server, bucket, tmp_path,
                                                                          engine_log):
    # A delta made with -D against a gzip reference (as the proxy makes them) decodes only with -D, and
    # xdelta3 would decompress such a reference from a pipe: it is rebuilt from the downloaded file.
    text = b"".join(b"INSERT INTO t VALUES (%d, 'row');\n" % i for i in range(20_000))
    gz1 = gzip.compress(text, mtime=0)
    gz2 = gzip.compress(text.replace(b"(77,", b"(7700,"), mtime=0)
    dgproxy.put_first(boto3_s3, bucket, "g/dump-1.sql.gz", gz1)
    dgproxy.put_delta(boto3_s3, bucket, "g/dump-2.sql.gz", gz2, gz1)
    cold = new_client(s3_server, tmp_path / "cold-cache")
    cold.download(f"s3://{bucket}/g/dump-2.sql.gz", tmp_path / "out.gz")
    assert (tmp_path / "out.gz").read_bytes() == gz2
    assert EARLY not in engine_log.text and LATE not in engine_log.text


def test_a_cancelled_cold_restore_stops_the_early_rebuild_and_leaves_nothing(s3_server, bucket, tmp_path,
                                                                             small_parts):
    v1, v2 = stored_versions(s3_server, bucket, tmp_path)
    cold = new_client(s3_server, tmp_path / "cold-cache")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    seen: list[int] = []

    def progress(done: int, total: int, stage: str) -> None:
        seen.append(done)

    cancelled = {"now": False}

    def should_cancel() -> bool:
        # cancel once part of the reference has come (the early rebuild is running by then)
        if len(seen) > 8:
            cancelled["now"] = True
        return cancelled["now"]

    from dgtui.core.errors import CancelledError

    with pytest.raises(CancelledError):
        cold.download(f"s3://{bucket}/r/v2.tar", out_dir / "v2.tar", progress=progress, should_cancel=should_cancel)
    assert cancelled["now"] and list(out_dir.iterdir()) == []
    assert cache_entries(tmp_path / "cold-cache") == []



def test_a_system_without_splice_feeds_the_pipe_by_reading_and_writing(s3_server, bucket, tmp_path, small_parts,
                                                                       engine_log, monkeypatch):
    monkeypatch.delattr(early_decode.os, "splice", raising=False)
    v1, v2 = stored_versions(s3_server, bucket, tmp_path)
    cold = new_client(s3_server, tmp_path / "cold-cache")
    out = tmp_path / "out" / "v2.tar"
    cold.download(f"s3://{bucket}/r/v2.tar", out)
    assert out.read_bytes() == v2.read_bytes()
    assert EARLY in engine_log.text


def test_a_reference_part_cut_short_and_resumed_still_rebuilds_early(s3_server, bucket, tmp_path, small_parts,
                                                                    engine_log):
    from dgtui import create_client
    from dgtui.testing import TcpProxy

    from .test_big_transfers import PART, ranges_asked

    v1, v2 = stored_versions(s3_server, bucket, tmp_path)
    with TcpProxy.for_endpoint(s3_server.endpoint_url) as proxy:
        cold = create_client(proxy.endpoint_url, "WARNING", s3_server.access_key, s3_server.secret_key,
                             region_name=s3_server.region, cache_dir=tmp_path / "cold-cache")
        asked = ranges_asked(cold)
        proxy.cut_after_bytes(3 * PART + PART // 2, once=True)  # in the middle of a part's body
        out = tmp_path / "out" / "v2.tar"
        cold.download(f"s3://{bucket}/r/v2.tar", out)
    assert out.read_bytes() == v2.read_bytes()
    assert any(int(r.split("=")[1].split("-")[0]) % PART for r in asked if r)  # a part went on mid-way
    assert EARLY in engine_log.text  # the bytes after the cut came on in order, and the pipe with them
