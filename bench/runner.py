"""``python -m bench``: start a local S3 server, build data sets, time dgtui next to its peers."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
import traceback
from dataclasses import replace
from pathlib import Path

from . import machine, report
from .cases import CASES, Context, runners
from .datasets import utc_now
from .env import LATENCY_S, BenchEnv
from .report import Row
from .sizes import BY_NAME, MB

METHOD = [
    "The server is SeaweedFS `weed mini` on 127.0.0.1, started by the run on a folder of its own (with --work-dir, the data sets of an earlier run are reused). "
    "'loopback' talks to it directly; '+30 ms' goes through a TCP proxy (its own process) that delays "
    "every HTTP request by 30 ms, as a nearby cloud region would. The same server also serves https "
    "with a certificate from a CA made for the run ('https loopback', 'https +30 ms'; every tool trusts "
    "it through AWS_CA_BUNDLE); listing and statistics run over both.",
    "Data sets are built with raw boto3 before timing; nothing of the setup is timed.",
    "Times are medians over the repetitions (samples in RESULTS.json). Python tools are timed in "
    "this process with clients created beforehand; s5cmd and the 'a process each' cases include "
    "starting their processes.",
    "dgtui: `dgtui.create_client` with its defaults (metadata HEADs up to 128 at a time from one event "
    "loop, uvloop's where installed, sent by its lean HTTP/1.1 client with aiohttp as the fallback, signed "
    "from strings checked against botocore's signer) and a cache folder of the run. "
    "boto3: a default client and its `list_objects_v2` paginator. DeltaGlider 6.2.0: its `create_client` "
    "(log level WARNING), `get_bucket_stats(mode='detailed', use_cache=False)` (10 HEAD threads), "
    "`upload`, `download`; its reference cache is private to each process, as it ships.",
    "stats: each repetition starts dgtui with an empty cache folder; 'unchanged' is a new client on "
    "that folder right after (metadata cached on disk, validated by the listing's ETags and dates; the "
    "listing starts every part at once from where the first run's pages broke), set against a bare "
    "listing of the same bucket by a new dgtui client, timed in the same repetition.",
    "list: dgtui lists as `dgtui ls` does (`iter_pages(..., ranged=True)`: key ranges in parallel once "
    "the first page shows the prefix is large).",
    "Python tools run as installed: dgtui's modules are compiled to bytecode before timing, as `pip install` "
    "does for dgtui and its peers (an editable checkout run with PYTHONDONTWRITEBYTECODE=1 would otherwise "
    "compile every dgtui module again in every process it starts).",
    "get-cli: `dgtui get` and `deltaglider cp` as commands, a new process per version (interpreter, "
    "imports and client set-up included); dgtui's cache folder persists between its processes.",
    "The stats data set holds small stand-in `.delta` bodies with the metadata DeltaGlider 6.2.0 writes "
    "(dgtui's detailed statistics read every object's metadata, DeltaGlider's only the deltas'; here both read the same 2,000 deltas) and one reference per deltaspace.",
    "stats-throttled: a fault proxy in a process of its own (`bench.fault_proxy`, dgtui.testing's "
    "FastFaultProxy: request heads parsed by httptools on a uvloop loop; a request that meets no fault passes "
    "to the server as bytes, on a server connection of its own for each client connection) answers 10% of "
    "requests 503 SlowDown, drawn by seed, method, target and attempt, so both tools meet the same throttled "
    "requests; over https it serves the run's certificate and talks https to the server. Each repetition also "
    "times dgtui straight to the server and through the proxy without faults (the row's note).",
    "upload: each repetition uploads every version into a new deltaspace (the first version becomes "
    "the reference). Stored bytes are everything under the prefix, references included.",
    "restore: the deltaspace is written by DeltaGlider; each version is restored by a new "
    "`python -c` process. dgtui's cache folder starts empty and persists between its processes.",
    "Sizes: MB and GB are 2^20 and 2^30 bytes; stored bytes are exact.",
    "memory: peak RSS is the process's own VmHWM (xdelta3 runs as a separate process and is listed "
    "in the notes). The direct file is not delta-eligible, so it goes up as a multipart upload.",
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--size", choices=sorted(BY_NAME), default="full")
    parser.add_argument("--cases", default=",".join(CASES),
                        help="comma-separated, from: " + ", ".join(CASES))
    parser.add_argument("--out", default=str(Path(__file__).parent / "RESULTS.md"),
                        help="where to write the Markdown report (a .json beside it holds the samples)")
    parser.add_argument("--work-dir", default=None,
                        help="keep the server's data and generated files here (reused by later runs); "
                             "default: a temporary folder removed at the end")
    parser.add_argument("--latency-ms", type=float, default=LATENCY_S * 1000,
                        help="latency the proxy adds per request (0: loopback only)")
    parser.add_argument("--bigfile-mb", type=int, default=None,
                        help="size of the bigfile case's archive in MB (2^20 bytes), instead of the --size "
                             f"preset's; default: ${BIGFILE_MB_ENV} when set")
    parser.add_argument("--encoder-mb", type=int, default=None,
                        help="size of each version of the encoder-level case's archives in MB, instead of the "
                             "--size preset's (the fast pass of uploads starts at 64 MB)")
    parser.add_argument("--quiet", action="store_true")
    return parser.parse_args(argv)


def compile_dgtui() -> None:
    """Bytecode for dgtui's modules, as an install has: the processes the cases start then load them as they
    load their peers' (an editable checkout under PYTHONDONTWRITEBYTECODE=1 has none and would compile
    every module again in each process, a tenth of a second or more of every start)."""
    import compileall

    import dgtui

    compileall.compile_dir(str(Path(dgtui.__file__).parent), quiet=1)


#: the bigfile case's archive size in MB when --bigfile-mb is not given (500, 2048 ... on a quiet machine)
BIGFILE_MB_ENV = "BENCH_BIGFILE_MB"


def bigfile_mb(args: argparse.Namespace) -> int | None:
    """The bigfile size asked for on the command line or in the environment, None for the preset's."""
    if args.bigfile_mb is not None:
        chosen: int | None = args.bigfile_mb
    else:
        text = os.environ.get(BIGFILE_MB_ENV, "").strip()
        try:
            chosen = int(text) if text else None
        except ValueError:
            raise SystemExit(f"{BIGFILE_MB_ENV}={text!r} is not a whole number of MB") from None
    if chosen is not None and chosen < 1:
        raise SystemExit("the bigfile size must be at least 1 MB")
    return chosen


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wanted = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in CASES]
    if unknown:
        print(f"unknown case(s): {', '.join(unknown)}; known: {', '.join(CASES)}", file=sys.stderr)
        return 2
    sizes = BY_NAME[args.size]
    compile_dgtui()
    big = bigfile_mb(args)
    if big is not None:
        sizes = replace(sizes, bigfile_bytes=big * MB)
    if args.encoder_mb is not None:
        if args.encoder_mb < 1:
            raise SystemExit("the encoder-level size must be at least 1 MB")
        sizes = replace(sizes, encoder_family_bytes=args.encoder_mb * MB)
    started_at, t0 = utc_now(), time.monotonic()
    env = BenchEnv.start(args.work_dir, args.latency_ms / 1000)
    env.use_process_env()
    ctx = Context(env=env, sizes=sizes, wanted=set(wanted), verbose=not args.quiet)
    rows: list[Row] = []
    failed = False
    try:
        ctx.log(f"S3 server at {env.server.endpoint_url}; networks: {', '.join(n.name for n in env.networks)}")
        done_runners = set()
        run_for = runners()
        for case in CASES:  # table order
            if case not in wanted:
                continue
            fn = run_for[case]
            if fn in done_runners:
                continue
            done_runners.add(fn)
            try:
                new = fn(ctx)
            except Exception as exc:
                failed = True
                traceback.print_exc()
                new = [Row(case, "failed", "—", "s", None, note=f"{type(exc).__name__}: {exc}".splitlines()[0])]
            rows += [r for r in new if r.case in wanted]
    finally:
        env.stop()
    seconds = time.monotonic() - t0
    print()
    print("\n".join(report.table_lines(rows)))
    print()
    print(report.summary_line(rows))
    command = "python -m bench " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    report.write_markdown(Path(args.out), rows, machine=machine.describe(), size=sizes.name,
                          command=command.strip(), started=started_at, seconds=seconds, method=METHOD)
    print(f"wrote {args.out}")
    return 1 if failed else 0
