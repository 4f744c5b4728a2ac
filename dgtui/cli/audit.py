"""``dgtui audit``: can everything under a prefix be restored."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ..core.errors import DgError
from ..core.text import human_count, plural, safe_line
from ..jobs.audit import AuditJob, audit
from .common import CountLine, client_from, emit_json, human, shown

if TYPE_CHECKING:
    from ..core.audit import AuditProblem, AuditSummary


class CountingJob(AuditJob):
    """An audit on the command line: its counts on stderr."""

    def __init__(self, line: CountLine) -> None:
        super().__init__()
        self.line = line

    def on_progress(self, done: int, total: int, stage: str) -> None:
        super().on_progress(done, total, stage)
        self.line(stage, done, total)


def cmd_audit(args: argparse.Namespace) -> int:
    from ..core.client import parse_s3_url

    client = client_from(args)
    bucket, _ = parse_s3_url(args.url)
    if args.workers is not None and args.workers < 1:
        raise DgError("--workers must be at least 1")
    bar = CountLine(f"audit {args.url}")
    job = CountingJob(bar)
    found = []

    def show(problem: AuditProblem) -> None:
        if args.json:
            found.append(problem.to_dict())
            return
        bar.finish()
        print(f"{problem.kind.label}: {shown(f's3://{bucket}/{problem.key}')}: {safe_line(problem.message)}"
              + (f"; run: {shown(problem.command)}" if problem.command else ""))

    try:
        summary = audit(client, job, args.url, full=args.full, workers=args.workers, on_problem=show)
    except KeyboardInterrupt:
        bar.finish()
        so_far = job.summary
        if so_far is None:
            raise
        print(f"dgtui: audit interrupted after {plural(so_far.objects, 'object')}; "
              f"{plural(so_far.problem_count, 'problem')} found so far", file=sys.stderr)
        return 130
    bar.finish()
    if args.json:
        emit_json({"summary": summary.to_dict(), "problems": found})
    else:
        print(audit_summary_line(summary))
    return 3 if summary.problem_count else 0


def audit_summary_line(summary: AuditSummary) -> str:
    from ..core.audit import ProblemKind

    where_ = shown(f"s3://{summary.bucket}/{summary.prefix}")
    if not summary.objects:
        return f"audited {where_}: nothing is stored there"
    parts = [f"{plural(summary.objects, 'stored object')}: {plural(summary.deltas, 'delta')} in "
             f"{plural(summary.folders, 'folder')}, {plural(summary.references, 'reference')}, "
             f"{human_count(summary.other_objects)} other"]
    if summary.proxy_encrypted:
        parts.append(f"{summary.proxy_encrypted:,} encrypted by deltaglider_proxy (only the proxy can read them)")
    if summary.full:
        parts.append(f"{plural(summary.rebuilt, 'delta')} rebuilt and {plural(summary.checked, 'other object')} "
                     f"checked: {human(summary.bytes_checked)} read from the bucket, {human(summary.bytes_rebuilt)} "
                     "rebuilt")
        if summary.unchecked:
            parts.append(f"{summary.unchecked:,} could not be checked by their bytes")
    else:
        parts.append(f"metadata of {summary.metadata_read:,} read (--full also checks the bytes)")
    if summary.wasted_bytes:
        parts.append(f"{human(summary.wasted_bytes)} stored for nothing")
    if summary.restorable_from_reference_versions:
        parts.append(restorable_per_folder(summary.restorable_from_reference_versions))
    if summary.problem_count:
        kinds = ", ".join(f"{n:,} {ProblemKind(k).label}" for k, n in sorted(summary.problems.items()))
        verdict = f"{plural(summary.problem_count, 'problem')} ({kinds})"
    else:
        verdict = "no problems found"
    return f"audited {where_}: {verdict}; " + "; ".join(parts)


#: folders named one by one in the summary line; the rest are counted
FOLDERS_SHOWN = 10


def restorable_per_folder(counts: dict[str, int]) -> str:
    """"deltas restorable from an older reference version: 3 in rel/, 1 at the bucket root", the folders
    with the most first."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    named = [f"{n:,} {'at the bucket root' if not folder else 'in ' + shown(folder + '/')}"
             for folder, n in ranked[:FOLDERS_SHOWN]]
    rest = len(ranked) - FOLDERS_SHOWN
    more = f", and {sum(n for _, n in ranked[FOLDERS_SHOWN:]):,} in {plural(rest, 'more folder')}" if rest > 0 else ""
    return f"deltas restorable from an older reference version: {', '.join(named)}{more}"
