"""Big restores are written past the page cache (O_DIRECT) where the file system takes it: same bytes,
same checks, and the same bytes through the page cache where it does not."""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import pytest

from dgtui import ExpansionError, IntegrityError, create_client
from dgtui.core import codec, directio
from dgtui.core.directio import STAGE, DirectFile

from .conftest import random_bytes
from .test_big_transfers import versions as two_versions


def chunks_of(data: bytes, seed: int) -> list[bytes]:
    """``data`` cut at random places, as a pipe hands it over (sizes from 1 byte to 2.5 stages)."""
    rng = random.Random(seed)
    out, at = [], 0
    while at < len(data):
        step = rng.choice([1, 511, 4096, 65_536, 1_048_576, STAGE, STAGE * 5 // 2])
        out.append(data[at:at + step])
        at += step
    return out


@pytest.mark.parametrize("size", [0, 1, STAGE - 1, STAGE, STAGE + 1, 3 * STAGE + 12_345])
@pytest.mark.parametrize("direct", [True, False], ids=["direct", "page-cache"])
def test_a_direct_file_holds_exactly_the_bytes_written(tmp_path: Path, size: int, direct: bool):
    data = random_bytes(size, seed=size)
    path = tmp_path / "out.bin"
    with DirectFile(path, direct=direct) as f:
        for chunk in chunks_of(data, size):
            assert f.write(chunk) == len(chunk)
        direct_used = f.direct
    assert path.read_bytes() == data
    assert f.size == size
    if not direct:
        assert not direct_used


def test_a_direct_file_says_whether_it_went_past_the_page_cache(tmp_path: Path):
    """On Linux file systems that take O_DIRECT (ext4, xfs, btrfs, tmpfs since 6.6) it is used; where it is
    refused at the open (EINVAL), the same bytes go through the page cache."""
    path = tmp_path / "probe.bin"
    with DirectFile(path) as f:
        f.write(b"x" * (STAGE + 3))
    try:
        fd = os.open(tmp_path / "plain.bin", os.O_WRONLY | os.O_CREAT | os.O_DIRECT, 0o600)
    except OSError:
        takes_direct = False
    else:
        os.close(fd)
        takes_direct = True
    assert f.direct == takes_direct
    assert path.read_bytes() == b"x" * (STAGE + 3)


@pytest.fixture
def direct_from_one_mib(monkeypatch):
    """Files of 1 MiB and more go the direct way (64 MiB in use), so small test files take that path."""
    monkeypatch.setattr(codec, "DIRECT_MIN_BYTES", 1024 * 1024)
    used: list[bool] = []
    original = directio.DirectFile.close

    def close(self):
        used.append(self.direct)
        original(self)

    monkeypatch.setattr(directio.DirectFile, "close", close)
    return used


def versions(tmp_path: Path) -> tuple[Path, Path]:
    """Two versions of an archive (more than one staging block, not a whole number of them)."""
    return two_versions(tmp_path, size=5 * 1024 * 1024 + 777)


def test_a_big_decode_written_direct_rebuilds_the_file_and_stops_at_its_limit(tmp_path, direct_from_one_mib):
    v1, v2 = versions(tmp_path)
    delta = tmp_path / "d.vcdiff"
    codec.encode(v1, v2, delta, level=1)
    out = tmp_path / "out.tar"
    digest = codec.decode(v1, delta, out, limit=v2.stat().st_size)
    assert len(direct_from_one_mib) == 1, "the decode wrote through DirectFile"
    assert out.read_bytes() == v2.read_bytes()
    assert digest == hashlib.sha256(v2.read_bytes()).hexdigest()
    out.unlink()
    with pytest.raises(ExpansionError):  # one byte short of what it rebuilds: stopped, nothing left
        codec.decode(v1, delta, out, limit=v2.stat().st_size - 1)
    assert not out.exists()


def test_a_restore_written_direct_is_exact_and_a_damaged_delta_leaves_nothing(s3_server, bucket, boto3_s3,
                                                                               tmp_path, direct_from_one_mib):
    v1, v2 = versions(tmp_path)
    client = create_client(s3_server.endpoint_url, "WARNING", s3_server.access_key, s3_server.secret_key,
                           region_name=s3_server.region, cache_dir=tmp_path / "cache")
    client.upload(v1, f"s3://{bucket}/r/")
    client.upload(v2, f"s3://{bucket}/r/")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    client.download(f"s3://{bucket}/r/v2.tar", out_dir / "v2.tar")
    assert (out_dir / "v2.tar").read_bytes() == v2.read_bytes()
    assert len(direct_from_one_mib) == 1, "the restore wrote through DirectFile"
    # A delta cut short: refused, no file and no temp file beside the target.
    stored = boto3_s3.get_object(Bucket=bucket, Key="r/v2.tar.delta")
    body = stored["Body"].read()
    boto3_s3.put_object(Bucket=bucket, Key="r/v2.tar.delta", Body=body[: len(body) // 2], Metadata=stored["Metadata"])
    with pytest.raises(IntegrityError):
        client.download(f"s3://{bucket}/r/v2.tar", out_dir / "again.tar")
    assert sorted(p.name for p in out_dir.iterdir()) == ["v2.tar"]


DISK_FULL_SNIPPET = """
import json, resource, signal, sys
from dgtui.core import codec
from dgtui import DgError
codec.DIRECT_MIN_BYTES = 1024 * 1024
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = int(sys.argv[5])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
try:
    codec.decode(sys.argv[1], sys.argv[2], sys.argv[3], limit=int(sys.argv[4]))
    print(json.dumps({"ok": True}))
except DgError as exc:
    print(json.dumps({"ok": False, "type": type(exc).__name__, "message": str(exc)}))
"""


@pytest.mark.parametrize("room", [2 * 1024 * 1024, STAGE + 100], ids=["in-a-block", "in-the-last-bytes"])
def test_a_full_disk_under_a_direct_write_is_a_local_write_error_and_leaves_nothing(tmp_path, room):
    """The disk fills during a whole block, or only when the last bytes are written at the close."""
    import json
    import subprocess
    import sys

    v1, v2 = versions(tmp_path)
    delta = tmp_path / "d.vcdiff"
    codec.encode(v1, v2, delta, level=1)
    out = tmp_path / "out" / "v2.tar"
    out.parent.mkdir()
    done = subprocess.run([sys.executable, "-c", DISK_FULL_SNIPPET, str(v1), str(delta), str(out),
                           str(v2.stat().st_size), str(room)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["ok"] is False and answer["type"] == "LocalWriteError", answer
    assert "File too large" in answer["message"]
    assert list(out.parent.iterdir()) == []
