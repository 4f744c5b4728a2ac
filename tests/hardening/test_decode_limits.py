"""A restore writes at most what the object says it holds: a delta bomb is stopped at its recorded size.

The report: a 1,000-byte reference and a 5 KB delta of 2 GiB of zeros with
``dg-file-size: 10``; ``get`` grew a temp file to 2 GiB before the sha256
check refused it, and ``verify`` did the same in the cache's work folder.
Here the delta holds 64 MiB of zeros, and every command runs in a process
whose files may not grow past 1 MiB: anything that wrote more than that
would fail with "File too large" instead of the expected message.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dgtui import ExpansionError
from dgtui.core import format as fmt
from tests.core.conftest import random_bytes

from .conftest import cli_env, leftovers, run_cli

BOMB_OUTPUT = 64 * 2**20
RECORDED = 10
#: no file of the process under test may grow past this
FILE_LIMIT = 2**20


def limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))


def make_bomb(tmp_path: Path) -> tuple[bytes, bytes]:
    """(reference, delta): the delta rebuilds BOMB_OUTPUT zero bytes from the reference."""
    ref = random_bytes(1000)
    (tmp_path / "ref").write_bytes(ref)
    with open(tmp_path / "zeros", "wb") as f:
        f.truncate(BOMB_OUTPUT)  # sparse: costs no disk
    subprocess.run(["xdelta3", "-e", "-f", "-9", "-s", str(tmp_path / "ref"), str(tmp_path / "zeros"),
                    str(tmp_path / "bomb.delta")], check=True)
    (tmp_path / "zeros").unlink()
    return ref, (tmp_path / "bomb.delta").read_bytes()


def store_bomb(boto3_s3, bucket: str, ref: bytes, delta: bytes, *, file_size: int | None) -> None:
    ref_sha = hashlib.sha256(ref).hexdigest()
    boto3_s3.put_object(Bucket=bucket, Key="bomb/reference.bin", Body=ref,
                        Metadata=fmt.reference_metadata(version="6.2.0", source_name="ref", file_sha256=ref_sha,
                                                        file_size=len(ref)))
    meta = fmt.delta_metadata(version="6.2.0", original_name="x.bin", file_sha256=hashlib.sha256(b"x" * 10).hexdigest(),
                              file_size=file_size or 0, ref_key="bomb/reference.bin", ref_sha256=ref_sha,
                              delta_size=len(delta), zero_diff=False)
    if file_size is None:
        meta = {k: v for k, v in meta.items() if "size" not in k or "delta" in k}
    boto3_s3.put_object(Bucket=bucket, Key="bomb/x.bin.delta", Body=delta, Metadata=meta)


@pytest.fixture
def bomb(boto3_s3, bucket, tmp_path):
    ref, delta = make_bomb(tmp_path)
    assert len(delta) < 100_000
    store_bomb(boto3_s3, bucket, ref, delta, file_size=RECORDED)
    return bucket


SDK_SNIPPET = """
import json, sys
from dgtui import create_client, DgError
c = create_client(cache_dir=sys.argv[3])
calls = {
    "download": lambda: c.download(sys.argv[1], sys.argv[2]),
    "verify": lambda: c.verify_object(sys.argv[1]).reason,
    "rehydrate": lambda: c.rehydrate_for_download(sys.argv[4], "bomb/x.bin"),
    "get_object": lambda: c.get_object(Bucket=sys.argv[4], Key="bomb/x.bin"),
}
out = {}
for name, call in calls.items():
    try:
        answer = call()
        out[name] = {"ok": True, "answer": answer if isinstance(answer, str) else None}
    except DgError as exc:
        out[name] = {"ok": False, "type": type(exc).__name__, "message": str(exc)}
print(json.dumps(out))
"""


def test_a_delta_bomb_stops_at_its_recorded_size_sdk(bomb, s3_env, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    cache = tmp_path / "cache"
    proc = subprocess.run([sys.executable, "-c", SDK_SNIPPET, f"s3://{bomb}/bomb/x.bin", str(out), str(cache), bomb],
                          env=cli_env(s3_env), capture_output=True, text=True, preexec_fn=limit_file_size, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(proc.stdout)
    expected = f"the delta expands beyond its recorded size ({RECORDED} bytes)"
    for name in ("download", "rehydrate", "get_object"):
        assert results[name]["type"] == "ExpansionError", (name, results[name])
        assert expected in results[name]["message"] and "nothing was written" in results[name]["message"]
    assert results["verify"]["ok"] and expected in results["verify"]["answer"], results["verify"]
    assert leftovers(out) == []
    assert leftovers(cache / "work") == []


def test_a_delta_bomb_stops_at_its_recorded_size_cli(bomb, s3_env, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    env = cli_env(s3_env, DGTUI_CACHE_DIR=str(tmp_path / "cache"))
    expected = f"the delta expands beyond its recorded size ({RECORDED} bytes)"
    for argv in (["get", f"s3://{bomb}/bomb/x.bin", str(out)], ["get", "-r", f"s3://{bomb}/bomb/", str(out)],
                 ["verify", f"s3://{bomb}/bomb/x.bin"], ["audit", "--full", f"s3://{bomb}/bomb/"]):
        proc = subprocess.run([sys.executable, "-m", "dgtui.cli", *argv], env=env, capture_output=True,
                              preexec_fn=limit_file_size, timeout=120)
        text = (proc.stdout + proc.stderr).decode("utf-8", "replace")
        assert proc.returncode != 0 and expected in text, (argv, proc.returncode, text[-2000:])
        assert "File too large" not in text and "Traceback" not in text, text[-2000:]
        assert leftovers(out) == []
    assert leftovers(tmp_path / "cache" / "work") == []


def test_a_delta_without_a_size_stops_at_the_configured_cap(boto3_s3, bucket, s3_env, tmp_path):
    ref, delta = make_bomb(tmp_path)
    store_bomb(boto3_s3, bucket, ref, delta, file_size=None)
    settings = tmp_path / "config.toml"
    settings.write_text("max_unsized_delta_bytes = 4096\n")
    out = tmp_path / "out"
    out.mkdir()
    env = cli_env(s3_env, DGTUI_CACHE_DIR=str(tmp_path / "cache"), DGTUI_CONFIG=str(settings))
    proc = subprocess.run([sys.executable, "-m", "dgtui.cli", "get", f"s3://{bucket}/bomb/x.bin", str(out)], env=env,
                          capture_output=True, preexec_fn=limit_file_size, timeout=120)
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 1 and err.count("\n") == 1, err
    assert "the delta expands beyond 4096 bytes, the limit for a delta that records no size" in err
    assert "max_unsized_delta_bytes" in err
    assert leftovers(out) == []
    # Without a settings file the default cap (100 GiB) holds: not reached here, the sha256 check refuses it.
    proc = run_cli("get", f"s3://{bucket}/bomb/x.bin", str(out),
                   env=cli_env(s3_env, DGTUI_CACHE_DIR=str(tmp_path / "cache"), DGTUI_CONFIG=str(tmp_path / "none")))
    assert proc.returncode == 1 and b"does not match its stored sha256" in proc.stderr, proc.stderr
    assert leftovers(out) == []


def test_a_bad_cap_in_the_settings_file_is_one_clear_line(tmp_path):
    from dgtui import DgError
    from dgtui.core.config import unsized_delta_limit

    settings = tmp_path / "config.toml"
    settings.write_text('max_unsized_delta_bytes = "lots"\n')
    with pytest.raises(DgError, match="max_unsized_delta_bytes .* must be a whole number of bytes"):
        unsized_delta_limit(settings)
    assert unsized_delta_limit(tmp_path / "missing.toml") == 100 * 2**30


def test_the_decode_itself_never_writes_past_the_limit(tmp_path):
    from dgtui.core import codec

    ref, delta = make_bomb(tmp_path)
    seen: list[int] = []
    with pytest.raises(ExpansionError, match=r"expands beyond its recorded size \(1000 bytes\)"):
        codec.decode(tmp_path / "ref", tmp_path / "bomb.delta", tmp_path / "out", written=seen.append, limit=1000)
    assert not (tmp_path / "out").exists(), "what it wrote is removed"
    assert all(n <= 1000 for n in seen)
    with pytest.raises(ExpansionError):
        codec.decode_sha256(tmp_path / "ref", tmp_path / "bomb.delta", limit=1000)
    # the exact size passes
    assert codec.decode_sha256(tmp_path / "ref", tmp_path / "bomb.delta", limit=BOMB_OUTPUT) == \
        hashlib.sha256(bytes(BOMB_OUTPUT)).hexdigest()
    assert os.path.getsize(tmp_path / "bomb.delta") == len(delta)
