"""Savings by folder and sampled statistics: memory over a million objects, sampling against exact.

* **A million objects.** Uploading a million objects is out of reach on a
  small test machine, so a child process feeds a synthetic listing of
  1,000,000 entries at full size (RawPage tuples turned into logical pages by the same
  code a real listing goes through) to the by-folder aggregation and to
  quick statistics, and reports its peak RSS. The same is measured on a
  real server at ``savings_real_keys`` objects with ``dgtui stats --by-folder``
  in a process of its own, beside DeltaGlider 6.2.0's quick statistics.
* **Sampled against exact.** On ``sampled_deltas`` deltas (DeltaGlider
  6.2.0's metadata), with cold caches: the time of ``dgtui stats --sampled``
  against ``--detailed``, and how far the sampled original size lands from
  the true one.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from .. import datasets
from ..measure import check, median, run_child, timed
from ..report import Row, below
from . import Context, label
from .memory import _mb

LIMIT_MB = 400
REAL_BUCKET = "bench-savings"

#: a child that streams a synthetic listing of N entries through the by-folder aggregation or quick stats
SYNTHETIC = """
import sys, time
from dgtui.core.listing import RawPage, logical_page
from dgtui.core.savings import SavingsAggregator
what, total = sys.argv[1], int(sys.argv[2])

def entries():
    # Half in 500 folders of 1,000 versions each (deltas against one reference); the rest one
    # model checkpoint per folder (the layout savings by folder warns about), a reference each.
    n = 0
    for f in range(min(500, total // 2000)):
        folder = [(f"app-{f:03d}/app-{f:03d}-1.{v}.zip.delta", 1500 + v) for v in range(999)]
        folder.append((f"app-{f:03d}/reference.bin", 50_000_000))
        for key, size in sorted(folder):  # in key order, as S3 lists
            yield key, size, "2025-01-01T00:00:00.000Z", "e" * 32, "STANDARD"
        n += 1000
    run = 0
    while n < total:
        for epoch in range(1000):
            if n >= total:
                return
            folder = f"models/run-{run:04d}/epoch_{epoch:04d}"
            yield f"{folder}/model.tar.delta", 40, "2025-01-01T00:00:00.000Z", "m" * 32, "STANDARD"
            yield f"{folder}/reference.bin", 200_000_000, "2025-01-01T00:00:00.000Z", "x" * 32, "STANDARD"
            n += 2
        run += 1

def pages():
    batch = []
    for item in entries():
        batch.append(item)
        if len(batch) == 1000:
            yield logical_page("b", RawPage(objects=batch), prefix="", delimiter=None, max_keys=1000,
                               continuation_token=None)
            batch = []
    if batch:
        yield logical_page("b", RawPage(objects=batch), prefix="", delimiter=None, max_keys=1000,
                           continuation_token=None)

started = time.perf_counter()
if what == "by-folder":
    agg = SavingsAggregator("b", "")
    for page in pages():
        agg.add_page(page)
    report = agg.finish()
    print(report.total.objects + report.total.references, len(report.rows), len(report.advice), report.unordered)
else:
    from dgtui import create_client
    from dgtui.core.stats import compute_stats
    client = create_client(endpoint_url="http://127.0.0.1:9", aws_access_key_id="x", aws_secret_access_key="y",
                           region_name="us-east-1", cache_dir=sys.argv[3])
    stats = compute_stats(client._s3, client._fetcher, "b", "", pages=pages())
    print(stats.object_count + stats.reference_objects, stats.delta_objects, 0)
print(f"{time.perf_counter() - started:.2f}", file=sys.stderr)
"""

CLI_BY_FOLDER = """
import sys
from dgtui.cli import main
code = main(sys.argv[1:])
"""

DG_QUICK = """
import sys
from deltaglider import create_client
endpoint, bucket = sys.argv[1:3]
client = create_client(endpoint_url=endpoint, log_level="WARNING")
print(client.get_bucket_stats(bucket, mode="quick", use_cache=False).object_count)
"""


def run(ctx: Context) -> list[Row]:
    rows: list[Row] = []
    if "savings-memory" in ctx.wanted:
        rows += _synthetic(ctx)
    if "savings-memory" in ctx.wanted or "sampled" in ctx.wanted:
        rows += _real(ctx)
    if "sampled" in ctx.wanted:
        rows += _sampled(ctx)
    return rows


def _child(code: str) -> str:
    from ..measure import REPORT_PEAK

    return code + REPORT_PEAK


def _synthetic(ctx: Context) -> list[Row]:
    import sys

    rows = []
    env = ctx.env.child_env()
    cache = str(ctx.env.scratch("savings-synthetic-cache"))
    total = ctx.sizes.savings_synthetic_objects
    for what, title in (("by-folder", "savings by folder"), ("stats", "quick statistics")):
        ctx.log(f"{title} over a synthetic listing of {total:,} objects")
        args = [sys.executable, "-c", _child(SYNTHETIC), what, str(total), cache]
        result = check(run_child(args, env), f"synthetic {what}")
        counted = int(result.stdout.split()[0])
        note = (f"{counted:,} stored objects counted in {result.stderr.strip().splitlines()[-1]} s of aggregation "
                f"(no network: the listing is generated in the process; half the keys in folders of 1,000 "
                f"versions, half one model checkpoint per folder, a reference in each)")
        if counted != total:
            note += f"; counted {counted:,}, expected {total:,}"
        rows.append(below(Row("savings-memory", f"{title}, {total:,}-object synthetic listing, peak RSS",
                              "none", "MB", _mb(result.self_peak_rss), note=note), LIMIT_MB))
    return rows


def _build_real(ctx: Context, n: int) -> int:
    """``n`` stored objects: one delta of a checkpoint and a reference per folder, as small stand-ins."""
    admin = ctx.env.admin()
    bucket = f"{REAL_BUCKET}-{n}"
    ctx.env.ensure_bucket(bucket)
    marker = f"savings-{n}"
    if datasets._marker_present(ctx.env, admin, bucket, marker):
        return n
    ctx.log(f"building {n:,} objects in s3://{bucket}/ …")
    meta = {"dg-tool": datasets.DG_TOOL, "dg-original-name": "model.tar", "dg-file-sha256": "ab" * 32,
            "dg-file-size": "1000000", "dg-created-at": datasets.FIXED_TIME, "dg-ref-key": "x/reference.bin",
            "dg-ref-sha256": "cd" * 32, "dg-delta-size": "40", "dg-delta-cmd": "xdelta3"}

    def put(i: int) -> None:
        folder = f"runs/run-{i // 1000:03d}/epoch_{i % 1000:04d}"
        admin.put_object(Bucket=bucket, Key=f"{folder}/model.tar.delta", Body=bytes(40), Metadata=meta)
        admin.put_object(Bucket=bucket, Key=f"{folder}/reference.bin", Body=bytes(100))

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(put, range(n // 2)))
    datasets._put_marker(admin, bucket, marker)
    return n


def _real(ctx: Context) -> list[Row]:
    import sys

    n = ctx.sizes.savings_real_keys
    _build_real(ctx, n)
    bucket = f"{REAL_BUCKET}-{n}"
    rows = []
    for net in ctx.networks:
        env = ctx.env.child_env(net.endpoint_url)
        env["DGTUI_CACHE_DIR"] = str(ctx.env.scratch(f"savings-real-{label(net)}"))
        ctx.log(f"dgtui stats --by-folder over {n:,} objects over {net.name}")
        ours = check(run_child([sys.executable, "-c", _child(CLI_BY_FOLDER), "stats", f"s3://{bucket}/",
                                "--by-folder", "--json", "--endpoint-url", net.endpoint_url], env), "dgtui by-folder")
        theirs = run_child([sys.executable, "-c", _child(DG_QUICK), net.endpoint_url, bucket], env)
        note = (f"times: dgtui {ours.seconds:.1f} s, DeltaGlider quick stats {theirs.seconds:.1f} s"
                + ("" if theirs.returncode == 0 else f"; DeltaGlider failed (exit {theirs.returncode})"))
        rows.append(below(Row("savings-memory", f"dgtui stats --by-folder, {n:,} objects on the server, peak RSS",
                              net.name, "MB", _mb(ours.self_peak_rss), "DeltaGlider 6.2.0 quick stats (no target)",
                              _mb(theirs.self_peak_rss), note=note), LIMIT_MB))
        if "sampled" in ctx.wanted:
            rows.append(_beyond_listing(ctx, net, bucket, n // 2))
    return rows


def _beyond_listing(ctx: Context, net, bucket: str, deltas: int) -> Row:
    """What sampling adds to the listing: the sample's size follows the spread of sizes, not the bucket's."""
    list_times, extra_times, sizes = [], [], []
    for rep in range(ctx.sizes.stats_reps):
        client = ctx.env.dgtui(net.endpoint_url, ctx.env.scratch(f"beyond-sampled-{label(net)}-{rep}"))
        seconds, pages = timed(lambda c=client: list(c.iter_pages(bucket, "", delimiter=None)))
        list_times.append(seconds)
        # The same pages again, already listed: what is left is the sampling and the sample's HEADs.
        seconds, sampled = timed(lambda c=client, p=pages: c.sampled_stats(bucket, pages=p))
        client.close()
        extra_times.append(seconds)
        sizes.append(sampled.sample_size)
    row = Row("sampled", f"sampled stats beyond the listing, {deltas:,} deltas, cold caches", net.name, "s",
              median(extra_times),
              note=(f"the listing itself took {median(list_times):.2f} s; sample of {max(sizes)} deltas, which "
                    f"does not grow with the bucket: it follows the spread of the sizes"))
    return below(row, 5.0)


def _sampled(ctx: Context) -> list[Row]:
    n, spaces = ctx.sizes.sampled_deltas, 4
    truth = datasets.build_stats(ctx.env, n, spaces, ctx.log)
    bucket = datasets.stats_bucket(n)
    rows = []
    for net in ctx.networks:
        ctx.log(f"sampled against detailed stats over {n:,} deltas over {net.name}")
        exact_times, sampled_times, errors, sizes, intervals, missed = [], [], [], [], [], 0
        for rep in range(ctx.sizes.stats_reps):
            client = ctx.env.dgtui(net.endpoint_url, ctx.env.scratch(f"sampled-exact-{label(net)}-{rep}"))
            seconds, stats = timed(lambda c=client: c.get_bucket_stats(bucket, detailed_stats=True))
            client.close()
            exact_times.append(seconds)
            if stats.total_size != truth.original_total:
                raise RuntimeError(f"detailed stats counted {stats.total_size:,} original bytes, "
                                   f"expected {truth.original_total:,}")
            client = ctx.env.dgtui(net.endpoint_url, ctx.env.scratch(f"sampled-{label(net)}-{rep}"))
            seconds, sampled = timed(lambda c=client: c.sampled_stats(bucket))
            client.close()
            sampled_times.append(seconds)
            errors.append(abs(sampled.original_bytes - truth.original_total) / truth.original_total * 100)
            sizes.append(sampled.sample_size)
            intervals.append(sampled.relative_half_width * 100)
            if not sampled.original_low <= truth.original_total <= sampled.original_high:
                missed += 1
        dg = ctx.env.deltaglider(net.endpoint_url)
        dg_seconds, dg_stats = timed(lambda d=dg: d.get_bucket_stats(bucket, mode="sampled", use_cache=False))
        dg_error = abs(dg_stats.total_size - truth.original_total) / truth.original_total * 100
        share = median(sampled_times) / median(exact_times)
        row = Row("sampled", f"sampled stats, {n:,} deltas, cold caches", net.name, "s", median(sampled_times),
                  "dgtui --detailed, cold caches", median(exact_times),
                  note=(f"{share:.2f}x of detailed; sample {min(sizes)}-{max(sizes)} deltas; error of the original "
                        f"size {max(errors):.2f}% at most (target 3%); 95% interval ±{median(intervals):.2f}%; "
                        f"interval missed the truth {missed} of {len(errors)} times; DeltaGlider 6.2.0 "
                        f"mode='sampled' {dg_seconds:.2f} s, error {dg_error:.2f}%, no interval"),
                  samples={"dgtui": sampled_times, "peer": exact_times})
        row.target = "<= 0.333x of peer, error <= 3%"
        row.ratio = f"{share:.2f}x of peer"
        row.met = share <= 1 / 3 and max(errors) <= 3.0
        rows.append(row)
    return rows
