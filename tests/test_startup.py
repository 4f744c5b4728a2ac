"""A command imports what it needs: `dgtui get` neither Textual, boto3, s3transfer (multipart only) nor aiohttp."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys
from dgtui.cli import main
code = main(sys.argv[1:])
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"textual", "boto3", "s3transfer", "rich", "aiohttp"})
print(json.dumps({"code": code, "heavy": heavy}))
"""


def test_get_imports_neither_textual_nor_boto3(s3_env, bucket, boto3_s3, tmp_path):
    boto3_s3.put_object(Bucket=bucket, Key="notes.txt", Body=b"hello")
    done = subprocess.run([sys.executable, "-c", PROBE, "get", f"s3://{bucket}/notes.txt", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"code": 0, "heavy": []}
    assert (tmp_path / "notes.txt").read_bytes() == b"hello"
