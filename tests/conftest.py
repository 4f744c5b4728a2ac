"""Shared fixtures: one local S3 server per test session, a bucket per test.

The suite runs on SeaweedFS unless ``DGTUI_TEST_BACKEND`` names another server (moto, rclone, or
``endpoint`` with ``DGTUI_TEST_ENDPOINT`` and its credentials): ``s3_server`` and everything built on it
follow that switch. The backend matrix (tests/matrix) takes ``backend``, which runs each test once on
every local server (SeaweedFS, moto, rclone), or on the ones ``DGTUI_TEST_BACKEND`` names.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dgtui.demo.server import LocalS3Server
from dgtui.testing.backends import (
    BACKEND_VARIABLE,
    ENDPOINT_VARIABLE,
    LOCAL_BACKENDS,
    NO_VERSIONING,
    SEAWEEDFS,
    S3Backend,
    backends_from_environment,
    endpoint_backend,
)

from .seeding import SEAWEEDFS_FILER, FolderRcloneProcess, SeedableMotoProcess

MAX_BUCKET_NAME = 63
#: volumes the suite's SeaweedFS may make: a bucket each and more (the suite makes several hundred), whatever
#: the free disk space, from which weed would otherwise count them (29 GiB free allowed 471: too few)
TEST_SERVER_VOLUMES = 4000

#: the backends named by DGTUI_TEST_BACKEND (SeaweedFS when nothing is set); the first one serves the suite
SUITE_BACKENDS = backends_from_environment()
#: the backends every matrix test runs on: all local servers unless the environment names some
MATRIX_BACKENDS = SUITE_BACKENDS if (os.environ.get(BACKEND_VARIABLE) or os.environ.get(ENDPOINT_VARIABLE)) \
    else LOCAL_BACKENDS


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``versioning`` need a suite server that keeps versions: on one that does not (rclone) they
    are skipped with the server's name and why, never silently."""
    reason = NO_VERSIONING.get(SUITE_BACKENDS[0])
    if reason is None:
        return
    for item in items:
        if item.get_closest_marker("versioning") is not None:
            item.add_marker(pytest.mark.skip(reason=f"{SUITE_BACKENDS[0]}: {reason}"))


@pytest.fixture(scope="session", autouse=True)
def _bench_smoke_started_with_the_session(request: pytest.FixtureRequest,
                                          tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The bench smoke run, when this session runs its test, starts now and runs beside the other tests:
    it is mostly its own processes waiting on each other, about two minutes of the suite otherwise."""
    if not any(item.path.name == "test_bench_smoke.py" for item in request.session.items):
        yield
        return
    from tests.test_bench_smoke import SmokeRun

    run = SmokeRun.start(tmp_path_factory.mktemp("bench-smoke"))
    yield
    run.stop()


@pytest.fixture(scope="session")
def seaweedfs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalS3Server]:
    server = LocalS3Server(tmp_path_factory.mktemp("s3-data"), max_volumes=TEST_SERVER_VOLUMES)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_server(request: pytest.FixtureRequest) -> Any:
    """The suite's S3 server: SeaweedFS (a ``LocalS3Server``) or the backend DGTUI_TEST_BACKEND names
    (an ``S3Backend``: the same endpoint, credentials, ``env()`` and ``boto3_client()``)."""
    if SUITE_BACKENDS[0] == SEAWEEDFS:
        return request.getfixturevalue("seaweedfs_server")
    return request.getfixturevalue(_backend_fixture_name(SUITE_BACKENDS[0]))


@pytest.fixture(scope="session")
def s3_backend(request: pytest.FixtureRequest) -> S3Backend:
    """The suite's S3 server (``s3_server``) as an ``S3Backend``: for tests/seeding.py."""
    return request.getfixturevalue(_backend_fixture_name(SUITE_BACKENDS[0]))


@pytest.fixture(scope="session")
def seaweedfs_backend(seaweedfs_server: LocalS3Server) -> S3Backend:
    backend = S3Backend.of_local_server(seaweedfs_server)
    assert seaweedfs_server.ports is not None
    backend.extra[SEAWEEDFS_FILER] = ("127.0.0.1", seaweedfs_server.ports.filer)
    return backend


@pytest.fixture(scope="session")
def moto_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Backend]:
    """moto's standalone server, a process of its own on 127.0.0.1 (with a route that seeds big data sets)."""
    process = SeedableMotoProcess(tmp_path_factory.mktemp("moto"))
    backend = process.start()
    try:
        yield backend
    finally:
        process.stop()


@pytest.fixture(scope="session")
def rclone_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Backend]:
    """rclone's ``serve s3`` over a folder of this session."""
    process = FolderRcloneProcess(tmp_path_factory.mktemp("rclone"))
    backend = process.start()
    try:
        yield backend
    finally:
        process.stop()


@pytest.fixture(scope="session")
def endpoint_backend_of_environment() -> S3Backend:
    """The server DGTUI_TEST_ENDPOINT names, with DGTUI_TEST_ACCESS_KEY / DGTUI_TEST_SECRET_KEY."""
    return endpoint_backend()


def _backend_fixture_name(name: str) -> str:
    return "endpoint_backend_of_environment" if name == "endpoint" else f"{name}_backend"


@pytest.fixture(scope="session", params=MATRIX_BACKENDS)
def backend(request: pytest.FixtureRequest) -> S3Backend:
    """Each S3 server of the matrix in turn (test ids end in ``[seaweedfs]``, ``[moto]``, ``[rclone]``).

    A test that depends on one server's behaviour compares ``backend.name`` and says so by name.
    """
    return request.getfixturevalue(_backend_fixture_name(request.param))


@pytest.fixture(scope="session")
def s3_tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalS3Server]:
    """A second local S3 server, on https with a certificate from a CA made for the session."""
    from dgtui.testing.tls import make_local_tls

    tls = make_local_tls(tmp_path_factory.mktemp("tls"))
    server = LocalS3Server(tmp_path_factory.mktemp("s3-tls-data"), tls=tls, max_volumes=TEST_SERVER_VOLUMES)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def two_identity_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A private SeaweedFS with an identity limited to bucket 'team-a' (tests/hardening/conftest.py), one for
    the session: each module takes it through ``as_new``, which puts its buckets back as they started."""
    from .hardening.conftest import serve_two_identities

    yield from serve_two_identities(tmp_path_factory.mktemp("two-identities"))


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 server, the second backend: it keeps what SeaweedFS rewrites or ignores
    (keys with '..', '//' or backslashes; per-grantee ACL grants)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def _session_boto3_s3(s3_server: LocalS3Server) -> Any:
    return s3_server.boto3_client()


@pytest.fixture
def boto3_s3(_session_boto3_s3: Any) -> Any:
    """A plain boto3 S3 client on the test server (no DeltaGlider logic)."""
    return _session_boto3_s3


@pytest.fixture
def s3_env(s3_server: LocalS3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """Point everything that reads the environment at the test server.

    Profiles and config files of the machine are hidden, and the SDK's
    on-disk caches live in a directory of this test only.
    """
    env = s3_server.env()
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    isolated = {
        **env,
        "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "DGTUI_CACHE_DIR": str(tmp_path / "dgtui-cache"),
    }
    for name, value in isolated.items():
        monkeypatch.setenv(name, value)
    return isolated


def bucket_name_for(test_name: str) -> str:
    """``t-<test name slug>-<random>``: lowercase, valid, at most 63 chars."""
    suffix = secrets.token_hex(4)
    slug = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")
    room = MAX_BUCKET_NAME - len("t--") - len(suffix)
    slug = slug[:room].strip("-") or "test"
    return f"t-{slug}-{suffix}"


@pytest.fixture
def bucket(boto3_s3: Any, request: pytest.FixtureRequest) -> str:
    """A fresh, empty bucket for this test."""
    name = bucket_name_for(request.node.name)
    boto3_s3.create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def _boto3_per_backend() -> dict[str, Any]:
    return {}


@pytest.fixture
def backend_s3(backend: S3Backend, _boto3_per_backend: dict[str, Any]) -> Any:
    """A plain boto3 S3 client on the matrix backend of this test."""
    if backend.name not in _boto3_per_backend:
        _boto3_per_backend[backend.name] = backend.boto3_client(max_pool_connections=32)
    return _boto3_per_backend[backend.name]


@pytest.fixture
def backend_bucket(backend_s3: Any, request: pytest.FixtureRequest) -> str:
    """A fresh, empty bucket for this test on the matrix backend."""
    name = bucket_name_for(request.node.originalname)
    backend_s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def backend_env(backend: S3Backend, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """As ``s3_env``, for the matrix backend of this test."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    isolated = {
        **backend.env(),
        "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "DGTUI_CACHE_DIR": str(tmp_path / "dgtui-cache"),
    }
    for name, value in isolated.items():
        monkeypatch.setenv(name, value)
    return isolated
