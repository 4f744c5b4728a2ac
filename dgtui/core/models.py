"""Result types of the dgtui SDK.

Names and meanings follow DeltaGlider's SDK so that code written for it ports
unchanged; fields that DeltaGlider lacks are documented where they appear.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Iterator


class ObjectKind(str, Enum):
    """How an object is stored.

    ``DELTA`` is known from the listing alone (the stored key ends in
    ``.delta``). Telling ``DIRECT`` (written by DeltaGlider or dgtui, carries a
    sha256) from ``PLAIN`` (written by another tool) needs the object's
    metadata; until it has been fetched a non-delta object is ``UNKNOWN``.
    """

    DELTA = "delta"
    DIRECT = "direct"
    PLAIN = "plain"
    UNKNOWN = "unknown"


@dataclass(slots=True)
class ObjectInfo:
    """One logical object: what users see, with the stored object behind it.

    Sizes that come from metadata (``original_size``, ``compression_ratio``)
    are ``None`` until the metadata has been fetched.
    """

    key: str  #: logical key (``.delta`` stripped)
    size: int  #: stored bytes (the delta body for a delta)
    last_modified: str  #: ISO-8601 as S3 reports it, e.g. ``2026-11-25T04:49:49.000Z``
    etag: str | None = None
    storage_class: str = "STANDARD"
    is_delta: bool = False
    stored_key: str = ""  #: the key in the bucket (``<key>.delta`` for a delta)
    kind: ObjectKind = ObjectKind.UNKNOWN
    original_size: int | None = None
    compressed_size: int | None = None
    #: the fraction saved, 1 - stored / original (0.99: stored 99% smaller), as DeltaGlider's
    #: ``average_compression_ratio`` and as its examples read it; ``None`` until known
    compression_ratio: float | None = None
    reference_key: str | None = None
    # Filled once metadata has been fetched (HEAD or the metadata cache):
    metadata_loaded: bool = False
    file_sha256: str | None = None
    ref_sha256: str | None = None
    tool: str | None = None
    created_at: str | None = None
    note: str | None = None
    original_name: str | None = None
    #: why the metadata cannot be trusted, e.g. "file size is not a number" (``answer_problem`` included)
    metadata_problem: str | None = None
    #: what the server said of this object that cannot be read (a negative size, a date that is none):
    #: one object's problem, reported on it, while the rest of the listing or command goes on
    answer_problem: str | None = None
    #: False when the listing gave no valid size (``size`` is 0 then, and shows as unknown)
    size_known: bool = True
    metadata: dict[str, str] = field(default_factory=dict)
    #: deltaglider_proxy's own encryption scheme: only the proxy can read the body
    encryption: str | None = None
    #: a proxy replica stored without sha256: restores check its size only
    sha256_missing: bool = False
    #: the stored key of an older copy beside this one (``<name>`` and ``<name>.delta`` both exist)
    older_copy_key: str | None = None
    #: deltaglider_proxy's coordination keys (``_dgp/``): housekeeping, not a user file
    housekeeping: bool = False

    @property
    def savings_percent(self) -> float | None:
        if self.original_size is None or self.original_size == 0:
            return None
        return (1 - self.size / self.original_size) * 100

    @property
    def delta_chain_length(self) -> int:
        """DeltaGlider's field: 1 for a delta (always made against its folder's reference), else 0."""
        return 1 if self.is_delta else 0

    @property
    def name(self) -> str:
        """The last path segment of the logical key."""
        return self.key.rsplit("/", 1)[-1]

    def to_boto3(self) -> dict[str, Any]:
        return {
            "Key": self.key,
            "Size": self.size,
            "LastModified": parse_s3_time(self.last_modified),
            "ETag": f'"{self.etag}"' if self.etag else None,
            "StorageClass": self.storage_class,
        }


def parse_s3_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass(slots=True)
class ListObjectsResult:
    """One page of a logical listing.

    Answers DeltaGlider's attribute names and boto3's dict keys
    (``result["Contents"]``, ``result.get("NextContinuationToken")``).
    """

    name: str
    prefix: str = ""
    delimiter: str = ""
    max_keys: int = 1000
    contents: list[ObjectInfo] = field(default_factory=list)
    common_prefixes: list[str] = field(default_factory=list)
    is_truncated: bool = False
    next_continuation_token: str | None = None
    continuation_token: str | None = None
    #: objects and prefixes on this page after hiding internal keys
    key_count: int = 0
    #: stored objects hidden on this page (references, ``.deltaglider/``)
    hidden: list[ObjectInfo] = field(default_factory=list)

    @property
    def objects(self) -> list[ObjectInfo]:
        return self.contents

    def _as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "Name": self.name,
            "Prefix": self.prefix,
            "Delimiter": self.delimiter,
            "MaxKeys": self.max_keys,
            "IsTruncated": self.is_truncated,
            "KeyCount": self.key_count,
            "Contents": [o.to_boto3() for o in self.contents],
            "CommonPrefixes": [{"Prefix": p} for p in self.common_prefixes],
        }
        if self.next_continuation_token:
            d["NextContinuationToken"] = self.next_continuation_token
        if self.continuation_token:
            d["ContinuationToken"] = self.continuation_token
        return d

    def __getitem__(self, item: str) -> Any:
        return self._as_dict()[item]

    def get(self, item: str, default: Any = None) -> Any:
        return self._as_dict().get(item, default)

    def __contains__(self, item: object) -> bool:
        return item in self._as_dict()

    def keys(self) -> Iterator[str]:
        return iter(self._as_dict().keys())


@dataclass(slots=True)
class BucketStats:
    """Compression statistics for a bucket or a prefix.

    Quick mode (``detailed=False``) reads the listing only. It knows exactly:
    ``object_count``, ``delta_objects``, ``compressed_size`` (every stored byte,
    references included) and the logical size of every non-delta object. It
    does not know the original size of a delta (that lives in its metadata);
    it estimates it as the size of the delta's reference, so ``total_size``,
    ``space_saved`` and ``average_compression_ratio`` are estimates and
    ``estimated`` is True. It also cannot tell direct uploads from plain S3
    objects, so ``direct_objects`` counts every non-delta object.

    Quick mode reads no metadata, so it does not know which objects
    deltaglider_proxy encrypted nor whose metadata is invalid:
    ``encrypted_objects`` and ``metadata_invalid`` are ``None`` ("not
    checked"), never a count.

    Detailed mode reads every object's metadata once (HEAD, or the on-disk
    cache validated by the listing's ETag and date) and its numbers are
    exact: deltas' original sizes, the objects encrypted by the proxy and
    those whose metadata is invalid.
    """

    bucket: str
    object_count: int
    total_size: int  #: logical bytes (what a restore of everything would write)
    compressed_size: int  #: stored bytes, references included
    space_saved: int
    average_compression_ratio: float  #: 1 - compressed/total, 0.0 for an empty set
    delta_objects: int
    direct_objects: int
    prefix: str = ""
    detailed: bool = False
    estimated: bool = True
    reference_objects: int = 0
    reference_size: int = 0
    plain_objects: int | None = None  #: known in detailed mode only
    #: objects whose DeltaGlider metadata cannot be read; detailed mode only (``None``: not checked)
    metadata_invalid: int | None = None
    object_limit_reached: bool = False
    #: objects encrypted by deltaglider_proxy (``user-dg-encrypted``); detailed mode only, ``None``
    #: (not checked) in quick mode, which reads no metadata
    encrypted_objects: int | None = None
    #: deltaglider_proxy's ``_dgp/`` keys, left out of the object counts
    housekeeping_objects: int = 0
    #: older copies beside a newer one (``<name>`` and ``<name>.delta``), counted as stored bytes only
    older_copies: int = 0

    @property
    def savings_percent(self) -> float:
        return self.average_compression_ratio * 100


@dataclass(slots=True)
class UploadSummary:
    """What an upload stored."""

    operation: str  #: "create_reference", "create_delta", "upload_direct"
    bucket: str
    key: str  #: logical key
    original_size: int
    stored_size: int
    is_delta: bool
    delta_ratio: float = 0.0
    stored_key: str = ""
    file_sha256: str = ""
    reference_key: str | None = None
    #: True when the stored delta was decoded and matched the file's sha256
    verified: bool = False
    #: why a delta-eligible file was stored direct, if it was
    fallback_reason: str | None = None

    @property
    def original_size_mb(self) -> float:
        return self.original_size / (1024 * 1024)

    @property
    def stored_size_mb(self) -> float:
        return self.stored_size / (1024 * 1024)

    @property
    def savings_percent(self) -> float:
        if self.original_size == 0:
            return 0.0
        return (self.original_size - self.stored_size) / self.original_size * 100


@dataclass(slots=True)
class DownloadResult:
    """A restored file whose sha256 has been checked."""

    bucket: str
    key: str
    path: str
    size: int
    sha256: str
    kind: ObjectKind
    #: True when the sha256 matched the stored ``file_sha256``; plain S3
    #: objects carry none, and are checked against their ETag when it is an MD5
    verified: bool
    reference_cache_hit: bool = False
    #: set when the stored, decompressed payload was written instead of the
    #: original (see ``RecompressionError``)
    rescued: bool = False
    #: what could not be checked, e.g. "not checked: no sha256 stored" for a proxy replica
    check_note: str | None = None
    #: set when the bucket's reference was missing or different and this
    #: machine's cached copy of the right one was used: say so to the user
    reference_warning: str | None = None


@dataclass(slots=True)
class RestorePlanItem:
    """One object of a prefix restore and where it would go."""

    key: str
    destination: str | None  #: ``None`` when the key is unsafe to write
    problem: str | None = None


@dataclass(slots=True)
class VerifyResult:
    """What ``verify_object`` found: whether the object rebuilds from the bucket alone, and if not why."""

    bucket: str
    key: str  #: logical key
    valid: bool
    reason: str | None = None  #: one line, when not valid
    sha256: str | None = None  #: of the rebuilt bytes, when valid
    reference_key: str | None = None  #: the missing reference, when that is the reason
    kind: ObjectKind | None = None  #: how the object is stored, when it was rebuilt
    #: the error's kind (``DgError.kind``: "integrity", "recompression", "not_found"...) when it failed;
    #: None when not valid only because nothing is stored to check it against
    error: str | None = None
    #: only its size could be checked (a deltaglider_proxy replica stores no sha256); ``reason`` says so
    size_checked: bool = False

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def status(self) -> str:
        """How it was checked: "sha256", "md5", "unchecked" (restores, nothing to check it against),
        "mismatch" or "recompression"."""
        if self.valid:
            return "md5" if self.kind == ObjectKind.PLAIN else "sha256"
        if self.error is None:
            return "unchecked"
        return "recompression" if self.error == "recompression" else "mismatch"

    @property
    def ok(self) -> bool:
        """It restores: checked, or nothing stored to check it against (never a false alarm)."""
        return self.status in ("sha256", "md5", "unchecked")

    @property
    def message(self) -> str:
        """One line for people: how it was checked, or why it does not restore."""
        status = self.status
        if status == "md5":
            return "MD5 matches the ETag (no sha256 stored by the tool that wrote it)"
        if status == "sha256":
            return "sha256 verified"
        if status == "unchecked" and self.size_checked:
            # a deltaglider_proxy replica: its size was checked, nothing more can be
            return f"restores with its size checked, but {self.reason}"
        if status == "unchecked":
            return "restores, but cannot be checked: no sha256 stored and the ETag is not an MD5 (uploaded in parts)"
        if status == "recompression":
            return f"{self.reason}; `dgtui get --rescue {self.url} DEST` saves the decompressed contents"
        return self.reason or "the rebuilt bytes do not match the stored sha256"
