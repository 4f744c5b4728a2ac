"""Uploading successive versions of an archive: dgtui vs DeltaGlider, time and stored bytes."""

from __future__ import annotations

from .. import datasets
from ..measure import median, timed
from ..report import Row, at_most
from . import Context, label


def stored_bytes(admin, bucket: str, prefix: str) -> tuple[int, int]:
    """(objects, bytes) stored under a prefix, references included."""
    count = total = 0
    for page in admin.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            count += 1
            total += obj["Size"]
    return count, total


def delete_prefix(admin, bucket: str, prefix: str) -> None:
    keys = [o["Key"] for page in admin.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for o in page.get("Contents", [])]
    for i in range(0, len(keys), 1000):
        admin.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]], "Quiet": True})


def run(ctx: Context) -> list[Row]:
    sizes = ctx.sizes
    versions = datasets.archive_versions(ctx.env, sizes.archive_bytes, sizes.upload_versions, ctx.log)
    bucket = datasets.UPLOAD_BUCKET
    ctx.env.ensure_bucket(bucket)
    admin = ctx.env.admin()
    rows: list[Row] = []
    mb = sizes.archive_bytes / 2**20
    for net in ctx.networks:
        ctx.log(f"upload {len(versions)} versions of a {mb:.0f} MB archive over {net.name}")
        ours: list[float] = []
        theirs: list[float] = []
        our_bytes: list[int] = []
        their_bytes: list[int] = []
        notes: set[str] = set()
        for rep in range(sizes.upload_reps):
            prefix = f"dgtui-{label(net)}-{rep}/"
            delete_prefix(admin, bucket, prefix)
            client = ctx.env.dgtui(net.endpoint_url, ctx.env.scratch(f"upload-cache-{label(net)}-{rep}"))
            summaries = []
            seconds, _ = timed(lambda: [summaries.append(client.upload(p, f"s3://{bucket}/{prefix}")) for p in versions])
            client.close()
            ours.append(seconds)
            count, total = stored_bytes(admin, bucket, prefix)
            our_bytes.append(total)
            direct = [s.key for s in summaries if not s.stored_key.endswith(".delta")]
            if direct:
                notes.add(f"dgtui stored {len(direct)} version(s) direct")
            delete_prefix(admin, bucket, prefix)

            prefix = f"dg-{label(net)}-{rep}/"
            delete_prefix(admin, bucket, prefix)
            dg = ctx.env.deltaglider(net.endpoint_url)
            seconds, _ = timed(lambda: [dg.upload(str(p), f"s3://{bucket}/{prefix}") for p in versions])
            theirs.append(seconds)
            count, total = stored_bytes(admin, bucket, prefix)
            their_bytes.append(total)
            delete_prefix(admin, bucket, prefix)
        what = f"upload {len(versions)} x {mb:.0f} MB .zip versions"
        rows.append(at_most(Row("upload", what, net.name, "s", median(ours), "DeltaGlider 6.2.0 upload",
                                median(theirs), note="; ".join(sorted(notes)),
                                samples={"dgtui": ours, "peer": theirs}), 1.1))
        row = at_most(Row("upload", "stored bytes of those versions", net.name, "bytes", median(our_bytes),
                          "DeltaGlider 6.2.0 upload", median(their_bytes)), 1.0)
        row.target = "no larger"
        rows.append(row)
    return rows
