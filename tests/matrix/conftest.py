"""The backend matrix: the same behaviour checked on every S3 server of the suite.

Every test here takes ``backend`` (tests/conftest.py) and so runs once on SeaweedFS, moto's standalone
server and rclone's ``serve s3`` (or on the servers ``DGTUI_TEST_BACKEND`` names). Big data sets are
made once per backend per session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dgtui.testing.backends import S3Backend

from ..conftest import bucket_name_for
from ..seeding import PUT_WORKERS, seed_empty_objects

#: keys of the big flat listing: more than ten pages of 1,000
FLAT_KEYS = [f"flat/{i:05d}.bin" for i in range(10_050)]
#: a folder listed with a delimiter: more than a page of 1,000 files and folders
TREE_FILES = [f"tree/f{i:04d}.txt" for i in range(1_020)]
TREE_FOLDERS = [f"tree/d{n:02d}/" for n in range(25)]
TREE_KEYS = TREE_FILES + [f"{folder}{name}" for folder in TREE_FOLDERS for name in ("a.txt", "b.txt")]

def paginator_listing(s3: Any, bucket: str, prefix: str = "", delimiter: str | None = None
                      ) -> tuple[list[str], list[str]]:
    """(keys, common prefixes) as boto3's own paginator lists them: the reference of exactness."""
    params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    if delimiter:
        params["Delimiter"] = delimiter
    keys: list[str] = []
    prefixes: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(**params):
        keys += [o["Key"] for o in page.get("Contents", [])]
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    return keys, prefixes


@pytest.fixture(scope="session")
def _matrix_s3(backend: S3Backend) -> Any:
    return backend.boto3_client(max_pool_connections=PUT_WORKERS)


@pytest.fixture(scope="session")
def big_bucket(backend: S3Backend, _matrix_s3: Any) -> str:
    """A bucket of 10,050 empty keys under flat/, made once per backend (tests/seeding.py says how)."""
    name = bucket_name_for(f"matrix-big-{backend.name}")
    seed_empty_objects(backend, _matrix_s3, name, FLAT_KEYS)
    return name


@pytest.fixture(scope="session")
def big_bucket_listing(big_bucket: str, _matrix_s3: Any) -> list[str]:
    """Every key of ``big_bucket`` by boto3's paginator (made once: the slowest server takes ~20 s)."""
    keys, _ = paginator_listing(_matrix_s3, big_bucket)
    assert keys == FLAT_KEYS  # the server stored every key, and lists in code-point order
    return keys


@pytest.fixture(scope="session")
def tree_bucket(backend: S3Backend, _matrix_s3: Any) -> str:
    """A bucket whose tree/ folder holds 1,020 files and 25 folders, made once per backend."""
    name = bucket_name_for(f"matrix-tree-{backend.name}")
    seed_empty_objects(backend, _matrix_s3, name, TREE_KEYS)
    return name


@pytest.fixture
def mclient(backend: S3Backend, backend_env: dict[str, str], tmp_path: Path) -> Iterator[Any]:
    """A dgtui SDK client on the matrix backend, with a cache of this test only."""
    client = backend.dgtui_client(cache_dir=tmp_path / "dgtui-cache")
    yield client
    client.close()


#: servers where DeltaGlider 6.2.0 itself cannot work, and why (its interop tests xfail there by name)
DELTAGLIDER_BREAKS_ON = {
    "rclone": ("rclone serve s3 returns user-metadata names capitalised (Dg-File-Sha256); DeltaGlider 6.2.0 "
               "reads lowercase names only: its second upload to a folder fails ('Reference metadata missing "
               "file SHA256') and its download of a delta gives back bytes other than the file's"),
}


@pytest.fixture
def dg(backend: S3Backend, backend_env: dict[str, str]) -> Any:
    """The real DeltaGlider 6.2.0 SDK on the matrix backend."""
    from deltaglider import create_client as dg_create_client

    return dg_create_client(endpoint_url=backend.endpoint_url, log_level="WARNING")
