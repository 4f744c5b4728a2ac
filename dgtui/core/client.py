"""The SDK facade: DeltaGlider's client surface plus boto3-style calls on logical keys."""

from __future__ import annotations

import io
import logging
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Iterable, Iterator

import botocore.exceptions as bexc

from . import errors, logs, tempfiles
from . import format as fmt
from .cache import MetadataCache, ReferenceCache, cache_root, private_dir, sweep_work_dir
from .compat import DeltaGliderCompat, check_params, object_type
from .engine import Engine, Progress, ShouldCancel, proxy_encrypted_error
from .listing import Head, head_by, iter_logical_pages, iter_raw_pages, list_raw_page, logical_page
from .models import (
    BucketStats,
    DownloadResult,
    ListObjectsResult,
    ObjectInfo,
    RestorePlanItem,
    UploadSummary,
    VerifyResult,
)
from .paths import (
    file_name_of,
    in_folder_restore,
    make_restore_folder,
    missing_folders,
    parse_s3_url,
    remove_if_empty,
    safe_relative_path,
    unsafe_destination,
)
from .ranged import iter_ranged_logical_pages
from .responses import ListObjectsResponse, put_info
from .s3 import S3Access, display_key, translate, where
from .stats import MetadataFetcher, apply_metadata, compute_stats

if TYPE_CHECKING:  # imported where used: ``dgtui get`` needs none of them
    from .audit import Auditor, AuditProgress
    from .sampling import SampledStats
    from .savings import FolderReport
    from .version_usage import VersionUsageReport
    from .versions import DeletedInFolder, ObjectVersion

__version__ = "0.1.0"


#: boto3 parameters passed on to S3 with an upload (on the delta or the direct object, never the reference)
PUT_ARGS = frozenset({"ContentType", "CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage",
                      "Expires", "Tagging", "StorageClass", "ServerSideEncryption", "SSEKMSKeyId",
                      "SSEKMSEncryptionContext", "ACL", "ExpectedBucketOwner",
                      "ObjectLockMode", "ObjectLockRetainUntilDate", "ObjectLockLegalHoldStatus"})
#: boto3 parameters of get_object / head_object; for a delta only those that make sense for a rebuilt file
READ_ARGS = frozenset({"VersionId", "Range", "IfMatch", "IfNoneMatch", "IfModifiedSince", "IfUnmodifiedSince",
                       "SSECustomerAlgorithm", "SSECustomerKey", "SSECustomerKeyMD5", "ChecksumMode",
                       "ExpectedBucketOwner", "RequestPayer", "PartNumber", "ResponseCacheControl",
                       "ResponseContentDisposition", "ResponseContentEncoding", "ResponseContentLanguage",
                       "ResponseContentType", "ResponseExpires"})
_CONDITIONS = ("IfMatch", "IfNoneMatch", "IfModifiedSince", "IfUnmodifiedSince")
_DELTA_READ_ARGS = frozenset({"Range", "ChecksumMode", "ExpectedBucketOwner", "RequestPayer", "VersionId",
                              *_CONDITIONS})
STATS_MODES = ("quick", "sampled", "detailed")
#: a delete of more keys than this in one folder lists the folder once instead of two HEADs per key
DELETE_HEADS_PER_FOLDER = 20


class DgClient(DeltaGliderCompat):
    """A DeltaGlider-compatible client. Create it with ``create_client``."""

    def __init__(self, s3: S3Access, *, cache_dir: str | Path | None = None,
                 max_workers: int = MetadataFetcher.HEAD_WORKERS,
                 max_ratio: float = 0.5):
        self._s3 = s3
        self.max_ratio = max_ratio
        self._stats_cache: dict[str, dict[str, BucketStats]] = {}
        root = private_dir(Path(cache_dir)) if cache_dir else cache_root()
        self.cache_dir = root
        self.reference_cache = ReferenceCache(root)
        self.metadata_cache = MetadataCache(root)
        self.work_dir = private_dir(root / "work")
        # what processes that died left behind: temp files of the reference cache, work folders
        self.reference_cache.sweep()
        sweep_work_dir(self.work_dir)
        self._engine = Engine(s3, self.reference_cache, __version__, self.work_dir)
        self._fetcher = MetadataFetcher(s3, self.metadata_cache, max_workers=max_workers)

    # -- properties --------------------------------------------------------
    @property
    def endpoint_url(self) -> str:
        return self._s3.endpoint_url

    @property
    def boto3_client(self) -> Any:
        """The underlying botocore client, for calls the SDK does not wrap."""
        return self._s3.client

    def close(self) -> None:
        self._fetcher.close()

    # -- listing -----------------------------------------------------------
    def list_objects(self, Bucket: str, Prefix: str = "", Delimiter: str | None = "", MaxKeys: int = 1000,
                     ContinuationToken: str | None = None, StartAfter: str | None = None,
                     FetchMetadata: bool = False, **kwargs: Any) -> ListObjectsResponse:
        """One page of logical objects (one LIST request; HEADs only with FetchMetadata).

        ``.delta`` is stripped from keys and references and ``.deltaglider/``
        are hidden. The continuation token is S3's own, so it works on AWS.
        The answer is DeltaGlider 6.2.0's dict (``Contents`` items carry
        ``Metadata`` with ``deltaglider-is-delta`` and the like), and also has
        the attributes of ``ListObjectsResult`` (``page.contents`` are ``ObjectInfo``).
        """
        check_params("list_objects", kwargs, {"EncodingType"})
        Delimiter = Delimiter or None
        with self._s3.ctx(Bucket, Prefix, "list"):
            raw = list_raw_page(self._s3.client, Bucket, Prefix, Delimiter, MaxKeys, ContinuationToken, StartAfter)
        page = logical_page(Bucket, raw, prefix=Prefix, delimiter=Delimiter, max_keys=MaxKeys,
                            continuation_token=ContinuationToken, head=self._twin_head(Bucket))
        if FetchMetadata:
            self.fetch_metadata(Bucket, [o for o in page.contents if o.is_delta])
        return ListObjectsResponse(page)

    def _twin_head(self, bucket: str) -> Head:
        """How listings settle ``<name>`` against ``<name>.delta``: metadata cache first, then HEADs."""
        return head_by(self._s3.client, bucket, self.metadata_cache, self._s3.endpoint_url)

    def iter_pages(self, bucket: str, prefix: str = "", delimiter: str | None = "/", page_size: int = 1000,
                   continuation_token: str | None = None, ranged: bool = False) -> Iterator[ListObjectsResult]:
        """Every page of a listing, lazily. Errors come as DgError.

        ``ranged``: once the first page shows the prefix is large, list key ranges in parallel (keys
        still in order, each once; the pages' continuation tokens are then not points to resume from).
        """
        head = self._twin_head(bucket)
        pages = iter_logical_pages(self._s3.client, bucket, prefix, delimiter, page_size, continuation_token, head) \
            if not ranged or continuation_token else iter_ranged_logical_pages(self._s3.client, bucket, prefix,
                                                                              delimiter, page_size, head)
        while True:
            with self._s3.ctx(bucket, prefix, "list"):
                page = next(pages, None)
            if page is None:
                return
            yield page

    def iter_objects(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        for page in self.iter_pages(bucket, prefix, delimiter=None, ranged=True):
            yield from page.contents

    def fetch_metadata(self, bucket: str, items: list[ObjectInfo], progress: Callable[[int, int], None] | None = None,
                       should_cancel: ShouldCancel | None = None) -> list[ObjectInfo]:
        """Fill items with their metadata (cache validated by ETag and date, then parallel HEADs)."""
        return self._fetcher.fetch(bucket, items, progress, should_cancel)

    def get_bucket_stats(self, bucket: str, mode: str = "quick", use_cache: bool = True, refresh_cache: bool = False,
                         *, prefix: str = "", detailed_stats: bool = False,
                         progress: Callable[[int, int], None] | None = None,
                         should_cancel: ShouldCancel | None = None) -> BucketStats:
        """Compression statistics. See ``BucketStats`` for what quick mode can know.

        DeltaGlider's positional order: ``mode`` is "quick", "sampled" or
        "detailed" ("sampled" reads every object's metadata once, cached, as
        "detailed" does; ``detailed_stats=True`` is the same). ``use_cache`` and
        ``refresh_cache`` are accepted for DeltaGlider's scripts: dgtui's
        metadata cache is checked against every object's ETag and date, so
        its answers are always current. ``prefix`` limits the stats to a folder.
        """
        if mode not in STATS_MODES:
            raise ValueError(f"Unknown stats mode: {mode} (quick, sampled or detailed)")
        detailed = detailed_stats or mode in ("detailed", "sampled")
        stats = compute_stats(self._s3, self._fetcher, bucket, prefix, detailed=detailed, progress=progress,
                              should_cancel=should_cancel)
        if not prefix:
            self._remember_stats(bucket, "detailed" if detailed else "quick", stats)
        return stats

    def folder_savings(self, bucket: str, prefix: str = "", *, exact: bool = False,
                       progress: Callable[[int, int], None] | None = None, should_cancel: ShouldCancel | None = None,
                       expected_deltas: int | None = None) -> FolderReport:
        """Savings of every folder directly below ``prefix`` from one listing (see ``dgtui.core.savings``).

        ``exact=True`` also reads every delta's metadata (cache first, then HEADs), batch by batch.
        """
        from .savings import folder_savings

        return folder_savings(self._s3, self._fetcher, bucket, prefix, exact=exact, progress=progress,
                              should_cancel=should_cancel, expected_deltas=expected_deltas)

    def sampled_stats(self, bucket: str, prefix: str = "", *, target: float = 0.01, seed: int | None = None,
                      progress: Callable[[int, int], None] | None = None,
                      should_cancel: ShouldCancel | None = None, **options: Any) -> SampledStats:
        """Totals with the original size estimated from a random sample of deltas, with a 95% interval."""
        from .sampling import sampled_stats

        return sampled_stats(self._s3, self._fetcher, bucket, prefix, target=target, seed=seed, progress=progress,
                             should_cancel=should_cancel, **options)

    def known_metadata(self, bucket: str, items: list[ObjectInfo]) -> int:
        """Fill items with the metadata the on-disk cache holds for their listed version; sends no request."""
        from .savings import fill_known_metadata

        return fill_known_metadata(self.metadata_cache, self._s3.endpoint_url, bucket, items)

    def audit(self, s3_url: str, *, full: bool = False, progress: AuditProgress | None = None,
              should_cancel: ShouldCancel | None = None, workers: int | None = None) -> Auditor:
        """Check that everything under ``s3://bucket/prefix`` can be restored from the bucket alone.

        Iterate over the result for ``AuditProblem`` values as they are found;
        its ``summary`` has the counts once the iteration ends. By default it
        reads the listing and the metadata of deltas and references (through
        the same cache as detailed statistics); ``full=True`` also rebuilds
        every delta and reads every other object to check its bytes.
        """
        bucket, prefix = parse_s3_url(s3_url)
        from .audit import Auditor

        return Auditor(self._s3, self._fetcher, self._engine, bucket, prefix, full=full, workers=workers,
                       progress=progress, should_cancel=should_cancel)

    def get_object_info(self, s3_url: str) -> ObjectInfo:
        """One object's details from a single HEAD (and one more to resolve the name)."""
        bucket, key = parse_s3_url(s3_url, need_key=True)
        stored_key, head, older = self._engine.resolve_with_older(bucket, key)
        info = ObjectInfo(key=fmt.logical_key_of(stored_key), size=head.get("ContentLength", 0),
                          last_modified=head["LastModified"].isoformat() if head.get("LastModified") else "",
                          etag=head.get("ETag", "").strip('"'), stored_key=stored_key,
                          is_delta=stored_key.endswith(fmt.DELTA_SUFFIX), older_copy_key=older,
                          housekeeping=fmt.is_housekeeping_key(stored_key))
        # Not written to the metadata cache: entries there are checked against the listing's
        # modification time, which a HEAD gives only to the second.
        return apply_metadata(info, head.get("Metadata", {}))

    # -- transfers -----------------------------------------------------------
    def upload(self, file_path: str | Path, s3_url: str, tags: dict[str, str] | None = None,
               max_ratio: float | None = None, *, progress: Progress | None = None,
               should_cancel: ShouldCancel | None = None, extra_args: dict[str, Any] | None = None,
               metadata: dict[str, str] | None = None) -> UploadSummary:
        """Upload a file; a URL ending in '/' means "into this prefix, keep the file name".

        Delta-eligible files (DeltaGlider's extension policy) become deltas
        against their deltaspace's reference; a delta larger than
        ``max_ratio`` (default: the client's, 0.5) of the file is stored direct
        instead. ``tags`` become the stored object's S3 tags. The first file
        of a folder is stored whole as its reference: its summary says
        ``operation="create_reference"``, ``is_delta=False``.
        """
        path = Path(file_path)
        bucket, key = parse_s3_url(s3_url)
        if not key or key.endswith("/"):
            key = key + path.name
        args = dict(extra_args or {})
        check_params("upload (extra_args)", args, PUT_ARGS)
        if tags:
            from urllib.parse import urlencode

            args["Tagging"] = urlencode(tags)
        self._forget_stats(bucket)
        try:
            return self._engine.upload(path, bucket, key, max_ratio=self.max_ratio if max_ratio is None else max_ratio,
                                       progress=progress, should_cancel=should_cancel, extra_metadata=metadata,
                                       extra_args=args or None)
        except errors.DgError:
            raise
        except OSError as exc:
            # The source file, the reference cache or the work folder failed on this machine.
            raise errors.LocalWriteError(
                f"upload of {display_key(str(path))} stopped by a local file error: "
                f"{exc.strerror or type(exc).__name__}{f' ({display_key(exc.filename)})' if exc.filename else ''}"
            ) from None

    def download(self, s3_url: str, output_path: str | Path, overwrite: bool = True, *,
                 progress: Progress | None = None, should_cancel: ShouldCancel | None = None,
                 rescue: bool = False, version_id: str | None = None) -> DownloadResult:
        """Restore one object; the file appears only once its sha256 has been checked.

        ``version_id`` restores that version of the logical key (from a versioned bucket, see
        ``versions``); a delta version is rebuilt against the version of its reference whose sha256 it names.

        As DeltaGlider's ``download``, an existing file is replaced, but only
        atomically: the object is restored into a temporary file beside it,
        checked, then renamed over it, so a failure leaves the old file as it
        was. ``overwrite=False`` refuses an existing file
        (``DestinationExistsError``). ``output_path`` may be a folder (existing, or ending in a separator).
        A symbolic link at the file's path counts as an existing file and is
        never followed (overwriting replaces the link itself); a folder there
        is refused (``LocalWriteError``). At most the object's recorded size
        is written (``ExpansionError`` past it).
        ``rescue=True`` writes the stored, decompressed payload of a
        DeltaGlider delta that fails its check after recompression (see
        ``RecompressionError``) to ``<name>.decompressed``.
        """
        bucket, key = parse_s3_url(s3_url, need_key=True)
        if key.endswith("/"):
            raise errors.InvalidKeyError(f"{where(bucket, key)} is a prefix; use download_prefix to restore a folder")
        dest = Path(output_path)
        root = dest.parent
        if dest.is_dir() or str(output_path).endswith(os.sep):
            root = dest
            dest = dest / file_name_of(bucket, key)
        engine = self._engine_for(bucket, key, version_id)
        if version_id:
            key = fmt.logical_key_of(key)  # the pinned view shows only the version's stored form
        created = missing_folders(dest.parent)
        try:
            return engine.restore(bucket, key, dest, overwrite=overwrite, progress=progress,
                                  should_cancel=should_cancel, rescue=rescue, root=root)
        except BaseException:
            remove_if_empty(created)  # a failed or cancelled restore leaves no folder it made
            raise

    def restore_file(self, s3_url: str, dest: str | Path, *, root: str | Path | None = None,
                     overwrite: bool = False, progress: Progress | None = None,
                     should_cancel: ShouldCancel | None = None, rescue: bool = False) -> DownloadResult:
        """Restore one object to the file path ``dest``, never into a folder standing there.

        Unlike ``download``, ``dest`` is always the file's own path: a folder at
        ``dest`` is refused (``LocalWriteError``), a symbolic link there is an
        existing file (replaced itself with ``overwrite``, never followed), and
        the file is written only while its real folder lies inside ``root``
        (the folder the user chose; ``dest``'s folder when not given).
        """
        bucket, key = parse_s3_url(s3_url, need_key=True)
        if key.endswith("/"):
            raise errors.InvalidKeyError(f"{where(bucket, key)} is a prefix; use download_prefix to restore a folder")
        dest = Path(dest)
        return self._engine.restore(bucket, key, dest, overwrite=overwrite, progress=progress,
                                    should_cancel=should_cancel, rescue=rescue,
                                    root=Path(root) if root is not None else dest.parent)

    def plan_prefix_restore(self, s3_url: str, dest_dir: str | Path) -> list[RestorePlanItem]:
        """Where each object under a prefix would be written; unsafe keys get a reason.

        Empty objects whose key ends in '/' are the folder markers that S3
        consoles create; they hold no data and are left out, as are
        deltaglider_proxy's ``_dgp/`` locks and leases unless the prefix is there.
        """
        bucket, prefix = parse_s3_url(s3_url)
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        root = Path(dest_dir)
        plan = []
        for obj in self.iter_objects(bucket, prefix):
            if not in_folder_restore(obj, prefix):
                continue
            rel, problem = safe_relative_path(obj.key, prefix)
            plan.append(RestorePlanItem(key=obj.key, destination=None if rel is None else str(root / rel),
                                        problem=problem))
        return plan

    def download_prefix(self, s3_url: str, dest_dir: str | Path, overwrite: bool = False, *,
                        progress: Callable[[int, int, str], None] | None = None,
                        should_cancel: ShouldCancel | None = None,
                        on_item: Callable[[RestorePlanItem, DownloadResult | None, Exception | None], None]
                        | None = None,
                        on_start: Callable[[RestorePlanItem], None] | None = None,
                        ) -> tuple[list[DownloadResult], list[tuple[str, str]]]:
        """Restore every object under a prefix into ``dest_dir``.

        Nothing is written outside ``dest_dir``: keys with '..', absolute
        paths, backslashes or control characters are skipped and reported,
        and so is any destination whose real path (after symlinks) leaves it.
        Returns (restored, problems as (key, reason)). ``on_start`` hears of each
        object just before its restore begins.
        """
        bucket, _ = parse_s3_url(s3_url)
        root = Path(dest_dir)
        created = make_restore_folder(root)
        try:
            return self._download_prefix_into(s3_url, bucket, root, created, overwrite, progress, should_cancel,
                                              on_item, on_start)
        finally:
            remove_if_empty(created)

    def _download_prefix_into(self, s3_url: str, bucket: str, root: Path, created: list[Path], overwrite: bool,
                              progress: Callable[[int, int, str], None] | None, should_cancel: ShouldCancel | None,
                              on_item: Callable[[RestorePlanItem, DownloadResult | None, Exception | None], None]
                              | None,
                              on_start: Callable[[RestorePlanItem], None] | None,
                              ) -> tuple[list[DownloadResult], list[tuple[str, str]]]:
        real_root = os.path.realpath(root)
        done: list[DownloadResult] = []
        problems: list[tuple[str, str]] = []
        for item in self.plan_prefix_restore(s3_url, root):
            if should_cancel and should_cancel():
                raise errors.CancelledError()
            if item.destination is None:
                problems.append((item.key, item.problem or "unsafe key"))
                if on_item:
                    on_item(item, None, errors.InvalidKeyError(item.problem or "unsafe key"))
                continue
            dest = Path(item.destination)
            problem = unsafe_destination(real_root, dest)
            if problem is None:
                created.extend(missing_folders(dest.parent))
                try:
                    dest.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    # e.g. keys 'a' and 'a/b': 'a' is already a file
                    problem = f"cannot create the folder {display_key(str(dest.parent))}: {exc.strerror or exc}"
                else:
                    problem = unsafe_destination(real_root, dest)
            if problem is not None:
                problems.append((item.key, problem))
                if on_item:
                    on_item(item, None, errors.LocalWriteError(problem))
                continue
            if on_start:
                on_start(item)
            try:
                result = self._engine.restore(bucket, item.key, dest, overwrite=overwrite, progress=progress,
                                              should_cancel=should_cancel, root=root)
            except errors.CancelledError:
                raise
            except errors.DgError as exc:
                problems.append((item.key, str(exc)))
                if on_item:
                    on_item(item, None, exc)
                continue
            done.append(result)
            if on_item:
                on_item(item, result, None)
        return done, problems

    def download_prefix_as_of(self, s3_url: str, dest_dir: str | Path, *, at: datetime | None = None,
                              include_deleted: bool = False, overwrite: bool = False,
                              progress: Callable[[int, int, str], None] | None = None,
                              should_cancel: ShouldCancel | None = None,
                              on_item: Callable[[str, DownloadResult | None, Exception | None], None] | None = None,
                              versions: Iterable[ObjectVersion] | None = None,
                              on_start: Callable[[ObjectVersion], None] | None = None,
                              ) -> tuple[list[DownloadResult], list[tuple[str, str]]]:
        """Restore every key under a prefix as it stood at ``at`` (now when None) into ``dest_dir``.

        Each key gets the newest version not after ``at``; keys deleted by then are left out unless
        ``include_deleted`` (their newest version before the deletion). Deltas are rebuilt against the
        reference version they name. The same rules as ``download_prefix``: nothing outside ``dest_dir``,
        existing files kept unless ``overwrite``, every file checked. Returns (restored, problems).
        ``versions``: restore these (from ``versions_as_of`` of the same URL) instead of listing them again;
        ``on_start`` hears each version before its restore begins.
        """
        from .versions import versions_as_of

        bucket, prefix = parse_s3_url(s3_url)
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        root = Path(dest_dir)
        created = make_restore_folder(root)
        real_root = os.path.realpath(root)
        done: list[DownloadResult] = []
        problems: list[tuple[str, str]] = []

        def failed(key: str, exc: Exception) -> None:
            problems.append((key, str(exc)))
            if on_item:
                on_item(key, None, exc)

        try:
            chosen = versions if versions is not None else versions_as_of(self._s3, bucket, prefix, at,
                                                                          include_deleted=include_deleted)
            for version in chosen:
                if should_cancel and should_cancel():
                    raise errors.CancelledError()
                if on_start:
                    on_start(version)
                rel, problem = safe_relative_path(version.key, prefix)
                if rel is None:
                    failed(version.key, errors.InvalidKeyError(problem or "unsafe key"))
                    continue
                dest = root / rel
                created.extend(missing_folders(dest.parent))
                try:
                    dest.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    failed(version.key, errors.LocalWriteError(
                        f"cannot create the folder {display_key(str(dest.parent))}: {exc.strerror or exc}"))
                    continue
                unsafe = unsafe_destination(real_root, dest)
                if unsafe is not None:
                    failed(version.key, errors.LocalWriteError(unsafe))
                    continue
                try:
                    engine = self._version_engine(bucket, version, True)
                    result = engine.restore(bucket, version.key, dest, overwrite=overwrite, progress=progress,
                                            should_cancel=should_cancel, root=root)
                except errors.CancelledError:
                    raise
                except errors.DgError as exc:
                    failed(version.key, exc)
                    continue
                done.append(result)
                if on_item:
                    on_item(version.key, result, None)
        finally:
            remove_if_empty(created)
        return done, problems

    def versions_as_of(self, s3_url: str, *, at: datetime | None = None,
                       include_deleted: bool = False) -> Iterator[ObjectVersion]:
        """For every logical key under the prefix, the version it had at ``at`` (now when None), in key order:
        what ``download_prefix_as_of`` restores. Keys deleted by then are left out unless ``include_deleted``."""
        from .versions import versions_as_of

        bucket, prefix = parse_s3_url(s3_url)
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        yield from versions_as_of(self._s3, bucket, prefix, at, include_deleted=include_deleted)

    def read_version_sizes(self, bucket: str, versions: list[ObjectVersion]) -> None:
        """Fill each version's ``original_size`` and ``file_sha256`` from its metadata (a HEAD each, in parallel)."""
        from .versions import read_original_sizes

        read_original_sizes(self._s3, bucket, versions)

    def reference_fetch_bytes(self, bucket: str, ref_key: str, listed: ObjectInfo | None = None) -> int:
        """Bytes a restore would download for the reference ``ref_key``: 0 when this machine holds a copy of
        it (or it is missing). ``listed`` (the reference as a listing gave it) saves a HEAD."""
        if listed is not None:
            etag, size = listed.etag or "", listed.size
        else:
            head = self._s3.head(bucket, ref_key)
            if head is None:
                return 0
            etag, size = head.get("ETag", "").strip('"'), head.get("ContentLength", 0)
        if self.reference_cache.holds_copy_of(self.endpoint_url, bucket, ref_key, etag, size):
            return 0
        return size

    def verify(self, s3_url: str, *, version_id: str | None = None) -> bool:
        """True when the object rebuilds, from what is in the bucket, to the exact bytes its sha256 names.

        A delta counts as verified only with its bucket's reference: a missing,
        replaced or altered reference gives False even when this machine's
        cache holds the right one (see ``verify_object`` for the reason).
        """
        return self.verify_object(s3_url, version_id=version_id).valid

    def verify_object(self, s3_url: str, *, work_dir: str | Path | None = None,
                      version_id: str | None = None) -> VerifyResult:
        """``verify`` with the reason: rebuilt from the bucket alone and checked against the stored sha256.

        The object is rebuilt in a temporary folder in ``work_dir`` (default: the client's work folder).
        ``version_id``: that version of the key (a delta version against its own reference version).
        """
        bucket, key = parse_s3_url(s3_url, need_key=True)
        with tempfile.TemporaryDirectory(prefix="dgtui-verify-", dir=work_dir or self.work_dir) as tmp:
            tempfiles.register(Path(tmp))
            try:
                engine = self._engine_for(bucket, key, version_id, cache_fallback=False)
                if version_id:
                    key = fmt.logical_key_of(key)
                result = engine.restore(bucket, key, Path(tmp) / "file", strict_reference=True)
            except (errors.IntegrityError, errors.MetadataInvalidError) as exc:
                return VerifyResult(bucket=bucket, key=fmt.logical_key_of(key), valid=False, reason=str(exc),
                                    error=exc.kind)
            except errors.NotFoundError as exc:
                if exc.key is None or not fmt.is_reference_key(exc.key):
                    raise
                return VerifyResult(bucket=bucket, key=fmt.logical_key_of(key), valid=False, reason=str(exc),
                                    reference_key=exc.key, error=exc.kind)
        reason = None if result.verified else (result.check_note  # a proxy replica: its size was checked
                                               or "no sha256 or MD5 ETag is stored to check it against")
        return VerifyResult(bucket=bucket, key=result.key, valid=result.verified, reason=reason, sha256=result.sha256,
                            kind=result.kind, size_checked=not result.verified and result.check_note is not None)

    # -- versions ------------------------------------------------------------
    def versions(self, s3_url: str, *, recursive: bool = False,
                 original_sizes: bool = False) -> Iterator[tuple[str, list[ObjectVersion]]]:
        """(logical key, its versions newest first): of one object, or with ``recursive`` of every key under
        the prefix. Versions of ``name`` merge those of ``name.delta`` and ``name``, with delete markers.
        ``original_sizes`` reads each version's dg-file-size with a HEAD.
        """
        from .versions import list_versions, list_versions_under

        bucket, key = parse_s3_url(s3_url, need_key=not recursive)
        if recursive:
            yield from list_versions_under(self._s3, bucket, key, original_sizes=original_sizes)
            return
        found = list_versions(self._s3, bucket, key, original_sizes=original_sizes)
        if not found:
            raise errors.NotFoundError(f"{where(bucket, fmt.logical_key_of(key))} has no versions (nothing is "
                                       f"stored under that name)", bucket=bucket, key=key)
        yield fmt.logical_key_of(key), found

    def deleted_in_folder(self, bucket: str, prefix: str, *,
                          should_cancel: ShouldCancel | None = None) -> DeletedInFolder:
        """The keys directly in the folder ``prefix`` whose latest version is a delete marker and that keep a
        version to restore (each with its versions newest first), and the folders below that have versions:
        one version listing of the folder, with a "/" delimiter."""
        from .versions import deleted_in_folder

        return deleted_in_folder(self._s3, bucket, prefix, should_cancel=should_cancel)

    def bucket_versioning(self, bucket: str) -> str | None:
        """The bucket's versioning status: "Enabled", "Suspended", or None (never turned on)."""
        from .version_usage import bucket_versioning

        return bucket_versioning(self._s3, bucket)

    def version_usage(self, s3_url: str, *, by_folder: bool = False, progress: Callable[[int], None] | None = None,
                      should_cancel: ShouldCancel | None = None) -> VersionUsageReport:
        """What every version and delete marker under ``s3://bucket/prefix`` stores: current objects, older
        (non-current) versions and their bytes (older ``reference.bin`` versions apart), delete markers and
        the bytes the versions of deleted keys still hold; per folder (deltaspace) with ``by_folder``. Counts
        stored keys from one pass over the version listing; ``progress`` gets the entries listed so far."""
        from .version_usage import version_usage

        bucket, prefix = parse_s3_url(s3_url)
        return version_usage(self._s3, bucket, prefix, by_folder=by_folder, progress=progress,
                             should_cancel=should_cancel)

    def list_object_versions(self, Bucket: str, Prefix: str = "", FetchOriginalSize: bool = False,
                             **kwargs: Any) -> dict[str, Any]:
        """boto3's ``list_object_versions`` on logical keys: every page at once, ``.delta`` stripped, references
        and ``.deltaglider/`` hidden. ``Versions`` items carry ``Size`` (the file's size when known: a delta's
        dg-file-size read with a HEAD when ``FetchOriginalSize``), ``StoredKey``, ``StoredSize`` and
        ``StoredForm`` (delta or whole); ``IsLatest`` is the logical key's latest, over both stored forms.
        """
        check_params("list_object_versions", kwargs, set())
        from .versions import list_versions_under

        found: list[dict[str, Any]] = []
        markers: list[dict[str, Any]] = []
        for _key, versions in list_versions_under(self._s3, Bucket, Prefix, original_sizes=FetchOriginalSize):
            for v in versions:
                entry: dict[str, Any] = {"Key": v.key, "VersionId": v.version_id, "IsLatest": v.is_latest,
                                         "LastModified": v.last_modified, "StoredKey": v.stored_key}
                if v.is_delete_marker:
                    markers.append(entry)
                    continue
                entry.update(ETag=f'"{v.etag}"', StoredSize=v.size, StoredForm=v.stored_form,
                             Size=v.original_size if v.original_size is not None else v.size,
                             OriginalSize=v.original_size)
                found.append(entry)
        return {"Versions": found, "DeleteMarkers": markers, "IsTruncated": False, "Prefix": Prefix,
                "Name": Bucket, "ResponseMetadata": {"HTTPStatusCode": 200}}

    # -- boto3-style calls on logical keys ----------------------------------------
    def put_object(self, Bucket: str, Key: str, Body: bytes | str | Path | BinaryIO | None = b"",
                   Metadata: dict[str, str] | None = None, **kwargs: Any) -> dict[str, Any]:
        """Store bytes under a logical key, as ``upload`` stores a file.

        ``Body`` is bytes, text (stored as UTF-8), a ``Path`` (the file's
        bytes, as DeltaGlider reads it) or a binary stream. ``Metadata`` keys
        and values must be printable ASCII. ``ContentType``, ``Tagging`` and
        the other parameters in ``PUT_ARGS`` go with the stored object; any
        other parameter is refused. ``Metadata`` and ``ContentType`` are also
        kept as deltaglider_proxy keeps them (``user-<name>``, a ``content-type``
        key) and ``head_object`` answers them by their own names.
        """
        check_params("put_object", kwargs, PUT_ARGS)
        if Body is None:
            raise ValueError("Body parameter is required")
        with tempfile.TemporaryDirectory(prefix="dgtui-put-", dir=self.work_dir) as tmp:
            tempfiles.register(Path(tmp))
            path = Path(tmp) / (Key.rsplit("/", 1)[-1][:200] or "body")
            with open(path, "wb") as f:
                if isinstance(Body, str):
                    f.write(Body.encode("utf-8"))
                elif isinstance(Body, (bytes, bytearray, memoryview)):
                    f.write(Body)
                elif isinstance(Body, Path):
                    with open(Body, "rb") as src:
                        shutil.copyfileobj(src, f, 1024 * 1024)
                else:
                    shutil.copyfileobj(Body, f, 1024 * 1024)
            self._forget_stats(Bucket)
            summary = self._engine.upload(path, Bucket, Key, max_ratio=self.max_ratio, extra_metadata=Metadata,
                                          extra_args=kwargs or None)
        head = self._s3.head(Bucket, summary.stored_key) or {}
        return {"ETag": head.get("ETag"), "DeltaGlider": summary, "DeltaGliderInfo": put_info(summary),
                "ResponseMetadata": {"HTTPStatusCode": 200}}

    def get_object(self, Bucket: str, Key: str, **kwargs: Any) -> dict[str, Any]:
        """The restored object. Its Body is a file that is already checked.

        Parameters in ``READ_ARGS`` are honoured: for objects stored whole
        they go to S3 as they are (the answer is then S3's own); for a delta,
        ``Range`` slices the rebuilt, checked file, and ``IfMatch`` /
        ``IfNoneMatch`` / ``IfModifiedSince`` / ``IfUnmodifiedSince`` are
        checked against the stored delta (its ETag is the one ``head_object``
        reports). Anything that cannot hold for a delta (``VersionId``,
        SSE-C keys) is refused with an error naming it, never ignored.
        """
        check_params("get_object", kwargs, READ_ARGS)
        engine = self._engine_for(Bucket, Key, kwargs.get("VersionId"))
        stored_key, head = self._resolve_with(Bucket, Key, kwargs, engine)
        is_delta = stored_key.endswith(fmt.DELTA_SUFFIX)
        scheme = fmt.proxy_encryption(head.get("Metadata", {}))
        if scheme:  # its bytes are ciphertext only deltaglider_proxy can read
            raise proxy_encrypted_error(Bucket, fmt.logical_key_of(stored_key), scheme)
        if kwargs and not is_delta:
            with self._s3.ctx(Bucket, Key, "download"):
                return dict(self._s3.client.get_object(Bucket=Bucket, Key=stored_key, **kwargs))
        fd, name = tempfile.mkstemp(prefix="dgtui-get-", dir=self.work_dir)
        os.close(fd)
        tempfiles.register(Path(name))
        rng = kwargs.get("Range")
        try:
            result = engine.restore(Bucket, stored_key, Path(name), overwrite=True)
            if result.reference_warning:
                logging.getLogger("dgtui").warning("%s", result.reference_warning)
            # Checked before the file is opened: a bad Range leaves no open handle behind.
            span = _parse_range(rng, result.size) if rng else None
            body = open(name, "rb")
        finally:
            os.unlink(name)  # the open handle keeps the data until closed
        response = self._head_response(Key, stored_key, head)
        response["ContentLength"] = result.size
        if span is not None:
            start, end = span
            body.seek(start)
            data = body.read(end - start + 1)
            body.close()
            response.update(ContentLength=len(data), ContentRange=f"bytes {start}-{end}/{result.size}",
                            Body=_Body(io.BytesIO(data)))
            response["ResponseMetadata"] = {"HTTPStatusCode": 206}
            return response
        response["Body"] = _Body(body)
        return response

    def head_object(self, Bucket: str, Key: str, **kwargs: Any) -> dict[str, Any]:
        """The metadata of a logical object; ``ContentLength`` is the file's size (a delta's original size).

        ``Metadata`` and ``ContentType`` are as deltaglider_proxy serves them:
        ``user-foo`` as ``foo``, a ``content-type`` key as the ContentType.

        Parameters in ``READ_ARGS`` go to the HEAD of the stored object; for a
        delta, those that cannot hold (``VersionId``, SSE-C keys) are refused.
        """
        check_params("head_object", kwargs, READ_ARGS)
        engine = self._engine_for(Bucket, Key, kwargs.get("VersionId"))
        stored_key, head = self._resolve_with(Bucket, Key, kwargs, engine)
        return self._head_response(Key, stored_key, head)

    def _engine_for(self, bucket: str, key: str, version_id: str | None, *, cache_fallback: bool = True) -> Engine:
        """The restore engine; with ``version_id``, one that sees ``key`` at that version (and a delta's
        reference at the version it was encoded against, found by its sha256). ``cache_fallback``: when no
        reference version matches, this machine's cached copy may stand in (the restore warns)."""
        if not version_id:
            return self._engine
        from .versions import find_version

        return self._version_engine(bucket, find_version(self._s3, bucket, key, version_id), cache_fallback)

    def _version_engine(self, bucket: str, version: ObjectVersion, cache_fallback: bool) -> Engine:
        from .versions import pinned_view

        def cached(sha256: str) -> bool:
            return self.reference_cache.get(sha256) is not None

        view, _ = pinned_view(self._s3, bucket, version, cached=cached if cache_fallback else None)
        return Engine(view, self.reference_cache, __version__, self.work_dir)

    def _resolve_with(self, bucket: str, key: str, params: dict[str, Any],
                      engine: Engine | None = None) -> tuple[str, dict[str, Any]]:
        if params.get("VersionId"):
            # the version's own stored key: the pinned view hides the other stored form
            key = fmt.logical_key_of(key)
        stored_key, head = (engine or self._engine).resolve(bucket, key)
        if not params:
            return stored_key, head
        if stored_key.endswith(fmt.DELTA_SUFFIX):
            refused = sorted(k for k in params if k not in _DELTA_READ_ARGS)
            if refused:
                raise errors.UnsupportedParameterError(
                    f"{', '.join(refused)} cannot be honoured for {where(bucket, key)}: it is stored as a "
                    f"DeltaGlider delta, rebuilt from its reference")
        head_params = {k: v for k, v in params.items() if k != "Range" and not k.startswith("Response")}
        if head_params:
            with self._s3.ctx(bucket, key, "HEAD"):
                head = self._s3.client.head_object(Bucket=bucket, Key=stored_key, **head_params)
        return stored_key, head

    def _head_response(self, key: str, stored_key: str, head: dict[str, Any]) -> dict[str, Any]:
        info = ObjectInfo(key=key, size=head.get("ContentLength", 0), last_modified="", stored_key=stored_key)
        metadata = head.get("Metadata", {})
        apply_metadata(info, metadata)
        response = {
            "ContentLength": info.original_size if info.original_size is not None else info.size,
            "ETag": head.get("ETag"), "LastModified": head.get("LastModified"),
            "ContentType": fmt.stored_content_type(metadata) or head.get("ContentType", "binary/octet-stream"),
            "Metadata": fmt.served_metadata(metadata), "StoredKey": stored_key,
            "StoredSize": info.size, "ResponseMetadata": {"HTTPStatusCode": 200},
        }
        for name in ("VersionId", "ContentRange", "ServerSideEncryption", "SSECustomerAlgorithm",
                     "ChecksumSHA256", "ChecksumCRC32", "ChecksumCRC32C", "ChecksumSHA1", "StorageClass"):
            if name in head:
                response[name] = head[name]
        return response

    def delete_object(self, Bucket: str, Key: str, **kwargs: Any) -> dict[str, Any]:
        """Delete a logical key; the deltaspace's reference goes with its last delta.

        ``DeltaGliderInfo`` says what was deleted, as in DeltaGlider
        (``Type``: delta, direct or other; ``Deleted``: False when there was
        nothing under that name).
        """
        check_params("delete_object", kwargs, set())
        # The stored forms the HEADs found, so that only they are deleted: on a versioned bucket a DELETE of
        # a key that does not exist writes a delete marker over nothing. None: both forms, as a batch does.
        found: list[str] | None = None
        head: dict[str, Any]
        try:
            if fmt.is_internal_key(Key):
                stored_key, head = Key, {}
            else:
                stored_key, head, older = self._engine.resolve_with_older(Bucket, Key)
                if not Key.endswith(fmt.DELTA_SUFFIX):  # a .delta name is resolved as that form only
                    found = [stored_key] + ([older] if older else [])
        except errors.NotFoundError:
            stored_key, head, found = "", {}, []
        result = self._delete_logical(Bucket, [Key], found)
        if result["Errors"]:
            err = result["Errors"][0]
            failed = errors.DgError(f"delete failed on {where(Bucket, Key)}: {err['Message']}", bucket=Bucket, key=Key)
            failed.action = "delete"
            raise failed
        kind = fmt.parse_metadata(stored_key, head.get("Metadata", {})).kind if stored_key else None
        info: dict[str, Any] = {"Type": object_type(stored_key, kind) if stored_key else None,
                                "Deleted": bool(stored_key), "StoredKey": stored_key or None}
        if result["RemovedReferences"]:
            info["RemovedReferences"] = result["RemovedReferences"]
        return {"DeleteMarker": False, "ResponseMetadata": {"HTTPStatusCode": 204},
                "RemovedReferences": result["RemovedReferences"], "DeltaGliderInfo": info}

    def delete_objects(self, Bucket: str, Delete: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Delete logical keys: of each, the stored forms it has (``name``, ``name.delta``), nothing else.

        On a versioned bucket a DELETE of a stored form a key does not have writes a delete marker over
        nothing, which version listings and the bill then show; so the forms are looked up first.
        """
        check_params("delete_objects", kwargs, set())
        keys = [o["Key"] for o in Delete.get("Objects", [])]
        for key in keys:
            if fmt.is_internal_key(key):
                raise errors.InvalidKeyError(f"refusing to delete {where(Bucket, key)}: it is DeltaGlider's own")
        return self._delete_logical(Bucket, keys, self._existing_forms(Bucket, keys))

    def _existing_forms(self, bucket: str, keys: list[str]) -> list[str]:
        """The stored keys (``name``, ``name.delta``) the logical ``keys`` have.

        A folder with few of the keys is asked by HEADs (both forms at once), one with many by listing it
        once. A HEAD refused with 403 (a role without s3:ListBucket gets it for a missing key) counts as
        found: the form is deleted unseen rather than left behind.
        """
        by_space: dict[str, list[str]] = {}
        for key in keys:
            logical = fmt.logical_key_of(key)
            by_space.setdefault(fmt.deltaspace_of(logical), []).append(logical)
        found: list[str] = []
        heads: list[str] = []
        for space, logicals in by_space.items():
            forms = {form for logical in logicals for form in (logical, fmt.delta_key_for(logical))}
            if len(logicals) <= DELETE_HEADS_PER_FOLDER:
                heads += sorted(forms)
                continue
            prefix = f"{space}/" if space else ""
            with self._s3.ctx(bucket, prefix or None, "list"):
                for _token, raw in iter_raw_pages(self._s3.client, bucket, prefix, "/"):
                    found += [o[0] for o in raw.objects if o[0] in forms]

        def exists(stored: str) -> bool:
            try:
                return self._s3.head(bucket, stored) is not None
            except errors.AccessDeniedError:
                return True

        if heads:
            with ThreadPoolExecutor(max_workers=min(8, len(heads)), thread_name_prefix="dgtui-delete") as pool:
                found += [stored for stored, there in zip(heads, pool.map(exists, heads)) if there]
        return found

    def _delete_logical(self, Bucket: str, keys: list[str], found: list[str] | None) -> dict[str, Any]:
        """Delete logical keys: the stored keys in ``found``, or (None) both stored forms of each key."""
        self._forget_stats(Bucket)
        stored: list[str] = []
        spaces: set[str] = set()
        for key in keys:
            if fmt.is_internal_key(key):
                raise errors.InvalidKeyError(f"refusing to delete {where(Bucket, key)}: it is DeltaGlider's own")
            logical = fmt.logical_key_of(key)
            # Both stored forms of a logical key go: a key has one of them.
            stored += [logical, fmt.delta_key_for(logical)]
            spaces.add(fmt.deltaspace_of(logical))
        failures = dict(self._s3.delete_keys(Bucket, stored if found is None else found))  # none: no request
        removed = self._engine.remove_unused_references(Bucket, spaces) if spaces else []
        deleted = [{"Key": k} for k in keys
                   if k not in failures and fmt.delta_key_for(fmt.logical_key_of(k)) not in failures]
        errs = [{"Key": fmt.logical_key_of(k), "Code": "Error", "Message": m} for k, m in failures.items()]
        return {"Deleted": deleted, "Errors": errs, "RemovedReferences": removed,
                "DeltaGliderInfo": {"ReferencesDeleted": len(removed), "RemovedReferences": removed},
                "ResponseMetadata": {"HTTPStatusCode": 200}}

    def delete_prefix(self, s3_url: str, should_cancel: ShouldCancel | None = None) -> dict[str, Any]:
        """Delete every stored object under a folder prefix, references included."""
        bucket, prefix = parse_s3_url(s3_url)
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        stored: list[str] = []
        for page in self.iter_pages(bucket, prefix, delimiter=None):
            if should_cancel and should_cancel():
                raise errors.CancelledError()
            stored += [o.stored_key for o in page.contents] + [h.key for h in page.hidden]
        failures = self._s3.delete_keys(bucket, stored)
        return {"deleted": len(stored) - len(failures), "errors": failures}

    def copy_object(self, Bucket: str, Key: str, CopySource: str | dict[str, str], **kwargs: Any) -> dict[str, Any]:
        """Copy a logical object: restored and checked, then uploaded as a new object."""
        check_params("copy_object", kwargs, set())
        self._forget_stats(Bucket)
        if isinstance(CopySource, str):
            src_bucket, _sep, src_key = CopySource.lstrip("/").partition("/")
        else:
            src_bucket, src_key = CopySource["Bucket"], CopySource["Key"]
        with tempfile.TemporaryDirectory(prefix="dgtui-copy-", dir=self.work_dir) as tmp:
            path = Path(tmp) / (Key.rsplit("/", 1)[-1][:200] or "body")
            self._engine.restore(src_bucket, src_key, path)
            summary = self._engine.upload(path, Bucket, Key, max_ratio=self.max_ratio)
        head = self._s3.head(Bucket, summary.stored_key) or {}
        return {"CopyObjectResult": {"ETag": head.get("ETag"), "LastModified": head.get("LastModified")},
                "DeltaGlider": summary}

    def create_bucket(self, Bucket: str, CreateBucketConfiguration: dict[str, Any] | None = None,
                      **kwargs: Any) -> dict[str, Any]:
        """Create a bucket; creating one you already own is not an error.

        Other boto3 parameters (``ACL``, ``ObjectLockEnabledForBucket``, ...) go
        to S3 as they are. Failures are also ``RuntimeError``, as in DeltaGlider
        (with dgtui's message).
        """
        try:
            return self._create_bucket(Bucket, CreateBucketConfiguration, kwargs)
        except errors.DgError as exc:
            raise errors.as_runtime_error(exc) from None

    def _create_bucket(self, Bucket: str, CreateBucketConfiguration: dict[str, Any] | None,
                       kwargs: dict[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {**kwargs, "Bucket": Bucket}
        if CreateBucketConfiguration:
            params["CreateBucketConfiguration"] = CreateBucketConfiguration
        else:
            constraint = location_constraint(self._s3.client.meta.region_name)
            if constraint:
                # Outside us-east-1 AWS (and moto) refuse a bucket without its region's constraint.
                params["CreateBucketConfiguration"] = {"LocationConstraint": constraint}
        try:
            self._s3.client.create_bucket(**params)
        except bexc.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise translate(exc, bucket=Bucket, endpoint=self.endpoint_url, action="create bucket") from None
            if code == "BucketAlreadyExists" and not self._bucket_is_ours(Bucket):
                raise errors.DgError(f"bucket name {Bucket} is taken by another account", bucket=Bucket) from None
        except (bexc.BotoCoreError, ConnectionError) as exc:
            raise translate(exc, bucket=Bucket, endpoint=self.endpoint_url, action="create bucket") from None
        self._forget_stats(Bucket)
        return {"Location": f"/{Bucket}", "ResponseMetadata": {"HTTPStatusCode": 200}}

    def _bucket_is_ours(self, bucket: str) -> bool:
        try:
            self._s3.client.head_bucket(Bucket=bucket)
            return True
        except (bexc.ClientError, bexc.BotoCoreError):
            return False

    def delete_bucket(self, Bucket: str, **kwargs: Any) -> dict[str, Any]:
        """Delete an empty bucket; a missing one is not an error; a non-empty one is refused.

        Failures are also ``RuntimeError`` ("Failed to delete bucket: ..."), as
        in DeltaGlider; a bucket that is not empty raises ``BucketNotEmptyError``.
        """
        try:
            return self._delete_bucket(Bucket, kwargs)
        except errors.DgError as exc:
            raise errors.as_runtime_error(exc, f"Failed to delete bucket: {exc}") from None

    def _delete_bucket(self, Bucket: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        self._forget_stats(Bucket)
        try:
            with self._s3.ctx(Bucket, action="list"):
                raw = list_raw_page(self._s3.client, Bucket, "", None, 2)
        except errors.BucketNotFoundError:
            return {"ResponseMetadata": {"HTTPStatusCode": 204}}
        if raw.objects:
            more = "+" if raw.is_truncated else ""
            raise errors.BucketNotEmptyError(
                f"bucket {where(Bucket)} is not empty ({len(raw.objects)}{more} objects); delete its objects first",
                bucket=Bucket)
        try:
            self._s3.client.delete_bucket(**kwargs, Bucket=Bucket)
        except bexc.ClientError as exc:
            err = translate(exc, bucket=Bucket, endpoint=self.endpoint_url, action="delete bucket")
            if not isinstance(err, errors.BucketNotFoundError):
                raise err from None
        except (bexc.BotoCoreError, ConnectionError) as exc:
            raise translate(exc, bucket=Bucket, endpoint=self.endpoint_url, action="delete bucket") from None
        return {"ResponseMetadata": {"HTTPStatusCode": 204}}

    def list_buckets(self, **kwargs: Any) -> dict[str, Any]:
        """boto3's bucket list; a bucket whose stats this client computed carries them as ``DeltaGliderStats``.

        Parameters (``MaxBuckets``, ``Prefix``, ...) go to S3 as they are.
        Failures are also ``RuntimeError``, as in DeltaGlider.
        """
        try:
            with self._s3.ctx(action="list buckets"):
                response = self._s3.client.list_buckets(**kwargs)
        except errors.DgError as exc:
            raise errors.as_runtime_error(exc) from None  # its one-line message stays: the app shows it
        buckets = []
        for entry in response.get("Buckets", []):
            entry = dict(entry)
            cached = self._cached_stats_entry(entry.get("Name", ""))
            if cached is not None:
                entry["DeltaGliderStats"] = cached
            buckets.append(entry)
        return {"Buckets": buckets, "Owner": response.get("Owner", {}),
                "ResponseMetadata": response.get("ResponseMetadata", {})}


class _Body(io.RawIOBase):
    """boto3's StreamingBody surface over a local, already checked file."""

    def __init__(self, f: BinaryIO):
        self._f = f

    def read(self, amt: int | None = None) -> bytes:
        return self._f.read() if amt is None or amt < 0 else self._f.read(amt)

    def readable(self) -> bool:
        return True

    def iter_chunks(self, chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
        while chunk := self._f.read(chunk_size):
            yield chunk

    def close(self) -> None:
        self._f.close()
        super().close()


def location_constraint(region: str | None) -> str | None:
    """The LocationConstraint a new bucket in ``region`` needs: none for us-east-1 (S3 refuses one
    naming it) or for botocore's global pseudo-region."""
    if not region or region in ("us-east-1", "aws-global"):
        return None
    return region


def create_client(endpoint_url: str | None = None, log_level: str = "WARNING",
                  aws_access_key_id: str | None = None, aws_secret_access_key: str | None = None,
                  aws_session_token: str | None = None, region_name: str | None = None, *,
                  profile: str | None = None, cache_dir: str | Path | None = None,
                  max_workers: int = MetadataFetcher.HEAD_WORKERS,
                  max_ratio: float = 0.5, addressing_style: str | None = None) -> DgClient:
    """A client on the usual boto3 credential chain; ``AWS_ENDPOINT_URL`` is honoured.

    The positional order is DeltaGlider 6.2.0's (endpoint_url, log_level,
    aws_access_key_id, aws_secret_access_key, aws_session_token, region_name);
    dgtui's own parameters are keyword-only. ``max_ratio`` is the default
    limit for uploads, as DeltaGlider's ``create_client(max_ratio=...)``.
    ``cache_dir`` defaults to the user cache folder (or ``DGTUI_CACHE_DIR``).
    ``addressing_style`` (``path``, ``virtual`` or ``auto``) overrides the AWS
    config's ``s3.addressing_style``; without either, a custom endpoint gets
    path style. An unknown keyword raises ``TypeError``.
    """
    logger = logging.getLogger("dgtui")
    level = logging.getLevelName(log_level.upper())
    if not (logs.redacting() and isinstance(level, int) and logger.level and logger.level <= level):
        # ``--debug`` set the dgtui logger to DEBUG before any client existed: keep what it asked for.
        logger.setLevel(level)
    s3 = S3Access(endpoint_url=endpoint_url, profile=profile, region_name=region_name,
                  aws_access_key_id=aws_access_key_id, aws_secret_access_key=aws_secret_access_key,
                  aws_session_token=aws_session_token, max_pool_connections=max(64, max_workers * 2),
                  addressing_style=addressing_style)
    return DgClient(s3, cache_dir=cache_dir, max_workers=max_workers, max_ratio=max_ratio)


def _parse_range(text: str, size: int) -> tuple[int, int]:
    """An HTTP ``bytes=a-b`` range (one range) over ``size`` bytes, as (first, last) inclusive."""
    spec = text.strip()
    if not spec.startswith("bytes=") or "," in spec:
        raise errors.UnsupportedParameterError(f"Range {text!r}: only one 'bytes=first-last' range is supported")
    first, _, last = spec[6:].partition("-")
    try:
        if first == "":
            n = int(last)
            start, end = max(0, size - n), size - 1
        else:
            start, end = int(first), (int(last) if last else size - 1)
    except ValueError:
        raise errors.UnsupportedParameterError(f"Range {text!r} is not a byte range") from None
    end = min(end, size - 1)
    if start > end or start >= size:
        raise errors.DgError(f"Range {text!r} is outside the object's {size} bytes (InvalidRange)")
    return start, end

