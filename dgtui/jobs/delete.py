"""Deletes: marked objects in batches, and a folder with everything under it, for the app and the CLI.

Nothing here imports Textual or writes to a terminal. A delete stops between batches once its job is
cancelled (``CancelledError``); what was deleted before stays deleted, and the caller says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..core.errors import CancelledError
from ..core.text import human_count, plural, printable, safe_line
from .job import Job

if TYPE_CHECKING:
    from ..core.client import DgClient

#: keys per DeleteObjects request (S3 takes at most 1,000)
BATCH = 500


@dataclass
class DeleteOutcome:
    """What a delete did: how many objects went, and the ones that did not, one line each."""

    deleted: int = 0
    #: one printable line per object that could not be deleted
    failures: list[str] = field(default_factory=list)
    #: a folder's delete counts stored objects (deltas, references), a batch counts the objects asked for
    folder: bool = False
    #: for a folder: (stored key, reason) of each failure, as the SDK gave them
    errors: list[Any] = field(default_factory=list)

    @property
    def state(self) -> str:
        return "failed" if self.failures else "done"

    def line(self) -> str:
        if self.folder:
            deleted = f"deleted {plural(self.deleted, 'stored object')}"
            if self.failures:
                return f"{deleted}; {len(self.failures)} failed: {safe_line(str(self.errors[0]), 160)}"
            return deleted
        if self.failures:
            return f"deleted {human_count(self.deleted)}; {len(self.failures)} failed: {self.failures[0]}"
        return f"deleted {human_count(self.deleted)} object{'s' if self.deleted != 1 else ''}"


def delete_objects(client: DgClient, job: Job, bucket: str, keys: list[str]) -> DeleteOutcome:
    """Delete ``keys`` (logical keys) of ``bucket`` in batches; ``job.items_done`` counts the keys sent."""
    outcome = DeleteOutcome()
    for start in range(0, len(keys), BATCH):
        if job.should_cancel():
            raise CancelledError()
        batch = keys[start:start + BATCH]
        response = client.delete_objects(bucket, {"Objects": [{"Key": k} for k in batch]})
        outcome.deleted += len(response.get("Deleted", []))
        outcome.failures += [f"{printable(e['Key'], 80)}: {printable(str(e.get('Message')), 120)}"
                             for e in response.get("Errors", [])]
        job.items_done += len(batch)
    return outcome


def delete_prefix(client: DgClient, job: Job, url: str) -> DeleteOutcome:
    """Delete everything under the folder ``url`` (its references too)."""
    response = client.delete_prefix(url, should_cancel=job.should_cancel)
    errors = list(response.get("errors") or [])
    job.items_done = job.items_total
    return DeleteOutcome(deleted=response["deleted"], folder=True, errors=errors,
                         failures=[safe_line(str(e), 300) for e in errors])
