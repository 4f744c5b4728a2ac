"""Audits: a full check of one folder vs DeltaGlider 6.2.0's ``verify`` on each delta, a metadata audit vs
detailed stats over the same deltas, and the peak memory of auditing a 100,000-object prefix."""

from __future__ import annotations

import sys
import time
from typing import Any

from .. import datasets
from ..measure import REPORT_PEAK, check, median, run_child
from ..report import Row, below, speedup
from . import Context, label

LIMIT_MB = 300

AUDIT_CHILD = """
import sys
from dgtui import create_client
endpoint, cache, url = sys.argv[1:4]
auditor = create_client(endpoint_url=endpoint, cache_dir=cache).audit(url)
problems = sum(1 for _ in auditor)
print(auditor.summary.objects, problems)
""" + REPORT_PEAK


def _timed_audit(client, url: str, full: bool = False) -> tuple[float, Any, list]:
    """(seconds, the auditor, its problems); closes the client."""
    auditor = client.audit(url, full=full)
    started = time.perf_counter()
    found = list(auditor)
    seconds = time.perf_counter() - started
    client.close()
    return seconds, auditor, found


def _timed_stats(client, bucket: str) -> float:
    started = time.perf_counter()
    client.get_bucket_stats(bucket, detailed_stats=True)
    seconds = time.perf_counter() - started
    client.close()
    return seconds


def _timed_verify(dg, urls: list[str]) -> tuple[float, list[bool]]:
    started = time.perf_counter()
    results = [dg.verify(url) for url in urls]
    return time.perf_counter() - started, results


def run(ctx: Context) -> list[Row]:
    rows: list[Row] = []
    if "audit-full" in ctx.wanted:
        rows += _full(ctx)
    if "audit-meta" in ctx.wanted:
        rows += _metadata(ctx)
    if "audit-memory" in ctx.wanted:
        rows += _memory(ctx)
    return rows


def _full(ctx: Context) -> list[Row]:
    n, size = ctx.sizes.audit_deltas, ctx.sizes.audit_file_bytes
    folder = datasets.build_audit(ctx.env, n, size, ctx.log)
    bucket = datasets.AUDIT_BUCKET
    rows = []
    for net in ctx.networks:
        ctx.log(f"full audit of {n} deltas vs DeltaGlider verify of each, over {net.name}")
        ours, theirs = [], []
        problems: set[str] = set()
        for rep in range(ctx.sizes.audit_reps):
            client = ctx.env.dgtui(net.endpoint_url, ctx.env.scratch(f"audit-full-{label(net)}-{rep}"))
            seconds, auditor, found = _timed_audit(client, f"s3://{bucket}/{folder.prefix}", full=True)
            ours.append(seconds)
            if found or auditor.summary.rebuilt != n:
                problems.add(f"dgtui found {len(found)} problems and rebuilt {auditor.summary.rebuilt} of {n}")
            dg = ctx.env.deltaglider(net.endpoint_url)  # one process, one client: its reference cache warms up
            seconds, results = _timed_verify(dg, [f"s3://{bucket}/{key}" for key in folder.stored_keys])
            theirs.append(seconds)
            if not all(results):
                problems.add(f"DeltaGlider verified {sum(results)} of {n}")
        mb = size / 2**20
        note = "; ".join(sorted(problems)) or (
            f"per delta: dgtui {median(ours) / n * 1000:.1f} ms, DeltaGlider {median(theirs) / n * 1000:.1f} ms; "
            f"dgtui's time includes fetching the reference once (fresh cache)")
        rows.append(speedup(Row("audit-full", f"audit --full, {n} deltas of {mb:.2f} MB files in one folder",
                                net.name, "s", median(ours), "DeltaGlider 6.2.0 verify() on each",
                                median(theirs), note=note, samples={"dgtui": ours, "peer": theirs}), 3.0))
    return rows


def _metadata(ctx: Context) -> list[Row]:
    n, spaces = ctx.sizes.stats_deltas, ctx.sizes.stats_spaces
    datasets.build_stats(ctx.env, n, spaces, ctx.log)
    bucket = datasets.stats_bucket(n)
    rows = []
    for net in ctx.networks:
        ctx.log(f"metadata audit vs detailed stats over {n:,} deltas over {net.name}")
        audits, stats, audits_again = [], [], []
        problems: set[str] = set()
        for rep in range(ctx.sizes.audit_meta_reps):
            cache = ctx.env.scratch(f"audit-meta-{label(net)}-{rep}")

            stats_cache = ctx.env.scratch(f"audit-stats-{label(net)}-{rep}")
            # each goes first every other time, so neither gains from the other's warm-up
            for which in (("stats", "audit") if rep % 2 == 0 else ("audit", "stats")):
                if which == "stats":
                    stats.append(_timed_stats(ctx.env.dgtui(net.endpoint_url, stats_cache), bucket))
                    continue
                seconds, auditor, found = _timed_audit(ctx.env.dgtui(net.endpoint_url, cache), f"s3://{bucket}/")
                audits.append(seconds)
                if found or auditor.summary.deltas != n or auditor.summary.metadata_read < n:
                    problems.add(f"audit found {len(found)} problems in {auditor.summary.deltas} deltas")
            audits_again.append(_timed_audit(ctx.env.dgtui(net.endpoint_url, cache), f"s3://{bucket}/")[0])
        note = "; ".join(sorted(problems)) or (
            f"both with an empty cache; the audit again on its warm cache: {median(audits_again):.3f} s")
        rows.append(speedup(Row("audit-meta", f"audit (metadata), {n:,} deltas", net.name, "s", median(audits),
                                "dgtui detailed stats", median(stats), note=note,
                                samples={"dgtui": audits, "peer": stats}), 1.0))
    return rows


def _memory(ctx: Context) -> list[Row]:
    """Peak RSS of a process auditing the big listing prefix (plain objects: the listing only) and a prefix
    of as many deltas (the listing and every delta's metadata)."""
    n = ctx.sizes.list_keys
    datasets.build_list(ctx.env, n, ctx.log)
    deltas = ctx.sizes.audit_memory_deltas
    datasets.build_stats(ctx.env, deltas, 50, ctx.log)
    net = ctx.networks[0]
    rows = []
    for what, url, expected in (
            (f"audit a {n:,}-object prefix, peak RSS", f"s3://{datasets.list_bucket(n)}/{datasets.LIST_PREFIX}", n),
            (f"audit a prefix of {deltas:,} deltas (metadata read), peak RSS",
             f"s3://{datasets.stats_bucket(deltas)}/", deltas + 50)):
        ctx.log(f"peak memory: {what}")
        env = ctx.env.child_env(net.endpoint_url)
        result = check(run_child([sys.executable, "-c", AUDIT_CHILD, net.endpoint_url,
                                  str(ctx.env.scratch("audit-memory-cache")), url], env), "dgtui audit")
        objects, problems = (int(x) for x in result.stdout.split()[:2])
        note = (f"{objects:,} objects audited in {result.seconds:.1f} s (a process, interpreter included), "
                f"{problems} problems")
        if objects != expected:
            note += f"; expected {expected:,} objects"
        mb = None if result.self_peak_rss is None else result.self_peak_rss / 2**20
        rows.append(below(Row("audit-memory", what, net.name, "MB", mb, note=note), LIMIT_MB))
    return rows
