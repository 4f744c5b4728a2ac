"""``dgtui stats --by-folder`` and ``dgtui stats --sampled``: the printing side of ``core.savings``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from ..core.text import column_digits, money, percent, percent_number, worth_a_cent

if TYPE_CHECKING:
    from ..core.savings import FolderReport, FolderSavings

#: columns --sort accepts, and the row field each sorts by (largest first, names A to Z)
SORT_FIELDS = {
    "stored": "stored_bytes", "original": "original_bytes", "saved": "saved_bytes", "percent": "saved_percent",
    "objects": "objects", "deltas": "deltas", "grade": "grade", "name": "prefix",
}
GRADE_ORDER = {"excellent": 0, "good": 1, "fair": 2, "poor": 3, "no deltas": 4}
BAR_WIDTH = 10


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--by-folder", action="store_true",
                   help="one row per folder below the prefix: sizes, savings, a grade and why")
    p.add_argument("--sampled", action="store_true",
                   help="read the metadata of a random sample of deltas: totals with a 95%% interval")
    p.add_argument("--sort", choices=sorted(SORT_FIELDS), default="stored",
                   help="--by-folder: the column to sort by (default: stored)")
    p.add_argument("--measure-layout", action="store_true",
                   help="--by-folder: for one-archive-per-folder layouts, restore two neighbouring archives "
                        "into a temporary folder and measure what one shared folder would store (needs xdelta3)")
    p.add_argument("--price-per-gb-month", type=float, metavar="USD",
                   help="storage price for the cost estimate (default: price_per_gb_month in the settings "
                        "file, else the AWS S3 Standard us-east-1 list price, 0.023)")


def sort_rows(rows: list[FolderSavings], column: str) -> list[FolderSavings]:
    field = SORT_FIELDS[column]
    if field == "prefix":
        return sorted(rows, key=lambda r: r.prefix)
    if field == "grade":
        return sorted(rows, key=lambda r: (GRADE_ORDER[r.grade], -r.stored_bytes, r.prefix))
    return sorted(rows, key=lambda r: (-getattr(r, field), r.prefix))


def bar(row: FolderSavings, width: int = BAR_WIDTH) -> str:
    """Stored against original: the filled part is what is still stored."""
    if row.original_bytes <= 0:
        return "[" + " " * width + "]"
    filled = min(width, round(row.stored_bytes / row.original_bytes * width))
    if row.stored_bytes and filled == 0:
        filled = 1 if row.stored_bytes * width * 4 >= row.original_bytes else 0
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def run_by_folder(args: argparse.Namespace, client: Any, bucket: str, prefix: str, progress_line: Any,
                  shown: Any, human: Any) -> int:
    from ..core.config import price_setting
    from ..core.savings import monthly_cost
    from ..jobs.savings import folder_savings, measure_layout
    from .common import CliJob

    settings = price_setting(args.price_per_gb_month)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    job = CliJob(progress_line)
    report: FolderReport = folder_savings(client, job, bucket, prefix, exact=args.detailed)
    advice = report.advice
    if args.measure_layout and advice:
        for item in advice[:3]:
            measure_layout(client, job, bucket, item)
    progress_line.finish()
    rows = sort_rows(report.rows, args.sort)
    price = settings.price_per_gb_month
    if args.json:
        out = report.as_dict(price)
        out["rows"] = [r.as_dict(price) for r in rows]
        out["price_source"] = settings.price_source
        print(json.dumps(out, ensure_ascii=True))
        return 0
    mode = "exact" if report.exact else "quick: ~ marks estimates, --detailed reads every delta's metadata"
    print(f"Savings by folder under {shown(f's3://{bucket}/{prefix}')} ({mode})")
    header = f"{'':12} {'STORED':>10} {'ORIGINAL':>11} {'SAVED':>8} {'OBJECTS':>9} {'DELTAS':>8}  {'GRADE':<10} FOLDER"
    print(header)
    digits = column_digits([r.saved_percent for r in [*rows, report.total] if r.original_bytes])
    for row in [*rows, report.total]:
        mark = "~" if row.is_estimate else " "
        name = "(total)" if row is report.total else ("(files here)" if row.here else shown(row.prefix[len(prefix):]))
        print(f"{bar(row):12} {human(row.stored_bytes):>10} {mark}{human(row.original_bytes):>10} "
              f"{mark}{percent_number(row.saved_percent, digits):>6}% {row.objects:>9,} {row.deltas:>8,}  "
              f"{row.grade:<10} {name}"
              + (f"  ({row.reason})" if row is not report.total and row.objects else ""))
    total = report.total
    stored, original = monthly_cost(total.stored_bytes, price), monthly_cost(total.original_bytes, price)
    costs = (f"stored {money(stored)}, without deltas {'~' if total.is_estimate else ''}{money(original)}"
             if worth_a_cent(stored, original) else "less than a cent, with or without deltas")
    print(f"cost per month at ${price:g}/GB-month ({settings.price_source}): {costs}")
    for item in advice:
        print(f"layout: {shown(item.message)}")
        if item.shared_stored_bytes is not None:
            print(f"        measured on {shown(item.examples[0])} and {shown(item.examples[1])}: a delta is "
                  f"{(item.sample_delta_ratio or 0) * 100:.2g}% of a file, so one shared folder would store about "
                  f"{human(item.shared_stored_bytes)} instead of {human(item.stored_bytes)}, saving about "
                  f"{human(max(item.shared_saved_bytes or 0, 0))}")
        elif not args.measure_layout:
            print("        --measure-layout measures what one shared folder would store")
    if report.unordered:
        print("note: the server did not list keys in order; every folder was kept in memory until the end",
              file=sys.stderr)
    return 0


def run_sampled(args: argparse.Namespace, client: Any, bucket: str, prefix: str, progress_line: Any,
                shown: Any, human: Any) -> int:
    from ..core.config import price_setting
    from ..core.savings import monthly_cost
    from ..jobs.savings import sampled_stats
    from .common import CliJob

    settings = price_setting(args.price_per_gb_month)
    stats = sampled_stats(client, CliJob(progress_line), bucket, prefix)
    progress_line.finish()
    price = settings.price_per_gb_month
    if args.json:
        out = stats.as_dict()
        out.update(price_per_gb_month=price, price_source=settings.price_source,
                   original_cost_per_month=round(monthly_cost(stats.original_bytes, price), 4),
                   stored_cost_per_month=round(monthly_cost(stats.stored_bytes, price), 4))
        print(json.dumps(out, ensure_ascii=True))
        return 0
    digits = column_digits([stats.saved_percent, stats.saved_percent_low, stats.saved_percent_high], 2)
    how = ("every delta's metadata was read: exact" if stats.exact
           else f"metadata of {stats.sample_size:,} of {stats.deltas:,} deltas read; 95% interval")
    rows = [
        ("location", shown(f"s3://{bucket}/{prefix}")),
        ("objects", f"{stats.objects:,} ({stats.deltas:,} delta)"),
        ("original size", f"{human(stats.original_bytes)} ({human(stats.original_low)} to "
                          f"{human(stats.original_high)})"),
        ("stored size", f"{human(stats.stored_bytes)} (references: {stats.references:,}, "
                        f"{human(stats.reference_bytes)})"),
        ("space saved", f"{percent(stats.saved_percent, digits)} ({percent(stats.saved_percent_low, digits)} to "
                        f"{percent(stats.saved_percent_high, digits)})"),
        ("mode", f"sampled ({how})"),
    ]
    stored, original = monthly_cost(stats.stored_bytes, price), monthly_cost(stats.original_bytes, price)
    costs = (f"{money(stored)} stored, about {money(original)} without deltas" if worth_a_cent(stored, original)
             else "less than a cent, with or without deltas")
    rows.append(("cost per month", f"{costs} (at ${price:g}/GB-month, {settings.price_source})"))
    if stats.invalid_in_sample:
        rows.append(("metadata invalid", f"{stats.invalid_in_sample} in the sample (counted at their estimate)"))
    for k, v in rows:
        print(f"{k:>16}: {v}")
    return 0
