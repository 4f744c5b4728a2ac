"""Start-up: what a command costs before and around its first request, a new process each.

``dgtui --help`` against ``deltaglider --help`` (no network: interpreter start, imports, the parser), and
``dgtui ls`` of a folder of ten objects against ``deltaglider ls`` and a raw boto3 script listing the same
folder (start-up, client set-up and one listing), over each network of the run.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..measure import check, median, run_child
from ..report import Row, at_most, below
from . import Context

BUCKET = "bench-startup"
PREFIX = "small/"
OBJECTS = 10
#: processes started per measurement (the median is reported); one at the smoke size
REPS = 9

RAW_BOTO3_LS = """
import os, sys
import boto3
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], verify=os.environ.get("AWS_CA_BUNDLE") or None)
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=sys.argv[1], Prefix=sys.argv[2], Delimiter="/"):
    for o in page.get("Contents", []):
        print(o["Key"], o["Size"])
"""


def _tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else name


def _median_seconds(argv: list[str], env: dict[str, str], what: str, expect: str = "", reps: int = REPS) -> float:
    times = []
    for _ in range(reps):
        result = check(run_child(argv, env), what)
        if expect and expect not in result.stdout:
            raise RuntimeError(f"{what} printed no {expect!r}: {result.stdout[:200]!r}")
        times.append(result.seconds)
    return median(times)


def run(ctx: Context) -> list[Row]:
    ctx.env.ensure_bucket(BUCKET)
    admin = ctx.env.admin()
    for i in range(OBJECTS):
        admin.put_object(Bucket=BUCKET, Key=f"{PREFIX}file-{i:02d}.txt", Body=f"object {i}\n".encode())
    reps = 1 if ctx.sizes.name == "smoke" else REPS
    env = ctx.env.child_env()
    ctx.log("dgtui --help / deltaglider --help, a process each")
    ours = _median_seconds([_tool("dgtui"), "--help"], env, "dgtui --help", "usage: dgtui", reps)
    theirs = _median_seconds([_tool("deltaglider"), "--help"], env, "deltaglider --help", "Usage", reps)
    bare = _median_seconds([sys.executable, "-c", "pass"], env, "python -c pass", "", reps)
    rows = [below(Row("startup", "`dgtui --help`, a process", "none", "s", ours, "`deltaglider --help`", theirs,
                      note=f"deltaglider --help: {theirs:.3f} s; the interpreter alone (python -c pass): "
                           f"{bare:.3f} s"), 0.1, strict=False)]
    for net in ctx.networks:
        env = ctx.env.child_env(net.endpoint_url)
        ctx.log(f"dgtui ls / deltaglider ls / boto3 of {OBJECTS} objects over {net.name}")
        url = f"s3://{BUCKET}/{PREFIX}"
        ours = _median_seconds([_tool("dgtui"), "ls", url], env, "dgtui ls", "file-09.txt", reps)
        theirs = _median_seconds([_tool("deltaglider"), "ls", url], env, "deltaglider ls", "file-09.txt", reps)
        raw = _median_seconds([sys.executable, "-c", RAW_BOTO3_LS, BUCKET, PREFIX], env, "boto3 list", "file-09.txt",
                              reps)
        rows.append(at_most(Row("startup", f"`dgtui ls` of {OBJECTS} objects, a process", net.name, "s", ours,
                                "`deltaglider ls`, a process", theirs,
                                note=f"raw boto3 script: {raw:.3f} s ({ours / raw:.2f}x of it)",
                                samples={"dgtui": [ours], "peer": [theirs], "boto3": [raw]}), 1.0))
    return rows
