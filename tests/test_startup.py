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


COLLECTOR_PROBE = """
import gc, json, sys
import dgtui.core.s3 as s3

seen = []
made = s3.S3Access.__init__

def watched(self, *args, **kwargs):
    seen.append(gc.isenabled())  # while the command was still starting up
    made(self, *args, **kwargs)

s3.S3Access.__init__ = watched
from dgtui.cli import main
if sys.argv[1] == "--as-command":
    sys.argv = ["dgtui", *sys.argv[2:]]
    code = main()
else:
    code = main(sys.argv[2:])
print(json.dumps({"code": code, "during": seen, "after": gc.isenabled(), "frozen": gc.get_freeze_count() > 0}))
"""


def test_the_command_holds_garbage_collection_until_it_has_its_client(s3_env, bucket, boto3_s3, tmp_path):
    """`dgtui get` imports and connects without cyclic collections, then collects as usual; a program calling
    ``main(argv)`` keeps its collector as it was."""
    boto3_s3.put_object(Bucket=bucket, Key="notes.txt", Body=b"hello")
    reports = {}
    for how in ("--as-command", "--from-python"):
        dest = tmp_path / how.strip("-")
        done = subprocess.run([sys.executable, "-c", COLLECTOR_PROBE, how, "get", f"s3://{bucket}/notes.txt",
                               str(dest)], capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert done.returncode == 0, done.stderr
        reports[how] = json.loads(done.stdout.strip().splitlines()[-1])
        assert dest.read_bytes() == b"hello"
    assert reports["--as-command"] == {"code": 0, "during": [False], "after": True, "frozen": True}
    assert reports["--from-python"] == {"code": 0, "during": [True], "after": True, "frozen": False}


def test_a_command_that_fails_before_connecting_collects_again():
    """A usage error or a bad URL ends the command before it has a client: the collector is back on."""
    probe = ("import gc, sys; from dgtui.cli import main; sys.argv = ['dgtui', 'get', 'not-a-url', '.']\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\nprint(gc.isenabled())")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.stdout.split()[-1] == "True", done.stderr
