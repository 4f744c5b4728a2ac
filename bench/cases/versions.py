"""Versions: a folder restored as it stood at a past time, and the memory of listing many versions.

``versions-at``: a folder of ``versions_files`` archives, each overwritten until the folder holds
``versions_history`` versions in all (deltas made by dgtui), with a moment T halfway through. `dgtui get
-r --at T` (the version listing, then each file rebuilt against the reference version it was made
against) is timed against `dgtui get -r` of the current folder: a new CLI process each, each with an
empty cache, the restored bytes checked.

``versions-memory``: peak RSS of a process running `dgtui versions --recursive --json` over a prefix
holding ``versions_memory_versions`` versions (100 per key), output thrown away.
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import datasets
from ..measure import REPORT_PEAK, check, median, run_child
from ..report import Row, at_most, below
from . import Context, label

BUCKET = "bench-versions"
PREFIX = "history/"
MANY_PREFIX = "many/"
VERSIONS_PER_KEY = 100
MEMORY_LIMIT_MB = 300

VERSIONS_CHILD = """
import contextlib, os, sys
from dgtui.cli import main
with open(os.devnull, "w") as _out, contextlib.redirect_stdout(_out):
    code = main(["versions", sys.argv[1], "--recursive", "--json"])
if code:
    raise SystemExit(code)
""" + REPORT_PEAK


def _tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else name


def run(ctx: Context) -> list[Row]:
    return ((_restore_at(ctx) if "versions-at" in ctx.wanted else [])
            + (_memory(ctx) if "versions-memory" in ctx.wanted else []))


def _versioned_bucket(ctx: Context) -> Any:
    ctx.env.ensure_bucket(BUCKET)
    admin = ctx.env.admin()
    admin.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return admin


def _history(ctx: Context, admin: Any, archives: list[Path]) -> tuple[str, str]:
    """The folder's history (uploaded once per work dir); returns (its prefix, the moment T halfway)."""
    sizes = ctx.sizes
    prefix = f"{PREFIX}{sizes.versions_files}x{len(archives)}/"
    marker = f"{BUCKET}/history-{sizes.versions_files}x{len(archives)}-{archives[0].stat().st_size}"
    ctx.env.ensure_bucket(datasets.MARKER_BUCKET)
    try:
        moment = admin.get_object(Bucket=datasets.MARKER_BUCKET, Key=marker)["Body"].read().decode()
        return prefix, moment
    except admin.exceptions.ClientError:
        pass
    ctx.log(f"versions: uploading {sizes.versions_files} files x {len(archives)} versions into s3://{BUCKET}/{prefix}")
    client = ctx.env.dgtui(ctx.env.server.endpoint_url, ctx.env.scratch("versions-upload-cache"))
    half = len(archives) // 2
    moment = ""
    for k, archive in enumerate(archives):
        if k == half:
            time.sleep(1.1)  # servers keep dates to the second: T lies strictly between two writes
            moment = datetime.now(timezone.utc).isoformat()
            time.sleep(1.1)
        for f in range(sizes.versions_files):
            client.upload(archive, f"s3://{BUCKET}/{prefix}file-{f:03d}.zip")
    client.close()
    admin.put_object(Bucket=datasets.MARKER_BUCKET, Key=marker, Body=moment.encode())
    return prefix, moment


def _restore_at(ctx: Context) -> list[Row]:
    sizes = ctx.sizes
    admin = _versioned_bucket(ctx)
    archives = datasets.archive_versions(ctx.env, sizes.versions_file_bytes,
                                         max(2, sizes.versions_history // sizes.versions_files), ctx.log)
    prefix, moment = _history(ctx, admin, archives)
    then = datasets.sha256_of(archives[len(archives) // 2 - 1])
    now = datasets.sha256_of(archives[-1])
    total = sizes.versions_files * len(archives)
    rows: list[Row] = []
    for net in ctx.networks:
        ctx.log(f"versions: get -r --at vs get -r of {sizes.versions_files} files over {net.name}")
        ours: list[float] = []
        theirs: list[float] = []
        for rep in range(sizes.restore_reps):
            for at, want, times in ((moment, then, ours), (None, now, theirs)):
                env = ctx.env.child_env(net.endpoint_url)
                env["DGTUI_CACHE_DIR"] = str(ctx.env.scratch(f"versions-cache-{label(net)}-{rep}"))
                out = ctx.env.scratch(f"versions-out-{label(net)}")
                argv = [_tool("dgtui"), "get", f"s3://{BUCKET}/{prefix}", str(out), "--recursive"]
                result = check(run_child(argv + (["--at", at] if at else []), env), "dgtui get -r")
                times.append(result.seconds)
                restored = sorted(out.iterdir())
                if len(restored) != sizes.versions_files or any(datasets.sha256_of(p) != want for p in restored):
                    raise RuntimeError(f"dgtui get -r {'--at ' + at if at else ''} restored the wrong files")
        rows.append(at_most(Row(
            "versions-at", f"`get -r --at` of {sizes.versions_files} files with {total} versions of history",
            net.name, "s", median(ours), "`get -r` of the current folder", median(theirs),
            note=f"{sizes.versions_files} x {sizes.versions_file_bytes / 2**20:.1f} MB archives, a process each, "
                 "empty caches", samples={"dgtui": ours, "peer": theirs}), 1.5))
    return rows


def _many_versions(ctx: Context, admin: Any, count: int) -> str:
    prefix = f"{MANY_PREFIX}{count}/"
    marker = f"many-{count}"
    if datasets._marker_present(ctx.env, admin, BUCKET, marker):
        return prefix
    ctx.log(f"versions: writing {count:,} versions ({VERSIONS_PER_KEY} per key) into s3://{BUCKET}/{prefix}")

    def put(i: int) -> None:
        admin.put_object(Bucket=BUCKET, Key=f"{prefix}k-{i // VERSIONS_PER_KEY:05d}.txt", Body=b"%d\n" % i)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(count)))
    datasets._put_marker(admin, BUCKET, marker)
    return prefix


def _memory(ctx: Context) -> list[Row]:
    count = ctx.sizes.versions_memory_versions
    admin = _versioned_bucket(ctx)
    prefix = _many_versions(ctx, admin, count)
    net = ctx.networks[0]
    ctx.log(f"versions: `dgtui versions --recursive` over {count:,} versions, over {net.name}")
    env = ctx.env.child_env(net.endpoint_url)
    env["DGTUI_CACHE_DIR"] = str(ctx.env.scratch("versions-memory-cache"))
    result = check(run_child([sys.executable, "-c", VERSIONS_CHILD, f"s3://{BUCKET}/{prefix}"], env, cwd=os.getcwd()),
                   "dgtui versions --recursive")
    peak = None if result.self_peak_rss is None else result.self_peak_rss / 2**20
    return [below(Row("versions-memory", f"`versions --recursive --json` of {count:,} versions, peak RSS", net.name,
                      "MB", peak, note=f"time {result.seconds:.1f} s"), MEMORY_LIMIT_MB)]
