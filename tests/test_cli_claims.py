"""What the CLI says is what happened: every number is compared with a count made with boto3.

The commands run as a user runs them, in a new process.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dgtui.core.text import human_size, percent
from dgtui.testing.proxy import TcpProxy

from .core.conftest import make_release, random_bytes
from .scripted_http import QuietHandler, serving


def dgtui(*argv: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dgtui", *argv], env=env or dict(os.environ),
                          capture_output=True, text=True, timeout=timeout)


def stored_objects(s3, bucket: str, prefix: str = "") -> dict[str, int]:
    """Stored key -> size, as boto3 lists them."""
    out: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
    return out


def restorable_keys(s3, bucket: str, prefix: str) -> list[str]:
    """Logical keys a folder restore writes (references are not files, deltas lose their suffix)."""
    keys = [k.removesuffix(".delta") for k in stored_objects(s3, bucket, prefix) if not k.endswith("/reference.bin")]
    return sorted(keys)


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def releases(tmp_path) -> list[Path]:
    folder = tmp_path / "src"
    folder.mkdir()
    return [make_release(folder / f"tool-1.{v}.zip", v) for v in range(3)]


def test_upload_summary_equals_what_the_bucket_holds(s3_env, bucket, boto3_s3, releases):
    proc = dgtui("put", *map(str, releases), f"s3://{bucket}/rel/")
    assert proc.returncode == 0, proc.stderr
    summary = proc.stdout.splitlines()[-1]
    held = sum(stored_objects(boto3_s3, bucket, "rel/").values())
    original = sum(p.stat().st_size for p in releases)
    # 3 files into a new folder: the reference, a zero delta and two deltas are what the bucket holds.
    assert f"{human_size(original)} → {human_size(held)} ({percent((1 - held / original) * 100)} saved" in summary, \
        (summary, held)


def test_resumed_folder_restore_says_already_restored_and_exits_0(s3_env, bucket, boto3_s3, releases, tmp_path):
    assert dgtui("put", *map(str, releases), f"s3://{bucket}/rel/").returncode == 0
    (tmp_path / "notes.txt").write_text("notes\n")
    assert dgtui("put", str(tmp_path / "notes.txt"), f"s3://{bucket}/rel/").returncode == 0
    keys = restorable_keys(boto3_s3, bucket, "rel/")
    dest = tmp_path / "out"
    first = dgtui("get", "-r", f"s3://{bucket}/rel/", str(dest))
    assert first.returncode == 0, first.stderr
    assert files_under(dest) == [k[len("rel/"):] for k in keys]

    # Everything is there already: nothing to do, and that is success.
    again = dgtui("get", "-r", f"s3://{bucket}/rel/", str(dest))
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.splitlines()[-1] == f"all {len(keys)} files were already restored (same size and sha256)"
    assert again.stderr == ""

    # A resumed restore: two files are missing, the others are there.
    (dest / "tool-1.0.zip").unlink()
    (dest / "notes.txt").unlink()
    resumed = dgtui("get", "-r", f"s3://{bucket}/rel/", str(dest))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert resumed.stdout.splitlines()[-1].startswith("restored 2 files (")
    assert f"· {len(keys) - 2} files were already restored (same size and sha256)" in resumed.stdout
    assert "kept" not in resumed.stdout + resumed.stderr

    # Only a file that differs is kept, with the reason, and that is not success.
    (dest / "tool-1.1.zip").write_bytes(b"something else")
    kept = dgtui("get", "-r", f"s3://{bucket}/rel/", str(dest))
    assert kept.returncode == 1
    assert "1 kept (the existing file)" in kept.stdout.splitlines()[-1]
    assert f"{len(keys) - 1} files were already restored" in kept.stdout
    assert kept.stderr.count("\n") == 1 and "tool-1.1.zip: it already exists and differs from the object (14 B here, " \
        in kept.stderr and "--overwrite" in kept.stderr


def test_get_of_a_folder_names_the_cli_option(s3_env, bucket, releases, tmp_path):
    assert dgtui("put", str(releases[0]), f"s3://{bucket}/rel/").returncode == 0
    proc = dgtui("get", f"s3://{bucket}/rel/", str(tmp_path / "x"))
    assert proc.returncode == 1
    assert "use --recursive" in proc.stderr and "download_prefix" not in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1


def test_folder_restore_with_a_failure_counts_each_key_once(s3_env, bucket, boto3_s3, releases, tmp_path):
    assert dgtui("put", *map(str, releases), f"s3://{bucket}/rel/").returncode == 0
    for i in range(2):
        (tmp_path / f"n{i}.txt").write_text(f"n{i}\n")
        assert dgtui("put", str(tmp_path / f"n{i}.txt"), f"s3://{bucket}/rel/").returncode == 0
    # Two deltas whose bytes were replaced: they cannot rebuild their file.
    for name in ("tool-1.1.zip.delta", "tool-1.2.zip.delta"):
        head = boto3_s3.head_object(Bucket=bucket, Key=f"rel/{name}")
        boto3_s3.put_object(Bucket=bucket, Key=f"rel/{name}", Body=random_bytes(500), Metadata=head["Metadata"])
    keys = restorable_keys(boto3_s3, bucket, "rel/")
    dest = tmp_path / "out"
    proc = dgtui("get", "-r", f"s3://{bucket}/rel/", str(dest))
    assert proc.returncode == 1
    summary = proc.stdout.splitlines()[-1]
    restored = files_under(dest)
    assert len(restored) == len(keys) - 2
    assert summary.startswith(f"restored {len(restored)} files (") and "· 2 failed: rel/tool-1.1.zip: " in summary
    assert "skipped" not in summary and "Enter" not in summary, summary
    assert sorted(line.split(":")[0] for line in proc.stderr.splitlines()) == \
        ["failed rel/tool-1.1.zip", "failed rel/tool-1.2.zip"]


def test_folder_restore_interrupted_says_what_is_on_disk(s3_server, s3_env, bucket, boto3_s3, tmp_path):
    for i in range(12):
        boto3_s3.put_object(Bucket=bucket, Key=f"many/f{i:02d}.txt", Body=f"file {i}\n".encode() * 100)
    keys = restorable_keys(boto3_s3, bucket, "many/")
    dest = tmp_path / "out"
    # Each request waits, so the restore is still running when Ctrl-C comes.
    with TcpProxy.for_endpoint(s3_server.endpoint_url, latency_s=0.3) as proxy:
        env = {**s3_env, **{k: v for k, v in os.environ.items() if k not in s3_env}, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen([sys.executable, "-m", "dgtui", "--endpoint-url", proxy.endpoint_url, "get", "-r",
                                 f"s3://{bucket}/many/", str(dest)], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            lines = []
            for line in proc.stdout:  # bounded: the command ends after its last file at the latest
                lines.append(line.rstrip("\n"))
                if line.startswith("restored "):
                    proc.send_signal(signal.SIGINT)
                    break
            rest, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
    lines += rest.splitlines()
    on_disk = files_under(dest)
    assert proc.returncode == 130, err
    assert 1 <= len(on_disk) < len(keys), on_disk
    restored_lines = [line for line in lines[:-1] if line.startswith("restored ")]
    assert len(restored_lines) == len(on_disk)
    assert lines[-1] == (f"cancelled: restored {len(on_disk)} of {len(keys)} files "
                         f"({human_size(sum((dest / f).stat().st_size for f in on_disk))}) · "
                         f"{len(on_disk)} MD5 checked (no sha256 stored) · "
                         f"{len(keys) - len(on_disk)} not restored; nothing was written for the unfinished file")


def test_full_audit_says_what_it_read_and_what_it_rebuilt(s3_env, bucket, boto3_s3, releases):
    assert dgtui("put", *map(str, releases), f"s3://{bucket}/rel/").returncode == 0
    stored = stored_objects(boto3_s3, bucket, "rel/")
    rebuilt = sum(int(boto3_s3.head_object(Bucket=bucket, Key=k)["Metadata"]["dg-file-size"])
                  for k in stored if k.endswith(".delta"))
    proc = dgtui("audit", "--full", f"s3://{bucket}/rel/")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"3 deltas rebuilt and 0 other objects checked: {human_size(sum(stored.values()))} read from the bucket, " \
        f"{human_size(rebuilt)} rebuilt" in proc.stdout, proc.stdout


def test_counts_of_one_are_singular(s3_env, bucket, boto3_s3, releases):
    assert dgtui("put", str(releases[0]), f"s3://{bucket}/one/").returncode == 0
    proc = dgtui("audit", f"s3://{bucket}/one/")
    assert "1 delta in 1 folder, 1 reference," in proc.stdout, proc.stdout
    boto3_s3.delete_object(Bucket=bucket, Key="one/reference.bin")
    proc = dgtui("audit", f"s3://{bucket}/one/")
    assert proc.returncode == 3 and ": 1 problem (" in proc.stdout, proc.stdout
    assert not re.search(r"\b1 (folders|references|problems|deltas)\b", proc.stdout)


def test_a_tiny_delta_is_never_a_whole_saving(s3_env, bucket, boto3_s3, tmp_path):
    first = tmp_path / "a" / "image-1.zip"
    second = tmp_path / "b" / "image-2.zip"
    first.parent.mkdir()
    second.parent.mkdir()
    data = bytearray(random_bytes(3_000_000, seed=5))
    first.write_bytes(bytes(data))
    data[1_500_000] ^= 0xFF
    second.write_bytes(bytes(data))
    assert dgtui("put", str(first), f"s3://{bucket}/img/").returncode == 0
    proc = dgtui("put", str(second), f"s3://{bucket}/img/")
    delta = boto3_s3.head_object(Bucket=bucket, Key="img/image-2.zip.delta")["ContentLength"]
    saved = (1 - delta / len(data)) * 100
    assert delta < 1000 and f"stored as delta: {percent(saved)} saved" in proc.stdout, proc.stdout
    assert "100.0%" not in proc.stdout and 99.9 < float(percent(saved)[:-1]) < 100


def test_mb_says_when_the_bucket_already_existed(s3_env, bucket, boto3_s3):
    proc = dgtui("mb", f"s3://{bucket}")
    assert proc.returncode == 0 and "already existed" in proc.stdout, proc.stdout
    fresh = f"t-mb-fresh-{bucket[-8:]}"
    proc = dgtui("mb", f"s3://{fresh}")
    try:
        assert proc.returncode == 0 and "created" in proc.stdout and "already" not in proc.stdout, proc.stdout
        assert fresh in [b["Name"] for b in boto3_s3.list_buckets()["Buckets"]]
    finally:
        boto3_s3.delete_bucket(Bucket=fresh)


def test_ls_hides_the_demo_bookkeeping_bucket_as_the_app_does(s3_env, bucket, boto3_s3):
    from dgtui.demo.sample import DEMO_MARKER

    names = [b["Name"] for b in boto3_s3.list_buckets()["Buckets"]]
    created = DEMO_MARKER.bucket not in names
    if created:
        boto3_s3.create_bucket(Bucket=DEMO_MARKER.bucket)
    try:
        proc = dgtui("ls")
        assert proc.returncode == 0 and f"s3://{bucket}" in proc.stdout
        assert DEMO_MARKER.bucket not in proc.stdout
    finally:
        if created:
            boto3_s3.delete_bucket(Bucket=DEMO_MARKER.bucket)


class _NotFoundEverywhere(QuietHandler):
    """A web server that answers 404 to every request (a wrong port or path)."""

    def _answer(self) -> None:
        body = b"<html><body>404 Not Found</body></html>"
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_PUT = do_POST = _answer


def test_endpoint_problems_name_the_cause_and_the_fix(s3_server, s3_env):
    https = s3_server.endpoint_url.replace("http://", "https://")
    proc = dgtui("--endpoint-url", https, "ls")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "does not speak TLS" in proc.stderr and f"use {s3_server.endpoint_url} " in proc.stderr, proc.stderr
    assert "local file" not in proc.stderr

    proc = dgtui("--endpoint-url", "not a url", "ls")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "'not a url' is not a URL" in proc.stderr and "http://" in proc.stderr, proc.stderr
    assert "unexpected" not in proc.stderr and "ValueError" not in proc.stderr

    with serving(_NotFoundEverywhere) as endpoint:
        proc = dgtui("--endpoint-url", endpoint, "ls")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "is not an S3 endpoint at this URL" in proc.stderr and "check the endpoint URL" in proc.stderr, \
        proc.stderr
    assert "not found: the endpoint" not in proc.stderr


def test_already_restored_says_when_only_the_size_could_be_compared(s3_env, bucket, boto3_s3, tmp_path):
    for name in ("a.txt", "b.txt"):
        boto3_s3.put_object(Bucket=bucket, Key=f"plain/{name}", Body=name.encode() * 100)  # no sha256 stored
    dest = tmp_path / "out"
    assert dgtui("get", "-r", f"s3://{bucket}/plain/", str(dest)).returncode == 0
    again = dgtui("get", "-r", f"s3://{bucket}/plain/", str(dest))
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1] == \
        "all 2 files were already restored (same size; no sha256 stored to compare)"
