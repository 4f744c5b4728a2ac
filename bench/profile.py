"""Where dgtui's time goes: cProfile of the listing and stats paths.

    python -m bench.profile list  [--n 100000] [--work-dir DIR] [--latency-ms 0]
    python -m bench.profile stats [--n 2000]   [--work-dir DIR] [--latency-ms 30]

Prints wall time, the CPU time of this process, and the top functions by own
time and by cumulative time. When wall time is far above CPU time the client
is waiting on the server (or the network), not computing.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import resource
import sys
import time

from . import datasets
from .env import BenchEnv


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def profile(label: str, fn, top: int) -> None:
    prof = cProfile.Profile()
    c0, t0 = cpu(), time.perf_counter()
    prof.enable()
    fn()
    prof.disable()
    wall, used = time.perf_counter() - t0, cpu() - c0
    print(f"\n=== {label}: wall {wall:.3f} s, CPU of this process {used:.3f} s (profiled; unprofiled runs are faster)")
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(prof, stream=out).strip_dirs().sort_stats(order).print_stats(top)
        text = out.getvalue()
        print(text[text.find("   ncalls"):].rstrip())


def unprofiled(label: str, fn, reps: int = 3) -> None:
    for _ in range(reps):
        c0, t0 = cpu(), time.perf_counter()
        fn()
        print(f"{label}: wall {time.perf_counter() - t0:.3f} s, CPU {cpu() - c0:.3f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("what", choices=["list", "stats"])
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--work-dir", default=None)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--https", action="store_true", help="talk to the server over https")
    args = parser.parse_args(argv)
    env = BenchEnv.start(args.work_dir, latency_s=args.latency_ms / 1000)
    env.use_process_env()
    net = [n for n in env.networks if n.name.startswith("https") == args.https][-1]
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    try:
        if args.what == "list":
            n = args.n or 100_000
            datasets.build_list(env, n, log)
            bucket, prefix = datasets.list_bucket(n), datasets.LIST_PREFIX
            dg = env.dgtui(net.endpoint_url, env.scratch("profile-cache"))
            b3 = env.boto3_default(net.endpoint_url)
            dg.list_objects(Bucket=bucket, Prefix=prefix, MaxKeys=1)
            b3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)

            def ours():
                return sum(len(p.contents) for p in dg.iter_pages(bucket, prefix, delimiter=None, ranged=True))

            def raw_only():
                # Page after page with ElementTree's parse, no ranges and no logical-page step.
                from dgtui.core.listing import list_raw_page
                token, count = None, 0
                while True:
                    page = list_raw_page(dg.boto3_client, bucket, prefix, None, 1000, token)
                    count += len(page.objects)
                    if not page.is_truncated:
                        return count
                    token = page.next_token

            def boto3_paginator():
                return sum(len(p.get("Contents", []))
                           for p in b3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix))

            unprofiled("dgtui iter_pages", ours)
            unprofiled("dgtui list_raw_page only", raw_only)
            unprofiled("boto3 paginator", boto3_paginator)
            profile("dgtui iter_pages", ours, args.top)
            profile("boto3 paginator", boto3_paginator, args.top)
        else:
            n = args.n or 2_000
            datasets.build_stats(env, n, 4, log)
            bucket = datasets.stats_bucket(n)
            caches = iter(range(1000))

            def fresh():
                client = env.dgtui(net.endpoint_url, env.scratch(f"profile-stats-{next(caches)}"))
                client.get_bucket_stats(bucket, detailed_stats=True)
                client.close()

            def deltaglider():
                env.deltaglider(net.endpoint_url).get_bucket_stats(bucket, mode="detailed", use_cache=False)

            warm = env.scratch("profile-stats-warm")
            env.dgtui(net.endpoint_url, warm).get_bucket_stats(bucket, detailed_stats=True)
            warm_client = env.dgtui(net.endpoint_url, warm)

            def again():
                warm_client.get_bucket_stats(bucket, detailed_stats=True)

            unprofiled("dgtui stats (fresh cache)", fresh)
            unprofiled("dgtui stats again (warm cache, client made beforehand)", again)
            unprofiled("DeltaGlider stats", deltaglider)
            profile("dgtui stats again", again, args.top)
            profile("dgtui stats (fresh cache)", fresh, args.top)
            profile("DeltaGlider stats", deltaglider, args.top)
    finally:
        env.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
