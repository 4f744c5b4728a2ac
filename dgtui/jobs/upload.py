"""Uploads with their questions and outcome, for the app and the CLI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.errors import CancelledError
from ..core.models import UploadSummary
from ..core.text import human_count, human_size, percent, plural, printable
from .job import Job, Outcome, describe_error

if TYPE_CHECKING:
    from ..core.client import DgClient


#: uploads of more files or bytes than this are confirmed with their count and size first
CONFIRM_UPLOAD_FILES = 10
CONFIRM_UPLOAD_BYTES = 100 * 1024 * 1024


# -- what an upload did ---------------------------------------------------------------------------------

def stored_bytes(summary: UploadSummary) -> int:
    """Bytes an upload added to the bucket.

    A folder's first archive stores its reference and a delta against it:
    the summary's ``stored_size`` already counts both.
    """
    return summary.stored_size


def upload_line(summary: UploadSummary) -> str:
    """What one upload stored, in words that are true for each kind of upload."""
    tail = ""
    if summary.operation == "create_reference":
        text = f"stored as this folder's reference ({human_size(summary.original_size)})"
        tail = "; later versions become deltas"
    elif summary.is_delta:
        text = (f"stored as delta: {percent(summary.savings_percent)} saved "
                f"({human_size(summary.original_size)} → {human_size(summary.stored_size)})")
    else:
        text = f"stored whole ({human_size(summary.stored_size)})"
        if summary.fallback_reason:
            tail = f": {printable(summary.fallback_reason, 100)}"
    if summary.verified:
        text += ", verified" if summary.is_delta else ", sha256 recorded"
    return text + tail


@dataclass
class UploadOutcome(Outcome):
    summaries: list[UploadSummary] = field(default_factory=list)

    def totals(self) -> tuple[int, int]:
        """(original bytes, stored bytes with the references created)"""
        return sum(s.original_size for s in self.summaries), sum(stored_bytes(s) for s in self.summaries)

    def line(self) -> str:
        summaries = self.summaries
        if self.cancelled:
            original, stored = self.totals()
            if summaries:
                return (f"cancelled: {human_count(len(summaries))} of {human_count(self.planned)} files were "
                        f"uploaded ({human_size(original)} → {human_size(stored)}) and stay; nothing was written "
                        "for the unfinished file")
            return "cancelled: nothing was uploaded; nothing was written for the unfinished file"
        if len(summaries) == 1 and not self.failures:
            return upload_line(summaries[0])
        if not summaries and len(self.failures) == 1:
            return printable(self.failures[0][1], 300)
        original, stored = self.totals()
        saved = (1 - stored / original) * 100 if original else 0.0
        text = (f"uploaded {plural(len(summaries), 'file')}: {human_size(original)} → {human_size(stored)} "
                f"({percent(saved)} saved")
        references = sum(1 for s in summaries if s.operation == "create_reference")
        if references:
            text += f"; {plural(references, 'folder reference')} included"
        text += ")"
        if self.failures:
            name, reason = self.failures[0]
            text += f" · {len(self.failures)} failed: {printable(name, 60)}: {printable(reason, 200)}"
        return text

    def report(self) -> list[str]:
        lines = [f"s3://{s.bucket}/{printable(s.key, 300)}: {upload_line(s)}" for s in self.summaries]
        lines += [f"FAILED {printable(name, 300)}: {printable(reason, 300)}" for name, reason in self.failures]
        return lines


# -- planning ---------------------------------------------------------------------------------------------

def files_to_upload(path: Path) -> tuple[list[Path], Path | None, int]:
    """(files, the base their folders are kept relative to, total bytes) for a file or a folder."""
    if path.is_file():
        return [path], None, path.stat().st_size
    files = sorted(p for p in path.rglob("*") if p.is_file())
    return files, path.parent, sum(_size(p) for p in files)


def needs_upload_confirmation(count: int, size: int) -> bool:
    return count > CONFIRM_UPLOAD_FILES or size > CONFIRM_UPLOAD_BYTES


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def upload_files(client: DgClient, job: Job, paths: list[Path], bucket: str, prefix: str,
                 base: Path | None, *, max_ratio: float = 0.5, key: str | None = None,
                 on_item: Callable[[Path, UploadSummary | None, Exception | None], None] | None = None
                 ) -> UploadOutcome:
    """Upload files under ``prefix``, keeping their folders relative to ``base``.

    ``key`` names the object when a single file goes to a key of its own.
    A cancel stops after the file under way (which leaves nothing behind);
    the outcome says how many files were uploaded before it.
    """
    outcome = UploadOutcome(planned=len(paths))
    job.items_total = len(paths)
    if not job.bytes_total:
        job.bytes_total = sum(_size(p) for p in paths)
    try:
        for path in paths:
            if job.should_cancel():
                raise CancelledError()
            job.item_started(_size(path))
            if key is not None:
                target = f"s3://{bucket}/{key}"
            else:
                relative = path.relative_to(base).parent.as_posix() if base is not None else "."
                sub = "" if relative in ("", ".") else relative + "/"
                target = f"s3://{bucket}/{prefix}{sub}"
            try:
                summary = client.upload(path, target, max_ratio=max_ratio, progress=job.on_progress,
                                        should_cancel=job.should_cancel)
            except CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - report it, go on with the other files
                outcome.failures.append((path.name, describe_error(exc)))
                if on_item is not None:
                    on_item(path, None, exc)
            else:
                outcome.summaries.append(summary)
                job.bytes_written += summary.original_size
                if on_item is not None:
                    on_item(path, summary, None)
            job.item_finished()
    except CancelledError:
        outcome.cancelled = True
    return outcome
