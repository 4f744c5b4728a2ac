"""Restoring versions from one deltaspace, a new process each: dgtui vs DeltaGlider.

The deltaspace is written by DeltaGlider 6.2.0 (a DeltaGlider user's bucket).
dgtui's cache folder persists from one process to the next, so only the
first process fetches the reference; DeltaGlider's cache is private to each
process and removed at its exit, so every process fetches it.
"""

from __future__ import annotations

from .. import children, datasets
from ..measure import check, median, run_child
from ..report import Row, at_most
from . import Context, label


def run(ctx: Context) -> list[Row]:
    sizes = ctx.sizes
    versions = datasets.archive_versions(ctx.env, sizes.archive_bytes, sizes.restore_versions, ctx.log)
    keys = datasets.build_restore(ctx.env, versions, ctx.log)
    expected = {p.name: datasets.sha256_of(p) for p in versions}
    bucket = datasets.RESTORE_BUCKET
    rows: list[Row] = []
    mb = sizes.archive_bytes / 2**20
    for net in ctx.networks:
        ctx.log(f"restore {len(keys)} versions, a process each, over {net.name}")
        env = ctx.env.child_env(net.endpoint_url)
        ours: list[float] = []
        theirs: list[float] = []
        our_first: list[float] = []
        our_rest: list[float] = []
        their_each: list[float] = []
        for rep in range(sizes.restore_reps):
            cache = ctx.env.scratch(f"restore-cache-{label(net)}-{rep}")  # a user's cache, empty at first
            out = ctx.env.scratch(f"restore-out-{label(net)}")
            total = 0.0
            for i, key in enumerate(keys):
                result = check(run_child(children.dgtui_download(net.endpoint_url, str(cache), f"s3://{bucket}/{key}",
                                                                 str(out / key.rsplit('/', 1)[-1])), env),
                               "dgtui restore")
                total += result.seconds
                (our_first if i == 0 else our_rest).append(result.seconds)
            ours.append(total)
            _verify(out, expected, "dgtui")

            out = ctx.env.scratch(f"restore-out-{label(net)}")
            total = 0.0
            for key in keys:
                # DeltaGlider is given the stored key, sparing it the miss it takes on the logical one.
                result = check(run_child(children.dg_download(net.endpoint_url, f"s3://{bucket}/{key}.delta",
                                                              str(out / key.rsplit('/', 1)[-1])), env),
                               "DeltaGlider restore")
                total += result.seconds
                their_each.append(result.seconds)
            theirs.append(total)
            _verify(out, expected, "DeltaGlider")
        note = (f"per process: dgtui first {median(our_first):.2f} s (fetches the reference), then "
                f"{median(our_rest):.2f} s; DeltaGlider {median(their_each):.2f} s each")
        rows.append(at_most(Row("restore", f"restore {len(keys)} x {mb:.0f} MB versions, a process each", net.name,
                                "s", median(ours), "DeltaGlider 6.2.0, a process each", median(theirs), note=note,
                                samples={"dgtui": ours, "peer": theirs}), 0.5))
    return rows


def _verify(out, expected: dict[str, str], who: str) -> None:
    for name, sha in expected.items():
        got = datasets.sha256_of(out / name)
        if got != sha:
            raise RuntimeError(f"{who} restored {name} with sha256 {got[:12]}…, expected {sha[:12]}…")
