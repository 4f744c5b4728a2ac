"""The rest of DeltaGlider 6.2.0's client surface, for scripts that move to dgtui.

Batch and chunked transfers, compression estimates, presigned URLs (a delta
is rebuilt under ``.deltaglider/tmp/`` with an expiry, as DeltaGlider does,
and presigned there), recursive delete, bucket ACLs, and boto3 calls that the
SDK does not wrap, passed to boto3 unchanged.
"""

from __future__ import annotations

import re
import tempfile
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import botocore.exceptions as bexc

from . import codec, errors
from . import format as fmt
from .listing import iter_raw_pages
from .models import ObjectKind, UploadSummary
from .responses import CompressionEstimate
from .s3 import display_key, translate, where

if TYPE_CHECKING:
    from .cache import ReferenceCache
    from .engine import Engine
    from .models import BucketStats, DownloadResult, ListObjectsResult
    from .s3 import S3Access

#: extensions DeltaGlider's estimate treats as already compressed media
_MEDIA = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".mp4", ".mp3", ".avi", ".mov", ".mkv"}
_VERSION = re.compile(r"v?\d+[.\d]*")


def check_params(method: str, given: dict[str, Any], supported: frozenset[str] | set[str]) -> None:
    """Refuse keyword arguments the SDK would otherwise drop without a word."""
    unknown = sorted(k for k in given if k not in supported)
    if unknown:
        also = f" (supported: {', '.join(sorted(supported))})" if supported else ""
        raise errors.UnsupportedParameterError(
            f"{method}() does not support the parameter{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(unknown)}{also}")


def _bucket_call(what: str, bucket: str | None, call: Callable[[], Any], endpoint: str) -> Any:
    """A bucket-level boto3 call; failures are DgErrors that are also RuntimeErrors, as in DeltaGlider."""
    try:
        return call()
    except errors.DgError as exc:
        raise errors.as_runtime_error(exc, f"Failed to {what}: {exc}") from None
    except (bexc.BotoCoreError, bexc.ClientError, ConnectionError) as exc:
        err = translate(exc, bucket=bucket, endpoint=endpoint, action=what)
        raise errors.as_runtime_error(err, f"Failed to {what}: {err}") from None


class _Storage:
    def __init__(self, client: Any):
        self.client = client


class _Service:
    """``client.service.storage.client``: the raw boto3 client, where DeltaGlider scripts reach for it."""

    def __init__(self, client: Any):
        self.storage = _Storage(client)


class DeltaGliderCompat:
    """Mixed into ``DgClient``: DeltaGlider 6.2.0's calls that dgtui had no counterpart for."""

    if TYPE_CHECKING:  # provided by DgClient
        _s3: S3Access
        _engine: Engine
        _stats_cache: dict[str, dict[str, BucketStats]]
        work_dir: Path
        reference_cache: ReferenceCache

        def upload(self, *args: Any, **kwargs: Any) -> UploadSummary: ...
        def download(self, *args: Any, **kwargs: Any) -> DownloadResult: ...
        def restore_file(self, *args: Any, **kwargs: Any) -> DownloadResult: ...
        def delete_object(self, *args: Any, **kwargs: Any) -> dict[str, Any]: ...
        def iter_pages(self, *args: Any, **kwargs: Any) -> Iterator[ListObjectsResult]: ...

    # -- raw boto3 -----------------------------------------------------------
    @property
    def service(self) -> _Service:
        """Only ``service.storage.client`` (the raw boto3 client), as DeltaGlider scripts use it."""
        return _Service(self._s3.client)

    def __getattr__(self, name: str) -> Any:
        """boto3 calls the SDK does not wrap, passed through unchanged.

        Bucket-level and account-level operations (``put_bucket_versioning``,
        ``put_bucket_policy``, ``get_bucket_lifecycle_configuration``, ...) go
        to boto3 as they are. Calls on object keys and raw listings would see
        DeltaGlider's stored keys (``.delta``, ``reference.bin``), not files,
        so they are not passed: use ``client.boto3_client`` for raw access.
        """
        if name.startswith("_"):
            raise AttributeError(name)
        s3 = self.__dict__.get("_s3")
        raw = getattr(s3, "client", None)
        if raw is None:
            raise AttributeError(name)
        operation = raw.meta.method_to_api_mapping.get(name)
        if operation is None:
            if hasattr(raw, name):  # boto3's helpers (upload_file, get_paginator, ...) work on stored keys
                raise AttributeError(f"{name} is boto3's and works on stored keys (.delta objects, reference.bin); "
                                     f"the SDK does not pass it through: use client.boto3_client.{name}")
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")
        model = raw.meta.service_model.operation_model(operation)
        members = model.input_shape.members if model.input_shape is not None else {}
        if "Key" in members or name.startswith("list_object"):
            raise AttributeError(
                f"{name} works on stored keys (.delta objects, reference.bin), not on files; "
                f"the SDK does not pass it through: use client.boto3_client.{name} for raw access")
        return getattr(raw, name)

    # -- batches -------------------------------------------------------------
    def upload_batch(self, files: list[str | Path], s3_prefix: str, max_ratio: float | None = None,
                     progress_callback: Callable[[str, int, int], None] | None = None) -> list[UploadSummary]:
        """Upload files into one prefix, in order; ``progress_callback(name, index, total)`` before each."""
        results = []
        prefix = s3_prefix if s3_prefix.endswith("/") else s3_prefix + "/"
        for i, f in enumerate(files):
            path = Path(f)
            if progress_callback:
                progress_callback(path.name, i + 1, len(files))
            results.append(self.upload(path, prefix + path.name, max_ratio=max_ratio))
        return results

    def download_batch(self, s3_urls: list[str], output_dir: str | Path,
                       progress_callback: Callable[[str, int, int], None] | None = None,
                       overwrite: bool = True) -> list[Path]:
        """Restore objects into one folder under their names; returns the paths written."""
        from .paths import parse_s3_url, safe_relative_path

        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for i, url in enumerate(s3_urls):
            bucket, key = parse_s3_url(url, need_key=True)
            name = fmt.logical_key_of(key).rsplit("/", 1)[-1]
            rel, problem = safe_relative_path(name, "")
            if rel is None:
                raise errors.InvalidKeyError(f"cannot make a file name from {where(bucket, key)}: {problem}")
            if progress_callback:
                progress_callback(name, i + 1, len(s3_urls))
            self.restore_file(url, out / rel, root=out, overwrite=overwrite)
            paths.append(out / rel)
        return paths

    def upload_chunked(self, file_path: str | Path, s3_url: str, chunk_size: int = 5 * 1024 * 1024,
                       progress_callback: Callable[[int, int, int, int], None] | None = None,
                       max_ratio: float | None = None) -> UploadSummary:
        """Upload with ``progress_callback(chunk, chunks, bytes, total)`` as the file is read.

        The file is streamed (never held in memory); chunks are counted over
        the bytes read, and the last call comes once the upload is stored.
        """
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        path = Path(file_path)
        total = path.stat().st_size if path.is_file() else 0
        chunks = max(1, (total + chunk_size - 1) // chunk_size)
        reported = [0]

        def progress(done: int, _total: int, stage: str) -> None:
            # the stage that reads the file: hashing, or for a delta the encoder's feed, which hashes it
            if progress_callback is None or stage not in ("hashing", "encoding") or not total:
                return
            chunk = min(chunks, done // chunk_size)
            if chunk > reported[0] and chunk < chunks:
                reported[0] = chunk
                progress_callback(chunk, chunks, chunk * chunk_size, total)

        summary = self.upload(path, s3_url, max_ratio=max_ratio, progress=progress)
        if progress_callback:
            progress_callback(chunks, chunks, total, total)
        return summary

    # -- estimates -------------------------------------------------------------
    def find_similar_files(self, bucket: str, prefix: str, filename: str,
                           limit: int = 5) -> list[dict[str, Any]]:
        """Objects under ``prefix`` whose names look like other versions of ``filename``, best first."""
        base, ext = PurePosixPath(filename).stem, PurePosixPath(filename).suffix
        scored: list[tuple[float, dict[str, Any]]] = []
        for page in self.iter_pages(bucket, prefix, delimiter=None):
            for obj in page.contents:
                name = PurePosixPath(obj.key)
                score = 0.0
                if ext and name.suffix == ext:
                    score += 0.5
                if base and (base in name.stem or name.stem in base):
                    score += 0.3
                if _VERSION.search(base) and _VERSION.search(name.stem):
                    score += 0.2
                if score > 0.5:
                    scored.append((score, {"Key": obj.key, "Size": obj.size, "Similarity": round(score, 2),
                                           "LastModified": obj.last_modified}))
        scored.sort(key=lambda pair: -pair[0])
        return [entry for _, entry in scored[:limit]]

    def estimate_compression(self, file_path: str | Path, bucket: str, prefix: str = "",
                             sample_size: int = 1024 * 1024) -> CompressionEstimate:
        """What uploading ``file_path`` into ``prefix`` would store, by dgtui's own rules.

        Files dgtui stores whole (not delta-eligible, gzip-like next to no
        reference) get ``should_use_delta=False``. With a reference in the
        deltaspace, the first ``sample_size`` bytes are really encoded
        against it and the saving is measured; the first file of a deltaspace
        becomes its reference (``estimated_ratio`` 0).
        """
        path = Path(file_path)
        size = path.stat().st_size
        name = path.name
        if path.suffix.lower() in _MEDIA or not fmt.is_delta_eligible(name):
            return CompressionEstimate(size, size, 0.0, 0.95 if path.suffix.lower() in _MEDIA else 0.9,
                                       should_use_delta=False)
        deltaspace = prefix.strip("/")
        ref_key = fmt.reference_key_for(deltaspace)
        head = self._s3.head(bucket, ref_key)
        if head is None:
            if codec.compressed_format(path):
                return CompressionEstimate(size, size, 0.0, 0.9, should_use_delta=False)
            return CompressionEstimate(size, size, 0.0, 0.9, recommended_reference=None, should_use_delta=True)
        ref_sha = fmt.parse_metadata(ref_key, head.get("Metadata", {})).file_sha256
        if not ref_sha:
            return CompressionEstimate(size, size, 0.0, 0.5, should_use_delta=False)
        ref_path, _ = self._engine.fetch_reference(bucket, ref_key, ref_sha)
        if codec.compressed_format(ref_path):
            return CompressionEstimate(size, size, 0.0, 0.9, recommended_reference=ref_key, should_use_delta=False)
        with tempfile.TemporaryDirectory(prefix="dgtui-estimate-", dir=self.work_dir) as tmp:
            sample = Path(tmp) / "sample"
            with open(path, "rb") as src, open(sample, "wb") as dst:
                dst.write(src.read(max(1, sample_size)))
            sampled = sample.stat().st_size
            delta = codec.encode(ref_path, sample, Path(tmp) / "delta", None)
        stored = int(size * (delta / sampled)) if sampled else 0
        ratio = max(0.0, 1 - stored / size) if size else 0.0
        return CompressionEstimate(size, stored, ratio, 1.0 if sampled == size else 0.8,
                                   recommended_reference=ref_key, should_use_delta=stored <= size * 0.5)

    # -- presigned URLs and rehydration ------------------------------------------------
    def rehydrate_for_download(self, Bucket: str, Key: str, ExpiresIn: int = 3600) -> str | None:
        """Rebuild a delta under ``.deltaglider/tmp/`` with ``dg-expires-at``; returns that key.

        None for objects stored whole, which can be downloaded as they are.
        The copy is rebuilt and checked against its sha256 before it is
        written; ``purge_temp_files`` (ours or DeltaGlider's) deletes it once
        expired, and each rehydration first purges the bucket's expired copies.
        """
        stored_key, _ = self._engine.resolve(Bucket, Key)
        if not stored_key.endswith(fmt.DELTA_SUFFIX):
            return None
        logical = fmt.logical_key_of(stored_key)
        name = logical.rsplit("/", 1)[-1]
        temp_key = f"{fmt.TMP_PREFIX}{uuid.uuid4().hex}_{name}"
        self.purge_temp_files(Bucket)  # before ours is written: even a copy that expires at once is served
        with tempfile.TemporaryDirectory(prefix="dgtui-rehydrate-", dir=self.work_dir) as tmp:
            local = Path(tmp) / "file"
            self._engine.restore(Bucket, stored_key, local)
            meta = {"dg-expires-at": fmt.expiry_iso(ExpiresIn), "dg-original-key": fmt.header_safe(stored_key),
                    "dg-original-filename": fmt.header_safe(name), "dg-rehydrated": "true",
                    "dg-created-at": fmt.utc_now_iso(False)}
            self._s3.put_file(Bucket, temp_key, str(local), meta)
        return temp_key

    def generate_presigned_url(self, ClientMethod: str, Params: dict[str, Any],
                               ExpiresIn: int = 3600) -> str:
        """A presigned URL, as boto3's; a ``get_object`` URL for a delta serves the rebuilt file.

        A delta has no object under its name, so it is rehydrated first (see
        ``rehydrate_for_download``) and the URL names the original file in
        ``Content-Disposition``. A ``put_object`` URL writes a plain object,
        not a delta; DeltaGlider's own keys are refused.
        """
        params = dict(Params)
        bucket, key = params.get("Bucket"), params.get("Key")
        if ClientMethod == "get_object" and bucket and key and "VersionId" not in params:
            try:
                temp = self.rehydrate_for_download(bucket, key, ExpiresIn)
                stored = temp or self._engine.resolve(bucket, key)[0]
            except errors.NotFoundError:
                temp, stored = None, key  # nothing there (yet): the URL names the key, as boto3's does
            params["Key"] = stored
            if temp is not None:
                name = fmt.logical_key_of(key).rsplit("/", 1)[-1]
                params.setdefault("ResponseContentDisposition", f'attachment; filename="{fmt.header_safe(name)}"')
        elif ClientMethod in ("put_object", "upload_part", "create_multipart_upload") and key:
            reason = fmt.refuse_reason_for_upload_key(key)
            if reason:
                raise errors.InvalidKeyError(f"refusing to presign an upload to {where(bucket, key)}: {reason}")
        with self._s3.ctx(bucket, key, "presign"):
            return str(self._presigner().generate_presigned_url(ClientMethod, Params=params, ExpiresIn=ExpiresIn))

    def _presigner(self) -> Any:
        """A client that presigns with SigV4: botocore may pick SigV2 for presigned URLs, which AWS
        refuses in newer regions and some servers refuse with ``response-*`` parameters."""
        presigner = self.__dict__.get("_presign_client")
        if presigner is None:
            from botocore.config import Config

            raw = self._s3.client
            presigner = self._s3.session.client("s3", endpoint_url=raw.meta.endpoint_url,
                                                region_name=raw.meta.region_name,
                                                config=raw.meta.config.merge(Config(signature_version="s3v4")))
            self.__dict__["_presign_client"] = presigner
        return presigner

    def generate_presigned_url_with_rehydration(self, Bucket: str, Key: str, ExpiresIn: int = 3600) -> str:
        return self.generate_presigned_url("get_object", {"Bucket": Bucket, "Key": Key}, ExpiresIn)

    def generate_presigned_post(self, Bucket: str, Key: str, Fields: dict[str, str] | None = None,
                                Conditions: list[Any] | None = None, ExpiresIn: int = 3600) -> dict[str, Any]:
        """boto3's presigned POST (a plain upload, not a delta); DeltaGlider's own keys are refused."""
        reason = fmt.refuse_reason_for_upload_key(Key)
        if reason:
            raise errors.InvalidKeyError(f"refusing to presign an upload to {where(Bucket, Key)}: {reason}")
        with self._s3.ctx(Bucket, Key, "presign"):
            return dict(self._presigner().generate_presigned_post(Bucket=Bucket, Key=Key, Fields=Fields,
                                                                 Conditions=Conditions, ExpiresIn=ExpiresIn))

    def purge_temp_files(self, Bucket: str) -> dict[str, Any]:
        """Delete expired copies under ``.deltaglider/tmp/`` (``dg-expires-at`` passed), as DeltaGlider does."""
        started = datetime.now(UTC)
        deleted = expired = failed = freed = 0
        problems: list[str] = []
        with self._s3.ctx(Bucket, fmt.TMP_PREFIX, "list"):
            objects = [o for _, raw in iter_raw_pages(self._s3.client, Bucket, fmt.TMP_PREFIX) for o in raw.objects]
        for key, size, *_ in objects:
            try:
                head = self._s3.head(Bucket, key)
                text = (head or {}).get("Metadata", {}).get("dg-expires-at")
                if not text:
                    continue
                when = datetime.fromisoformat(text)  # "Z" too, since Python 3.11
                if when.tzinfo is None:
                    when = when.replace(tzinfo=UTC)
                if datetime.now(UTC) >= when:
                    expired += 1
                    if not self._s3.delete_keys(Bucket, [key]):
                        deleted += 1
                        freed += size
            except (errors.DgError, ValueError) as exc:
                failed += 1
                problems.append(f"Error processing {display_key(key)}: {exc}")
        return {"bucket": Bucket, "prefix": fmt.TMP_PREFIX, "deleted_count": deleted, "expired_count": expired,
                "error_count": failed, "total_size_freed": freed,
                "duration_seconds": (datetime.now(UTC) - started).total_seconds(), "errors": problems}

    # -- deletes ------------------------------------------------------------------
    def delete_objects_recursive(self, Bucket: str, Prefix: str, **kwargs: Any) -> dict[str, Any]:
        """Delete an object and/or everything under a folder, references included.

        ``Prefix`` without a trailing ``/`` deletes the object of that name
        (or its ``.delta``) and the folder ``Prefix/``, never other keys that
        merely start with it. An empty prefix deletes the whole bucket's objects.
        """
        check_params("delete_objects_recursive", kwargs, set())
        info = {"DeltasDeleted": 0, "ReferencesDeleted": 0, "DirectDeleted": 0, "OtherDeleted": 0}
        singles: list[dict[str, Any]] = []
        errs: list[str] = []
        deleted = 0
        if Prefix and not Prefix.endswith("/") and not fmt.is_internal_key(Prefix):
            try:
                result = self.delete_object(Bucket=Bucket, Key=Prefix)
            except errors.DgError as exc:
                errs.append(f"Failed to delete {display_key(Prefix)}: {exc}")
            else:
                dg = result["DeltaGliderInfo"]
                if dg["Deleted"]:
                    deleted += 1
                    kind = dg["Type"] if dg["Type"] in ("delta", "direct") else "other"
                    info[{"delta": "DeltasDeleted", "direct": "DirectDeleted"}.get(kind, "OtherDeleted")] += 1
                    info["ReferencesDeleted"] += len(result["RemovedReferences"])
                    deleted += len(result["RemovedReferences"])
                    detail = {"Key": Prefix, "Type": dg["Type"], "DependentDeltas": 0, "Warnings": []}
                    if dg.get("StoredKey") and dg["StoredKey"] != Prefix:
                        detail["StoredKey"] = dg["StoredKey"]
                    singles.append(detail)
        folder = Prefix if not Prefix or Prefix.endswith("/") else Prefix + "/"
        stored: list[str] = []
        for page in self.iter_pages(Bucket, folder, delimiter=None):
            stored += [o.stored_key for o in page.contents] + [h.key for h in page.hidden]
        for key in stored:
            if key.endswith(fmt.DELTA_SUFFIX):
                info["DeltasDeleted"] += 1
            elif fmt.is_reference_key(key):
                info["ReferencesDeleted"] += 1
            elif fmt.is_internal_key(key):
                info["OtherDeleted"] += 1
            else:
                info["DirectDeleted"] += 1
        # deltas and other objects first, references last: a failure never leaves deltas without theirs
        ordered = [k for k in stored if not fmt.is_reference_key(k)] + [k for k in stored if fmt.is_reference_key(k)]
        try:
            failures = self._s3.delete_keys(Bucket, ordered)
        except errors.DgError as exc:
            failures = [(k, str(exc)) for k in ordered]
        for key, message in failures:
            errs.append(f"Failed to delete {display_key(key)}: {message}")
            kind = ("DeltasDeleted" if key.endswith(fmt.DELTA_SUFFIX) else "ReferencesDeleted"
                    if fmt.is_reference_key(key) else "OtherDeleted" if fmt.is_internal_key(key) else "DirectDeleted")
            info[kind] -= 1
        deleted += len(stored) - len(failures)
        self._forget_stats(Bucket)
        response: dict[str, Any] = {"ResponseMetadata": {"HTTPStatusCode": 200}, "DeletedCount": deleted,
                                    "FailedCount": len(errs), "DeltaGliderInfo": dict(info)}
        if singles:
            response["DeltaGliderInfo"]["SingleDeletes"] = singles
        if errs:
            response["Errors"] = errs
        return response

    # -- bucket ACLs -----------------------------------------------------------
    def put_bucket_acl(self, Bucket: str, ACL: str | None = None,
                       AccessControlPolicy: dict[str, Any] | None = None, GrantFullControl: str | None = None,
                       GrantRead: str | None = None, GrantReadACP: str | None = None, GrantWrite: str | None = None,
                       GrantWriteACP: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """boto3's ``put_bucket_acl``; failures are also ``RuntimeError`` ("Failed to set bucket ACL: ...")."""
        params = {k: v for k, v in {"ACL": ACL, "AccessControlPolicy": AccessControlPolicy,
                                    "GrantFullControl": GrantFullControl, "GrantRead": GrantRead,
                                    "GrantReadACP": GrantReadACP, "GrantWrite": GrantWrite,
                                    "GrantWriteACP": GrantWriteACP, **kwargs}.items() if v is not None}
        _bucket_call("set bucket ACL", Bucket, lambda: self._s3.client.put_bucket_acl(Bucket=Bucket, **params),
                     self._s3.endpoint_url)
        return {"ResponseMetadata": {"HTTPStatusCode": 200}}

    def get_bucket_acl(self, Bucket: str, **kwargs: Any) -> dict[str, Any]:
        """boto3's ``get_bucket_acl``; failures are also ``RuntimeError`` ("Failed to get bucket ACL: ...")."""
        return dict(_bucket_call("get bucket ACL", Bucket,
                                 lambda: self._s3.client.get_bucket_acl(Bucket=Bucket, **kwargs),
                                 self._s3.endpoint_url))

    # -- caches ---------------------------------------------------------------------
    def clear_cache(self) -> None:
        """Forget cached references (on disk) and this client's remembered bucket statistics."""
        self._stats_cache.clear()
        for entry in self.reference_cache.dir.iterdir():
            try:
                entry.unlink()
            except OSError:
                continue

    def _remember_stats(self, bucket: str, mode: str, stats: Any) -> None:
        self._stats_cache.setdefault(bucket, {})[mode] = stats

    def _forget_stats(self, bucket: str) -> None:
        self._stats_cache.pop(bucket, None)

    def _cached_stats_entry(self, bucket: str) -> dict[str, Any] | None:
        cached = self._stats_cache.get(bucket) or {}
        for mode in ("detailed", "sampled", "quick"):
            stats = cached.get(mode)
            if stats is not None:
                return {"Cached": True, "Mode": mode, "Detailed": mode == "detailed",
                        "ObjectCount": stats.object_count, "TotalSize": stats.total_size,
                        "CompressedSize": stats.compressed_size, "SpaceSaved": stats.space_saved,
                        "AverageCompressionRatio": stats.average_compression_ratio,
                        "DeltaObjects": stats.delta_objects, "DirectObjects": stats.direct_objects}
        return None


def object_type(stored_key: str, kind: ObjectKind | None) -> str:
    """DeltaGlider's delete ``Type``: delta, direct (written by DeltaGlider or dgtui) or other."""
    if stored_key.endswith(fmt.DELTA_SUFFIX):
        return "delta"
    return "direct" if kind == ObjectKind.DIRECT else "other"
