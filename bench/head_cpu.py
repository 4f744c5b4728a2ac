"""CPU per HEAD of detailed statistics: the lean HEAD client (dgtui/core/headwire.py) against aiohttp.

    python -m bench.head_cpu [--n 2000] [--reps 5] [--work-dir DIR] [--https] [--profile]

Runs ``get_bucket_stats(bucket, detailed_stats=True)`` over the stats case's bucket (built if missing),
a fresh client each time, lean and aiohttp interleaved, straight to the local server (no latency proxy:
its CPU is not what is measured). Prints the CPU seconds (user + system, every thread of this process)
of each run and the medians; CPU time, not wall time, so a loaded machine still gives usable numbers.
``--profile`` adds the call counts and own time of the fast HEAD loop's thread (cProfile) for one run each.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import threading

from . import datasets
from .env import BenchEnv
from .measure import own_cpu


def one_run(env: BenchEnv, endpoint: str, bucket: str, n: int, lean: bool, tag: str,
            profile: bool = False) -> tuple[float, str]:
    client = env.dgtui(endpoint, env.scratch(f"head-cpu-{tag}"))
    fast = client._fetcher.fast_head
    fast.use_wire = lean
    prof: cProfile.Profile | None = None
    if profile:  # cProfile follows one thread: the loop's, where the HEADs are sent and parsed
        prof = cProfile.Profile()
        loop = fast._event_loop()
        enabled = threading.Event()
        loop.call_soon_threadsafe(lambda: (prof.enable(), enabled.set()))  # type: ignore[union-attr]
        enabled.wait(5)
    before = own_cpu()
    stats = client.get_bucket_stats(bucket, detailed_stats=True)
    used = own_cpu() - before
    report = ""
    if prof is not None:
        done = threading.Event()
        fast._loop.call_soon_threadsafe(lambda: (prof.disable(), done.set()))  # type: ignore[union-attr]
        done.wait(5)
        out = io.StringIO()
        pstats.Stats(prof, stream=out).strip_dirs().sort_stats("tottime").print_stats(25)
        report = out.getvalue()
    assert stats.delta_objects == n, (stats.delta_objects, n)
    assert fast.fallback_requests == 0, fast.fallback_requests
    if lean:
        assert sum(w.connections_opened for w in fast._wires.values()) > 0
    client.close()
    return used, report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--spaces", type=int, default=4)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--work-dir")
    parser.add_argument("--https", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    env = BenchEnv.start(args.work_dir, latency_s=0)
    if env.server.ca_bundle:
        os.environ["AWS_CA_BUNDLE"] = env.server.ca_bundle  # as the bench's runs verify the https endpoint
    try:
        datasets.build_stats(env, args.n, args.spaces, print)
        bucket = datasets.stats_bucket(args.n)
        net = env.networks[1 if args.https else 0]
        print(f"{args.n:,} deltas over {net.name} ({net.endpoint_url})")
        one_run(env, net.endpoint_url, bucket, args.n, True, "warm")  # imports, the server's caches
        one_run(env, net.endpoint_url, bucket, args.n, False, "warm")
        cpu: dict[bool, list[float]] = {True: [], False: []}
        for rep in range(args.reps):
            for lean in ((True, False) if rep % 2 == 0 else (False, True)):
                used, _ = one_run(env, net.endpoint_url, bucket, args.n, lean, f"{rep}-{lean}")
                cpu[lean].append(used)
                print(f"  {'lean   ' if lean else 'aiohttp'} CPU {used:.3f} s")
        lean_s, aio_s = statistics.median(cpu[True]), statistics.median(cpu[False])
        print(f"median CPU: lean {lean_s:.3f} s ({lean_s / args.n * 1e6:.0f} us a delta), "
              f"aiohttp {aio_s:.3f} s ({aio_s / args.n * 1e6:.0f} us a delta); "
              f"lean saves {(1 - lean_s / aio_s) * 100:.1f}% of the run's CPU")
        if args.profile:
            for lean in (True, False):
                _, report = one_run(env, net.endpoint_url, bucket, args.n, lean, f"profile-{lean}", profile=True)
                print(f"\n=== loop thread, {'lean' if lean else 'aiohttp'} ===\n{report}")
    finally:
        env.stop()


if __name__ == "__main__":
    main()
