"""Listing a big prefix without metadata: dgtui vs the boto3 paginator and ``s5cmd ls``.

dgtui lists as ``dgtui ls`` and the app's table do: key ranges in parallel once
the first page shows the prefix is large.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .. import datasets
from ..measure import median, timed
from ..report import Row, at_most, speedup
from . import Context, label


def s5cmd_binary() -> str:
    beside = Path(sys.executable).parent / "s5cmd"
    return str(beside) if beside.exists() else "s5cmd"


def run(ctx: Context) -> list[Row]:
    n = ctx.sizes.list_keys
    datasets.build_list(ctx.env, n, ctx.log)
    bucket, prefix = datasets.list_bucket(n), datasets.LIST_PREFIX
    rows = []
    for net in ctx.all_networks:
        ctx.log(f"list {n:,} keys over {net.name}")
        dg = ctx.env.dgtui(net.endpoint_url, ctx.env.scratch(f"list-cache-{label(net)}"))
        b3 = ctx.env.boto3_default(net.endpoint_url)
        env = ctx.env.child_env(net.endpoint_url)

        def with_dgtui() -> int:
            return sum(len(page.contents)
                       for page in dg.iter_pages(bucket, prefix, delimiter=None, page_size=1000, ranged=True))

        def with_boto3() -> int:
            return sum(len(page.get("Contents", []))
                       for page in b3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix))

        def with_s5cmd() -> int:
            out = subprocess.run([s5cmd_binary(), "--endpoint-url", net.endpoint_url, "ls", f"s3://{bucket}/{prefix}*"],
                                 env=env, capture_output=True, check=True)
            return out.stdout.count(b"\n")

        # Open connections and load botocore's models before timing (what creating a client costs).
        dg.list_objects(Bucket=bucket, Prefix=prefix, MaxKeys=1)
        b3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
        samples: dict[str, list[float]] = {"dgtui": [], "boto3": [], "s5cmd": []}
        for _ in range(ctx.sizes.list_reps):
            for name, fn in (("dgtui", with_dgtui), ("boto3", with_boto3), ("s5cmd", with_s5cmd)):
                seconds, count = timed(fn)
                if count != n:
                    raise RuntimeError(f"{name} listed {count} keys, expected {n}")
                samples[name].append(seconds)
        dg.close()
        what = f"list {n:,} keys"
        rows.append(speedup(Row("list", what, net.name, "s", median(samples["dgtui"]), "boto3 paginator",
                                median(samples["boto3"]), samples={"dgtui": samples["dgtui"], "peer": samples["boto3"]}),
                            2.0))
        rows.append(at_most(Row("list", what, net.name, "s", median(samples["dgtui"]), "s5cmd ls",
                                median(samples["s5cmd"]), samples={"dgtui": samples["dgtui"], "peer": samples["s5cmd"]},
                                note="s5cmd's time includes starting its process (a few ms)"
                                if net.name.endswith("loopback") else ""),
                            0.8 if net.name.endswith("loopback") else 0.6))
    return rows
