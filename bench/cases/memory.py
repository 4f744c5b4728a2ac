"""Peak memory of a process uploading and restoring a big file.

A direct object (not delta-eligible, so it goes up as a multipart upload) of
``memory_direct_bytes``, and a delta-eligible archive of ``memory_delta_bytes``
in two versions (the first becomes the reference, the second a delta, then the
second is restored). Each step is a process of its own, with an empty cache,
and reports its own peak RSS (VmHWM). The largest child it waited for
(xdelta3) is reported in the notes.
"""

from __future__ import annotations

import shutil

from .. import children, datasets
from ..measure import ChildResult, check, run_child
from ..report import Row, below
from . import Context, label
from .upload import delete_prefix

LIMIT_MB = 300


def _mb(n: int | None) -> float | None:
    return None if n is None else n / (1024 * 1024)


def run(ctx: Context) -> list[Row]:
    sizes = ctx.sizes
    folder = ctx.env.files("memory")
    bucket = datasets.MEMORY_BUCKET
    ctx.env.ensure_bucket(bucket)
    admin = ctx.env.admin()
    rows: list[Row] = []
    try:
        ctx.log(f"writing {sizes.memory_direct_bytes / 2**20:.0f} MB and 2 x {sizes.memory_delta_bytes / 2**20:.0f} MB files")
        blob = datasets.big_file(folder / "blob.bin", sizes.memory_direct_bytes, "direct")
        blob_sha = datasets.sha256_of(blob)
        deltas = []
        if sizes.memory_delta_bytes:
            deltas = [datasets.big_file(folder / f"big-{v}.zip", sizes.memory_delta_bytes, f"v{v}") for v in (1, 2)]
        for net in ctx.networks:
            rows += _direct(ctx, net, bucket, admin, blob, blob_sha)
            if deltas:
                rows += _delta(ctx, net, bucket, admin, deltas)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        for tag in ("lo", "lat"):
            delete_prefix(admin, bucket, f"{tag}/")
    return rows


def _direct(ctx: Context, net, bucket, admin, blob, blob_sha) -> list[Row]:
    size_text = _size_text(blob.stat().st_size)
    ctx.log(f"memory: {size_text} direct file over {net.name}")
    env = ctx.env.child_env(net.endpoint_url)
    out = ctx.env.scratch(f"memory-out-{label(net)}")
    ours, theirs = {}, {}
    try:
        prefix = f"{label(net)}/dgtui/"
        url = f"s3://{bucket}/{prefix}{blob.name}"
        ours["up"] = check(run_child(children.dgtui_upload(net.endpoint_url, str(ctx.env.scratch("mem-cache-1")),
                                                           str(blob), f"s3://{bucket}/{prefix}"), env), "dgtui upload")
        ours["down"] = check(run_child(children.dgtui_download(net.endpoint_url, str(ctx.env.scratch("mem-cache-2")),
                                                               url, str(out / "dgtui.bin")), env), "dgtui restore")
        if datasets.sha256_of(out / "dgtui.bin") != blob_sha:
            raise RuntimeError("dgtui restored the direct file with the wrong bytes")
        (out / "dgtui.bin").unlink()
        delete_prefix(admin, bucket, prefix)

        prefix = f"{label(net)}/dg/"
        theirs["up"] = run_child(children.dg_upload(net.endpoint_url, str(blob), f"s3://{bucket}/{prefix}"), env)
        theirs["down"] = run_child(children.dg_download(net.endpoint_url, f"s3://{bucket}/{prefix}{blob.name}",
                                                        str(out / "dg.bin")), env)
        delete_prefix(admin, bucket, prefix)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    from dgtui.core.s3 import MULTIPART_THRESHOLD

    how = " (multipart)" if blob.stat().st_size > MULTIPART_THRESHOLD else ""
    return [_row(f"upload {size_text} direct file{how}", net, ours["up"], theirs["up"]),
            _row(f"restore {size_text} direct file", net, ours["down"], theirs["down"])]


def _delta(ctx: Context, net, bucket, admin, files) -> list[Row]:
    size_text = _size_text(files[0].stat().st_size)
    ctx.log(f"memory: {size_text} delta over {net.name}")
    env = ctx.env.child_env(net.endpoint_url)
    out = ctx.env.scratch(f"memory-out-{label(net)}")
    ours, theirs = [], []
    try:
        prefix = f"{label(net)}/dgtui-delta/"
        for i, f in enumerate(files):  # the first becomes the reference, the second a delta
            ours.append(check(run_child(children.dgtui_upload(
                net.endpoint_url, str(ctx.env.scratch(f"mem-cache-up-{i}")), str(f), f"s3://{bucket}/{prefix}"), env),
                "dgtui upload"))
        ours.append(check(run_child(children.dgtui_download(
            net.endpoint_url, str(ctx.env.scratch("mem-cache-down")), f"s3://{bucket}/{prefix}{files[1].name}",
            str(out / "dgtui.zip")), env), "dgtui restore"))
        (out / "dgtui.zip").unlink()
        delete_prefix(admin, bucket, prefix)

        prefix = f"{label(net)}/dg-delta/"
        for f in files:
            theirs.append(run_child(children.dg_upload(net.endpoint_url, str(f), f"s3://{bucket}/{prefix}"), env))
        theirs.append(run_child(children.dg_download(
            net.endpoint_url, f"s3://{bucket}/{prefix}{files[1].name}.delta", str(out / "dg.zip")), env))
        delete_prefix(admin, bucket, prefix)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    up_ours = max(ours[:2], key=lambda r: r.self_peak_rss or 0)
    up_theirs = max(theirs[:2], key=lambda r: r.self_peak_rss or 0)
    return [_row(f"upload {size_text} archive as reference, then a delta", net, up_ours, up_theirs,
                 extra=f"times: dgtui {ours[0].seconds:.1f} s + {ours[1].seconds:.1f} s, "
                       f"DeltaGlider {theirs[0].seconds:.1f} s + {theirs[1].seconds:.1f} s"),
            _row(f"restore {size_text} delta", net, ours[2], theirs[2])]


def _row(what: str, net, ours: ChildResult, theirs: ChildResult, extra: str = "") -> Row:
    note = (f"largest process incl. xdelta3: dgtui {_fmt_mb(ours.tree_peak_rss)}, "
            f"DeltaGlider {_fmt_mb(theirs.tree_peak_rss)}; "
            f"{extra or f'times: dgtui {ours.seconds:.1f} s, DeltaGlider {theirs.seconds:.1f} s'}")
    peer_value = _mb(theirs.self_peak_rss)
    if theirs.returncode != 0:
        # The peer has no target here; its failure is reported, not fatal.
        tail = (theirs.stderr.strip().splitlines() or ["?"])[-1][:200]
        note += f"; DeltaGlider failed (exit {theirs.returncode}): {tail}"
    row = Row("memory", what + ", peak RSS", net.name, "MB", _mb(ours.self_peak_rss), "DeltaGlider 6.2.0 (no target)",
              peer_value, note=note)
    return below(row, LIMIT_MB)


def _fmt_mb(n: int | None) -> str:
    return "?" if n is None else f"{n / 2**20:.0f} MB"


def _size_text(n: int) -> str:
    return f"{n / 2**30:.0f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"
