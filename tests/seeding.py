"""Big data sets for the backend matrix, laid down by the quickest means each server has.

Thousands of empty objects over HTTP cost boto3 about 2 ms of CPU each, and moto about 4 ms more: on a
small machine most of the matrix's time. Where the server offers a way around its S3 front, the keys go in
that way; the tests still list, count and read them over S3.

* SeaweedFS (and a server the developer named): PUTs from a pool of threads.
* rclone ``serve s3`` serves a local folder: a bucket made over S3 is a folder, its objects are files
  written straight into it (the folder has not been listed yet, so rclone reads it from disk).
* moto: its server runs with one route more (tests/moto_with_seeding.py) that stores the keys in its
  memory.
"""

from __future__ import annotations

import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Sequence

from dgtui.testing.backends import MOTO, RCLONE, MotoProcess, RcloneProcess, S3Backend

PUT_WORKERS = 16
#: S3Backend.extra: the folder rclone serves buckets from
RCLONE_FOLDER = "bucket_folder"
#: S3Backend.extra: the URL of moto's seeding route (a bucket name follows)
MOTO_SEED_URL = "seed_url"
SEED_TIMEOUT_S = 120.0

_loopback_only = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class SeedableMotoProcess(MotoProcess):
    """moto's standalone server started through tests/moto_with_seeding.py."""

    def command(self, port: int) -> Sequence[str]:
        return [sys.executable, str(Path(__file__).with_name("moto_with_seeding.py")), "127.0.0.1", str(port)]

    @property
    def backend(self) -> S3Backend:
        backend = super().backend
        backend.extra[MOTO_SEED_URL] = f"{backend.endpoint_url}/_dgtui_seed/"
        return backend


class FolderRcloneProcess(RcloneProcess):
    """rclone's ``serve s3``, telling its backend which folder it serves."""

    @property
    def backend(self) -> S3Backend:
        backend = super().backend
        backend.extra[RCLONE_FOLDER] = str(self.data_dir / "buckets")
        return backend


def seed_empty_objects(backend: S3Backend, s3: Any, bucket: str, keys: Sequence[str]) -> None:
    """Make ``bucket`` over S3 and put an empty object at each of ``keys``."""
    s3.create_bucket(Bucket=bucket)
    if backend.name == RCLONE and RCLONE_FOLDER in backend.extra:
        root = Path(backend.extra[RCLONE_FOLDER]) / bucket
        for key in keys:
            path = root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    elif backend.name == MOTO and MOTO_SEED_URL in backend.extra:
        request = urllib.request.Request(backend.extra[MOTO_SEED_URL] + bucket, data="\n".join(keys).encode(),
                                         method="POST")
        with _loopback_only.open(request, timeout=SEED_TIMEOUT_S) as answer:
            assert int(answer.read()) == len(keys)
    else:
        with ThreadPoolExecutor(PUT_WORKERS) as pool:
            list(pool.map(lambda key: s3.put_object(Bucket=bucket, Key=key, Body=b""), keys))
