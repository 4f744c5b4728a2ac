"""``dgtui stats``: what the compression saves (``--by-folder`` and ``--sampled`` print through ``savings``)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from ..core.errors import DgError
from ..core.text import percent, plural
from ..jobs.stats import bucket_stats
from .common import CliJob, CountLine, ProgressLine, client_from, emit_json, human, shown
from .savings import run_by_folder, run_sampled

if TYPE_CHECKING:
    from ..core.version_usage import VersionUsage


def cmd_stats(args: argparse.Namespace) -> int:
    from ..core.client import parse_s3_url

    client = client_from(args)
    bucket, prefix = parse_s3_url(args.url)
    bar = ProgressLine(f"stats {bucket}")
    if args.versions:
        return run_versions(args, client, bucket, prefix)
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


def run_versions(args: argparse.Namespace, client: Any, bucket: str, prefix: str) -> int:
    """``stats --versions``: what every version and delete marker stores, in all or per folder."""
    for flag, given in (("--sampled", args.sampled), ("--detailed", args.detailed),
                        ("--measure-layout", args.measure_layout)):
        if given:
            raise DgError(f"--versions reads the version listing only; it does not go with {flag}")
    counter = CountLine(f"stats --versions {bucket}")
    report = client.version_usage(args.url, by_folder=args.by_folder,
                                  progress=lambda n: counter("listing versions", n, 0))
    counter.finish()
    if args.json:
        emit_json(report.as_dict())
        return 0
    status = {"Enabled": "on", "Suspended": "suspended (older versions are kept, new ones are not)"}.get(
        report.versioning or "", "off (never turned on: nothing older is kept)")
    print(f"versions under {shown(f's3://{bucket}/{prefix}')}: versioning is {status}")
    if args.by_folder:
        print(f"{'CURRENT':>10} {'OLDER':>10} {'VERSIONS':>9} {'MARKERS':>8} {'DELETED':>10}  FOLDER")
        for row in [*report.folders, report.total]:
            folder = row.folder[len(prefix):] if prefix.endswith("/") and row.folder.startswith(prefix) else row.folder
            name = "(total)" if row is report.total else shown(folder) if folder else "(files here)"
            print(f"{human(row.current_bytes):>10} {human(row.noncurrent_bytes):>10} {row.noncurrent_versions:>9,} "
                  f"{row.delete_markers:>8,} {human(row.deleted_bytes):>10}  {name}")
        print("OLDER: bytes of non-current versions (DELETED: of those, the versions of deleted keys)")
    else:
        for label, value in usage_rows(report.total):
            print(f"{label:>16}: {value}")
    return 0


def usage_rows(usage: VersionUsage) -> list[tuple[str, str]]:
    """The lines of ``stats --versions`` for one total, as (label, value)."""
    share = (f" ({percent(usage.noncurrent_bytes * 100 / usage.stored_bytes)} of what is stored)"
             if usage.stored_bytes else "")
    refs = (f"; of them reference.bin: {plural(usage.noncurrent_reference_versions, 'version')}, "
            f"{human(usage.noncurrent_reference_bytes)}" if usage.noncurrent_reference_versions else "")
    return [
        ("current", f"{plural(usage.current_objects, 'object')}, {human(usage.current_bytes)}"),
        ("older versions", f"{plural(usage.noncurrent_versions, 'version')}, {human(usage.noncurrent_bytes)}"
                           f"{share}{refs}"),
        ("delete markers", f"{usage.delete_markers:,}, over {plural(usage.deleted_keys, 'deleted key')} whose "
                           f"versions still store {human(usage.deleted_bytes)}"),
        ("stored in all", human(usage.stored_bytes)),
    ]
