"""``dgtui stats``: what the compression saves (``--by-folder`` and ``--sampled`` print through ``savings``)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING

from ..core.errors import DgError
from ..core.text import percent, plural
from ..jobs.stats import bucket_stats
from .common import CliJob, ProgressLine, client_from, emit_json, human, shown
from .savings import run_by_folder, run_sampled

if TYPE_CHECKING:
    pass


def cmd_stats(args: argparse.Namespace) -> int:
    from ..core.client import parse_s3_url

    client = client_from(args)
    bucket, prefix = parse_s3_url(args.url)
    bar = ProgressLine(f"stats {bucket}")
    if args.by_folder or args.sampled:
        if args.by_folder and args.sampled:
            raise DgError("--by-folder and --sampled are separate views; choose one")
        run = run_by_folder if args.by_folder else run_sampled
        return run(args, client, bucket, prefix, bar, shown, human)
    stats = bucket_stats(client, CliJob(bar), bucket, prefix, detailed=args.detailed)
    bar.finish()
    if args.json:
        emit_json(asdict(stats))
        return 0
    est = (" (estimate: quick mode guesses each delta's original size as its reference's size; use --detailed)"
           if stats.estimated and not stats.detailed else "")
    rows = [
        ("location", shown(f"s3://{bucket}/{prefix}")),
        ("objects", f"{stats.object_count} ({stats.delta_objects} delta, {stats.direct_objects} other)"),
        ("original size", human(stats.total_size) + est),
        ("stored size", f"{human(stats.compressed_size)} "
                        f"(references: {stats.reference_objects}, {human(stats.reference_size)})"),
        ("space saved", f"{human(stats.space_saved)} ({percent(stats.savings_percent)})"),
        ("mode", "detailed" if stats.detailed else
         "quick (reads no metadata: encryption and invalid metadata not checked; use --detailed)"),
    ]
    if stats.metadata_invalid:
        rows.append(("metadata invalid", str(stats.metadata_invalid)))
    if stats.encrypted_objects:
        rows.append(("proxy-encrypted", f"{stats.encrypted_objects} (readable only through deltaglider_proxy)"))
    if stats.older_copies:
        rows.append(("older copies", f"{stats.older_copies} (beside a newer copy of the same name)"))
    if stats.housekeeping_objects:
        rows.append(("housekeeping", f"{stats.housekeeping_objects} (deltaglider_proxy's _dgp/ locks and leases)"))
    for k, v in rows:
        print(f"{k:>16}: {v}")
    if stats.delta_objects and not stats.reference_objects:
        print(f"warning: {plural(stats.delta_objects, 'delta')} but no reference under "
              f"{shown(f's3://{bucket}/{prefix}')}: they cannot be restored; run: dgtui audit "
              f"{shown(f's3://{bucket}/{prefix}')}", file=sys.stderr)
    return 0
