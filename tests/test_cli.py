"""The non-interactive CLI, run as scripts run it, against the local server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dgtui.cli import main

from .core.conftest import make_release


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def release_files(tmp_path):
    return [make_release(tmp_path / f"tool-1.{v}.zip", v) for v in range(3)]


def test_put_ls_stats_get_verify_rm(capsys, s3_env, bucket, release_files, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("notes")
    code, out, err = run(capsys, "put", *map(str, release_files), str(notes), f"s3://{bucket}/rel/")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 5 and "stored as this folder's reference" in lines[0], out
    assert "stored as delta" in lines[1] and "saved" in lines[1] and "stored whole (5 B)" in lines[3]
    # The total counts the reference the first archive created: nothing is "100% saved".
    assert lines[4].startswith("uploaded 4 files:") and "1 folder reference included" in lines[4]

    code, out, _ = run(capsys, "ls", f"s3://{bucket}/")
    assert code == 0 and "PRE" in out and "rel/" in out
    code, out, _ = run(capsys, "ls", f"s3://{bucket}/rel/")
    assert "rel/tool-1.2.zip" in out and "reference.bin" not in out and ".delta" not in out
    code, out, _ = run(capsys, "ls", "--recursive", "--json", f"s3://{bucket}")
    rows = [json.loads(line) for line in out.splitlines()]
    assert {r["key"] for r in rows} == {f"rel/{f.name}" for f in release_files} | {"rel/notes.txt"}
    code, out, _ = run(capsys, "ls")
    assert f"s3://{bucket}" in out

    code, out, _ = run(capsys, "stats", f"s3://{bucket}")
    assert code == 0 and "estimate" in out and "4 (3 delta, 1 other)" in out
    code, out, _ = run(capsys, "stats", "--detailed", "--json", f"s3://{bucket}/rel/")
    stats = json.loads(out)
    assert stats["total_size"] == sum(f.stat().st_size for f in release_files) + 5
    assert stats["detailed"] and not stats["estimated"]

    dest = tmp_path / "restored"
    dest.mkdir()
    code, out, _ = run(capsys, "get", f"s3://{bucket}/rel/tool-1.1.zip", str(dest))
    assert code == 0 and "sha256 verified" in out
    assert (dest / "tool-1.1.zip").read_bytes() == release_files[1].read_bytes()
    code, _, err = run(capsys, "get", f"s3://{bucket}/rel/tool-1.1.zip", str(dest))
    assert code == 1 and "--overwrite" in err and err.count("\n") == 1
    code, _, _ = run(capsys, "get", "--overwrite", f"s3://{bucket}/rel/tool-1.1.zip", str(dest))
    assert code == 0

    code, out, _ = run(capsys, "get", "-r", f"s3://{bucket}/rel/", str(tmp_path / "all"))
    assert code == 0 and out.splitlines()[-1] == "restored 4 files (1.1 MiB) · sha256 verified"
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == sorted(
        [f.name for f in release_files] + ["notes.txt"])

    code, out, _ = run(capsys, "verify", f"s3://{bucket}/rel/tool-1.2.zip")
    assert code == 0 and out.startswith("OK")

    code, out, _ = run(capsys, "rm", f"s3://{bucket}/rel/tool-1.0.zip")
    assert code == 0 and "deleted" in out
    code, _, err = run(capsys, "rm", f"s3://{bucket}/rel/")
    assert code == 1 and "--recursive" in err
    code, out, _ = run(capsys, "rm", "-r", f"s3://{bucket}/rel/")
    assert code == 0
    code, out, _ = run(capsys, "ls", "-r", f"s3://{bucket}/")
    assert out == ""


@pytest.mark.parametrize("argv,fragment", [
    (["ls", "s3://no-such-bucket-dgtui/"], "bucket not found"),
    (["get", "s3://{bucket}/missing.zip", "{tmp}/x"], "not found"),
    (["get", "not-a-url", "{tmp}/x"], "not an S3 URL"),
    (["put", "{tmp}/does-not-exist.txt", "s3://{bucket}/"], "cannot read"),
    (["put", "{tmp}/f.txt", "s3://{bucket}/a/reference.bin"], "refusing"),
    (["verify", "s3://{bucket}/missing.txt"], "not found"),
    (["rm", "s3://{bucket}/missing.txt"], "not found"),
])
def test_errors_are_one_line_and_non_zero(capsys, s3_env, bucket, tmp_path, argv, fragment):
    (tmp_path / "f.txt").write_text("x")
    argv = [a.format(bucket=bucket, tmp=tmp_path) for a in argv]
    code, out, err = run(capsys, *argv)
    assert code == 1
    assert fragment in err and err.startswith("dgtui: error: ") and err.count("\n") == 1
    assert "Traceback" not in err


def test_bad_credentials_and_unreachable_endpoint(capsys, s3_env, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    code, _, err = run(capsys, "ls")
    assert code == 1 and "secret key" in err and "wrong-secret" not in err
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_env["AWS_SECRET_ACCESS_KEY"])
    code, _, err = run(capsys, "ls", "--endpoint-url", "http://127.0.0.1:9")
    assert code == 1 and "cannot reach http://127.0.0.1:9" in err


def test_console_script_runs_in_a_new_process(s3_env, bucket, tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("hello")
    exe = Path(sys.executable).with_name("dgtui")
    env = dict(os.environ)
    proc = subprocess.run([str(exe), "put", str(f), f"s3://{bucket}/x/"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([sys.executable, "-m", "dgtui", "ls", f"s3://{bucket}/x/"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "x/a.txt" in proc.stdout
    proc = subprocess.run([str(exe), "frobnicate"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "frobnicate" in proc.stderr


@pytest.mark.parametrize("argv, expected", [
    (["--endpoint-url", "http://127.0.0.1:1"], ["browse", "--endpoint-url", "http://127.0.0.1:1"]),
    (["--endpoint-url", "http://m:9000", "--profile", "backup"],
     ["browse", "--endpoint-url", "http://m:9000", "--profile", "backup"]),
    (["--profile", "backup", "s3://b/p/"], ["browse", "--profile", "backup", "s3://b/p/"]),
    (["--profile", "backup", "ls", "s3://b/"], ["ls", "--profile", "backup", "s3://b/"]),
    (["--endpoint-url=http://x:1"], ["browse", "--endpoint-url=http://x:1"]),
    (["ls", "--profile", "backup"], ["ls", "--profile", "backup"]),
])
def test_options_before_the_command_are_not_taken_for_one(argv, expected):
    from dgtui.cli import build_parser, normalise_argv

    assert normalise_argv(argv) == expected
    args = build_parser().parse_args(normalise_argv(argv))
    assert args.command == expected[0]


def test_global_options_reach_the_command(capsys, s3_env):
    code, _, err = run(capsys, "--endpoint-url", "http://127.0.0.1:9", "ls")
    assert code == 1 and "cannot reach http://127.0.0.1:9" in err and "invalid choice" not in err


def test_verify_tells_the_truth(capsys, s3_env, s3_server, bucket, boto3_s3, tmp_path):
    from boto3.s3.transfer import TransferConfig
    from deltaglider import create_client as deltaglider_client

    from .core.conftest import upload_gzip_trap

    # A plain object uploaded in two parts: its ETag ends in "-2", no MD5 and no sha256 to check.
    parts = tmp_path / "parts.bin"
    parts.write_bytes(os.urandom(6 * 1024 * 1024))
    boto3_s3.upload_file(str(parts), bucket, "plain/parts.bin",
                         Config=TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024))
    assert boto3_s3.head_object(Bucket=bucket, Key="plain/parts.bin")["ETag"].strip('"').endswith("-2")
    boto3_s3.put_object(Bucket=bucket, Key="plain/small.txt", Body=b"small")
    code, out, err = run(capsys, "verify", f"s3://{bucket}/plain/parts.bin")
    assert code == 0 and out.startswith("OK") and "cannot be checked" in out and "FAILED" not in err, (out, err)

    ours = tmp_path / "ours.bin"
    ours.write_bytes(b"ours")
    code, out, err = run(capsys, "put", str(ours), f"s3://{bucket}/plain/")
    code, out, err = run(capsys, "verify", f"s3://{bucket}/plain/")
    assert code == 0, err
    assert "OK" in out and "sha256 verified" in out and "MD5 matches the ETag" in out
    assert "3 of 3 objects OK, 1 of them without a checksum to check" in out

    dg = deltaglider_client(endpoint_url=s3_server.endpoint_url, log_level="WARNING")
    upload_gzip_trap(dg, bucket, tmp_path, rows=3000)
    code, out, err = run(capsys, "verify", f"s3://{bucket}/backups/db-02.sql.gz")
    assert code == 3 and "FAILED" in err and "--rescue" in err
