"""Fixtures for the app tests: real SDK clients on the session's local S3 server.

Data that several tests only read (a prefix of thousands of keys) is uploaded
once per session.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from dgtui import DgClient
from dgtui.testing.backends import S3Backend

from ..seeding import PUT_WORKERS, seed_objects
from .helpers import BIG_COUNT, BIG_PREFIX, make_client


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dgtui-app-cache")


@pytest.fixture(scope="session")
def session_client(s3_server: Any, session_cache: Path) -> DgClient:
    client = make_client(s3_server, session_cache)
    yield client
    client.close()


@pytest.fixture
def client(s3_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DgClient:
    """A client of this test only (its own caches, its own event handlers)."""
    monkeypatch.setenv("DGTUI_CACHE_DIR", str(tmp_path / "dgtui-cache"))
    c = make_client(s3_server, tmp_path / "dgtui-cache")
    yield c
    c.close()


@pytest.fixture(scope="session")
def big_bucket(s3_server: Any, s3_backend: S3Backend) -> str:
    """A bucket whose ``logs/`` prefix holds 5,000 small objects (plus two folders)."""
    name = f"t-app-big-{random.Random().getrandbits(32):08x}"
    objects = {f"{BIG_PREFIX}file-{i:06d}.log": b"x" * (i % 977) for i in range(BIG_COUNT)}
    objects.update({f"{BIG_PREFIX}{folder}inner.log": b"inner" for folder in ("archive/", "zzz/")})
    seed_objects(s3_backend, s3_server.boto3_client(max_pool_connections=PUT_WORKERS), name, objects)
    return name
