"""The versions of one object, and the restore of one of them (the app's versions screen; no Textual here).

A restored version is named ``name (YYYY-MM-DD HH:MM).ext`` (its date in local time) when a file of the
object's own name is already there, so the current file is not overwritten by default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.errors import CancelledError, DgError
from ..core.models import DownloadResult
from ..core.paths import file_name_of
from ..core.versions import ObjectVersion
from .job import Job, describe_error
from .restore import RestoreOutcome, _Answers, _restore_asking, split_extension

if TYPE_CHECKING:
    from ..core.client import DgClient


@dataclass
class VersionsRead:
    """What ``read_versions`` found: the bucket's versioning status and the key's versions, newest first."""

    bucket: str
    key: str
    #: "Enabled", "Suspended", or None (versioning was never turned on: only current objects exist)
    status: str | None
    versions: list[ObjectVersion] = field(default_factory=list)


def read_versions(client: DgClient, job: Job, bucket: str, key: str) -> VersionsRead:
    """The versions of the logical key ``key`` with their original sizes; none when the bucket has no versioning."""
    status = client.bucket_versioning(bucket)
    if status is None:
        return VersionsRead(bucket, key, None)
    if job.should_cancel():
        raise CancelledError()
    found: list[ObjectVersion] = []
    for _logical, versions in client.versions(f"s3://{bucket}/{key}", original_sizes=True):
        found.extend(versions)
    return VersionsRead(bucket, key, status, found)


def local_stamp(moment: datetime | None) -> str:
    """``2026-11-30 12:00``: a version's date in local time, as it is shown and as it names a restored file."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M") if moment is not None else "undated"


def dated_name(path: Path, moment: datetime | None) -> Path:
    """``name (2026-11-30 12:00).ext`` beside ``path``: the name a version takes beside the current file."""
    stem, ext = split_extension(path.name)
    return path.with_name(f"{stem} ({local_stamp(moment)}){ext}")


def version_target(folder: Path, bucket: str, version: ObjectVersion) -> Path:
    """Where ``version`` goes in ``folder``: the object's name, or its dated name when that file exists."""
    target = folder / file_name_of(bucket, version.key)
    return dated_name(target, version.last_modified) if os.path.lexists(target) else target


def restore_version(client: DgClient, job: Job, bucket: str, version: ObjectVersion, destination: str, *,
                    as_file: bool = False) -> RestoreOutcome:
    """Restore ``version`` into the folder ``destination`` (or, ``as_file``, to that file path).

    Into a folder it takes the object's name, or its dated name when a file of that name is there; an
    existing file at the path it takes is replaced only when the user says so (asked as every restore asks).
    """
    outcome = RestoreOutcome(planned=1, planned_keys=[version.key])
    job.items_total = 1
    if version.is_delete_marker:
        outcome.failures.append((version.key, f"a delete marker ({local_stamp(version.last_modified)}) records "
                                              "that the key was deleted; it holds no data to restore"))
        return outcome
    root = Path(destination).parent if as_file else Path(destination)
    job.item_started(version.original_size if version.original_size is not None else version.size)
    try:
        try:
            target = Path(destination) if as_file else version_target(root, bucket, version)
        except DgError as exc:
            outcome.failures.append((version.key, describe_error(exc)))
        else:
            _restore_asking(client, job, outcome, bucket, version.key, target, root, _Answers(), many=False,
                            version_id=version.version_id)
        job.item_finished()
    except CancelledError:
        outcome.cancelled = True
    return outcome


@dataclass
class AsOfPlan:
    """What a folder held at a point in time: the files a restore "as of" would write, and their bytes."""

    url: str
    at: datetime
    files: int = 0
    #: the files' own sizes (a delta's dg-file-size); files whose size is unknown are not in it
    original_bytes: int = 0
    sizes_unknown: int = 0
    #: files that exist now but did not yet, or were deleted, at ``at``: not restored
    absent_then: int = 0


def plan_as_of(client: DgClient, job: Job, url: str, at: datetime) -> AsOfPlan:
    """Count the files under the prefix ``url`` as they stood at ``at`` (reads every version's size)."""
    from ..core import format as fmt
    from ..core.paths import parse_s3_url
    from ..core.versions import state_at

    _bucket, prefix = parse_s3_url(url)
    plan = AsOfPlan(url, at)
    job.stage = "reading versions"
    for logical, versions in client.versions(url, recursive=True, original_sizes=True):
        if job.should_cancel():
            raise CancelledError()
        if logical.endswith("/") or (fmt.is_housekeeping_key(logical) and not fmt.is_housekeeping_key(prefix)):
            continue
        version = state_at(versions, at)
        if version is None:
            plan.absent_then += 1
            continue
        plan.files += 1
        if version.original_size is None:
            plan.sizes_unknown += 1
        else:
            plan.original_bytes += version.original_size
    return plan


def restore_as_of(client: DgClient, job: Job, plan: AsOfPlan, folder: str) -> RestoreOutcome:
    """Restore the folder as it stood at ``plan.at`` into ``folder``; existing files are kept and reported."""
    outcome = RestoreOutcome(planned=plan.files)
    job.items_total = plan.files
    job.bytes_total = 0 if plan.sizes_unknown else plan.original_bytes
    job.stage = "reading versions"

    def on_item(key: str, result: DownloadResult | None, exc: Exception | None) -> None:
        # Collected as they come: a cancel keeps the record of what was written before it.
        if result is not None:
            outcome.results.append(result)
            job.bytes_written += result.size
        elif exc is not None:
            outcome.failures.append((key, describe_error(exc)))
        job.item_finished()
        job.item_started(0)

    try:
        job.item_started(0)
        client.download_prefix_as_of(plan.url, folder, at=plan.at, overwrite=False, progress=job.on_progress,
                                     should_cancel=job.should_cancel, on_item=on_item)
    except CancelledError:
        outcome.cancelled = True
    except DgError as exc:
        outcome.stopped = describe_error(exc)
    return outcome


@dataclass
class FolderDeleted:
    """A folder's deleted keys for the object table (``read_folder_deleted``)."""

    bucket: str
    prefix: str
    #: "Enabled", "Suspended", or None (versioning was never turned on: nothing deleted is kept)
    status: str | None
    #: (logical key, its versions newest first) of the keys directly in the folder whose latest version is a
    #: delete marker and that keep a version to restore
    keys: list[tuple[str, list[ObjectVersion]]] = field(default_factory=list)
    #: folders below that have versions (the table shows those it does not list as deleted folders)
    folders: list[str] = field(default_factory=list)


def read_folder_deleted(client: DgClient, job: Job, bucket: str, prefix: str) -> FolderDeleted:
    """The deleted keys of the folder ``prefix`` (not of its subfolders) and the folders below with versions."""
    status = client.bucket_versioning(bucket)
    if status is None:
        return FolderDeleted(bucket, prefix, None)
    if job.should_cancel():
        raise CancelledError()
    found = client.deleted_in_folder(bucket, prefix, should_cancel=job.should_cancel)
    return FolderDeleted(bucket, prefix, status, found.keys, found.folders)


def last_file_version(versions: list[ObjectVersion]) -> ObjectVersion | None:
    """The newest version that holds a file (what restoring a deleted key brings back)."""
    return next((v for v in versions if not v.is_delete_marker), None)
