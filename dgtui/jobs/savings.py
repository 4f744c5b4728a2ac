"""Savings as jobs: by folder (quick or exact), from a sample of deltas, and a measured layout."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.layout import estimate_shared_folder
from .job import Job

if TYPE_CHECKING:
    from ..core.client import DgClient
    from ..core.sampling import SampledStats
    from ..core.savings import FolderReport, LayoutAdvice


def folder_savings(client: DgClient, job: Job, bucket: str, prefix: str, *, exact: bool = False,
                   expected_deltas: int | None = None) -> FolderReport:
    """One row per folder below ``prefix``; exact mode counts the deltas whose metadata was read."""
    return client.folder_savings(bucket, prefix, exact=exact,
                                 progress=job.count_progress("reading metadata") if exact else None,
                                 should_cancel=job.should_cancel, expected_deltas=expected_deltas)


def sampled_stats(client: DgClient, job: Job, bucket: str, prefix: str) -> SampledStats:
    """Totals estimated from a random sample of deltas, with a 95% interval."""
    return client.sampled_stats(bucket, prefix, progress=job.count_progress("reading a sample"),
                                should_cancel=job.should_cancel)


def measure_layout(client: DgClient, job: Job, bucket: str, advice: LayoutAdvice) -> LayoutAdvice:
    """What one shared folder would store for a one-archive-per-folder layout (fills ``advice``)."""
    return estimate_shared_folder(client, bucket, advice, progress=job.on_progress, should_cancel=job.should_cancel)
