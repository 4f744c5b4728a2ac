"""The local S3 server, the latency proxy, and clients for every tool."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from dgtui.demo.server import LocalS3Server
from dgtui.testing.tls import make_local_tls

LATENCY_S = 0.030
REGION = "us-east-1"


@dataclass(frozen=True)
class Network:
    """One way of reaching the server."""

    name: str  #: shown in the table
    endpoint_url: str
    proxy_pid: int | None = None  #: the latency proxy's process, if the network goes through one


@dataclass
class BenchEnv:
    work: Path  #: scratch space, removed at the end unless kept
    server: LocalS3Server
    networks: list[Network] = field(default_factory=list)
    _proxies: list[subprocess.Popen] = field(default_factory=list)
    _own_work: bool = True

    # -- lifecycle -----------------------------------------------------------
    @classmethod
    def start(cls, work_dir: str | None = None, latency_s: float = LATENCY_S) -> "BenchEnv":
        if work_dir:
            work = Path(work_dir).absolute()
            work.mkdir(parents=True, exist_ok=True)
            own = False
        else:
            work = Path(tempfile.mkdtemp(prefix="dgtui-bench-"))
            own = True
        # One server on http and https (a certificate from a CA made for the run), so both read the same data.
        tls = make_local_tls(work / "tls")
        # Volumes of 1 GiB: the big-archive cases write hundreds of megabytes at a time, and a new volume every
        # 64 MiB made the first of those writes after a start several times slower, whichever tool it was.
        server = LocalS3Server(work / "s3-data", log_path=work / "weed.log", tls=tls, volume_mib=1024).start()
        env = cls(work=work, server=server, _own_work=own)
        assert server.ports is not None
        for scheme, url, port in (("http", server.endpoint_url, server.ports.s3),
                                  ("https", server.https_endpoint_url, server.ports.s3_https)):
            tag = "" if scheme == "http" else "https "
            env.networks.append(Network(f"{tag}loopback", url))
            if latency_s > 0:
                proxy = subprocess.Popen(
                    [sys.executable, "-m", "bench.latency_proxy", str(port), str(latency_s)],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=Path(__file__).parent.parent,
                    env=env.child_env())
                env._proxies.append(proxy)
                proxied = int(proxy.stdout.readline())
                env.networks.append(Network(f"{tag}+{latency_s * 1000:g} ms", f"{scheme}://127.0.0.1:{proxied}",
                                            proxy.pid))
        return env

    def stop(self) -> None:
        for proxy in self._proxies:
            try:
                proxy.stdin.close()
                proxy.wait(timeout=10)
            except Exception:
                proxy.kill()
        self._proxies = []
        self.server.stop()
        if self._own_work:
            shutil.rmtree(self.work, ignore_errors=True)

    # -- paths -----------------------------------------------------------------
    def scratch(self, name: str) -> Path:
        """A fresh, empty folder under the work dir."""
        path = self.work / "scratch" / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def files(self, name: str) -> Path:
        """A folder for generated input files, kept between runs on the same work dir."""
        path = self.work / "files" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- credentials and clients ------------------------------------------------
    def child_env(self, endpoint_url: str | None = None) -> dict[str, str]:
        """Environment for tools run as processes: credentials, no profiles, no EC2 probing."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("AWS_") and not k.startswith("DG_") and not k.startswith("DGTUI_")}
        env.update({
            "AWS_ACCESS_KEY_ID": self.server.access_key,
            "AWS_SECRET_ACCESS_KEY": self.server.secret_key,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "DG_LOG_LEVEL": "WARNING",
            "DG_SUPPRESS_DEPRECATION": "1",
            "PYTHONPATH": str(Path(__file__).parent.parent),
        })
        if self.server.ca_bundle:
            env["AWS_CA_BUNDLE"] = self.server.ca_bundle  # every tool verifies the https endpoint with it
        if endpoint_url:
            env["AWS_ENDPOINT_URL"] = endpoint_url
        return env

    def use_process_env(self) -> None:
        """Point this process's environment at the server (DeltaGlider reads credentials from it)."""
        for k in [k for k in os.environ if k.startswith("AWS_")]:
            del os.environ[k]
        os.environ.update({k: v for k, v in self.child_env().items() if k.startswith("AWS_")})

    def admin(self) -> Any:
        """A plain boto3 client straight to the server, for building data sets."""
        return boto3.client(
            "s3", endpoint_url=self.server.endpoint_url, aws_access_key_id=self.server.access_key,
            aws_secret_access_key=self.server.secret_key, region_name=REGION,
            config=Config(s3={"addressing_style": "path"}, max_pool_connections=64,
                          request_checksum_calculation="when_required",
                          response_checksum_validation="when_required",
                          retries={"mode": "standard", "max_attempts": 8}))

    def boto3_default(self, endpoint_url: str) -> Any:
        """boto3 as a user gets it: default configuration."""
        return boto3.client("s3", endpoint_url=endpoint_url, aws_access_key_id=self.server.access_key,
                            aws_secret_access_key=self.server.secret_key, region_name=REGION)

    def dgtui(self, endpoint_url: str, cache_dir: Path) -> Any:
        from dgtui import create_client

        return create_client(endpoint_url=endpoint_url, aws_access_key_id=self.server.access_key,
                             aws_secret_access_key=self.server.secret_key, region_name=REGION,
                             cache_dir=cache_dir)

    def deltaglider(self, endpoint_url: str) -> Any:
        """DeltaGlider 6.2.0's client as its README shows it (fresh, process-private cache)."""
        from deltaglider import create_client as dg_create_client

        return dg_create_client(endpoint_url=endpoint_url, log_level="WARNING",
                                aws_access_key_id=self.server.access_key,
                                aws_secret_access_key=self.server.secret_key, region_name=REGION)

    def ensure_bucket(self, name: str) -> None:
        admin = self.admin()
        try:
            admin.create_bucket(Bucket=name)
        except admin.exceptions.BucketAlreadyOwnedByYou:
            pass
        except admin.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("BucketAlreadyExists", "BucketAlreadyOwnedByYou"):
                raise
