"""Detailed statistics over many deltas: dgtui (fresh, then warm on-disk cache) vs DeltaGlider.

Unchanged statistics are set against a bare listing of the same bucket by dgtui, timed side by side:
reading the metadata again should cost next to nothing beyond the listing itself.

The first run's note says where its time goes: the CPU seconds of dgtui's process, of the server and
of the latency proxy during it (all three share the machine's cores), the HEADs it sent (fast, the one
that learns the URL through botocore, any repeated through botocore), the most in flight at once and so
the fewest rounds of the network's latency they need, and the bare listing's time.
"""

from __future__ import annotations

from .. import datasets
from ..measure import median, own_cpu, process_cpu, timed
from ..report import Row, at_most, speedup
from . import Context, label


def run(ctx: Context) -> list[Row]:
    n, spaces = ctx.sizes.stats_deltas, ctx.sizes.stats_spaces
    truth = datasets.build_stats(ctx.env, n, spaces, ctx.log)
    bucket = datasets.stats_bucket(n)
    want_first = "stats" in ctx.wanted
    rows: list[Row] = []
    for net in ctx.all_networks:
        ctx.log(f"detailed stats over {n:,} deltas over {net.name}")
        first: list[float] = []
        again: list[float] = []
        peer: list[float] = []
        bare: list[float] = []
        problems: set[str] = set()
        for rep in range(ctx.sizes.stats_reps):
            cache = ctx.env.scratch(f"stats-cache-{label(net)}-{rep}")
            client = ctx.env.dgtui(net.endpoint_url, cache)
            cpu = (own_cpu(), process_cpu(ctx.env.server.pid), process_cpu(net.proxy_pid))
            seconds, stats = timed(lambda: client.get_bucket_stats(bucket, detailed_stats=True))
            spent = (own_cpu(), process_cpu(ctx.env.server.pid), process_cpu(net.proxy_pid))
            where = _where_it_went(client._fetcher.fast_head, cpu, spent)
            client.close()
            first.append(seconds)
            problems |= _check("dgtui", stats, n, truth)
            # "Again" is a new client (a new process, as far as memory goes) on the same cache folder.
            client = ctx.env.dgtui(net.endpoint_url, cache)
            seconds, stats = timed(lambda: client.get_bucket_stats(bucket, detailed_stats=True))
            client.close()
            again.append(seconds)
            problems |= _check("dgtui (cached)", stats, n, truth)
            # The bare listing: a new client (no cache), every page of the same bucket, nothing else.
            client = ctx.env.dgtui(net.endpoint_url, ctx.env.scratch(f"stats-bare-{label(net)}-{rep}"))
            seconds, listed = timed(lambda: sum(len(p.contents) + len(p.hidden) for p in client.iter_pages(
                bucket, "", delimiter=None, ranged=True)))
            client.close()
            bare.append(seconds)
            if want_first:
                dg = ctx.env.deltaglider(net.endpoint_url)
                seconds, stats = timed(lambda: dg.get_bucket_stats(bucket, mode="detailed", use_cache=False))
                peer.append(seconds)
                problems |= _check("DeltaGlider", stats, n, truth)
        what = f"detailed stats, {n:,} deltas"
        note = "; ".join(sorted(problems))
        spread = f"first run (the last repetition): {where}; bare listing {median(bare):.3f} s"
        if want_first:
            rows.append(speedup(Row("stats", what, net.name, "s", median(first), "DeltaGlider 6.2.0 detailed",
                                    median(peer), note=(note + "; " if note else "") + spread,
                                    samples={"dgtui": first, "peer": peer}),
                                # issue 22: at +30 ms, 8x DeltaGlider over http and https
                                1.0 if net.name.endswith("loopback") else 8.0))
        if "stats-again" in ctx.wanted:
            rows.append(at_most(Row("stats-again", what + ", unchanged", net.name, "s", median(again),
                                    "dgtui bare listing of the bucket", median(bare),
                                    note=(note + "; " if note else "") + f"first run {median(first):.3f} s",
                                    samples={"dgtui": again, "peer": bare}), 1.3))
    return rows


def _where_it_went(fast, before: tuple[float, float | None, float | None],
                   after: tuple[float, float | None, float | None]) -> str:
    """CPU seconds of dgtui, the server and the proxy between two readings, and what the fan-out sent."""
    def cpu(i: int) -> str:
        a, b = before[i], after[i]
        return "unknown" if a is None or b is None else f"{b - a:.2f} s"

    rounds = -(-fast.fast_requests // fast.peak_in_flight) if fast.peak_in_flight else 0
    proxy = f", latency proxy {cpu(2)}" if before[2] is not None else ""
    return (f"CPU dgtui {cpu(0)}, server {cpu(1)}{proxy}; {fast.fast_requests:,} fast HEADs, "
            f"{fast.learn_requests} through botocore to learn the URL, {fast.fallback_requests} repeated through "
            f"botocore; at most {fast.peak_in_flight} in flight ({rounds} round{'' if rounds == 1 else 's'} at least)")


def _check(who: str, stats, n: int, truth: datasets.StatsTruth) -> set[str]:
    """Both tools must count the same deltas and original bytes, or the comparison means nothing."""
    found = set()
    if stats.delta_objects != n:
        found.add(f"{who} counted {stats.delta_objects} deltas, expected {n}")
    if stats.total_size != truth.original_total:
        found.add(f"{who} reported {stats.total_size:,} original bytes, expected {truth.original_total:,}")
    return found
