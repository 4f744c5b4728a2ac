"""Hostile keys: shown literally and escaped, never written outside the chosen
folder, and the names DeltaGlider reserves are refused for uploads."""

from __future__ import annotations

import json
import os

import pytest

from dgtui import InvalidKeyError
from dgtui.cli import main
from dgtui.core.s3 import display_key

from .conftest import cli_env, leftovers, run_cli

LONG_KEY = "k/long/" + "/".join(["L" * 250] * 3) + "/" + "E" * 246 + ".txt"  # about 1,010 bytes
MIXED = "k/mixed Ελληνικά 日本語 עברית العربية ✓ ü.txt"
SAFE = ["k/[bold red]markup[/] x.txt", "k/[link=https:x]y[/link].txt", MIXED, LONG_KEY]
CONTROL = [
    "k/esc\x1b[31mred\x1b[0m.txt",
    "k/osc\x1b]0;pwned\x07.txt",
    "k/clear\x1b[2J\x1b[H.txt",
    "k/new\nline.txt",
    "k/cr\rreturn.txt",
    "k/tab\there.txt",
    "k/del\x7f.txt",
    "k/c1\x9bcsi.txt",
    "k/bidi\u202etxt.exe",
    "k/dir\x1b[1m/inner.txt",
]
RAW_BYTES = [b"\x1b", b"\x07", b"\r", b"\x7f", "\x9b".encode(), "\u202e".encode()]


@pytest.fixture
def hostile(boto3_s3, bucket):
    assert 1000 < len(LONG_KEY.encode()) <= 1024
    for key in SAFE + CONTROL:
        boto3_s3.put_object(Bucket=bucket, Key=key, Body=key.encode("utf-8"))
    return bucket


def assert_clean(text: str, lines: int | None = None) -> None:
    for raw in ("\x1b", "\x07", "\r", "\x7f", "\x9b", "\u202e"):
        assert raw not in text, repr(raw)
    if lines is not None:
        assert text.count("\n") == lines, text


def test_cli_listing_shows_keys_whole_and_escaped(hostile, s3_env, capsys):
    bucket = hostile
    proc = run_cli("ls", "-r", f"s3://{bucket}/", env=cli_env(s3_env))
    assert proc.returncode == 0, proc.stderr
    for raw in RAW_BYTES:
        assert raw not in proc.stdout, raw
    out = proc.stdout.decode("utf-8")
    assert out.count("\n") == len(SAFE) + len(CONTROL)
    for key in SAFE + CONTROL:
        assert display_key(key, limit=10_000) in out, key
    assert MIXED in out and LONG_KEY in out and "[bold red]markup[/]" in out
    assert "k/esc\\x1b[31mred\\x1b[0m.txt" in out and "k/new\\nline.txt" in out and "k/bidi\\u202etxt.exe" in out

    assert main(["ls", f"s3://{bucket}/k/"]) == 0
    out = capsys.readouterr().out
    assert_clean(out, lines=len(SAFE) + len(CONTROL) - 2 + 2)  # 2 keys live in folders, shown as 2 PRE lines
    assert "PRE  k/dir\\x1b[1m/" in out and "PRE  k/long/" in out

    assert main(["ls", "-r", "--json", f"s3://{bucket}/"]) == 0
    out = capsys.readouterr().out
    assert_clean(out, lines=len(SAFE) + len(CONTROL))
    assert {json.loads(line)["key"] for line in out.splitlines()} == set(SAFE + CONTROL)

    assert main(["stats", f"s3://{bucket}/k/esc\x1b[31mred"]) == 0
    assert_clean(capsys.readouterr().out)


def test_cli_messages_escape_keys(hostile, s3_env, capsys, tmp_path):
    bucket = hostile
    code = main(["get", f"s3://{bucket}/k/missing\x1b]0;x\x07\n.txt", str(tmp_path / "x")])
    out, err = capsys.readouterr()
    assert code == 1 and "not found" in err
    assert_clean(out + err, lines=1)
    # Restoring a key with control characters into a folder: refused, reported escaped.
    code = main(["get", f"s3://{bucket}/{CONTROL[0]}", str(tmp_path) + os.sep])
    out, err = capsys.readouterr()
    assert code == 1 and "control characters" in err
    assert_clean(out + err, lines=1)
    # ...but under a name the user chose, it restores.
    assert main(["get", f"s3://{bucket}/{CONTROL[0]}", str(tmp_path / "chosen.txt")]) == 0
    assert (tmp_path / "chosen.txt").read_bytes() == CONTROL[0].encode()
    assert_clean("".join(capsys.readouterr()))


def test_cli_prefix_restore_reports_unsafe_keys_escaped(hostile, s3_env, capsys, tmp_path):
    bucket = hostile
    dest = tmp_path / "restore"
    code = main(["get", "-r", f"s3://{bucket}/k/", str(dest)])
    out, err = capsys.readouterr()
    assert code == 1
    assert_clean(out, lines=len(SAFE) + 1)
    assert_clean(err, lines=len(CONTROL))
    assert f"restored {len(SAFE)} files" in out and f"· {len(CONTROL)} failed: " in out
    restored = {str(p.relative_to(dest)) for p in leftovers(dest)}
    assert restored == {k[len("k/"):] for k in SAFE}
    assert (dest / LONG_KEY[len("k/"):]).read_bytes() == LONG_KEY.encode()


# --- keys SeaweedFS rewrites or refuses, against moto's server (stored as AWS stores them) ---

ESCAPING = [
    "p/../escape.txt",
    "p/../../etc/cron.d/evil",
    "p/./dot.txt",
    "p//double.txt",
    "p//abs/root.txt",
    "p/back\\slash.txt",
    "p/..\\..\\win.txt",
    "p/C:/drive.txt",
    "p/sub/..",
    "p/sub/../../up.txt",
]
FINE = ["p/ok.txt", "p/sub/fine.txt", "p/a"]


@pytest.fixture
def traversal(moto_s3, moto_bucket):
    for key in ESCAPING + FINE + ["p/a/b", "/p/abs.txt", "/etc/passwd", "../outside.txt"]:
        moto_s3.put_object(Bucket=moto_bucket, Key=key, Body=b"payload of " + key.encode())
    return moto_bucket


def files_under(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


def test_prefix_restore_never_leaves_the_folder_sdk(traversal, moto_client, tmp_path):
    bucket = traversal
    sandbox = tmp_path / "sandbox"
    dest = sandbox / "inner" / "dest"
    results, problems = moto_client.download_prefix(f"s3://{bucket}/p/", dest)
    assert sorted(r.key for r in results) == sorted(FINE)
    reported = dict(problems)
    assert set(reported) == set(ESCAPING) | {"p/a/b"}
    assert "cannot create the folder" in reported["p/a/b"]
    assert files_under(sandbox) == ["inner/dest/a", "inner/dest/ok.txt", "inner/dest/sub/fine.txt"]
    # The whole bucket: keys starting with '/' or '..' are reported too.
    results, problems = moto_client.download_prefix(f"s3://{bucket}/", sandbox / "all")
    assert {k for k, _ in problems} >= {"/p/abs.txt", "/etc/passwd", "../outside.txt"}
    # 'C:' is a drive only at the start of a path; inside the folder it is a name.
    assert {r.key for r in results} == set(FINE) | {"p/C:/drive.txt"}
    assert files_under(tmp_path) == sorted(
        ["sandbox/inner/dest/a", "sandbox/inner/dest/ok.txt", "sandbox/inner/dest/sub/fine.txt",
         "sandbox/all/p/a", "sandbox/all/p/ok.txt", "sandbox/all/p/sub/fine.txt", "sandbox/all/p/C:/drive.txt"]
        + [str(p.relative_to(tmp_path)) for p in (tmp_path / "moto-cache").rglob("*") if p.is_file()])
    # The plan says the same before anything is written.
    plan = {i.key: i for i in moto_client.plan_prefix_restore(f"s3://{bucket}/p/", dest)}
    assert all(plan[k].destination is None and plan[k].problem for k in ESCAPING)


def test_prefix_restore_never_leaves_the_folder_cli(traversal, moto_endpoint, capsys, tmp_path, monkeypatch):
    bucket = traversal
    for name, value in {"AWS_ENDPOINT_URL": moto_endpoint, "AWS_ACCESS_KEY_ID": "moto-key",
                        "AWS_SECRET_ACCESS_KEY": "moto-secret", "AWS_DEFAULT_REGION": "us-east-1",
                        "DGTUI_CACHE_DIR": str(tmp_path / "cache"), "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    dest = tmp_path / "sandbox" / "dest"
    code = main(["get", "-r", f"s3://{bucket}/p/", str(dest)])
    out, err = capsys.readouterr()
    assert code == 1
    assert f"restored {len(FINE)} files" in out and f"· {len(ESCAPING) + 1} failed: " in out
    for key in ESCAPING:
        assert f"failed {display_key(key, 10_000)}: " in err, key
    assert files_under(tmp_path / "sandbox") == ["dest/a", "dest/ok.txt", "dest/sub/fine.txt"]
    # One key into a folder: its last segment names the file, or it is refused.
    out_dir = tmp_path / "single"
    out_dir.mkdir()
    assert main(["get", f"s3://{bucket}/p/../escape.txt", str(out_dir) + os.sep]) == 0
    assert main(["get", f"s3://{bucket}/p/..\\..\\win.txt", str(out_dir) + os.sep]) == 1
    assert main(["get", f"s3://{bucket}/p/sub/..", str(out_dir) + os.sep]) == 1
    capsys.readouterr()
    assert files_under(out_dir) == ["escape.txt"]
    assert files_under(tmp_path / "sandbox") == ["dest/a", "dest/ok.txt", "dest/sub/fine.txt"]


# --- names DeltaGlider reserves ---

RESERVED = ["reference.bin", "rel/reference.bin", "rel/app.zip.delta", "notes.txt.delta",
            ".deltaglider/cache.json", ".deltaglider/tmp/x.zip"]


@pytest.mark.parametrize("key", RESERVED)
def test_reserved_upload_keys_refused_sdk(client, bucket, boto3_s3, tmp_path, key):
    f = tmp_path / "file.zip"
    f.write_bytes(b"PK" + b"z" * 1000)
    client.put_object(Bucket=bucket, Key="src.txt", Body=b"src")
    for call in (lambda: client.upload(f, f"s3://{bucket}/{key}"),
                 lambda: client.put_object(Bucket=bucket, Key=key, Body=b"x"),
                 lambda: client.copy_object(Bucket=bucket, Key=key, CopySource=f"{bucket}/src.txt")):
        with pytest.raises(InvalidKeyError) as info:
            call()
        assert "refusing to upload" in str(info.value) and "DeltaGlider" in str(info.value)
    assert [o["Key"] for o in boto3_s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["src.txt"]


def test_reserved_upload_keys_refused_cli(s3_env, bucket, boto3_s3, capsys, tmp_path):
    (tmp_path / "reference.bin").write_bytes(b"a file that happens to have this name")
    (tmp_path / "x.zip").write_bytes(b"PK" + b"z" * 1000)
    cases = [(tmp_path / "reference.bin", f"s3://{bucket}/rel/"),
             (tmp_path / "x.zip", f"s3://{bucket}/rel/reference.bin"),
             (tmp_path / "x.zip", f"s3://{bucket}/rel/x.zip.delta"),
             (tmp_path / "x.zip", f"s3://{bucket}/.deltaglider/x.zip")]
    for path, url in cases:
        code = main(["put", str(path), url])
        err = capsys.readouterr().err
        assert code == 1 and err.startswith("dgtui: error: refusing to upload") and err.count("\n") == 1, err
        assert "DeltaGlider" in err
    assert boto3_s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_folder_markers_are_not_failures(moto_s3, moto_bucket, moto_client, tmp_path):
    # What S3 consoles write for "Create folder": empty objects named 'p/' and 'p/empty/'.
    for key, body in (("p/", b""), ("p/empty/", b""), ("p/x.txt", b"x"), ("p/odd/", b"data under a folder name")):
        moto_s3.put_object(Bucket=moto_bucket, Key=key, Body=body)
    results, problems = moto_client.download_prefix(f"s3://{moto_bucket}/p/", tmp_path / "out")
    assert [r.key for r in results] == ["p/x.txt"]
    assert [k for k, _ in problems] == ["p/odd/"]  # it holds data that no file name can carry
