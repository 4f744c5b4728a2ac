"""What older versions and delete markers store: the part of a versioned bucket's bill no listing shows.

With versioning on, an overwritten or deleted file keeps its bytes as a non-current version, and a
replaced ``reference.bin`` keeps its whole size. One pass over the version listing under a prefix
counts them; memory holds the totals, one running total per folder (deltaspace) and one stored key's
entries at a time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from . import format as fmt
from .s3 import S3Access
from .versions import iter_raw_versions

#: entries listed between two looks at should_cancel and two progress reports
REPORT_EVERY = 1000

UsageProgress = Callable[[int], None]  # entries listed so far
ShouldCancel = Callable[[], bool]


@dataclass(slots=True)
class VersionUsage:
    """Stored keys' versions under one folder (or the whole prefix), as S3 stores and bills them."""

    #: the folder ("rel/"; "" for the prefix's own files, or for the total)
    folder: str = ""
    #: the latest version of each stored key that is not deleted, and its bytes
    current_objects: int = 0
    current_bytes: int = 0
    #: every older version (of kept and of deleted keys), and the bytes they store
    noncurrent_versions: int = 0
    noncurrent_bytes: int = 0
    #: of those, versions of reference.bin: a replaced reference keeps its whole size
    noncurrent_reference_versions: int = 0
    noncurrent_reference_bytes: int = 0
    #: delete markers (they store no data)
    delete_markers: int = 0
    #: stored keys whose latest entry is a delete marker, and what their versions still store
    deleted_keys: int = 0
    deleted_bytes: int = 0

    @property
    def stored_bytes(self) -> int:
        """Every version's bytes: what the bucket bills for this folder."""
        return self.current_bytes + self.noncurrent_bytes

    def add(self, other: VersionUsage) -> None:
        for name in ("current_objects", "current_bytes", "noncurrent_versions", "noncurrent_bytes",
                     "noncurrent_reference_versions", "noncurrent_reference_bytes", "delete_markers",
                     "deleted_keys", "deleted_bytes"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["stored_bytes"] = self.stored_bytes
        return data


@dataclass(slots=True)
class VersionUsageReport:
    bucket: str
    prefix: str
    #: "Enabled", "Suspended" or None (never turned on)
    versioning: str | None
    total: VersionUsage
    #: one row per folder with anything stored, when asked for; largest older versions first
    folders: list[VersionUsage] = field(default_factory=list)
    cancelled: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "prefix": self.prefix, "versioning": self.versioning,
                "total": self.total.as_dict(), "folders": [f.as_dict() for f in self.folders],
                "cancelled": self.cancelled}


class _KeyRun:
    """The entries of one stored key, added up until the listing moves to the next key."""

    __slots__ = ("key", "latest", "has_latest", "latest_is_marker", "older", "older_bytes", "markers")

    def __init__(self, key: str):
        self.key = key
        self.latest = 0  # bytes of the latest version, when it is one
        self.has_latest = self.latest_is_marker = False
        self.older = self.older_bytes = self.markers = 0


def bucket_versioning(s3: S3Access, bucket: str) -> str | None:
    """The bucket's versioning status: "Enabled", "Suspended", or None (never turned on)."""
    with s3.ctx(bucket, action="read the versioning of"):
        status = s3.client.get_bucket_versioning(Bucket=bucket).get("Status")
    return status if status in ("Enabled", "Suspended") else None


def version_usage(s3: S3Access, bucket: str, prefix: str = "", *, by_folder: bool = False,
                  progress: UsageProgress | None = None,
                  should_cancel: ShouldCancel | None = None) -> VersionUsageReport:
    """Count what every version and delete marker under ``prefix`` stores (stored keys: ``name.delta``,
    ``reference.bin`` and DeltaGlider's own keys too, as the bill counts them), per folder with
    ``by_folder``. Stopped by ``should_cancel``, the report says ``cancelled`` and holds what was counted."""
    report = VersionUsageReport(bucket, prefix, bucket_versioning(s3, bucket), VersionUsage())
    folders: dict[str, VersionUsage] = {}
    run: _KeyRun | None = None

    def close(done: _KeyRun) -> None:
        usage = VersionUsage()
        if done.latest_is_marker:
            if done.older:  # a marker over nothing (a delete of a key never written) hides no bytes
                usage.deleted_keys, usage.deleted_bytes = 1, done.older_bytes
        elif done.has_latest:
            usage.current_objects, usage.current_bytes = 1, done.latest
        usage.noncurrent_versions, usage.noncurrent_bytes = done.older, done.older_bytes
        if fmt.is_reference_key(done.key):
            usage.noncurrent_reference_versions, usage.noncurrent_reference_bytes = done.older, done.older_bytes
        usage.delete_markers = done.markers
        report.total.add(usage)
        if by_folder:
            folder = fmt.deltaspace_of(done.key)
            folders.setdefault(folder, VersionUsage(folder + "/" if folder else "")).add(usage)

    listed = 0
    for entry in iter_raw_versions(s3, bucket, prefix):
        key = str(entry.get("Key", ""))
        if run is None or run.key != key:
            if run is not None:
                close(run)
            run = _KeyRun(key)
        size = max(0, int(entry.get("Size") or 0))
        if entry.get("DeleteMarker"):
            run.markers += 1
            if entry.get("IsLatest"):
                run.latest_is_marker = True
        elif entry.get("IsLatest"):
            run.latest, run.has_latest = size, True
        else:
            run.older += 1
            run.older_bytes += size
        listed += 1
        if listed % REPORT_EVERY == 0:
            if progress:
                progress(listed)
            if should_cancel and should_cancel():
                report.cancelled = True
                break
    if run is not None and not report.cancelled:
        close(run)
    if progress:
        progress(listed)
    if by_folder:
        report.folders = sorted(folders.values(), key=lambda f: (-(f.noncurrent_bytes), f.folder))
    return report

