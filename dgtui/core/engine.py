"""Uploads and restores.

Uploads: a delta counts as stored only after it has been decoded against the
reference and the rebuilt bytes match the file's sha256. A deltaspace's
reference up to the multipart threshold is created with ``If-None-Match: *``
so two uploaders cannot overwrite each other's (a larger one goes up as a
multipart upload without that condition); after writing a delta we check that
the reference it was made against is still there (and put it back, or
re-encode, if not), which also covers servers that ignore the condition and
the unconditional multipart case.

Restores: bytes go to a temporary file beside the target, are checked against
the stored sha256, and only then renamed over the target. Any failure removes
the temporary file.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import stat
import tempfile
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, TypeVar

from . import codec, early_decode, errors, tempfiles
from . import format as fmt
from . import s3 as s3_module
from .cache import HASH_CHUNK, ReferenceCache, SourceChanged, fsync_dir, sha256_file, write_all
from .config import encoder_level, fast_first
from .models import DownloadResult, ObjectKind, UploadSummary
from .s3 import ANSWER_PROBLEM, S3Access, display_key, is_precondition_failed, translate, where

Progress = Callable[[int, int, str], None]  # done bytes, total bytes, stage
ShouldCancel = Callable[[], bool]

MAX_REFERENCE_ATTEMPTS = 3

#: files from this size on are encoded at ``FAST_LEVEL`` first (``encoder_levels``)
FAST_FIRST_MIN_BYTES = 64 * 1024 * 1024
FAST_LEVEL = 1
#: the fast pass's delta is kept when it is at most this share of the file
FAST_FIRST_SHARE = 1 / 512

log = logging.getLogger("dgtui.engine")


_Hashers = TypeVar("_Hashers", bound=tuple)


def encode_at_levels(reference: Path, target: Path, delta_out: Path, size: int, new_hashers: Callable[[], _Hashers],
                     should_cancel: ShouldCancel | None = None) -> tuple[int, int, _Hashers, codec.StreamCheck]:
    """Encode ``target`` (``size`` bytes) at ``encoder_levels``, each pass hashing what it reads into hashers of
    its own; (the level kept, the delta's size, that pass's hashers, its ``StreamCheck``). The delta is decoded
    as it is written, on the core the encoder leaves (``codec.StreamCheck``)."""
    levels = encoder_levels(size)
    for attempt, level in enumerate(levels):
        fast_pass = attempt < len(levels) - 1
        hashers = new_hashers()
        check = codec.StreamCheck(limit=size)
        try:
            delta_size = codec.encode_hashing(reference, target, delta_out, should_cancel, level=level,
                                              hashers=hashers, check=check,
                                              give_up_above=FAST_FIRST_SHARE if fast_pass else None)
        except codec.DeltaTooLarge:
            continue  # the next level, from the start of the file
        if not (fast_pass and delta_size > size * FAST_FIRST_SHARE):
            return level, delta_size, hashers, check
    raise AssertionError("the last level is never given up")  # give_up_above is None there


def encoder_levels(size: int) -> list[int]:
    """xdelta3 levels to encode a file of ``size`` bytes at, in order; the last is the settings file's.

    A big file is tried at level 1 first, and its delta kept when it is at most 1/512 of the file: a version
    with a few scattered edits (a tar of mostly unchanged files, a container layer), where every level writes
    about the same delta and level 1 takes a third to a half of the time (bench/RESULTS.md, "The fast pass").
    The most a higher level could save there is a few hundredths of a percent of the file (on SQL dumps with
    0.1% of the rows changed, -1's delta is 11% bigger than -9's: 0.087% of the file against 0.078%). A delta that
    grows past that share stops the fast pass as soon as it does, and the file is encoded again at the
    settings' level; one that grows past it only at the end of the file (new files appended to a tar) costs
    a whole fast pass.
    ``xdelta3_fast_first = false`` in the settings file always uses the settings' level.
    """
    level = encoder_level()
    if size >= FAST_FIRST_MIN_BYTES and level > FAST_LEVEL and fast_first():
        return [FAST_LEVEL, level]
    return [level]
_HASH_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dgtui-hash")


class _Meter:
    """Adds up bytes for one stage and reports (done, total, stage).

    A ``held`` meter counts silently until ``release()``: a stage running
    beside another one shows once that one is done, so the stages never
    take turns on one progress line.
    """

    def __init__(self, progress: Progress | None, total: int, stage: str, *, held: bool = False):
        self.progress, self.total, self.stage, self.done = progress, total, stage, 0
        self._lock = threading.Lock()
        self._held = held
        if progress and not held:
            progress(0, total, stage)

    def __call__(self, n: int) -> None:
        if not self.progress:
            return
        with self._lock:
            self.done += n
            done = min(self.done, self.total) if self.total else self.done
            if self._held:
                return
        self.progress(done, self.total, self.stage)

    def release(self) -> None:
        with self._lock:
            self._held = False
            done = min(self.done, self.total) if self.total else self.done
        if self.progress:
            self.progress(done, self.total, self.stage)


@dataclass
class Engine:
    s3: S3Access
    references: ReferenceCache
    version: str
    work_dir: Path

    # -- references ------------------------------------------------------
    def fetch_reference(self, bucket: str, ref_key: str, ref_sha256: str | None,
                        should_cancel: ShouldCancel | None = None,
                        progress: Progress | None = None) -> tuple[Path, bool]:
        """A local copy of the bucket's reference, checked against ``ref_sha256``; (path, cache_hit).

        The cached copy stands in only for the very object now on the server
        (same ETag, size and date as when it was cached); anything else is
        downloaded and checked again. A missing or different reference fails.
        """
        path, cache_hit, _ = self.reference_copy(bucket, ref_key, ref_sha256, should_cancel, progress)
        return path, cache_hit

    def reference_copy(self, bucket: str, ref_key: str, ref_sha256: str | None,
                       should_cancel: ShouldCancel | None = None, progress: Progress | None = None, *,
                       cached_fallback: bool = False, checked_cache: bool = True,
                       early: early_decode.EarlyDecode | None = None) -> tuple[Path, bool, str | None]:
        """(path, cache_hit, warning): ``fetch_reference``, and with ``cached_fallback`` a restore's last resort.

        With ``cached_fallback``, a reference that is missing from the bucket
        or no longer the one the delta was made against is replaced by this
        machine's cached copy of the right one (checked by sha256), and the
        warning says so; without a cached copy it fails as usual.
        ``checked_cache=False`` hands out a cached copy without hashing it
        (``ReferenceCache.get``): only for a caller that checks its output
        against a stored sha256 and hashes the copy when that check fails.
        ``early`` hears a download's bytes as they come (``EarlyDecode``).
        """
        head = self.s3.head(bucket, ref_key)
        if head is not None:
            scheme = fmt.proxy_encryption(head.get("Metadata", {}))
            if scheme:  # only deltaglider_proxy can read it, so no delta against it can be rebuilt here
                raise proxy_encrypted_error(bucket, ref_key, scheme, what="the reference")
            version = object_version_of(head)
            if ref_sha256 and self.references.same_origin(self.s3.endpoint_url, bucket, ref_key, ref_sha256, version):
                cached = self.references.get(ref_sha256, checked=checked_cache)
                if cached is not None:
                    return cached, True, None
            try:
                return (self._download_reference(bucket, ref_key, head, ref_sha256, should_cancel, progress,
                                                 early=early), False, None)
            except errors.IntegrityError as exc:
                cached = (self.references.get(ref_sha256, checked=checked_cache)
                          if cached_fallback and ref_sha256 else None)
                if cached is None:
                    raise
                return cached, True, (f"{exc.message.split(';')[0]}; restored from this machine's cached copy of "
                                      f"the right reference (sha256 checked): other machines cannot restore it; "
                                      f"run: dgtui audit {audit_url(bucket, ref_key)}")
        cached = self.references.get(ref_sha256, checked=checked_cache) if cached_fallback and ref_sha256 else None
        if cached is None:
            raise errors.NotFoundError(
                f"the reference {where(bucket, ref_key)} is missing, so its deltas cannot be rebuilt",
                bucket=bucket, key=ref_key)
        return cached, True, (f"the reference {where(bucket, ref_key)} is missing from the bucket; restored from "
                              f"this machine's cached copy (sha256 checked): other machines cannot restore it; "
                              f"run: dgtui audit {audit_url(bucket, ref_key)}")

    def _download_reference(self, bucket: str, ref_key: str, head: dict, ref_sha256: str | None,
                            should_cancel: ShouldCancel | None, progress: Progress | None, *,
                            early: early_decode.EarlyDecode | None = None) -> Path:
        check_free_space(self.references.dir, head.get("ContentLength") or 0,
                         f"cannot fetch the reference {where(bucket, ref_key)} into the cache "
                         f"{display_key(str(self.references.dir))}")
        tmp = self.references.new_temp_path()
        complete = False
        try:
            sha = hashlib.sha256()
            hasher: Any = sha if early is None else _Advancing(sha, early, str(tmp))
            meter = _Meter(progress, head.get("ContentLength", 0), "reference")
            etag = head.get("ETag", "").strip('"')
            size = head.get("ContentLength")
            if etag and isinstance(size, int):
                # In ranged parts on several connections, hashed in order as they arrive (no second read).
                self.s3.get_to_file_in_parts(bucket, ref_key, str(tmp), size=size, etag=etag, hasher=hasher,
                                             progress=meter, should_cancel=should_cancel)
            else:
                self.s3.get_to_file(bucket, ref_key, str(tmp), progress=meter, should_cancel=should_cancel,
                                    etag=etag or None, hasher=hasher, listed_size=size)
            actual = sha.hexdigest()
            if ref_sha256 and actual != ref_sha256:
                raise errors.IntegrityError(
                    f"the reference {where(bucket, ref_key)} has sha256 {actual[:12]}…, but the delta was made "
                    f"against {ref_sha256[:12]}… (dg-ref-sha256); refusing to rebuild", bucket=bucket, key=ref_key)
            complete = True
            path = self.references.adopt(tmp, actual)
            self.references.record_origin(self.s3.endpoint_url, bucket, ref_key, actual, object_version_of(head))
            return path
        finally:
            if early is not None:
                early.ended(complete)  # a reference that failed its check rebuilds nothing that counts
            _discard(tmp)

    def _record_own_reference(self, bucket: str, ref_key: str, sha256: str) -> None:
        """Remember the version of a reference we have just written from a file we hashed ourselves."""
        head = self.s3.head(bucket, ref_key)
        if head is not None and fmt.parse_metadata(ref_key, head.get("Metadata", {})).file_sha256 == sha256:
            self.references.record_origin(self.s3.endpoint_url, bucket, ref_key, sha256, object_version_of(head))

    # -- upload ----------------------------------------------------------
    def upload(self, path: Path, bucket: str, key: str, *, max_ratio: float = 0.5,
               progress: Progress | None = None, should_cancel: ShouldCancel | None = None,
               extra_metadata: dict[str, str] | None = None,
               extra_args: dict[str, Any] | None = None) -> UploadSummary:
        """Store one file; see the module's docstring.

        ``extra_args`` (ContentType, Tagging, ...) go with the stored object
        (the delta or the direct object), never with the reference. If the file
        changes while it is read (its size, modification time or inode differ
        afterwards), what was written for it is deleted and
        ``SourceChangedError`` is raised: the stored sha256 could disagree
        with the stored bytes.
        """
        reason = fmt.refuse_reason_for_upload_key(key)
        if reason:
            raise errors.InvalidKeyError(f"refusing to upload to {where(bucket, key)}: {reason}",
                                         bucket=bucket, key=key)
        snapshot = _source_snapshot(path)
        # Metadata S3 cannot carry is refused before anything is written.
        check_metadata(extra_metadata or {}, what=f"the metadata for {where(bucket, key)}", reserved=True)
        # Kept also the way deltaglider_proxy keeps a client's metadata (user-<name>, and its Content-Type
        # as a content-type key), so the proxy serves them too; head_object answers them by their own names.
        extra_metadata = fmt.client_metadata(extra_metadata, (extra_args or {}).get("ContentType")) or None
        moved = rewritten_key(key)
        # Keys some servers rewrite: what their rewritten names hold before, to tell afterwards.
        before = self._versions_at(bucket, [moved, fmt.delta_key_for(moved)]) if moved != key and moved else {}
        summary = self._upload(path, bucket, key, snapshot[0], max_ratio=max_ratio, progress=progress,
                               should_cancel=should_cancel, extra_metadata=extra_metadata, extra_args=extra_args)
        if before:
            self._check_stored_key(bucket, key, summary.stored_key, before)
        if _source_snapshot(path) != snapshot:
            stale = [summary.stored_key]
            if summary.operation == "create_reference" and summary.reference_key:
                stale.append(summary.reference_key)  # ours: created with If-None-Match a moment ago
            self.s3.delete_keys(bucket, stale)
            raise errors.SourceChangedError(
                f"{display_key(str(path))} changed while it was uploaded; what was written for it has been "
                f"removed; upload it again once it is complete", bucket=bucket, key=key)
        return summary

    def _versions_at(self, bucket: str, keys: list[str]) -> dict[str, tuple[str, str] | None]:
        """(ETag, modification time) of each key, None where nothing is stored."""
        found: dict[str, tuple[str, str] | None] = {}
        for stored in keys:
            head = self.s3.head(bucket, stored)
            found[stored] = None if head is None else (str(head.get("ETag")), str(head.get("LastModified")))
        return found

    def _check_stored_key(self, bucket: str, key: str, stored_key: str,
                          before: dict[str, tuple[str, str] | None]) -> None:
        """The upload of a key a server may rewrite did not land under the rewritten name instead.

        SeaweedFS stores keys as file paths (``a//b`` and ``a\\b`` as ``a/b``,
        ``/a`` as ``a``), answers the PUT with success and a HEAD of either
        name, and lists only the rewritten one. The rewritten name is read
        before and after the upload: when the upload changed it, the server
        put the object there. What was written stays where the server put it
        (it may have replaced an object there); the error names that place.
        """
        moved = rewritten_key(stored_key)
        if moved not in before:
            return
        after = self._versions_at(bucket, [moved])[moved]
        if after is None or after == before[moved]:
            return
        raise errors.KeyRewrittenError(
            f"the server answered the upload of {where(bucket, key)} with success but stored it as "
            f"{where(bucket, moved)}: it rewrites keys with '//', '\\' or a leading '/'; "
            f"choose a key without them", bucket=bucket, key=key, stored_as=moved)

    def _upload(self, path: Path, bucket: str, key: str, size: int, *, max_ratio: float,
                progress: Progress | None, should_cancel: ShouldCancel | None,
                extra_metadata: dict[str, str] | None, extra_args: dict[str, Any] | None) -> UploadSummary:
        # Read for hashing only where something needs the hashes before the file is read anyway: a
        # delta's encoder hashes the bytes it reads itself. deltaglider_proxy serves dg-md5 as the ETag.
        hashes = _SourceHashes(path, progress, size)
        file_sha, file_md5 = _Deferred(hashes.sha256), _Deferred(hashes.md5)
        name = key.rsplit("/", 1)[-1]
        if not fmt.is_delta_eligible(name):
            return self._upload_direct(path, bucket, key, size, file_sha.result(), progress, should_cancel,
                                       extra_metadata, extra_args, fallback_reason=None, file_md5=file_md5)
        ds = fmt.deltaspace_of(key)
        ref_key = fmt.reference_key_for(ds)
        # A delta names its reference in dg-ref-key, an HTTP header: ASCII only, and DeltaGlider
        # 6.2.0 finds the reference by that exact key. Decided before anything is written.
        unfit = delta_metadata_problem(key, ref_key, extra_metadata)
        if unfit:
            return self._upload_direct(path, bucket, key, size, file_sha.result(), progress, should_cancel,
                                       extra_metadata, extra_args, fallback_reason=unfit, file_md5=file_md5)
        codec.xdelta3_path()  # fail early, before any write, when xdelta3 is missing
        ref_sha: str | None
        for _attempt in range(MAX_REFERENCE_ATTEMPTS):
            ref_head = self.s3.head(bucket, ref_key)
            if ref_head is None:
                compressed = codec.compressed_format(path)
                if compressed:
                    return self._upload_direct(path, bucket, key, size, file_sha.result(), progress, should_cancel,
                                               extra_metadata, extra_args, file_md5=file_md5,
                                               fallback_reason=_compressed_reason(compressed))
                created = self._try_create_reference(path, bucket, ref_key, name, size, hashes, progress,
                                                     should_cancel)
                if not created:
                    continue  # another uploader created it first: make a delta against theirs
                ref_path, zero, ours = created
                try:
                    summary = self._store_zero_diff(bucket, key, ref_key, zero, progress, should_cancel,
                                                    extra_metadata, extra_args)
                except (errors.IntegrityError, errors.SourceChangedError):
                    # The zero-diff delta did not rebuild the bytes hashed: made from the cache's copy, which
                    # is what went up, neither may the reference; made from a file that changed meanwhile,
                    # the reference is not what the file now holds. Ours goes; a damaged copy goes too.
                    if ours:
                        self.s3.delete_keys(bucket, [ref_key])
                    self.references.verify(zero.sha256)
                    raise
                finally:
                    zero.discard()
                if not self._reference_still_matches(bucket, ref_key, zero.sha256, ref_path):
                    continue
                return summary
            else:
                ref_parsed = fmt.parse_metadata(ref_key, ref_head.get("Metadata", {}))
                if ref_parsed.encryption:
                    return self._upload_direct(path, bucket, key, size, file_sha.result(), progress, should_cancel,
                                               extra_metadata, extra_args, file_md5=file_md5,
                                               fallback_reason="the deltaspace's reference is encrypted by "
                                                               "deltaglider_proxy, so no delta can be made against it")
                ref_sha = ref_parsed.file_sha256
                if not ref_sha:
                    return self._upload_direct(path, bucket, key, size, file_sha.result(), progress, should_cancel,
                                               extra_metadata, extra_args, file_md5=file_md5,
                                               fallback_reason="the deltaspace's reference has no valid sha256")
                # A cached reference is hashed, unlike a restore's: a delta is verified by decoding against
                # the same copy it was encoded against, so a damaged copy would pass that check and store a
                # delta that the bucket's reference cannot rebuild. It is hashed on a core of its own while
                # the encoder runs, and the delta is stored only once the hash matched.
                ref_path, cache_hit, _ = self.reference_copy(bucket, ref_key, ref_sha, should_cancel, progress,
                                                             checked_cache=False)
                # Its first bytes are read before the hash starts: a damaged copy is dropped by the hash.
                compressed = codec.compressed_format(ref_path)
                ref_check = _HASH_POOL.submit(self.references.verify, ref_sha) if cache_hit and not compressed else None
                if compressed:
                    return self._upload_direct(path, bucket, key, size, file_sha.result(), progress, should_cancel,
                                               extra_metadata, extra_args, file_md5=file_md5,
                                               fallback_reason=_compressed_reason(compressed))
            stored = self._store_delta(path, bucket, key, size, hashes, ref_key, ref_path, ref_sha,
                                       max_ratio, progress, should_cancel, extra_metadata, extra_args, ref_check)
            if stored is None:
                continue  # the cached reference was damaged (and is dropped): fetch it again and encode again
            if (stored.stored_key.endswith(fmt.DELTA_SUFFIX)
                    and not self._reference_still_matches(bucket, ref_key, ref_sha, ref_path)):
                continue  # the reference changed under us: encode again against the current one
            return stored
        raise errors.DgError(f"the reference of {where(bucket, ds + '/' if ds else '')} kept changing "
                             f"while uploading {display_key(key)}; try again", bucket=bucket, key=key)

    def _try_create_reference(self, path: Path, bucket: str, ref_key: str, name: str, size: int,
                              hashes: _SourceHashes, progress: Progress | None,
                              should_cancel: ShouldCancel | None) -> tuple[Path, _ZeroDiff, bool] | None:
        """Store ``path`` as the deltaspace's reference (``If-None-Match``); (the cache's copy, its zero-diff delta
        being made, whether the reference is the one we wrote), or None when another uploader created a
        different reference first.

        A file that goes up in one request is read once: hashed (sha256 and MD5, for the metadata the
        reference carries) as it is copied into the reference cache. The upload and the zero-diff delta
        are then made from that copy, so what is stored is exactly what was hashed even if the file changes
        meanwhile (``upload`` tells that from the file's size, date and inode afterwards, and removes what
        was written). A bigger one goes up in parts while it is copied (``_create_big_reference``).
        """
        if size > s3_module.MULTIPART_THRESHOLD:
            return self._create_big_reference(path, bucket, ref_key, name, size, hashes, progress, should_cancel)
        try:
            copied = self.references.copy_in(path, size=size, progress=_Meter(progress, size, "hashing"))
        except SourceChanged:
            raise errors.SourceChangedError(
                f"{display_key(str(path))} changed while it was read; nothing was written; upload it again once it "
                f"is complete", bucket=bucket, key=ref_key) from None
        try:
            copy = self.references.adopt(copied.path, copied.sha256)
        finally:
            copied.discard()
        meta = fmt.reference_metadata(version=self.version, source_name=name, file_sha256=copied.sha256,
                                      file_size=copied.size, md5=copied.md5)
        # The zero-diff delta is encoded and checked (on the other core) while the reference goes up.
        zero = _ZeroDiff(copy, copied.sha256, copied.md5, copied.size, self.work_dir, should_cancel)
        ours = True
        try:
            self.s3.put_file(bucket, ref_key, str(copy), meta, if_none_match=True,
                             progress=_Meter(progress, copied.size, "uploading reference"),
                             should_cancel=should_cancel)
        except BaseException as exc:
            if not (isinstance(exc, Exception) and is_precondition_failed(exc)):
                zero.discard()
                if not isinstance(exc, Exception):
                    raise
                raise translate(exc, bucket=bucket, key=ref_key, endpoint=self.s3.endpoint_url,
                                action="upload") from None
            if not self._stored_reference_is(bucket, ref_key, copied.sha256):
                zero.discard()
                return None
            ours = False
        self._record_own_reference(bucket, ref_key, copied.sha256)
        return copy, zero, ours

    def _create_big_reference(self, path: Path, bucket: str, ref_key: str, name: str, size: int,
                              hashes: _SourceHashes, progress: Progress | None,
                              should_cancel: ShouldCancel | None) -> tuple[Path, _ZeroDiff, bool] | None:
        """``_try_create_reference`` of a file that goes up in parts: its copy in the reference cache is
        written while the parts go up, not before.

        The metadata sent when the upload starts carries the file's sha256 and MD5, so those are read
        first (a core each). The file is then read once more, in order, as its parts go up: each part is
        hashed again and written to a cache temp file, and the upload is completed only when what went up
        hashes to the sha256 in its metadata (else nothing is stored: the file changed meanwhile). The copy
        holds exactly the bytes that went up. Writing it beside the upload rather than before it saves the
        time of writing it (for 500 MB, 1-2 s of system time on a virtual machine). The zero-diff delta is
        made from the file meanwhile, on the other core, and checked by decoding it into a hash.
        """
        snapshot = _source_snapshot(path)
        sha, md5 = hashes.sha256(), hashes.md5()
        meta = fmt.reference_metadata(version=self.version, source_name=name, file_sha256=sha, file_size=size,
                                      md5=md5)
        zero = _ZeroDiff(path, sha, md5, size, self.work_dir, should_cancel,
                         changed=lambda: _source_snapshot(path) != snapshot)
        tmp = self.references.new_temp_path()
        went_up = hashlib.sha256()
        read = 0
        meter = _Meter(progress, size, "uploading reference")

        def fill(buffer: memoryview) -> int:
            nonlocal read
            part = buffer[:s3_module.read_into(source, buffer[:size - read])]  # no further than it measured
            went_up.update(part)
            write_all(copy_file, part)
            read += len(part)
            return len(part)

        def check_what_went_up() -> None:
            if read != size or source.read(1) or went_up.hexdigest() != sha:
                raise SourceChanged(f"{path} read differently as it went up")

        def sent(n: int) -> None:
            if should_cancel and should_cancel():
                raise errors.CancelledError()
            meter(n)

        ours = True
        try:
            try:
                with open(path, "rb", buffering=0) as source, open(tmp, "wb", buffering=0) as copy_file:
                    self.s3.put_parts_if_absent(bucket, ref_key, meta, fill, callback=sent,
                                                before_complete=check_what_went_up)
            except SourceChanged:
                raise errors.SourceChangedError(
                    f"{display_key(str(path))} changed while it was uploaded; nothing was written; upload it again "
                    f"once it is complete", bucket=bucket, key=ref_key) from None
            except Exception as exc:
                if not is_precondition_failed(exc):
                    raise translate(exc, bucket=bucket, key=ref_key, endpoint=self.s3.endpoint_url,
                                    action="upload") from None
                if not self._stored_reference_is(bucket, ref_key, sha):
                    zero.discard()
                    _discard_temp(tmp)
                    return None
                ours = False
            copy = self.references.adopt(tmp, sha)
        except BaseException:
            zero.discard()
            _discard_temp(tmp)
            raise
        tempfiles.release(tmp)
        self._record_own_reference(bucket, ref_key, sha)
        return copy, zero, ours

    def _stored_reference_is(self, bucket: str, ref_key: str, sha256: str) -> bool:
        """After ``If-None-Match`` refused ours: whether the reference stored meanwhile holds these very bytes.
        Ours, stored by a first attempt whose answer was lost (the retry then found it), or another
        uploader's of the same file: either way the same outcome."""
        existing = self.s3.head(bucket, ref_key)
        theirs = fmt.parse_metadata(ref_key, existing.get("Metadata", {})).file_sha256 if existing else None
        return theirs == sha256

    def _reference_still_matches(self, bucket: str, ref_key: str, ref_sha: str, ref_path: Path) -> bool:
        head = self.s3.head(bucket, ref_key)
        if head is None:
            # Deleted (e.g. its last delta was removed meanwhile): put ours back.
            meta = fmt.reference_metadata(version=self.version, source_name="reference.bin", file_sha256=ref_sha,
                                          file_size=ref_path.stat().st_size, md5=md5_file(ref_path))
            try:
                self.s3.put_file(bucket, ref_key, str(ref_path), meta, if_none_match=True)
            except Exception as exc:
                if is_precondition_failed(exc):
                    return self._reference_still_matches(bucket, ref_key, ref_sha, ref_path)
                raise translate(exc, bucket=bucket, key=ref_key, endpoint=self.s3.endpoint_url) from None
            self._record_own_reference(bucket, ref_key, ref_sha)
            return True
        return fmt.parse_metadata(ref_key, head.get("Metadata", {})).file_sha256 == ref_sha

    def _store_delta(self, path: Path, bucket: str, key: str, size: int, hashes: _SourceHashes, ref_key: str,
                     ref_path: Path, ref_sha: str, max_ratio: float,
                     progress: Progress | None, should_cancel: ShouldCancel | None,
                     extra_metadata: dict[str, str] | None, extra_args: dict[str, Any] | None,
                     ref_check: Future[bool] | None = None) -> UploadSummary | None:
        """Encode, check and store the delta of ``path`` against ``ref_path``; None when ``ref_check`` (the
        cached reference's hash, running beside the encoder) found the copy damaged: nothing is stored then."""
        name = key.rsplit("/", 1)[-1]
        with tempfile.TemporaryDirectory(prefix="dgtui-up-", dir=self.work_dir) as tmp:
            tempfiles.register(Path(tmp))
            delta_path = Path(tmp) / "delta"
            # One read of the file: the encoder's feed hashes what it hands to xdelta3, on the other cores.
            def new_hashers() -> tuple[Any, Any, _Counter]:
                return hashlib.sha256(), hashlib.md5(), _Counter(_Meter(progress, size, "encoding"))

            try:
                level, delta_size, (sha, md5, fed), check = encode_at_levels(ref_path, path, delta_path, size,
                                                                             new_hashers, should_cancel)
            except (errors.CodecError, FileNotFoundError):
                if ref_check is not None and not ref_check.result():
                    return None  # the copy was damaged, and dropped (perhaps before xdelta3 opened it)
                raise
            file_sha, file_md5 = sha.hexdigest(), md5.hexdigest()
            if fed.total != size or (hashes.started and hashes.sha256() != file_sha):
                # not the size it had when the upload began, or hashed once before and once now with
                # another result: the file changed in between
                raise errors.SourceChangedError(
                    f"{display_key(str(path))} changed while it was uploaded; what was written for it has been "
                    f"removed; upload it again once it is complete", bucket=bucket, key=key)
            if ref_check is not None and not ref_check.result():
                return None
            ratio = delta_size / size if size else 0.0
            if ratio > max_ratio:
                return self._upload_direct(
                    path, bucket, key, size, file_sha, progress, should_cancel, extra_metadata, extra_args,
                    fallback_reason=f"delta would be {ratio:.0%} of the file (limit {max_ratio:.0%})",
                    file_md5=_Deferred(lambda: file_md5))
            if progress:
                progress(0, size, "verifying")
            # DeltaGlider 6.2.0's own decode command, into a hash (no file): what passes here restores there.
            # The sha256 is of the very bytes the encoder read, so a file changing meanwhile cannot pass.
            # It ran on the delta as the encoder wrote it; the file to upload must still be those bytes
            # (it is small beside the file: hashing it again is cheap). Anything else decodes the file.
            rebuilt_sha: str | None = None
            if check.rebuilt == file_sha and check.delta_sha256 == sha256_file(delta_path):
                rebuilt_sha = check.rebuilt
            else:
                try:
                    rebuilt_sha = codec.decode_sha256(ref_path, delta_path, should_cancel, limit=size)
                except (errors.CodecError, errors.ExpansionError):
                    rebuilt_sha = None  # a delta xdelta3 cannot read back, or one longer than the file
            if rebuilt_sha != file_sha:
                raise errors.IntegrityError(
                    f"the delta for {where(bucket, key)} did not rebuild the file; nothing was stored",
                    bucket=bucket, key=key)
            meta = fmt.delta_metadata(version=self.version, original_name=name, file_sha256=file_sha,
                                      file_size=size, ref_key=ref_key, ref_sha256=ref_sha,
                                      delta_size=delta_size, zero_diff=False, md5=file_md5, level=level)
            meta.update(extra_metadata or {})
            stored_key = fmt.delta_key_for(key)
            self.s3.put_file(bucket, stored_key, str(delta_path), meta, extra_args=extra_args,
                             progress=_Meter(progress, delta_size, "uploading"), should_cancel=should_cancel)
        # One logical key, one stored object: drop a direct copy under the plain name.
        self._drop_direct_copy(bucket, key)
        return UploadSummary(operation="create_delta", bucket=bucket,
                             key=key, original_size=size, stored_size=delta_size, is_delta=True,
                             delta_ratio=ratio, stored_key=stored_key, file_sha256=file_sha,
                             reference_key=ref_key, verified=True)

    def _store_zero_diff(self, bucket: str, key: str, ref_key: str, zero: _ZeroDiff, progress: Progress | None,
                         should_cancel: ShouldCancel | None, extra_metadata: dict[str, str] | None,
                         extra_args: dict[str, Any] | None) -> UploadSummary:
        """The first version's delta (against itself), made from the cache's copy and checked by ``_ZeroDiff``."""
        ref_sha = zero.sha256
        if progress:
            progress(0, zero.size, "encoding")
        try:
            delta_path, delta_size, level = zero.result()
        except errors.IntegrityError:
            raise errors.IntegrityError(f"the delta for {where(bucket, key)} did not rebuild the file; nothing was "
                                        f"stored", bucket=bucket, key=key) from None
        name = key.rsplit("/", 1)[-1]
        meta = fmt.delta_metadata(version=self.version, original_name=name, file_sha256=ref_sha,
                                  file_size=zero.size, ref_key=ref_key, ref_sha256=ref_sha,
                                  delta_size=delta_size, zero_diff=True, md5=zero.md5, level=level)
        meta.update(extra_metadata or {})
        stored_key = fmt.delta_key_for(key)
        self.s3.put_file(bucket, stored_key, str(delta_path), meta, extra_args=extra_args,
                         progress=_Meter(progress, delta_size, "uploading"), should_cancel=should_cancel)
        self._drop_direct_copy(bucket, key)
        # What was stored is the whole file (the reference) plus a zero-diff delta: no saving,
        # as DeltaGlider reports it (is_delta False, the full size stored).
        return UploadSummary(operation="create_reference", bucket=bucket, key=key, original_size=zero.size,
                             stored_size=zero.size + delta_size, is_delta=False, delta_ratio=0.0,
                             stored_key=stored_key, file_sha256=ref_sha, reference_key=ref_key, verified=True)

    def _upload_direct(self, path: Path, bucket: str, key: str, size: int, file_sha: str,
                       progress: Progress | None, should_cancel: ShouldCancel | None,
                       extra_metadata: dict[str, str] | None, extra_args: dict[str, Any] | None,
                       fallback_reason: str | None, file_md5: _Deferred | None = None) -> UploadSummary:
        name = key.rsplit("/", 1)[-1]
        meta = fmt.direct_metadata(version=self.version, original_name=name, file_sha256=file_sha, file_size=size,
                                   md5=file_md5.result() if file_md5 is not None else md5_file(path))
        meta.update(extra_metadata or {})
        check_metadata(meta, what=f"the metadata for {where(bucket, key)}")
        self.s3.put_file(bucket, key, str(path), meta, progress=_Meter(progress, size, "uploading"),
                         should_cancel=should_cancel, extra_args=extra_args)
        if fmt.is_delta_eligible(name):
            self._drop_stale_delta(bucket, key)
        return UploadSummary(operation="upload_direct", bucket=bucket, key=key, original_size=size,
                             stored_size=size, is_delta=False, stored_key=key, file_sha256=file_sha,
                             verified=True, fallback_reason=fallback_reason)

    def _drop_direct_copy(self, bucket: str, key: str) -> None:
        # Only when there is one: on a versioned bucket a DELETE of a key that does not exist
        # still writes a delete marker, a version of nothing that listings and bills then show.
        try:
            exists = self.s3.head(bucket, key) is not None
        except errors.AccessDeniedError:
            # S3 answers 403, not 404, for a missing key to a role without s3:ListBucket: delete it
            # unseen, as before, rather than leave a copy that listings would show instead of the delta.
            exists = True
        if exists:
            self.s3.delete_keys(bucket, [key])

    def _drop_stale_delta(self, bucket: str, key: str) -> None:
        # HEAD first, for the same reason as _drop_direct_copy.
        stale = fmt.delta_key_for(key)
        if self.s3.head(bucket, stale) is not None:
            self.s3.delete_keys(bucket, [stale])
            self.remove_unused_references(bucket, {fmt.deltaspace_of(key)})

    def remove_unused_references(self, bucket: str, deltaspaces: set[str]) -> list[str]:
        """Delete the reference of each deltaspace that no longer holds a delta.

        An upload may make a delta against the reference between our listing
        and our delete. So the reference is first copied aside (under
        ``.deltaglider/tmp/`` with an expiry, as DeltaGlider's rehydrated files
        are, so its purge removes a copy a crash left behind), then deleted,
        then the deltaspace is listed again: a delta that appeared meanwhile
        gets its reference back (``If-None-Match``, so a newer one is never
        replaced). An upload whose delta comes after that second listing finds
        the reference gone when it checks afterwards, and puts it back itself.
        """
        removed = []
        for ds in deltaspaces:
            prefix = f"{ds}/" if ds else ""
            if self._holds_delta(bucket, prefix):
                continue
            ref_key = fmt.reference_key_for(ds)
            head = self.s3.head(bucket, ref_key)
            if head is None:
                continue
            aside = f"{fmt.TMP_PREFIX}{uuid.uuid4().hex}_reference.bin"
            meta = dict(head.get("Metadata", {}))
            expiry = {"dg-expires-at": fmt.expiry_iso(3600), "dg-original-key": fmt.header_safe(ref_key)}
            self.s3.copy(bucket, ref_key, aside, {**meta, **expiry}, if_match=head.get("ETag"))
            # On a versioned bucket a plain DELETE of the copy would keep it as an older version under a
            # delete marker (a whole reference's bytes on the bill); its version goes for good instead.
            aside_version: str | None = None
            try:
                aside_version = (self.s3.head(bucket, aside) or {}).get("VersionId")
                self.s3.delete_keys(bucket, [ref_key])
                if self._holds_delta(bucket, prefix):
                    self._put_reference_back(bucket, aside, ref_key, meta)
                else:
                    removed.append(ref_key)
            finally:
                self._drop_aside(bucket, aside, aside_version)
        return removed

    def _drop_aside(self, bucket: str, aside: str, version_id: str | None) -> None:
        if version_id:
            self.s3.delete_version(bucket, aside, version_id)
        else:
            self.s3.delete_keys(bucket, [aside])

    def _holds_delta(self, bucket: str, prefix: str) -> bool:
        from .listing import iter_logical_pages

        with self.s3.ctx(bucket, prefix, "list"):
            return any(o.is_delta for page in iter_logical_pages(self.s3.client, bucket, prefix, "/")
                       for o in page.contents)

    def _put_reference_back(self, bucket: str, aside: str, ref_key: str, meta: dict[str, str]) -> None:
        tmp = self.references.new_temp_path()
        try:
            self.s3.get_to_file(bucket, aside, str(tmp))
            try:
                self.s3.put_file(bucket, ref_key, str(tmp), meta, if_none_match=True)
            except Exception as exc:
                if not is_precondition_failed(exc):
                    raise translate(exc, bucket=bucket, key=ref_key, endpoint=self.s3.endpoint_url) from None
                # a new reference is there already; deltas made against ours re-encode when they check
        finally:
            _discard(tmp)

    # -- restore ---------------------------------------------------------
    def resolve(self, bucket: str, key: str) -> tuple[str, dict]:
        """The stored key and HEAD of a logical key (a delta or a direct object).

        When ``<name>`` and ``<name>.delta`` both exist (deltaglider_proxy writes
        the new form before deleting the old), ``fmt.current_copy`` says which is
        the object, as listings and every other reader do.
        """
        stored, head, _ = self.resolve_with_older(bucket, key)
        return stored, head

    def resolve_with_older(self, bucket: str, key: str) -> tuple[str, dict, str | None]:
        """(stored key, HEAD, stored key of an older copy beside it or None)."""
        if key.endswith(fmt.DELTA_SUFFIX):
            candidates = [key]
        elif fmt.is_delta_eligible(key.rsplit("/", 1)[-1]):
            candidates = [fmt.delta_key_for(key), key]
        else:
            candidates = [key, fmt.delta_key_for(key)]
        def head_of(stored: str) -> tuple[dict | None, errors.AccessDeniedError | None]:
            try:
                return self.s3.head(bucket, stored), None
            except errors.AccessDeniedError as exc:
                # AWS answers 403, not 404, for a missing key to a role without
                # s3:ListBucket: the other stored form may still be readable.
                return None, exc

        if len(candidates) == 1:
            answers = [head_of(candidates[0])]
        else:  # both forms at once: one round trip, not two
            with ThreadPoolExecutor(max_workers=len(candidates), thread_name_prefix="dgtui-resolve") as pool:
                answers = list(pool.map(head_of, candidates))
        denied: errors.AccessDeniedError | None = None
        found: list[tuple[str, dict]] = []
        for stored, (head, refused) in zip(candidates, answers):
            denied = denied or refused
            if head is not None:
                found.append((stored, head))
        if len(found) == 2:
            current = fmt.current_copy(*(fmt.StoredCopy.of(stored, head.get("Metadata"), head.get("LastModified"))
                                         for stored, head in found))
            newer, older = found if found[0][0] == current.stored_key else found[::-1]
            return newer[0], newer[1], older[0]
        if found:
            return found[0][0], found[0][1], None
        if denied is not None:
            raise denied
        # A HEAD cannot tell a missing key from a missing bucket; a listing can.
        with self.s3.ctx(bucket, action="list"):
            self.s3.client.list_objects_v2(Bucket=bucket, MaxKeys=1)
        raise errors.NotFoundError(f"not found: {where(bucket, key)}", bucket=bucket, key=key)

    def restore(self, bucket: str, key: str, dest: Path, *, overwrite: bool = False,
                progress: Progress | None = None, should_cancel: ShouldCancel | None = None,
                rescue: bool = False, strict_reference: bool = False, root: Path | None = None) -> DownloadResult:
        """Restore one object to the file path ``dest``. Unless ``strict_reference``, a delta whose bucket
        reference is missing or different is rebuilt from this machine's cached copy of the right one, and the
        result's ``reference_warning`` says so.

        ``root`` is the folder the user chose (``dest``'s own folder when not given): the file is written only
        while its real folder is inside it, checked before anything is written and again right before the
        rename. A symbolic link at ``dest`` counts as an existing file and is never followed (overwriting
        replaces the link itself), and a folder at ``dest`` is refused (``LocalWriteError``), never written into.
        """
        stored_key, head = self.resolve(bucket, key)
        logical = fmt.logical_key_of(stored_key)
        if head.get(ANSWER_PROBLEM):
            raise errors.MetadataInvalidError(f"{where(bucket, logical)}: {head[ANSWER_PROBLEM]}; not restored",
                                              bucket=bucket, key=logical)
        real_root = os.path.realpath(root if root is not None else dest.parent)
        if _check_destination(dest, real_root) and not rescue and not overwrite:
            raise errors.DestinationExistsError(
                f"{display_key(str(dest))} already exists; choose another name or allow overwriting")
        parsed = fmt.parse_metadata(stored_key, head.get("Metadata", {}))
        etag = head.get("ETag", "").strip('"')
        size = head.get("ContentLength", 0)
        if parsed.encryption:
            raise proxy_encrypted_error(bucket, logical, parsed.encryption)
        if parsed.kind in (ObjectKind.DIRECT, ObjectKind.DELTA) and not parsed.file_sha256 \
                and not parsed.sha256_missing:
            raise errors.MetadataInvalidError(
                f"metadata invalid for {where(bucket, logical)} ({parsed.problem}); cannot verify a restore",
                bucket=bucket, key=logical)
        if not rescue:
            # the file, and beside it while it is rebuilt, the delta
            need = parsed.file_size + size if parsed.kind == ObjectKind.DELTA and parsed.file_size is not None \
                else size if parsed.kind != ObjectKind.DELTA else 0
            check_free_space(dest.parent, need, f"cannot restore {where(bucket, logical)} to {display_key(str(dest))}")
        tmp = self._temp_beside(dest)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            _check_destination(dest, real_root)  # the folder just made may not lead elsewhere either
            if parsed.kind == ObjectKind.DELTA:
                result = self._restore_delta(bucket, stored_key, logical, head, parsed, dest, tmp, progress,
                                             should_cancel, rescue, overwrite, strict_reference, real_root)
                if result.rescued:
                    return result
            else:
                hasher = hashlib.sha256()
                md5 = hashlib.md5() if parsed.kind == ObjectKind.PLAIN or parsed.sha256_missing else None
                self.s3.get_to_file(bucket, stored_key, str(tmp), progress=_Meter(progress, size, "downloading"),
                                    should_cancel=should_cancel, etag=etag or None,
                                    hasher=_Tee(hasher, md5) if md5 else hasher, listed_size=head.get("ContentLength"))
                actual = hasher.hexdigest()
                check_note = None
                if parsed.sha256_missing:
                    # A proxy replica: its size, and a single-part ETag, are all there is to check.
                    got = os.path.getsize(tmp)
                    if parsed.file_size is not None and got != parsed.file_size:
                        raise errors.IntegrityError(
                            f"{where(bucket, logical)} has {got} bytes but its metadata says {parsed.file_size}; "
                            f"nothing was written", bucket=bucket, key=logical)
                    if md5 is not None and _is_md5(etag) and md5.hexdigest() != etag:
                        raise errors.IntegrityError(
                            f"{where(bucket, logical)} does not match its ETag (MD5); nothing was written",
                            bucket=bucket, key=logical)
                    verified = False  # no sha256 to check it against
                    check_note = "not checked: no sha256 stored"
                elif parsed.kind == ObjectKind.DIRECT:
                    if actual != parsed.file_sha256:
                        raise errors.IntegrityError(
                            f"{where(bucket, logical)} does not match its stored sha256; nothing was written",
                            bucket=bucket, key=logical)
                    verified = True
                else:
                    # Plain objects carry no sha256; a single-part ETag is the MD5.
                    verified = _is_md5(etag)
                    if verified and md5 is not None and md5.hexdigest() != etag:
                        raise errors.IntegrityError(
                            f"{where(bucket, logical)} does not match its ETag (MD5); nothing was written",
                            bucket=bucket, key=logical)
                result = DownloadResult(bucket=bucket, key=logical, path=str(dest), size=os.path.getsize(tmp),
                                        sha256=actual, kind=parsed.kind, verified=verified, check_note=check_note)
            _set_mtime(tmp, head.get("LastModified"))
            self._commit(tmp, dest, overwrite, real_root)
            return result
        except errors.LocalWriteError as exc:  # xdelta3 could not write its output
            if exc.message.endswith("nothing was written"):
                raise  # says already what and where (free space, the destination's checks)
            reason = exc.reason or str(exc)
            raise errors.LocalWriteError(f"cannot write {display_key(str(dest))}: {reason}; nothing was written",
                                         reason=reason, bucket=bucket, key=logical) from None
        except errors.DgError:
            raise  # some are OSErrors too (NotFoundError is a FileNotFoundError): not a local write failure
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise errors.LocalWriteError(f"cannot write {display_key(str(dest))}: {reason}; nothing was written",
                                         reason=reason, bucket=bucket, key=logical) from None
        finally:
            _discard(tmp)

    def _restore_delta(self, bucket, stored_key, logical, head, parsed, dest: Path, tmp: Path, progress,
                       should_cancel, rescue: bool, overwrite: bool, strict_reference: bool = False,
                       real_root: str | None = None) -> DownloadResult:
        codec.xdelta3_path()
        delta_tmp = self._temp_beside(dest, suffix=".delta.part")
        # The delta comes down while the reference is looked up (and fetched when not cached):
        # a restore in a new process waits for one round trip fewer.
        stop = threading.Event()

        def stopped() -> bool:
            return stop.is_set() or bool(should_cancel and should_cancel())

        meter = _Meter(progress, head.get("ContentLength", 0), "downloading", held=True)
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dgtui-delta")
        early: early_decode.EarlyDecode | None = None
        try:
            fetching = pool.submit(self.s3.get_to_file, bucket, stored_key, str(delta_tmp), progress=meter,
                                   should_cancel=stopped, etag=head.get("ETag", "").strip('"') or None,
                                   listed_size=head.get("ContentLength"))
            # A cached reference is not hashed before a restore: the rebuilt file is checked against
            # its stored sha256, and a damaged reference cannot rebuild bytes that pass that check.
            # Only when the rebuild fails is the cached copy hashed, and a damaged one dropped and
            # fetched again. A rescue's output has no sha256 to check, so its reference is hashed first.
            unchecked = not rescue and bool(parsed.ref_sha256)
            # A reference that has to be downloaded is rebuilt from as it arrives (``early_decode``);
            # what that rebuilds counts only if its sha256 is the stored one.
            if not rescue and parsed.file_sha256 and early_decode.available():
                early = early_decode.EarlyDecode(fetching, delta_tmp, tmp, limit=parsed.file_size,
                                                 should_cancel=stopped)
            try:
                ref_path, cache_hit, warning = self.reference_copy(
                    bucket, parsed.ref_key, parsed.ref_sha256, should_cancel, progress,
                    cached_fallback=not strict_reference, checked_cache=not unchecked, early=early)
            except BaseException:
                stop.set()
                if early is not None:
                    early.stop()
                _wait_quietly(fetching)
                raise
            meter.release()
            fetching.result()
            early_sha = early.result() if early is not None else None
            if progress:
                progress(0, parsed.file_size or 0, "rebuilding")
            if rescue:
                rescued = self._rescue(bucket, logical, ref_path, delta_tmp, dest, should_cancel, overwrite,
                                       head.get("LastModified"), real_root)
                rescued.reference_warning = warning
                return rescued
            rebuilt = None
            if progress:
                total = parsed.file_size or 0

                def rebuilt(size: int) -> None:
                    progress(min(size, total) if total else size, total, "rebuilding")
            expanded: errors.ExpansionError | None = None
            actual: str | None = early_sha if early_sha == parsed.file_sha256 else None
            if actual is not None:
                log.debug("%s: rebuilt while its reference downloaded", where(bucket, logical))
            while actual is None:
                expanded = None
                undecodable: errors.CodecError | None = None
                try:
                    actual = _decode_checked(ref_path, delta_tmp, tmp, parsed.file_sha256, should_cancel, rebuilt,
                                             limit=parsed.file_size)
                except errors.ExpansionError as exc:
                    # Recompressed through gzip & co. the output may well be longer than the original: that
                    # is DeltaGlider's recompression trap (rescuable), not a bomb. Anything else is refused.
                    expanded = exc
                except errors.CodecError as exc:
                    undecodable = exc
                if expanded is None and undecodable is None and actual == parsed.file_sha256:
                    break
                if unchecked and cache_hit and self._drop_if_damaged(parsed.ref_sha256):
                    # The cached copy was damaged (and is gone): rebuild once more from a fresh download.
                    unchecked = False
                    actual = None
                    ref_path, cache_hit, warning = self.reference_copy(
                        bucket, parsed.ref_key, parsed.ref_sha256, should_cancel, progress,
                        cached_fallback=not strict_reference)
                    if progress:
                        progress(0, parsed.file_size or 0, "rebuilding")
                    continue
                if undecodable is not None:
                    raise undecodable
                break
            if rebuilt is not None and expanded is None:
                rebuilt(os.path.getsize(tmp))
            if expanded is not None or actual != parsed.file_sha256:
                compressor = codec.external_compressor(delta_tmp)
                if expanded is not None and not compressor:
                    raise expanded
                if compressor:
                    raise errors.RecompressionError(
                        f"{where(bucket, logical)} was stored by DeltaGlider through {compressor} without -D, and "
                        f"recompressing it does not give the original bytes (sha256 differs); its {compressor}-"
                        f"decompressed contents can be rescued under another name",
                        compressor=compressor, bucket=bucket, key=logical)
                raise errors.IntegrityError(
                    f"the rebuilt {where(bucket, logical)} does not match its stored sha256; nothing was written",
                    bucket=bucket, key=logical)
            return DownloadResult(bucket=bucket, key=logical, path=str(dest), size=os.path.getsize(tmp),
                                  sha256=parsed.file_sha256, kind=ObjectKind.DELTA, verified=True,
                                  reference_cache_hit=cache_hit, reference_warning=warning)
        except errors.ExpansionError as exc:
            raise errors.ExpansionError(f"{where(bucket, stored_key)}: {exc}; nothing was written", limit=exc.limit,
                                        bucket=bucket, key=logical) from None
        except errors.CodecError as exc:
            raise errors.IntegrityError(
                f"the delta {where(bucket, stored_key)} could not be decoded ({exc}); it may be corrupted; "
                f"nothing was written", bucket=bucket, key=logical) from None
        finally:
            stop.set()
            if early is not None:
                early.stop()  # xdelta3 has exited before the delta it reads is removed
            pool.shutdown(wait=True)
            _discard(delta_tmp)

    def _drop_if_damaged(self, sha256: str | None) -> bool:
        """Hash the cached reference ``sha256``; True when it was damaged (it is dropped then)."""
        return bool(sha256) and self.references.get(sha256) is None  # type: ignore[arg-type]

    def _rescue(self, bucket, logical, ref_path, delta_path, dest: Path, should_cancel, overwrite,
                last_modified: object = None, real_root: str | None = None) -> DownloadResult:
        target = rescue_path_for(dest)
        real_root = real_root or os.path.realpath(target.parent)
        if _check_destination(target, real_root) and not overwrite:
            raise errors.DestinationExistsError(f"{display_key(str(target))} already exists")
        tmp = self._temp_beside(target)
        try:
            # Without recompression xdelta3 writes the payload it stored; its
            # window checksums (Adler-32) are checked while decoding.
            # The payload is the decompressed contents, larger than the recorded (compressed) size by
            # nature: the settings file's cap for deltas without a size bounds it.
            actual = codec.decode(ref_path, delta_path, tmp, should_cancel, recompress=False)
            _set_mtime(tmp, last_modified)
            self._commit(tmp, target, overwrite, real_root)
        finally:
            _discard(tmp)
        return DownloadResult(bucket=bucket, key=logical, path=str(target), size=os.path.getsize(target),
                              sha256=actual, kind=ObjectKind.DELTA, verified=False, rescued=True)

    @staticmethod
    def _temp_beside(dest: Path, suffix: str = ".part") -> Path:
        # Short fixed-length name: the target's own name may already be at the
        # file system's 255-byte limit. Locked while this process lives; what a
        # killed run left in this folder (unlocked) goes first.
        tempfiles.sweep_once(dest.parent, ".dgtui-*.part")
        return tempfiles.create(dest.parent, ".dgtui-", suffix)

    @staticmethod
    def _commit(tmp: Path, dest: Path, overwrite: bool, real_root: str) -> None:
        """Put the checked temp file under its name, durably.

        Without ``overwrite`` the name is claimed with a hard link, which fails
        if anything appeared there meanwhile (no window between a check and a
        rename); file systems without hard links fall back to an exclusive
        create of the name, then a rename over that placeholder. Neither a
        link nor a rename follows a symbolic link at ``dest``; the folder is
        checked once more, right before, to still lead inside ``real_root``.
        """
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        _check_destination(dest, real_root)
        if overwrite:
            os.replace(tmp, dest)
        else:
            try:
                os.link(tmp, dest)
            except FileExistsError:
                raise errors.DestinationExistsError(f"{display_key(str(dest))} already exists") from None
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV, errno.ENOTSUP):
                    raise
                try:
                    os.close(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
                except FileExistsError:
                    raise errors.DestinationExistsError(f"{display_key(str(dest))} already exists") from None
                os.replace(tmp, dest)
            else:
                os.unlink(tmp)
        fsync_dir(dest.parent)


def object_version_of(head: dict) -> str:
    """An object's version as a HEAD tells it: ETag, size and modification time."""
    modified = head.get("LastModified")
    stamp = modified.isoformat() if isinstance(modified, datetime) else str(modified or "")
    return f"{head.get('ETag', '').strip(chr(34))}|{head.get('ContentLength', '')}|{stamp}"


def rewritten_key(key: str) -> str:
    """Where a server that normalises keys as file paths (SeaweedFS) puts ``key``: backslashes as
    slashes, runs of slashes as one, no leading slash."""
    text = key.replace("\\", "/")
    while "//" in text:
        text = text.replace("//", "/")
    return text.lstrip("/")


def audit_url(bucket: str, key: str) -> str:
    """The ``dgtui audit`` argument for the folder holding ``key``."""
    folder = fmt.deltaspace_of(key)
    return display_key(f"s3://{bucket}/{folder}/" if folder else f"s3://{bucket}/", 300)


def check_free_space(folder: Path, need: int, what: str) -> None:
    """``LocalWriteError`` ("needs 8.2 GiB, 3.1 GiB free") when ``folder``'s file system cannot hold ``need`` bytes.

    Said before anything is written, instead of a full disk halfway. A folder
    not made yet is measured at its nearest existing parent; a file system that
    cannot be measured (one of no size, such as /proc) is left to the writes themselves.
    """
    if need <= 0:
        return
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    try:
        usage = shutil.disk_usage(probe)
    except OSError:
        return
    free = usage.free
    if usage.total and free < need:  # /proc and kin report no size at all: not measurable
        from .text import human_size

        raise errors.LocalWriteError(f"{what}: needs {human_size(need)}, {human_size(free)} free; nothing was written",
                                     reason="not enough free space")


def _check_destination(dest: Path, real_root: str) -> bool:
    """Whether something (a file, a link) is at ``dest``; ``LocalWriteError`` when ``dest`` must not be written.

    ``dest`` is a file's path: its folder, after symbolic links, must lie inside
    ``real_root``, and a folder (not a link to one) standing at ``dest`` is
    refused rather than written into. A link at ``dest`` is looked at, never
    followed.
    """
    real_parent = os.path.realpath(dest.parent)
    if os.path.commonpath([real_root, real_parent]) != real_root:
        raise errors.LocalWriteError(
            f"{display_key(str(dest))} leads outside the chosen folder {display_key(real_root)} (through a "
            f"symbolic link); nothing was written", reason="the destination leads outside the chosen folder")
    try:
        st = os.lstat(dest)
    except (FileNotFoundError, NotADirectoryError):
        return False
    if stat.S_ISDIR(st.st_mode):
        raise errors.LocalWriteError(
            f"a folder stands where the file {display_key(str(dest))} should go; nothing was written",
            reason="a folder stands where the file should go")
    return True


def _discard(path: Path) -> None:
    """Remove a temporary file if it is there; never raises.

    Used in ``finally`` blocks, where an unlink failing (e.g. ENOTDIR when a
    path component is a file) must not hide the error being raised.
    """
    try:
        path.unlink()
    except OSError:
        pass
    tempfiles.release(path)


#: S3's limit on user metadata: the UTF-8 bytes of every key and value added up
MAX_METADATA_BYTES = 2048


def check_metadata(meta: dict[str, str], *, what: str, reserved: bool = False) -> None:
    """Refuse metadata that S3 cannot carry, before anything is written.

    Metadata travels in HTTP headers: keys and values must be printable ASCII
    (botocore refuses anything else only when the request is sent, which for
    a delta is after its reference was written), and S3 keeps 2 KB at most.
    With ``reserved``, keys of DeltaGlider's own (``dg-``) are refused too:
    a caller's ``dg-file-sha256`` would replace the real one.
    """
    for k, v in meta.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise errors.MetadataError(f"{what}: metadata keys and values must be strings ({display_key(repr(k))})")
        if reserved and k.lower().startswith(("dg-", "dg_")):
            raise errors.MetadataError(f"{what}: the metadata key {display_key(k, 80)} is DeltaGlider's own; "
                                       f"nothing was written")
        for text, part in ((k, "key"), (v, "value")):
            if not (text.isascii() and text.isprintable()):
                raise errors.MetadataError(
                    f"{what}: the metadata {part} {display_key(repr(text), 80)} is not printable ASCII, "
                    f"which S3 metadata cannot carry; nothing was written")
    total = sum(len(k.encode()) + len(v.encode()) for k, v in meta.items())
    if total > MAX_METADATA_BYTES:
        raise errors.MetadataError(f"{what}: {total} bytes of metadata, more than S3's limit of "
                                   f"{MAX_METADATA_BYTES}; nothing was written")


def delta_metadata_problem(key: str, ref_key: str, extra_metadata: dict[str, str] | None) -> str | None:
    """Why a delta of ``key`` could not carry its metadata (it is then stored whole), or None."""
    if not (ref_key.isascii() and ref_key.isprintable()):
        return ("the folder name is not printable ASCII, and a delta names its reference in metadata, "
                "which carries ASCII only")
    name = key.rsplit("/", 1)[-1]
    probe = fmt.delta_metadata(version="0.0.0", original_name=name, file_sha256="0" * 64, file_size=2**40,
                               ref_key=ref_key, ref_sha256="0" * 64, delta_size=2**40, zero_diff=True,
                               md5="0" * 32)
    probe.update(extra_metadata or {})
    total = sum(len(k.encode()) + len(v.encode()) for k, v in probe.items())
    if total > MAX_METADATA_BYTES:
        return f"a delta's metadata would be {total} bytes, more than S3's limit of {MAX_METADATA_BYTES}"
    return None


def _source_snapshot(path: Path) -> tuple[int, int, int, int]:
    """(size, mtime, inode, device) of a file to upload; changes mean the file was rewritten meanwhile."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise errors.SourceNotFoundError(f"cannot read {display_key(str(path))}: no such file") from None
    except OSError as exc:
        raise errors.SourceFileError(f"cannot read {display_key(str(path))}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise errors.SourceFileError(f"not a file: {display_key(str(path))}")
    return st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev


def _compressed_reason(compressed: str) -> str:
    return (f"deltaspace's reference is {compressed}-compressed, and DeltaGlider 6.2.0 cannot rebuild "
            f"exact bytes from deltas against such a reference")


def _decode_checked(ref_path: Path, delta: Path, out: Path, want_sha: str | None,
                    should_cancel: ShouldCancel | None, written: Callable[[int], None] | None = None, *,
                    limit: int | None = None) -> str:
    """Decode as DeltaGlider does; if that fails or differs, try once with -D. Returns the output's sha256.

    A delta made with -D against a gzip/bzip2/xz reference decodes only with
    -D (xdelta3 would otherwise decompress the reference first). ``limit`` is
    the recorded size (None: none recorded); past it the decode stops
    (``ExpansionError``) and its output is removed.
    """
    failure: errors.CodecError | errors.ExpansionError | None = None
    try:
        actual = codec.decode(ref_path, delta, out, should_cancel, written=written, limit=limit)
        if actual == want_sha or not codec.compressed_format(ref_path):
            return actual
    except (errors.CodecError, errors.ExpansionError) as exc:
        failure = exc
        if not codec.compressed_format(ref_path):
            raise
    try:
        return codec.decode(ref_path, delta, out, should_cancel, decompress_source=False, limit=limit)
    except errors.CodecError:
        if failure is not None:
            raise failure from None
        return codec.decode(ref_path, delta, out, should_cancel, limit=limit)  # keep the first attempt's output


def _wait_quietly(future: Future) -> None:
    """Wait for a task being stopped; what it ends in no longer matters."""
    try:
        future.result()
    except BaseException:  # noqa: BLE001 - it was told to stop; the caller raises its own error
        pass


def _set_mtime(path: Path, last_modified: object) -> None:
    """The restored file carries the object's modification time (as ``aws s3 cp`` and rsync do)."""
    timestamp = getattr(last_modified, "timestamp", None)
    if timestamp is None:
        return
    try:
        moment = timestamp()
        os.utime(path, (moment, moment))
    except (OSError, ValueError, OverflowError):
        pass


def rescue_path_for(dest: Path) -> Path:
    """Where rescued, decompressed contents go: never the original's name."""
    return dest.with_name(dest.name + ".decompressed")


def _discard_temp(path: Path) -> None:
    path.unlink(missing_ok=True)
    tempfiles.release(path)


def md5_file(path: str | Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb", buffering=0) as f:
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def proxy_encrypted_error(bucket: str, key: str, scheme: str, what: str | None = None) -> errors.ProxyEncryptedError:
    subject = f"{what} {where(bucket, key)}" if what else where(bucket, key)
    return errors.ProxyEncryptedError(
        f"{subject} is encrypted by deltaglider_proxy ({scheme}); read it through the proxy; nothing was written",
        scheme=scheme, bucket=bucket, key=key)


def _is_md5(etag: str) -> bool:
    return len(etag) == 32 and all(c in "0123456789abcdef" for c in etag.lower())


class _Deferred:
    """A value worked out when first asked for, with a Future's ``result()``."""

    def __init__(self, compute: Callable[[], str]):
        self._compute = compute

    def result(self) -> str:
        return self._compute()


class _ZeroDiff:
    """A first version's delta against itself (the cache's copy, or the file, against itself), encoded and
    checked by decoding it into a hash, on a pool thread from the moment it is made.

    Made from the file itself, ``changed`` says whether the file changed since it was hashed: a delta
    that does not rebuild the hashed bytes from a file that changed is ``SourceChangedError``."""

    def __init__(self, source: Path, sha256: str, md5: str, size: int, work_dir: Path,
                 should_cancel: ShouldCancel | None, changed: Callable[[], bool] | None = None):
        self.source, self.sha256, self.md5, self.size = source, sha256, md5, size
        self._should_cancel = should_cancel
        self._changed = changed
        self._stop = threading.Event()
        self._folder = Path(tempfile.mkdtemp(prefix="dgtui-up-", dir=work_dir))
        tempfiles.register(self._folder)
        self._future = _HASH_POOL.submit(self._make)

    def _stopped(self) -> bool:
        return self._stop.is_set() or bool(self._should_cancel and self._should_cancel())

    def _make(self) -> tuple[Path, int, int]:
        delta = self._folder / "delta"
        for level in encoder_levels(self.size):
            # A file against itself: one copy a window at any level, so the first level tried is kept.
            delta_size = codec.encode(self.source, self.source, delta, self._stopped, level=level)
            if delta_size <= self.size * FAST_FIRST_SHARE:
                break
        # DeltaGlider 6.2.0's own decode command, into a hash: what passes here restores there.
        try:
            rebuilt: str | None = codec.decode_sha256(self.source, delta, self._stopped, limit=self.size)
        except (errors.CodecError, errors.ExpansionError):
            rebuilt = None
        if rebuilt != self.sha256:
            if self._changed is not None and self._changed():
                raise errors.SourceChangedError(
                    f"{display_key(str(self.source))} changed while it was uploaded; what was written for it has been "
                    f"removed; upload it again once it is complete")
            raise errors.IntegrityError("the zero-diff delta did not rebuild the file")
        return delta, delta_size, level

    def result(self) -> tuple[Path, int, int]:
        """(delta file, its size, the encoder level)."""
        return self._future.result()

    def discard(self) -> None:
        self._stop.set()
        _wait_quietly(self._future)
        shutil.rmtree(self._folder, ignore_errors=True)
        tempfiles.release(self._folder)


class _SourceHashes:
    """sha256 and MD5 of a file to upload, both read (in parallel) on the first request only."""

    def __init__(self, path: Path, progress: Progress | None, size: int):
        self.path, self.progress, self.size = path, progress, size
        self._lock = threading.Lock()
        self._sha: Future | None = None
        self._md5: Future | None = None

    @property
    def started(self) -> bool:
        return self._sha is not None

    def _start(self) -> tuple[Future, Future]:
        with self._lock:
            if self._sha is None or self._md5 is None:
                self._sha = _HASH_POOL.submit(sha256_file, self.path, _Meter(self.progress, self.size, "hashing"))
                self._md5 = _HASH_POOL.submit(md5_file, self.path)
            return self._sha, self._md5

    def sha256(self) -> str:
        return self._start()[0].result()

    def md5(self) -> str:
        return self._start()[1].result()


class _Counter:
    """A hasher that counts: the bytes it is fed go to a progress meter."""

    def __init__(self, meter: _Meter):
        self.meter = meter
        self.total = 0

    def update(self, data: bytes | memoryview, /) -> None:
        self.total += len(data)
        self.meter(len(data))


class _Advancing:
    """A download's sha256 that tells ``early`` of each piece it hashed (written to ``path``, in order)."""

    def __init__(self, sha: Any, early: early_decode.EarlyDecode, path: str):
        self.sha, self.early, self.path = sha, early, path

    def update(self, data: bytes | memoryview, /) -> None:
        self.sha.update(data)
        self.early.advanced(self.path, len(data))


class _Tee:
    def __init__(self, *hashers):
        self.hashers = [h for h in hashers if h is not None]

    def update(self, data: bytes) -> None:
        for h in self.hashers:
            h.update(data)
