"""An audit as a job: the problems as they are found, and the summary at the end."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..core.audit import AuditProblem, AuditSummary
from .job import Job

if TYPE_CHECKING:
    from ..core.client import DgClient


@dataclass(eq=False, kw_only=True)
class AuditJob(Job):
    """An audit's counters, the problems found so far (appended by the job, read by whoever draws it) and its
    summary, which holds the counts so far while it runs (the CLI prints them when Ctrl-C stops it)."""

    found: list[AuditProblem] = field(default_factory=list)
    summary: AuditSummary | None = None


def audit(client: DgClient, job: AuditJob, url: str, *, full: bool = False, workers: int | None = None,
          on_problem: Callable[[AuditProblem], None] | None = None) -> AuditSummary:
    """Audit everything under ``url``; each problem goes to ``job.found`` and to ``on_problem``."""
    auditor = client.audit(url, full=full, progress=lambda stage, done, total: job.on_progress(done, total, stage),
                           should_cancel=job.should_cancel, workers=workers)
    job.summary = auditor.summary
    for problem in auditor:
        job.found.append(problem)
        if on_problem is not None:
            on_problem(problem)
    job.summary = auditor.summary
    return auditor.summary
