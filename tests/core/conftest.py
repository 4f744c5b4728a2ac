"""Fixtures for SDK tests: a dgtui client and a DeltaGlider 6.2.0 client on the test server."""

from __future__ import annotations

import gzip
import io
import random
import zipfile
from pathlib import Path

import pytest

from dgtui import create_client

ZIP_TIME = (2024, 1, 1, 0, 0, 0)


@pytest.fixture
def client(s3_server, s3_env, tmp_path):
    c = create_client(endpoint_url=s3_server.endpoint_url, aws_access_key_id=s3_server.access_key,
                      aws_secret_access_key=s3_server.secret_key, region_name=s3_server.region,
                      cache_dir=tmp_path / "dgtui-cache")
    yield c
    c.close()


@pytest.fixture
def dg(s3_server, s3_env):
    """The real DeltaGlider 6.2.0 SDK on the same server."""
    from deltaglider import create_client as dg_create_client

    return dg_create_client(endpoint_url=s3_server.endpoint_url, log_level="WARNING")


def make_release(path: Path, version: int, *, size: int = 400_000, seed: int = 7) -> Path:
    """A zip whose versions share most bytes, as releases of one product do."""
    rng = random.Random(seed)
    payload = rng.randbytes(size)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr(zipfile.ZipInfo("app/bin", ZIP_TIME), payload)
        z.writestr(zipfile.ZipInfo("app/VERSION", ZIP_TIME), f"1.{version}.0\n")
        z.writestr(zipfile.ZipInfo("app/changes.txt", ZIP_TIME), "fix\n" * (version + 1))
    return path


def random_bytes(n: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(n)


def read_all(body) -> bytes:
    buf = io.BytesIO()
    for chunk in iter(lambda: body.read(65536), b""):
        buf.write(chunk)
    return buf.getvalue()


def upload_gzip_trap(dg, bucket: str, folder: Path, rows: int = 30_000) -> bytes:
    """Two daily .sql.gz dumps uploaded by DeltaGlider 6.2.0 into s3://bucket/backups/.

    DeltaGlider encodes without -D, so the second one fails its sha256 after
    recompression. Returns the decompressed contents of that second dump.
    """
    text_v1 = b"".join(b"INSERT INTO t VALUES (%d, 'row');\n" % i for i in range(rows))
    text_v2 = text_v1.replace(b"(77,", b"(7700,")
    a, b = folder / "db-01.sql.gz", folder / "db-02.sql.gz"
    a.write_bytes(gzip.compress(text_v1, compresslevel=9, mtime=1_700_000_000))
    b.write_bytes(gzip.compress(text_v2, compresslevel=9, mtime=1_700_086_400))
    dg.upload(str(a), f"s3://{bucket}/backups/")
    dg.upload(str(b), f"s3://{bucket}/backups/")
    return text_v2
