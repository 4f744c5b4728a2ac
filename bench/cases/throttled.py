"""Detailed statistics while the server throttles: a proxy answers 10% of requests with 503 SlowDown.

dgtui's HEAD fan-out backs off and halves its concurrency on each wave of SlowDown answers (raising it
again as answers come); DeltaGlider 6.2.0 goes through the same proxy with botocore's own retries. Both
must report the totals of the data set: a wrong total from dgtui fails the row, one from DeltaGlider
(which gives up on a HEAD after a few throttled answers and leaves that delta out) is told in the note.
The proxy (``FastFaultProxy`` in ``bench.fault_proxy``) runs in a process of its own, a new one for each
tool and run, with the same seed: both meet the same throttled requests. Over https it serves the run's
certificate and talks plain http to the same server on loopback, as the latency proxy passes TLS through
untouched: the tools' TLS is what is measured, and a second TLS layer inside the proxy would take CPU from
both tools on the same two cores (through it, a clean dgtui run took 1.5x its time straight to the server).
To show what the proxy itself costs, each repetition also
times dgtui straight to the server and through the proxy with no faults (in the row's note).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .. import datasets
from ..env import Network
from ..measure import median, own_cpu, timed
from ..report import Row, speedup
from . import Context, label
from .stats import _check

SLOWDOWN_RATE = 0.10
TARGET = 3.0


@contextmanager
def throttling(ctx: Context, net: Network, seed: int, rate: float = SLOWDOWN_RATE) -> Iterator[str]:
    """A fault proxy process in front of ``net``; yields its endpoint URL (https in front of https)."""
    https = net.endpoint_url.startswith("https:")
    upstream = ctx.env.server.endpoint_url if https else net.endpoint_url  # one TLS layer: the tools'
    command = [sys.executable, "-m", "bench.fault_proxy", upstream, str(rate), str(seed)]
    if https:
        assert ctx.env.server.tls is not None
        command += list(ctx.env.server.tls)[:2]  # certificate and key it serves https with
    proxy = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=Path(__file__).parents[2],
                             env=ctx.env.child_env())
    try:
        assert proxy.stdout is not None
        yield f"{'https' if https else 'http'}://127.0.0.1:{int(proxy.stdout.readline())}"
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
    rows = []
    for target in [net for net in ctx.all_networks if net.name.endswith("loopback")]:
        rows.append(_run_on(ctx, target, bucket, n, truth))
    return rows


def _run_on(ctx: Context, target: Network, bucket: str, n: int, truth: datasets.StatsTruth) -> Row:
    ours: list[float] = []
    peer: list[float] = []
    direct: list[float] = []
    clean: list[float] = []
    problems: set[str] = set()  #: dgtui's: a wrong total or a fast path given up fails the row
    theirs: set[str] = set()  #: DeltaGlider's wrong totals: told in the note
    lowest: list[int] = []
    throttled: list[int] = []
    raised: list[int] = []  #: times answers raised the HEADs in flight again, a run
    spent: list[float] = []  #: CPU seconds of dgtui's process, a run with faults
    tag = label(target)

    def dgtui_stats(endpoint: str, cache: str, *, faults: bool = False) -> float:
        client = ctx.env.dgtui(endpoint, ctx.env.scratch(cache))
        cpu = own_cpu()
        seconds, stats = timed(lambda: client.get_bucket_stats(bucket, detailed_stats=True))
        cpu = own_cpu() - cpu
        fast = client._fetcher.fast_head
        if not fast.enabled:
            problems.add(f"dgtui's fast HEADs were switched off: {fast.disabled_reason}")
        if faults:
            lowest.append(fast.lowest_concurrency)
            throttled.append(fast.throttled_requests)
            spent.append(cpu)
            raised.append(fast.concurrency_increases)
        client.close()
        problems.update(_check("dgtui", stats, n, truth))
        return seconds

    for rep in range(ctx.sizes.stats_reps):
        ctx.log(f"detailed stats over {n:,} deltas over {target.name}: straight, then through a clean proxy "
                f"(dgtui, run {rep + 1})")
        direct.append(dgtui_stats(target.endpoint_url, f"throttled-direct-{tag}-{rep}"))
        with throttling(ctx, target, rep, rate=0.0) as proxied:
            clean.append(dgtui_stats(proxied, f"throttled-clean-{tag}-{rep}"))
        with throttling(ctx, target, rep) as proxied:
            ctx.log(f"detailed stats over {n:,} deltas, {SLOWDOWN_RATE:.0%} SlowDown (dgtui, run {rep + 1})")
            ours.append(dgtui_stats(proxied, f"throttled-cache-{tag}-{rep}", faults=True))
        with throttling(ctx, target, rep) as proxied:
            ctx.log(f"detailed stats over {n:,} deltas, {SLOWDOWN_RATE:.0%} SlowDown (DeltaGlider, run {rep + 1})")
            dg = ctx.env.deltaglider(proxied)
            seconds, stats = timed(lambda d=dg: d.get_bucket_stats(bucket, mode="detailed", use_cache=False))
            peer.append(seconds)
            theirs |= _check("DeltaGlider", stats, n, truth)
    note = "; ".join(sorted(problems) + sorted(theirs) + [
        f"dgtui straight to the server {median(direct):.3f} s, through the proxy without faults "
        f"{median(clean):.3f} s", f"dgtui's HEADs in flight went down to {min(lowest)}, "
        f"{min(throttled)}-{max(throttled)} HEADs throttled a run, raised again {min(raised)}-{max(raised)} times",
        f"dgtui's CPU with faults {median(spent):.2f} s a run"])
    row = speedup(Row("stats-throttled", f"detailed stats, {n:,} deltas, {SLOWDOWN_RATE:.0%} SlowDown", target.name,
                      "s", median(ours), "DeltaGlider 6.2.0 detailed", median(peer), note=note,
                      samples={"dgtui": ours, "peer": peer, "dgtui_direct": direct, "dgtui_clean_proxy": clean}),
                  TARGET)
    if problems:
        row.met = False  # dgtui's answer must be the clean run's, whatever the times
    return row
