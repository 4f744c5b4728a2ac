"""Ctrl-C during ``dgtui audit --full``: exit 130 with one line, no temporary file left, no xdelta3 left running."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

from tests.core.conftest import make_release

from .conftest import PYTHON, cli_env

DELTAS = 12


def test_ctrl_c_stops_a_full_audit_cleanly(client, bucket, s3_env, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for v in range(DELTAS):
        client.upload(make_release(src / f"app-{v}.zip", v, size=40_000), f"s3://{bucket}/rel/")
    # xdelta3 that takes its time (a slow disk): the audit is surely still rebuilding when Ctrl-C comes
    slow = tmp_path / "slow-xdelta3"
    slow.write_text(f"#!/bin/sh\nsleep 0.5\nexec {shutil.which('xdelta3')} \"$@\"\n")
    slow.chmod(0o755)
    cache = tmp_path / "cli-cache"
    env = cli_env(s3_env, DGTUI_XDELTA3=str(slow), DGTUI_CACHE_DIR=str(cache))
    proc = subprocess.Popen([PYTHON, "-m", "dgtui.cli", "audit", "--full", "--workers", "2", f"s3://{bucket}/rel/"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    work = cache / "work"
    deadline = time.monotonic() + 60
    while not (work.is_dir() and any(work.iterdir())):  # a delta is being checked
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGINT)  # the terminal sends it to the whole process group
    out, err = proc.communicate(timeout=60)
    text = err.decode()
    assert proc.returncode == 130, text
    assert text.count("\n") == 1 and "interrupted" in text and "Traceback" not in text
    assert list(work.iterdir()) == []
    assert list((cache / "references").glob(".incoming-*")) == []
    for trace in (str(slow), str(cache)):  # the wrapper, and xdelta3 itself (its arguments name the cache)
        assert subprocess.run(["pgrep", "-f", trace], capture_output=True, text=True).stdout.split() == []
