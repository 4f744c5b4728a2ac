"""Statistics of a bucket or folder as a job: quick from the listing, or detailed from every object's metadata."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .job import Job

if TYPE_CHECKING:
    from ..core.client import DgClient
    from ..core.models import BucketStats

#: the stage a detailed computation counts objects under
READING_METADATA = "reading metadata"


def bucket_stats(client: DgClient, job: Job, bucket: str, prefix: str = "", *, detailed: bool = False) -> BucketStats:
    """``get_bucket_stats`` with the job's cancel flag; a detailed run counts the objects read on the job."""
    return client.get_bucket_stats(bucket, prefix=prefix, detailed_stats=detailed,
                                   progress=job.count_progress(READING_METADATA) if detailed else None,
                                   should_cancel=job.should_cancel)
