"""``dgtui get`` against ``deltaglider cp``: restoring versions of an archive, a new CLI process each.

What a script restoring backups one by one pays: interpreter start, imports, client set-up, then the
restore itself. The deltaspace is written by DeltaGlider 6.2.0. dgtui's cache folder persists from one
process to the next (so only the first fetches the reference), as a user's does.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .. import datasets
from ..measure import check, median, run_child
from ..report import Row, at_most
from . import Context, label


def _tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else name


def run(ctx: Context) -> list[Row]:
    sizes = ctx.sizes
    versions = datasets.archive_versions(ctx.env, sizes.cli_restore_bytes, sizes.cli_restore_versions, ctx.log)
    keys = datasets.build_restore(ctx.env, versions, ctx.log)
    expected = {p.name: datasets.sha256_of(p) for p in versions}
    bucket = datasets.RESTORE_BUCKET
    mb = sizes.cli_restore_bytes / 2**20
    rows: list[Row] = []
    for net in ctx.networks:
        ctx.log(f"dgtui get / deltaglider cp of {len(keys)} versions, a process each, over {net.name}")
        ours: list[float] = []
        theirs: list[float] = []
        #: each process's time, every version of every repetition (the first version of each repetition also
        #: fetches the reference into dgtui's new cache folder)
        ours_each: list[float] = []
        theirs_each: list[float] = []
        ours_first: list[float] = []
        for rep in range(sizes.restore_reps):
            env = ctx.env.child_env(net.endpoint_url)
            env["DGTUI_CACHE_DIR"] = str(ctx.env.scratch(f"cli-restore-cache-{label(net)}-{rep}"))
            out = ctx.env.scratch(f"cli-restore-out-{label(net)}")
            total = 0.0
            for key in keys:
                name = key.rsplit("/", 1)[-1]
                result = check(run_child([_tool("dgtui"), "get", f"s3://{bucket}/{key}", str(out / name)], env),
                               "dgtui get")
                total += result.seconds
                if key == keys[0]:
                    ours_first.append(result.seconds)
                ours_each.append(result.seconds)
            ours.append(total)
            _verify(out, expected, "dgtui get")
            out = ctx.env.scratch(f"cli-restore-out-{label(net)}")
            total = 0.0
            for key in keys:
                name = key.rsplit("/", 1)[-1]
                result = check(run_child([_tool("deltaglider"), "cp", f"s3://{bucket}/{key}", str(out / name)],
                                         env), "deltaglider cp")
                total += result.seconds
                theirs_each.append(result.seconds)
            theirs.append(total)
            _verify(out, expected, "deltaglider cp")
        rows.append(at_most(Row("get-cli", f"`dgtui get` of {len(keys)} x {mb:.0f} MB versions, a process each",
                                net.name, "s", median(ours), "`deltaglider cp`, a process each", median(theirs),
                                note=f"per process: dgtui {median(ours) / len(keys):.2f} s, "
                                     f"deltaglider {median(theirs) / len(keys):.2f} s",
                                samples={"dgtui": ours, "peer": theirs}), 0.5))
        rows.append(at_most(Row("get-cli", f"`dgtui get` of one {mb:.0f} MB version, a process", net.name, "s",
                                median(ours_each), "`deltaglider cp`, a process", median(theirs_each),
                                note=f"median over {len(ours_each)} processes; the first of each repetition, "
                                     f"which also fetches the reference into dgtui's empty cache: "
                                     f"{median(ours_first):.2f} s",
                                samples={"dgtui": ours_each, "peer": theirs_each, "first": ours_first}), 0.4))
    return rows


def _verify(out: Path, expected: dict[str, str], who: str) -> None:
    for name, sha in expected.items():
        got = datasets.sha256_of(out / name)
        if got != sha:
            raise RuntimeError(f"{who} restored {name} with sha256 {got[:12]}…, expected {sha[:12]}…")
