"""Fixtures for SDK tests: a dgtui client and a DeltaGlider 6.2.0 client on the test server."""

from __future__ import annotations

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
