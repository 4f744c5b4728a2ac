"""The local side fails: disk full, a destination that cannot be written, a file already there."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dgtui import DestinationExistsError, LocalWriteError
from dgtui.cli import main
from dgtui.core.text import human_size
from tests.core.conftest import make_release, random_bytes

from .conftest import assert_one_line_error, cli_env, leftovers

SIZE = 160_000
FILE_SIZE_LIMIT = 100_000


@pytest.fixture
def stored(client, bucket, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    files = [make_release(src / f"app-{v}.zip", v, size=SIZE) for v in range(2)]
    (src / "data.bin").write_bytes(random_bytes(SIZE))
    for f in [*files, src / "data.bin"]:
        client.upload(f, f"s3://{bucket}/rel/")
    return {f.name: f for f in [*files, src / "data.bin"]}


def limit_file_size() -> None:
    """In the child: files may not grow past FILE_SIZE_LIMIT; writes beyond fail with EFBIG."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))


RESTORE_SNIPPET = """
import json, sys
from dgtui import create_client, DgError
c = create_client(cache_dir=sys.argv[3])
try:
    c.download(sys.argv[1], sys.argv[2])
    print(json.dumps({"ok": True}))
except DgError as exc:
    print(json.dumps({"ok": False, "type": type(exc).__name__, "message": str(exc)}))
"""


def test_disk_full_sdk(stored, client, s3_env, bucket, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    # The reference is in the cache already, so only the rebuilt file is large.
    client.download(f"s3://{bucket}/rel/app-0.zip", tmp_path / "warm.zip")
    for name in ("data.bin", "app-0.zip", "app-1.zip"):
        proc = subprocess.run([sys.executable, "-c", RESTORE_SNIPPET, f"s3://{bucket}/rel/{name}", str(out / name),
                               str(client.cache_dir)], env=cli_env(s3_env), capture_output=True, text=True,
                              preexec_fn=limit_file_size, timeout=60)
        assert proc.returncode == 0, proc.stderr[-2000:]
        result = json.loads(proc.stdout)
        assert result["type"] == "LocalWriteError", (name, result)
        assert "File too large" in result["message"] and "nothing was written" in result["message"]
        assert str(out / name) in result["message"]
    assert leftovers(out) == []
    assert leftovers(client.work_dir) == []


def test_disk_full_cli(stored, client, s3_env, bucket, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    client.download(f"s3://{bucket}/rel/app-0.zip", tmp_path / "warm.zip")
    env = cli_env(s3_env, DGTUI_CACHE_DIR=str(client.cache_dir))
    proc = subprocess.run([sys.executable, "-m", "dgtui.cli", "get", f"s3://{bucket}/rel/app-1.zip", str(out)],
                          env=env, capture_output=True, preexec_fn=limit_file_size, timeout=60)
    assert_one_line_error(proc, "cannot write", "File too large", "nothing was written")
    proc = subprocess.run([sys.executable, "-m", "dgtui.cli", "get", "-r", f"s3://{bucket}/rel/", str(out)],
                          env=env, capture_output=True, preexec_fn=limit_file_size, timeout=60)
    assert proc.returncode == 1 and proc.stderr.count(b"File too large") == 3, proc.stderr
    assert leftovers(out) == []


@contextlib.contextmanager
def tiny_tmpfs(path: Path, size: str):
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True).returncode == 0
    if not mounted:
        pytest.skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            # Still busy (a file left open by a failing test): detach it rather than leave it mounted.
            subprocess.run(["umount", "-l", str(path)], check=True)


def test_no_space_left_on_a_real_file_system(stored, client, bucket, tmp_path):
    client.download(f"s3://{bucket}/rel/app-0.zip", tmp_path / "warm.zip")
    with tiny_tmpfs(tmp_path / "small", "100k") as small:
        for name in ("data.bin", "app-1.zip"):
            with pytest.raises(LocalWriteError) as info:
                client.download(f"s3://{bucket}/rel/{name}", small / name)
            # said before the first byte is written: the size is known
            assert "needs 156." in str(info.value) and "KiB, 100.0 KiB free; nothing was written" in str(info.value)
            assert leftovers(small) == []
        # Small files still fit: the failure left no debris behind.
        client.put_object(Bucket=bucket, Key="rel/small.txt", Body=b"small")
        assert client.download(f"s3://{bucket}/rel/small.txt", small / "small.txt").verified
        assert leftovers(small) == [small / "small.txt"]


def test_free_space_is_checked_before_a_restore_and_a_reference_download(stored, client, s3_server, s3_env,
                                                                          bucket, tmp_path):
    """A restore whose size is known says it will not fit before writing, for the file and for the reference."""
    from dgtui import create_client
    from dgtui.cli import main as cli_main

    with tiny_tmpfs(tmp_path / "small", "100k") as small:
        # Something there already: the free space is what is left, not the size of the file system.
        (small / "other").write_bytes(b"x" * 20_000)
        free = os.statvfs(small).f_bavail * os.statvfs(small).f_frsize
        with pytest.raises(LocalWriteError) as info:
            client.download(f"s3://{bucket}/rel/data.bin", small)
        assert f"needs 156.2 KiB, {human_size(free)} free; nothing was written" in str(info.value)
        assert f"s3://{bucket}/rel/data.bin" in str(info.value)
        assert leftovers(small) == [small / "other"]
        code = cli_main(["get", f"s3://{bucket}/rel/app-1.zip", str(small)])
        assert code == 1 and leftovers(small) == [small / "other"]
        # The reference goes to the cache: a cache on a small file system says so before fetching it.
        cache = tmp_path / "cache"
        cache.mkdir()
        with tiny_tmpfs(cache / "references", "100k"):
            fresh = create_client(endpoint_url=s3_server.endpoint_url, aws_access_key_id=s3_server.access_key,
                                  aws_secret_access_key=s3_server.secret_key, region_name=s3_server.region,
                                  cache_dir=cache)
            try:
                with pytest.raises(LocalWriteError) as info:
                    fresh.download(f"s3://{bucket}/rel/app-1.zip", tmp_path / "out.zip")
            finally:
                fresh.close()
            message = str(info.value)
            assert "cannot fetch the reference" in message and "into the cache" in message, message
            assert "needs 156." in message and "KiB, 100.0 KiB free; nothing was written" in message, message
            assert leftovers(cache / "references") == []
        assert not (tmp_path / "out.zip").exists()


def test_a_folder_restore_that_cannot_fit_says_so_before_the_first_file(stored, client, bucket, tmp_path):
    from dgtui.jobs.job import Job
    from dgtui.jobs.restore import restore_prefix

    with tiny_tmpfs(tmp_path / "small", "200k") as small:
        outcome = restore_prefix(client, Job(), f"s3://{bucket}/rel/", str(small / "all"))
        assert len(outcome.failures) == 1 and outcome.results == [], outcome.line()
        line = outcome.line()
        assert line.startswith(f"cannot restore s3://{bucket}/rel/ to {small / 'all'}: needs 46"), line
        assert line.endswith("KiB free; nothing was written"), line
        assert leftovers(small) == []
        # One file fits: the check is about the total, and a smaller restore goes ahead.
        client.put_object(Bucket=bucket, Key="one/data.bin", Body=stored["data.bin"].read_bytes())
        outcome = restore_prefix(client, Job(), f"s3://{bucket}/one/", str(small / "one"))
        assert outcome.state == "done" and len(outcome.results) == 1, outcome.line()


def test_destination_not_writable(stored, client, capsys, s3_env, bucket, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("I am a file, not a folder")
    targets = [blocker / "sub" / "x.bin", blocker / "x.bin", Path("/proc/dgtui-restore-test.bin")]
    for dest in targets:
        for name in ("data.bin", "app-1.zip"):
            with pytest.raises(LocalWriteError) as info:
                client.download(f"s3://{bucket}/rel/{name}", dest)
            assert "cannot write" in str(info.value) and "nothing was written" in str(info.value)
    assert blocker.read_text() == "I am a file, not a folder"
    for dest in targets:
        code = main(["get", f"s3://{bucket}/rel/app-1.zip", str(dest)])
        err = capsys.readouterr().err
        assert code == 1 and err.startswith("dgtui: error: cannot write") and err.count("\n") == 1, err
    # A prefix restore into a folder that is a file: one clear error, nothing written.
    with pytest.raises(LocalWriteError) as info:
        client.download_prefix(f"s3://{bucket}/rel/", blocker / "all")
    assert "cannot create the folder" in str(info.value)
    assert blocker.read_text() == "I am a file, not a folder"


def test_destination_exists(stored, client, capsys, s3_env, bucket, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    for name in ("data.bin", "app-1.zip"):
        (out / name).write_bytes(b"precious local copy")
        with pytest.raises(DestinationExistsError):
            client.download(f"s3://{bucket}/rel/{name}", out / name, overwrite=False)
        with pytest.raises(DestinationExistsError):
            client.download(f"s3://{bucket}/rel/{name}", out, overwrite=False)  # into the folder, same name
        code = main(["get", f"s3://{bucket}/rel/{name}", str(out)])
        err = capsys.readouterr().err
        assert code == 1 and "already exists" in err and "--overwrite" in err and err.count("\n") == 1
        assert (out / name).read_bytes() == b"precious local copy"
    code = main(["get", "-r", f"s3://{bucket}/rel/", str(out)])
    captured = capsys.readouterr()
    assert code == 1 and captured.err.count("already exists") == 2 and "--overwrite" in captured.err
    assert (out / "data.bin").read_bytes() == b"precious local copy"
    assert (out / "app-0.zip").read_bytes() == stored["app-0.zip"].read_bytes()  # the one not there before
    assert main(["get", "-r", "--overwrite", f"s3://{bucket}/rel/", str(out)]) == 0
    capsys.readouterr()
    for name, src in stored.items():
        assert (out / name).read_bytes() == src.read_bytes()
    assert sorted(p.name for p in leftovers(out)) == sorted(stored)


def test_reference_cache_on_a_full_disk_fails_the_upload_in_one_line(s3_server, s3_env, bucket, boto3_s3, tmp_path):
    from dgtui import create_client

    src = make_release(tmp_path / "app-0.zip", 0, size=SIZE)
    cache = tmp_path / "cache"
    cache.mkdir()
    # Only the reference copies live on the small file system (the metadata database stays open).
    with tiny_tmpfs(cache / "references", "100k") as small:
        client = create_client(endpoint_url=s3_server.endpoint_url, aws_access_key_id=s3_server.access_key,
                               aws_secret_access_key=s3_server.secret_key, region_name=s3_server.region,
                               cache_dir=cache)
        try:
            with pytest.raises(LocalWriteError) as info:
                client.upload(src, f"s3://{bucket}/rel/")
        finally:
            client.close()
        assert "No space left on device" in str(info.value) and "\n" not in str(info.value)
        assert leftovers(small) == []
    # No delta was stored, so nothing stands in the bucket that could not be restored.
    keys = [o["Key"] for o in boto3_s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert not [k for k in keys if k.endswith(".delta")]
