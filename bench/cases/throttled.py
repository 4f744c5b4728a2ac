"""Detailed statistics while the server throttles: a proxy answers 10% of requests with 503 SlowDown.

dgtui's HEAD fan-out backs off and halves its concurrency on each wave of SlowDown answers (raising it
again as answers come); DeltaGlider 6.2.0 goes through the same proxy with botocore's own retries. Both
must report the totals of the data set, or the comparison means nothing. The proxy runs in a process of
its own (``bench.fault_proxy``), a new one for each tool and run, with the same seed: both meet the same
throttled requests.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .. import datasets
from ..measure import median, timed
from ..report import Row, speedup
from . import Context
from .stats import _check

SLOWDOWN_RATE = 0.10


@contextmanager
def throttling(ctx: Context, target: str, seed: int) -> Iterator[str]:
    """A fault proxy process in front of ``target``; yields its endpoint URL."""
    proxy = subprocess.Popen([sys.executable, "-m", "bench.fault_proxy", target, str(SLOWDOWN_RATE), str(seed)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=Path(__file__).parents[2],
                             env=ctx.env.child_env())
    try:
        assert proxy.stdout is not None
        yield f"http://127.0.0.1:{int(proxy.stdout.readline())}"
    finally:
        try:
            assert proxy.stdin is not None
            proxy.stdin.close()
            proxy.wait(timeout=10)
        except Exception:
            proxy.kill()


def run(ctx: Context) -> list[Row]:
    n, spaces = ctx.sizes.stats_deltas, ctx.sizes.stats_spaces
    truth = datasets.build_stats(ctx.env, n, spaces, ctx.log)
    bucket = datasets.stats_bucket(n)
    target = next(net for net in ctx.env.networks if net.name == "loopback")
    ours: list[float] = []
    peer: list[float] = []
    problems: set[str] = set()
    lowest: list[int] = []
    for rep in range(ctx.sizes.stats_reps):
        with throttling(ctx, target.endpoint_url, rep) as proxied:
            ctx.log(f"detailed stats over {n:,} deltas, {SLOWDOWN_RATE:.0%} SlowDown (dgtui, run {rep + 1})")
            client = ctx.env.dgtui(proxied, ctx.env.scratch(f"throttled-cache-{rep}"))
            seconds, stats = timed(lambda c=client: c.get_bucket_stats(bucket, detailed_stats=True))
            fast = client._fetcher.fast_head
            if not fast.enabled:
                problems.add(f"dgtui's fast HEADs were switched off: {fast.disabled_reason}")
            lowest.append(fast.lowest_concurrency)
            client.close()
            ours.append(seconds)
            problems |= _check("dgtui", stats, n, truth)
        with throttling(ctx, target.endpoint_url, rep) as proxied:
            ctx.log(f"detailed stats over {n:,} deltas, {SLOWDOWN_RATE:.0%} SlowDown (DeltaGlider, run {rep + 1})")
            dg = ctx.env.deltaglider(proxied)
            seconds, stats = timed(lambda d=dg: d.get_bucket_stats(bucket, mode="detailed", use_cache=False))
            peer.append(seconds)
            problems |= _check("DeltaGlider", stats, n, truth)
    note = "; ".join(sorted(problems) + [f"dgtui's HEADs in flight went down to {min(lowest)}"])
    row = Row("stats-throttled", f"detailed stats, {n:,} deltas, {SLOWDOWN_RATE:.0%} SlowDown", target.name, "s",
              median(ours), "DeltaGlider 6.2.0 detailed", median(peer), note=note,
              samples={"dgtui": ours, "peer": peer})
    return [speedup(row, 3.0)]
