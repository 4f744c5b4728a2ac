"""Audit: can everything under a prefix still be restored, from the bucket alone?

One pass over the listing (the same listing and metadata cache as detailed
statistics) reads the metadata of every delta and reference and reports what
would make a restore fail, before the day it is needed. ``full=True`` also
rebuilds every delta and reads every other object, checking their bytes.

Problems are values (``AuditProblem``: kind, key, message and a few fields);
nothing here formats them for a screen. Memory stays bounded by the number of
keys (a name per object, no metadata kept): deltas are judged in batches as
the listing goes, and only what a full check needs is kept beyond a batch.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import tempfile
import threading
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple

from . import codec, errors, tempfiles
from . import format as fmt
from .engine import Engine, _decode_checked, object_version_of
from .models import ObjectInfo, ObjectKind
from .s3 import S3Access, where
from .stats import MetadataFetcher, ReadAhead, StatsProgress
from .version_usage import bucket_versioning
from .versions import ReferenceVersions, display_id
from .walk import hidden_objects, walk

#: deltas whose metadata is read together (in the background, while the listing goes on)
BATCH = 1000
#: deltas with metadata read but not judged yet (judging waits for their references to be listed)
JUDGE_LIMIT = 20_000
#: bytes read per chunk when hashing an object
CHUNK = 1024 * 1024

AuditProgress = Callable[[str, int, int], None]  # stage, done, total (0: not known yet)
ShouldCancel = Callable[[], bool]


class ProblemKind(str, Enum):
    """What is wrong. The value is the name the CLI, ``--json`` and the README use."""

    MISSING_REFERENCE = "missing-reference"
    REFERENCE_MISMATCH = "reference-mismatch"
    #: versioned buckets: the current reference does not match, an older version of it does
    RESTORABLE_FROM_REFERENCE_VERSION = "restorable-from-reference-version"
    ORPHAN_REFERENCE = "orphan-reference"
    INVALID_METADATA = "invalid-metadata"
    DUPLICATE = "duplicate"
    DELTA_SIZE = "delta-size"
    GZIP_TRAP = "gzip-trap"
    # found by reading bytes (full=True) only
    REBUILD_MISMATCH = "rebuild-mismatch"
    XDELTA3_FAILURE = "xdelta3-failure"
    REFERENCE_CORRUPT = "reference-corrupt"
    SHA256_MISMATCH = "sha256-mismatch"
    ETAG_MISMATCH = "etag-mismatch"
    UNREADABLE = "unreadable"

    @property
    def label(self) -> str:
        """The name in words, e.g. "missing reference"."""
        return self.value.replace("-", " ").replace("etag", "ETag")


#: the extensions whose files xdelta3 decompresses and recompresses when made without -D
_COMPRESSED_ENDINGS = (".gz", ".tgz", ".bz2", ".tbz", ".tbz2", ".xz", ".txz")


@dataclass(slots=True)
class AuditProblem:
    """One thing that is wrong with one stored object."""

    kind: ProblemKind
    key: str  #: the stored key (``.delta`` and ``reference.bin`` included)
    message: str  #: what is wrong, one line, without the key
    folder: str  #: the deltaspace ('' at the bucket root)
    logical_key: str  #: the name users see and restore
    reference_key: str | None = None
    #: bytes stored for nothing (an orphan reference)
    wasted_bytes: int | None = None
    #: for a duplicate: the stored key that deltaglider_proxy serves (the newer one)
    reader_gets: str | None = None
    #: a command that helps (e.g. the gzip trap's rescue)
    command: str | None = None
    expected: str | None = None
    actual: str | None = None
    #: the version of the reference the delta rebuilds against (restorable-from-reference-version)
    reference_version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        return {k: v for k, v in data.items() if v is not None}


@dataclass(slots=True)
class AuditSummary:
    bucket: str
    prefix: str
    full: bool
    objects: int = 0  #: stored objects listed, references included
    deltas: int = 0
    references: int = 0
    other_objects: int = 0  #: direct and plain objects
    folders: int = 0  #: deltaspaces holding deltas or a reference
    metadata_read: int = 0
    #: objects encrypted by deltaglider_proxy: only the proxy can read their bytes (never checked by bytes)
    proxy_encrypted: int = 0
    rebuilt: int = 0  #: deltas rebuilt and checked (full)
    checked: int = 0  #: other objects whose bytes were checked (full)
    unchecked: int = 0  #: objects whose bytes cannot be checked here (full: encrypted, no sha256 nor MD5 ETag)
    #: bytes read from the bucket to check them (deltas, references and other objects as stored)
    bytes_checked: int = 0
    #: bytes the rebuilt deltas came to (their original size): what --full rebuilt and hashed
    bytes_rebuilt: int = 0
    wasted_bytes: int = 0
    problems: dict[str, int] = field(default_factory=dict)
    #: per folder: deltas whose current reference does not match, but an older version of it does
    restorable_from_reference_versions: dict[str, int] = field(default_factory=dict)
    cancelled: bool = False

    @property
    def problem_count(self) -> int:
        return sum(self.problems.values())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["problem_count"] = self.problem_count
        return data


class _Ref:
    """What is known of one reference: whether it exists, its stored sha256, its version."""

    __slots__ = ("exists", "sha256", "size", "problem", "encrypted", "listed")

    def __init__(self, exists: bool, sha256: str | None = None, size: int = 0, problem: str | None = None,
                 encrypted: str | None = None, listed: bool = False):
        self.exists, self.sha256, self.size, self.problem = exists, sha256, size, problem
        self.encrypted, self.listed = encrypted, listed


class _Rebuild(NamedTuple):
    stored_key: str
    etag: str
    size: int
    file_sha256: str
    ref_sha256: str
    gzip_candidate: bool
    #: dg-file-size: the decode stops past it
    file_size: int | None = None


class _Check(NamedTuple):
    stored_key: str
    etag: str
    size: int
    sha256: str | None  #: direct objects
    md5: str | None  #: plain single-part objects


def _size(value: str | None) -> int | None:
    try:
        return int(value.strip()) if value is not None else None
    except ValueError:
        return None  # reported with the rest of the metadata's problems


def _is_md5(etag: str) -> bool:
    return len(etag) == 32 and all(c in "0123456789abcdef" for c in etag.lower())


def _compressed_name(name: str) -> bool:
    return name.lower().endswith(_COMPRESSED_ENDINGS)


def _deltaglider_python(tool: str | None) -> bool:
    """Written by the Python DeltaGlider (4.x to 6.2.0), which encodes without -D."""
    return bool(tool) and tool.lower().startswith("deltaglider/")  # type: ignore[union-attr]


class Auditor:
    """Iterate over it for the problems, as they are found; ``summary`` holds the counts at the end."""

    def __init__(self, s3: S3Access, fetcher: MetadataFetcher, engine: Engine, bucket: str, prefix: str = "", *,
                 full: bool = False, workers: int | None = None, progress: AuditProgress | None = None,
                 should_cancel: ShouldCancel | None = None):
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        self.s3, self.fetcher, self.engine = s3, fetcher, engine
        self.bucket, self.prefix, self.full = bucket, prefix, full
        self.workers = workers or max(2, min(8, 2 * (os.cpu_count() or 1)))
        self.progress = progress
        self._should_cancel = should_cancel
        self._stop = threading.Event()
        self._lock = threading.Lock()  # counters the full check's threads add to
        self.summary = AuditSummary(bucket=bucket, prefix=prefix, full=full)
        # per folder: names of plain (non-delta) objects and of deltas (for duplicates)
        self._plain: dict[str, set[str]] = {}
        self._delta_names: dict[str, set[str]] = {}
        self._refs: dict[str, _Ref] = {}
        self._listed_refs: dict[str, ObjectInfo] = {}
        self._ref_users: Counter[str] = Counter()
        self._pending_deltas: list[ObjectInfo] = []
        self._fetched: list[ObjectInfo] = []  # deltas whose metadata is in, not judged yet
        #: references' and deltas' metadata read while the listing goes on, one batch at a time
        self._ahead: ReadAhead[tuple[list[ObjectInfo], list[ObjectInfo]]] = \
            ReadAhead(fetcher, bucket, self.cancelled, "dgtui-audit-meta")
        self._pending_refs: list[ObjectInfo] = []
        self._pending_other: list[ObjectInfo] = []
        #: objects the listing describes badly (a negative size, a date that is none): found while listing
        self._listing_findings: list[AuditProblem] = []
        self._listing_done = False
        self._meta_total = 0
        # what a full check still has to read, by reference key
        self._rebuilds: dict[str, list[_Rebuild]] = {}
        self._checks: list[_Check] = []
        #: the bucket's versioning ("Enabled", "Suspended" or None), read when a reference first mismatches
        self._versioning: str | None | bool = False
        self._reference_versions: dict[str, ReferenceVersions | None] = {}

    # -- running ----------------------------------------------------------------------
    def cancel(self) -> None:
        self._stop.set()

    def cancelled(self) -> bool:
        return self._stop.is_set() or bool(self._should_cancel and self._should_cancel())

    def _check_cancel(self) -> None:
        if self.cancelled():
            self.summary.cancelled = True
            raise errors.CancelledError("audit cancelled")

    def _report(self, stage: str, done: int, total: int) -> None:
        if self.progress:
            self.progress(stage, done, total)

    def __iter__(self) -> Iterator[AuditProblem]:
        return self.run()

    def run(self) -> Iterator[AuditProblem]:
        try:
            yield from self._run()
        finally:
            if self._ahead.busy:
                self._stop.set()  # stopped early: the metadata still being read is not wanted
            self._ahead.close(wait=True)
            if self.cancelled():
                self.summary.cancelled = True

    def _run(self) -> Iterator[AuditProblem]:
        if self.full:
            codec.xdelta3_path()  # say so before anything else when it is missing
        self._check_cancel()
        for page in walk(self.s3, self.fetcher.cache, self.bucket, self.prefix):
            self._check_cancel()
            for info in page.contents:
                self._take(info)
            for info, _ in hidden_objects(page):
                # references, and the older of <name> and <name>.delta (the listing shows a name once)
                self._take(info)
            found, self._listing_findings = self._listing_findings, []
            yield from found
            self._report("listing", self.summary.objects, 0)
            if len(self._pending_deltas) >= BATCH:
                self._fetch_in_background()
            if len(self._fetched) >= JUDGE_LIMIT:
                yield from self._judge_fetched()
        self._check_cancel()
        self._listing_done = True
        self._fetch_in_background()
        self._collect_background()
        yield from self._judge_fetched()
        yield from self._judge_references()
        yield from self._judge_duplicates()
        if self.full:
            yield from self._read_other_metadata()
            yield from self._full_checks()

    # -- listing --------------------------------------------------------------------------
    def _take(self, info: ObjectInfo) -> None:
        summary = self.summary
        summary.objects += 1
        key = info.stored_key or info.key
        folder = fmt.deltaspace_of(key)
        if fmt.is_reference_key(key):
            summary.references += 1
            info.stored_key = key
            self._listed_refs[key] = info
            self._pending_refs.append(info)
        elif info.is_delta:
            summary.deltas += 1
            self._delta_names.setdefault(folder, set()).add(info.key)
            self._pending_deltas.append(info)
        else:
            summary.other_objects += 1
            self._plain.setdefault(folder, set()).add(info.key)
            if info.answer_problem:  # its size or date cannot be read: a finding, and nothing to check it by
                self._count(ProblemKind.INVALID_METADATA)
                self._listing_findings.append(AuditProblem(ProblemKind.INVALID_METADATA, key, info.answer_problem,
                                                           folder, info.key))
            elif self.full:
                self._pending_other.append(info)

    # -- metadata of deltas and references ---------------------------------------------------
    def _fetch(self, items: list[ObjectInfo]) -> None:
        self.fetcher.fetch(self.bucket, items, self._metadata_progress(len(items)), self.cancelled)
        self.summary.metadata_read += len(items)

    def _metadata_progress(self, size: int) -> StatsProgress:
        """Progress of reading the metadata of ``size`` objects, the next after what was read so far."""
        base = self.summary.metadata_read
        self._meta_total = max(self._meta_total, base + size)

        def progress(done: int, total: int) -> None:
            if self._listing_done:  # while listing, the count of listed objects says more
                self._report("metadata", base + done, self._meta_total)

        return progress

    def _take_reference_metadata(self, refs: list[ObjectInfo]) -> None:
        for info in refs:
            if not info.metadata_loaded:
                self._refs[info.stored_key] = _Ref(False, listed=True)  # gone since it was listed
                continue
            parsed = fmt.parse_metadata(info.stored_key, info.metadata)
            problem = parsed.problem
            if parsed.file_sha256 is None and problem is None:
                problem = "the reference has no sha256 in its metadata"
            self._refs[info.stored_key] = _Ref(True, parsed.file_sha256, info.size, problem,
                                               fmt.proxy_encryption(info.metadata), listed=True)

    def _reference(self, ref_key: str) -> _Ref:
        """What is known of a reference: from the listing's batch, or one HEAD when not listed (yet)."""
        known = self._refs.get(ref_key)
        if known is not None:
            return known
        under_prefix = ref_key.startswith(self.prefix)
        if self._listing_done and under_prefix:
            ref = _Ref(False)
        else:
            head = self.s3.head(self.bucket, ref_key)
            if head is None:
                ref = _Ref(False)
            else:
                metadata = head.get("Metadata", {})
                parsed = fmt.parse_metadata(ref_key, metadata)
                ref = _Ref(True, parsed.file_sha256, head.get("ContentLength", 0), parsed.problem,
                           fmt.proxy_encryption(metadata))
        self._refs[ref_key] = ref
        return ref

    def _fetch_in_background(self) -> None:
        """Read the metadata of what is pending while the listing goes on (one batch at a time)."""
        self._collect_background()
        deltas, self._pending_deltas = self._pending_deltas, []
        refs, self._pending_refs = self._pending_refs, []
        if not deltas and not refs:
            return
        items = refs + deltas
        self._ahead.submit(items, self._metadata_progress(len(items)), (refs, deltas))

    def _collect_background(self) -> None:
        for refs, deltas in self._ahead.finished():  # its errors (a cancel included) are ours
            self.summary.metadata_read += len(refs) + len(deltas)
            self._take_reference_metadata(refs)
            self._fetched.extend(deltas)

    def _judge_fetched(self) -> Iterator[AuditProblem]:
        self._check_cancel()
        fetched, self._fetched = self._fetched, []
        for info in fetched:
            yield from self._judge_delta(info)

    def _judge_delta(self, info: ObjectInfo) -> Iterator[AuditProblem]:
        if not info.metadata_loaded:
            return  # deleted since it was listed
        key = info.stored_key
        folder = fmt.deltaspace_of(key)
        metadata = info.metadata
        # The fetcher has parsed the metadata into ``info`` already (see stats.apply_metadata).
        encrypted = fmt.proxy_encryption(metadata)
        if encrypted:
            self.summary.proxy_encrypted += 1
        ref_key = info.reference_key if info.kind == ObjectKind.DELTA and info.reference_key else \
            fmt.reference_key_for(folder)
        self._ref_users[ref_key] += 1
        delta_size = _size(fmt.resolve(fmt.normalise_metadata(metadata), "delta_size"))

        def problem(kind: ProblemKind, message: str, **extra: Any) -> AuditProblem:
            self._count(kind)
            return AuditProblem(kind, key, message, folder, info.key, reference_key=ref_key, **extra)

        if info.metadata_problem:
            yield problem(ProblemKind.INVALID_METADATA, f"metadata cannot be read: {info.metadata_problem}")
        ref = self._reference(ref_key)
        if not ref.exists:
            yield problem(ProblemKind.MISSING_REFERENCE,
                          f"its reference {where(self.bucket, ref_key)} is missing, so it cannot be rebuilt")
            return
        if delta_size is not None and delta_size != info.size and not encrypted:
            yield problem(ProblemKind.DELTA_SIZE,
                          f"stored size is {info.size:,} bytes, but dg-delta-size says {delta_size:,}",
                          expected=str(delta_size), actual=str(info.size))
        gzip_candidate = _deltaglider_python(info.tool) and _compressed_name(info.original_name or info.key)
        if not self.full:
            if ref.sha256 and info.ref_sha256 and ref.sha256 != info.ref_sha256:
                older = self._older_reference(key, ref_key, info.ref_sha256, ref.sha256)
                if older is not None:
                    self._count(older.kind)
                    yield older
                    return
                yield problem(ProblemKind.REFERENCE_MISMATCH,
                              f"it was made against a reference with sha256 {info.ref_sha256[:12]}… "
                              f"(dg-ref-sha256), but {where(self.bucket, ref_key)} has {ref.sha256[:12]}…",
                              expected=info.ref_sha256, actual=ref.sha256)
            elif gzip_candidate:
                yield problem(ProblemKind.GZIP_TRAP,
                              "stored by DeltaGlider from a compressed file without -D: its rebuilt bytes are "
                              "unlikely to match the sha256 (confirm with --full); the decompressed contents can "
                              "be rescued", command=self._rescue_command(info.key))
            return
        if encrypted or ref.encrypted:
            self.summary.unchecked += 1
            return
        if info.file_sha256 and info.ref_sha256:
            self._rebuilds.setdefault(ref_key, []).append(
                _Rebuild(key, info.etag or "", info.size, info.file_sha256, info.ref_sha256, gzip_candidate,
                         info.original_size))
        else:
            self.summary.unchecked += 1

    def _older_reference(self, stored_key: str, ref_key: str, ref_sha256: str,
                         current_sha256: str) -> AuditProblem | None:
        """On a versioned bucket, the finding for a delta whose current reference does not match but an
        older version of it does: which version, and the command that restores the delta against it.
        None when versioning is off, no version matches, or the versions cannot be read."""
        if self._versioning is False:
            try:
                self._versioning = bucket_versioning(self.s3, self.bucket)
            except errors.DgError:
                self._versioning = None  # a server without versioning: the plain mismatch stands
        if not self._versioning:
            return None
        try:
            if ref_key not in self._reference_versions:
                self._reference_versions[ref_key] = ReferenceVersions(self.s3, self.bucket, ref_key)
            versions = self._reference_versions[ref_key]
            found = versions.find(ref_sha256) if versions is not None else None
            if versions is None or found is None or found == versions.latest:
                # the current version's metadata matching while its bytes do not (--full) is a corrupt
                # reference, reported as such
                return None
            head = self.s3.head(self.bucket, stored_key)
        except errors.CancelledError:
            raise
        except errors.DgError:
            self._reference_versions[ref_key] = None  # its versions cannot be read: not asked again
            return None
        if head is None:
            return None  # deleted since it was listed
        folder = fmt.deltaspace_of(stored_key)
        logical = fmt.logical_key_of(stored_key)
        delta_version = head.get("VersionId")
        command = None
        if delta_version and delta_version != "null":
            url = shlex.quote(f"s3://{self.bucket}/{logical}")
            command = f"dgtui get {url} . --version-id {shlex.quote(str(delta_version))}"
        counts = self.summary.restorable_from_reference_versions
        counts[folder] = counts.get(folder, 0) + 1
        return AuditProblem(
            ProblemKind.RESTORABLE_FROM_REFERENCE_VERSION, stored_key,
            f"reference version {display_id(found)} rebuilds it: the delta was made against sha256 "
            f"{ref_sha256[:12]}… (dg-ref-sha256), which that older version of {where(self.bucket, ref_key)} has; "
            f"the current one has {current_sha256[:12]}…", folder, logical, reference_key=ref_key, command=command,
            expected=ref_sha256, actual=current_sha256, reference_version=found)

    def _rescue_command(self, logical_key: str) -> str:
        return f"dgtui get --rescue s3://{self.bucket}/{logical_key} ."

    def _count(self, kind: ProblemKind) -> None:
        self.summary.problems[kind.value] = self.summary.problems.get(kind.value, 0) + 1

    # -- whole folders -------------------------------------------------------------------------
    def _judge_references(self) -> Iterator[AuditProblem]:
        folders = {fmt.deltaspace_of(k) for k in self._listed_refs} | {
            fmt.deltaspace_of(k) for k in self._ref_users}
        self.summary.folders = len(folders)
        for ref_key in sorted(self._listed_refs):
            ref = self._refs.get(ref_key)
            if ref is None or not ref.exists:
                continue
            if ref.encrypted:
                self.summary.proxy_encrypted += 1
            folder = fmt.deltaspace_of(ref_key)
            logical = folder + "/" if folder else ""
            if not self._ref_users.get(ref_key):
                self._count(ProblemKind.ORPHAN_REFERENCE)
                self.summary.wasted_bytes += ref.size
                yield AuditProblem(ProblemKind.ORPHAN_REFERENCE, ref_key,
                                   f"no delta uses this reference any more: {ref.size:,} bytes stored for nothing",
                                   folder, logical, reference_key=ref_key, wasted_bytes=ref.size)
            elif ref.problem:
                self._count(ProblemKind.INVALID_METADATA)
                yield AuditProblem(ProblemKind.INVALID_METADATA, ref_key,
                                   f"the reference's metadata cannot be read: {ref.problem}; its deltas cannot "
                                   f"be checked against it", folder, logical, reference_key=ref_key)
        self._listed_refs.clear()

    def _judge_duplicates(self) -> Iterator[AuditProblem]:
        for folder in sorted(self._delta_names):
            plain = self._plain.get(folder)
            if not plain:
                continue
            for name in sorted(self._delta_names[folder] & plain):
                self._check_cancel()
                yield self._duplicate(folder, name)

    def _duplicate(self, folder: str, name: str) -> AuditProblem:
        delta_key = fmt.delta_key_for(name)
        heads = {k: self.s3.head(self.bucket, k) or {} for k in (name, delta_key)}
        newer = fmt.current_copy(*(fmt.StoredCopy.of(k, head.get("Metadata"), head.get("LastModified"))
                                   for k, head in heads.items())).stored_key
        other = name if newer == delta_key else delta_key
        self._count(ProblemKind.DUPLICATE)
        return AuditProblem(
            ProblemKind.DUPLICATE, name,
            f"both {name.rsplit('/', 1)[-1]} and {delta_key.rsplit('/', 1)[-1]} are stored; dgtui and "
            f"deltaglider_proxy read the newer, {newer.rsplit('/', 1)[-1]} (by dg-created-at), DeltaGlider 6.2.0 reads "
            f"{name.rsplit('/', 1)[-1]}; the older {other.rsplit('/', 1)[-1]} takes space for nothing",
            folder, name, reader_gets=newer)

    # -- full: bytes --------------------------------------------------------------------------
    def _read_other_metadata(self) -> Iterator[AuditProblem]:
        pending, self._pending_other = self._pending_other, []
        for start in range(0, len(pending), BATCH):
            batch = pending[start:start + BATCH]
            self._fetch(batch)
            self._check_cancel()
            for info in batch:
                if not info.metadata_loaded:
                    continue
                parsed = fmt.parse_metadata(info.stored_key, info.metadata)
                folder = fmt.deltaspace_of(info.stored_key)
                if fmt.proxy_encryption(info.metadata):
                    self.summary.proxy_encrypted += 1
                    self.summary.unchecked += 1
                    continue
                if info.answer_problem:  # its HEAD answer cannot be read: a restore of it is refused too
                    self._count(ProblemKind.INVALID_METADATA)
                    yield AuditProblem(ProblemKind.INVALID_METADATA, info.stored_key, info.answer_problem, folder,
                                       info.key)
                    continue
                if parsed.problems:
                    self._count(ProblemKind.INVALID_METADATA)
                    yield AuditProblem(ProblemKind.INVALID_METADATA, info.stored_key,
                                       "metadata cannot be read: " + "; ".join(parsed.problems), folder, info.key)
                etag = info.etag or ""
                if parsed.kind == ObjectKind.DIRECT and parsed.file_sha256:
                    self._checks.append(_Check(info.stored_key, etag, info.size, parsed.file_sha256, None))
                elif parsed.kind == ObjectKind.PLAIN and _is_md5(etag):
                    self._checks.append(_Check(info.stored_key, etag, info.size, None, etag.lower()))
                else:
                    self.summary.unchecked += 1

    def _full_checks(self) -> Iterator[AuditProblem]:
        codec.xdelta3_path()
        total = sum(len(v) for v in self._rebuilds.values()) + len(self._checks)
        done = 0
        self._report("checking", 0, total)
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="dgtui-audit")
        in_flight: set[Future] = set()
        limit = self.workers * 2

        def drain(all_of_them: bool) -> Iterator[AuditProblem]:
            nonlocal done, in_flight
            while in_flight and (all_of_them or len(in_flight) >= limit):
                finished, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in finished:
                    done += 1
                    found = future.result()
                    if found is not None:
                        self._count(found.kind)
                        yield found
                self._report("checking", done, total)
                self._check_cancel()

        try:
            for ref_key in sorted(self._rebuilds):
                self._check_cancel()
                items = self._rebuilds[ref_key]
                local, problems = self._reference_bytes(ref_key, items)
                for found in problems:
                    self._count(found.kind)
                    yield found
                if local is None:
                    done += len(items)
                    self._report("checking", done, total)
                    continue
                ref_path, ref_sha = local
                for item in items:
                    if item.ref_sha256 != ref_sha:
                        done += 1
                        older = self._older_reference(item.stored_key, ref_key, item.ref_sha256, ref_sha)
                        if older is not None:
                            self._count(older.kind)
                            yield older
                            continue
                        self._count(ProblemKind.REFERENCE_MISMATCH)
                        yield self._problem_for(item.stored_key, ProblemKind.REFERENCE_MISMATCH,
                                                f"it was made against a reference with sha256 {item.ref_sha256[:12]}… "
                                                f"(dg-ref-sha256), but the bytes of {where(self.bucket, ref_key)} "
                                                f"have {ref_sha[:12]}…", ref_key,
                                                expected=item.ref_sha256, actual=ref_sha)
                        continue
                    in_flight.add(pool.submit(self._rebuild, item, ref_path, ref_key))
                    yield from drain(False)
                yield from drain(True)  # the reference copy may be evicted once its folder is done
            self._rebuilds.clear()
            for check in self._checks:
                self._check_cancel()
                in_flight.add(pool.submit(self._check_object, check))
                yield from drain(False)
            yield from drain(True)
        finally:
            if in_flight:
                self._stop.set()  # stopped early (cancel, Ctrl-C, an error): running checks end at once
            pool.shutdown(wait=True, cancel_futures=True)

    def _problem_for(self, stored_key: str, kind: ProblemKind, message: str, ref_key: str | None = None,
                     **extra: Any) -> AuditProblem:
        return AuditProblem(kind, stored_key, message, fmt.deltaspace_of(stored_key), fmt.logical_key_of(stored_key),
                            reference_key=ref_key, **extra)

    def _reference_bytes(self, ref_key: str, items: list[_Rebuild]) -> tuple[tuple[Path, str] | None,
                                                                             list[AuditProblem]]:
        """A local copy of the bucket's reference and the sha256 of its bytes (downloaded once per folder).

        The reference cache stands in only for the same object version. Its
        bytes are checked against the reference's own stored sha256.
        """
        ref = self._refs.get(ref_key)
        head = self.s3.head(self.bucket, ref_key)
        if head is None:
            return None, [self._problem_for(item.stored_key, ProblemKind.MISSING_REFERENCE,
                                            f"its reference {where(self.bucket, ref_key)} is missing, so it cannot "
                                            f"be rebuilt", ref_key) for item in items]
        version = object_version_of(head)
        cache = self.engine.references
        sha = cache.origin_sha256(self.s3.endpoint_url, self.bucket, ref_key, version)
        path = cache.get(sha) if sha else None
        problems: list[AuditProblem] = []
        if path is None:
            try:
                path = self.engine._download_reference(self.bucket, ref_key, head, None, self.cancelled, None)
            except errors.CancelledError:
                raise
            except errors.DgError as exc:
                return None, [self._problem_for(ref_key, ProblemKind.UNREADABLE, f"cannot read the reference: {exc}",
                                                ref_key)]
            sha = path.name
        self.summary.bytes_checked += head.get("ContentLength", 0)
        stored = ref.sha256 if ref is not None else fmt.parse_metadata(ref_key, head.get("Metadata", {})).file_sha256
        if sha is None:
            return None, problems
        if stored and stored != sha:
            problems.append(self._problem_for(
                ref_key, ProblemKind.REFERENCE_CORRUPT,
                f"the reference's bytes have sha256 {sha[:12]}…, but its metadata says {stored[:12]}…", ref_key,
                expected=stored, actual=sha))
        return (path, sha), problems

    def _rebuild(self, item: _Rebuild, ref_path: Path, ref_key: str) -> AuditProblem | None:
        if self.cancelled():
            return None
        fd, name = tempfile.mkstemp(prefix=".audit-", suffix=".delta", dir=self.engine.work_dir)
        os.close(fd)
        tempfiles.register(Path(name))
        delta = Path(name)
        try:
            try:
                self.s3.get_to_file(self.bucket, item.stored_key, name, should_cancel=self.cancelled,
                                    etag=item.etag or None, listed_size=item.size)
            except errors.CancelledError:
                return None
            except errors.DgError as exc:
                return self._problem_for(item.stored_key, ProblemKind.UNREADABLE, f"cannot read the delta: {exc}",
                                         ref_key)
            try:
                try:
                    actual = codec.decode_sha256(ref_path, delta, self.cancelled, limit=item.file_size)
                except (errors.CodecError, errors.ExpansionError):
                    actual = None  # decoded once more below, as a restore does, to say why
                if actual != item.file_sha256 and (actual is None or codec.compressed_format(ref_path)):
                    # Against a compressed reference xdelta3 recompresses through external tools, which a
                    # pipe does not allow: decode to a file exactly as a restore does (-D tried as well).
                    actual = self._decode_to_file(ref_path, delta, item.file_sha256, item.file_size)
            except errors.CancelledError:
                return None
            except errors.ExpansionError as exc:
                # through gzip & co. a longer output is DeltaGlider's recompression trap, found below
                if not codec.external_compressor(delta):
                    return self._problem_for(item.stored_key, ProblemKind.REBUILD_MISMATCH, str(exc), ref_key)
                actual = None
            except errors.CodecError as exc:
                if self.cancelled():
                    return None
                return self._problem_for(item.stored_key, ProblemKind.XDELTA3_FAILURE,
                                         f"xdelta3 cannot rebuild it from the reference ({exc}); the delta may be "
                                         f"corrupted", ref_key)
            with self._lock:
                self.summary.rebuilt += 1
                self.summary.bytes_checked += item.size
                self.summary.bytes_rebuilt += item.file_size or 0
            if actual == item.file_sha256:
                return None
            compressor = codec.external_compressor(delta)
            if compressor:
                return self._problem_for(
                    item.stored_key, ProblemKind.GZIP_TRAP,
                    f"stored by DeltaGlider through {compressor} without -D: the rebuilt bytes do not match the "
                    f"sha256; the {compressor}-decompressed contents can be rescued", ref_key,
                    command=self._rescue_command(fmt.logical_key_of(item.stored_key)),
                    expected=item.file_sha256, actual=actual)
            return self._problem_for(item.stored_key, ProblemKind.REBUILD_MISMATCH,
                                     f"the rebuilt bytes have sha256 {(actual or '')[:12]}…, but dg-file-sha256 says "
                                     f"{item.file_sha256[:12]}…", ref_key, expected=item.file_sha256, actual=actual)
        finally:
            delta.unlink(missing_ok=True)

    def _decode_to_file(self, ref_path: Path, delta: Path, want_sha256: str, file_size: int | None) -> str:
        fd, name = tempfile.mkstemp(prefix=".audit-", suffix=".out", dir=self.engine.work_dir)
        os.close(fd)
        tempfiles.register(Path(name))
        try:
            return _decode_checked(ref_path, delta, Path(name), want_sha256, self.cancelled, limit=file_size)
        finally:
            Path(name).unlink(missing_ok=True)

    def _check_object(self, check: _Check) -> AuditProblem | None:
        if self.cancelled():
            return None
        sha = hashlib.sha256() if check.sha256 else None
        md5 = hashlib.md5() if check.md5 else None
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": check.stored_key}
        if check.etag:
            params["IfMatch"] = f'"{check.etag}"'
        try:
            with self.s3.ctx(self.bucket, check.stored_key, "download"):
                body = self.s3.client.get_object(**params)["Body"]
                try:
                    while chunk := body.read(CHUNK):
                        if self.cancelled():
                            return None
                        for h in (sha, md5):
                            if h is not None:
                                h.update(chunk)
                finally:
                    body.close()
        except errors.DgError as exc:
            return self._problem_for(check.stored_key, ProblemKind.UNREADABLE, f"cannot read it: {exc}")
        with self._lock:
            self.summary.checked += 1
            self.summary.bytes_checked += check.size
        if sha is not None and check.sha256 is not None and sha.hexdigest() != check.sha256:
            return self._problem_for(check.stored_key, ProblemKind.SHA256_MISMATCH,
                                     f"its bytes have sha256 {sha.hexdigest()[:12]}…, but dg-file-sha256 says "
                                     f"{check.sha256[:12]}…", expected=check.sha256, actual=sha.hexdigest())
        if md5 is not None and md5.hexdigest() != check.md5:
            return self._problem_for(check.stored_key, ProblemKind.ETAG_MISMATCH,
                                     f"its bytes have MD5 {md5.hexdigest()}, but its ETag is {check.md5}",
                                     expected=check.md5, actual=md5.hexdigest())
        return None
