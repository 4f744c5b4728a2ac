"""Separate processes uploading into the same empty deltaspace at the same moment."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from tests.core.conftest import make_release

from .conftest import PYTHON, cli_env

WORKER = """
import json, os, sys, time
from pathlib import Path
from dgtui import create_client
file, url, cache, ready, go = sys.argv[1:6]
c = create_client(cache_dir=cache)
c.list_buckets()  # connection and credentials ready before the start line
Path(ready).touch()
while not os.path.exists(go):
    time.sleep(0.001)
s = c.upload(file, url)
print(json.dumps({"key": s.key, "op": s.operation, "delta": s.is_delta, "verified": s.verified,
                  "reference": s.reference_key}))
"""


def assert_one_reference_and_all_restore(client, boto3_s3, bucket, prefix, files, tmp_path):
    stored = [o["Key"] for o in boto3_s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]]
    assert stored.count(f"{prefix}reference.bin") == 1
    assert sorted(o.key for o in client.iter_objects(bucket, prefix)) == sorted(prefix + f.name for f in files)
    for f in files:
        out = tmp_path / "out" / prefix / f.name
        assert client.download(f"s3://{bucket}/{prefix}{f.name}", out).verified
        assert out.read_bytes() == f.read_bytes()


def test_processes_race_into_an_empty_deltaspace(client, s3_env, bucket, boto3_s3, tmp_path):
    n = 4
    files = [make_release(tmp_path / f"race-{v}.zip", v, size=150_000) for v in range(n)]
    go = tmp_path / "go"
    procs = []
    for i, f in enumerate(files):
        procs.append(subprocess.Popen(
            [PYTHON, "-c", WORKER, str(f), f"s3://{bucket}/race/", str(tmp_path / f"cache-{i}"),
             str(tmp_path / f"ready-{i}"), str(go)], env=cli_env(s3_env), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True))
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready-{i}").exists() for i in range(n)):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), \
            [p.communicate() for p in procs if p.poll() is not None]
        time.sleep(0.01)
    go.touch()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
        results.append(json.loads(out))
    # the first is stored whole as the reference (reported as such), the others as deltas against it
    assert all((r["delta"] or r["op"] == "create_reference") and r["verified"]
               and r["reference"] == "race/reference.bin" for r in results)
    assert [r["op"] for r in results].count("create_reference") <= 1
    assert_one_reference_and_all_restore(client, boto3_s3, bucket, "race/", files, tmp_path)


def test_cli_processes_race_into_an_empty_deltaspace(client, s3_env, bucket, boto3_s3, tmp_path):
    files = [make_release(tmp_path / f"cli-{v}.zip", v, size=150_000, seed=21) for v in range(3)]
    procs = [subprocess.Popen([sys.executable, "-m", "dgtui.cli", "put", str(f), f"s3://{bucket}/cli/"],
                              env=cli_env(s3_env, DGTUI_CACHE_DIR=str(tmp_path / f"cli-cache-{i}")),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i, f in enumerate(files)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
        assert "stored as delta" in out or "stored as this folder's reference" in out, out
    assert_one_reference_and_all_restore(client, boto3_s3, bucket, "cli/", files, tmp_path)
