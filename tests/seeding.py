"""Big data sets for the backend matrix, laid down by the quickest means each server has.

Thousands of empty objects over HTTP cost boto3 about 2 ms of CPU each, and moto about 4 ms more: on a
small machine most of the matrix's time. Where the server offers a way around its S3 front, the keys go in
that way; the tests still list, count and read them over S3.

* SeaweedFS keeps a bucket's objects in its filer under /buckets/<bucket>/: the files go to the filer's
  own HTTP port, no signing, from a pool of threads.
* A server the developer named: PUTs from a pool of threads.
* rclone ``serve s3`` serves a local folder: a bucket made over S3 is a folder, its objects are files
  written straight into it (the folder has not been listed yet, so rclone reads it from disk).
* moto: its server runs with one route more (tests/moto_with_seeding.py) that stores the keys in its
  memory.
"""

from __future__ import annotations

import http.client
import sys
import threading
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Mapping, Sequence

from dgtui.testing.backends import MOTO, RCLONE, SEAWEEDFS, MotoProcess, RcloneProcess, S3Backend

PUT_WORKERS = 16
#: S3Backend.extra: the folder rclone serves buckets from
RCLONE_FOLDER = "bucket_folder"
#: S3Backend.extra: the URL of moto's seeding route (a bucket name follows)
MOTO_SEED_URL = "seed_url"
#: S3Backend.extra: host and port of SeaweedFS's filer
SEAWEEDFS_FILER = "filer_address"
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
    seed_objects(backend, s3, bucket, dict.fromkeys(keys, b""))


def seed_objects(backend: S3Backend, s3: Any, bucket: str, objects: Mapping[str, bytes]) -> None:
    """Make ``bucket`` over S3 and put each body of ``objects`` at its key (no metadata, no content type)."""
    s3.create_bucket(Bucket=bucket)
    if backend.name == RCLONE and RCLONE_FOLDER in backend.extra:
        root = Path(backend.extra[RCLONE_FOLDER]) / bucket
        for key, body in objects.items():
            path = root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
    elif backend.name == MOTO and MOTO_SEED_URL in backend.extra and not any(objects.values()):
        request = urllib.request.Request(backend.extra[MOTO_SEED_URL] + bucket, data="\n".join(objects).encode(),
                                         method="POST")
        with _loopback_only.open(request, timeout=SEED_TIMEOUT_S) as answer:
            assert int(answer.read()) == len(objects)
    elif backend.name == SEAWEEDFS and SEAWEEDFS_FILER in backend.extra:
        _put_through_filer(backend.extra[SEAWEEDFS_FILER], bucket, objects)
    else:
        with ThreadPoolExecutor(PUT_WORKERS) as pool:
            list(pool.map(lambda item: s3.put_object(Bucket=bucket, Key=item[0], Body=item[1]), objects.items()))


def _put_through_filer(address: tuple[str, int], bucket: str, objects: Mapping[str, bytes]) -> None:
    per_thread = threading.local()
    opened: list[http.client.HTTPConnection] = []

    def put(item: tuple[str, bytes]) -> None:
        key, body = item
        connection = getattr(per_thread, "connection", None)
        if connection is None:
            connection = per_thread.connection = http.client.HTTPConnection(*address, timeout=SEED_TIMEOUT_S)
            opened.append(connection)
        connection.request("PUT", f"/buckets/{bucket}/{urllib.parse.quote(key, safe='/')}", body=body)
        answer = connection.getresponse()
        answer.read()
        assert answer.status in (200, 201), (key, answer.status, answer.reason)

    try:
        with ThreadPoolExecutor(PUT_WORKERS // 2) as pool:
            list(pool.map(put, objects.items()))
    finally:
        for connection in opened:
            connection.close()
