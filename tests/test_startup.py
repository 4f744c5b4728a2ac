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


HELP_PROBE = """
import json, sys
from dgtui.cli import main
try:
    main(sys.argv[1:])
except SystemExit as stop:
    code = stop.code
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {"botocore", "boto3", "textual", "rich", "aiohttp",
                                                              "platformdirs"}
                or m in {"dgtui.core.client", "dgtui.core.s3", "dgtui.jobs.job"})
print(json.dumps({"code": code, "loaded": loaded}))
"""


def test_help_loads_neither_the_sdk_nor_botocore():
    """`dgtui --help` and `dgtui get --help` only build the parser: the SDK and its libraries load with a command."""
    for argv in (["--help"], ["get", "--help"]):
        done = subprocess.run([sys.executable, "-c", HELP_PROBE, *argv], capture_output=True, text=True, cwd=ROOT,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.strip().splitlines()
        assert "usage: dgtui" in done.stdout
        assert json.loads(lines[-1]) == {"code": 0, "loaded": []}


def test_the_sdk_names_load_when_first_used():
    """``import dgtui`` loads nothing heavy; ``from dgtui import create_client`` and the rest still work."""
    probe = ("import sys, dgtui; before = 'dgtui.core.client' in sys.modules; "
             "from dgtui import *; import dgtui.client_models, dgtui.types; "
             "print(before, all(hasattr(dgtui, n) for n in dgtui.__all__), dgtui.DeltaGliderClient is dgtui.DgClient)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.stdout.split() == ["False", "True", "True"], done.stderr


def test_the_s3_client_reads_its_models_without_listing_every_service(s3_env, tmp_path, monkeypatch):
    """Client set-up reads the S3 model and its endpoint rules, not the folders of the ~400 services botocore
    ships; a model in AWS_DATA_PATH is still found and an unknown service is still botocore's error."""
    import pytest
    from botocore.exceptions import UnknownServiceError

    from dgtui.core.s3 import S3Access

    own = tmp_path / "models" / "example" / "2020-01-01"
    own.mkdir(parents=True)
    (own / "service-2.json").write_text(json.dumps({"version": "2.0", "metadata": {"apiVersion": "2020-01-01"},
                                                    "operations": {}, "shapes": {}}))
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path / "models"))
    access = S3Access()
    assert isinstance(access.client.list_buckets()["Buckets"], list)
    loader = access.botocore_session.get_component("data_loader")
    assert [key for key in loader._cache if key[0] == "list_available_services"] == []
    assert loader.load_service_model("example", "service-2")["metadata"]["apiVersion"] == "2020-01-01"
    with pytest.raises(UnknownServiceError):
        loader.load_service_model("no-such-service", "service-2")
