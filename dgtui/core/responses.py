"""Response shapes of DeltaGlider 6.2.0's SDK, built from dgtui's results.

``list_objects`` answers a real ``dict`` equal to what DeltaGlider 6.2.0
returns (``isinstance(r, dict)``, ``.items()`` and ``json.dumps`` work), which
also keeps dgtui's attribute API (``page.contents``, ``obj.is_delta``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .models import ListObjectsResult, ObjectInfo, UploadSummary, parse_s3_time


@dataclass
class CompressionEstimate:
    """What ``estimate_compression`` expects an upload to store (DeltaGlider's fields).

    ``estimated_ratio`` is the fraction saved (0.99 = 99% smaller), as in DeltaGlider.
    """

    original_size: int
    estimated_compressed_size: int
    estimated_ratio: float
    confidence: float
    recommended_reference: str | None = None
    should_use_delta: bool = True


def boto3_time(text: str) -> str:
    """A listing's LastModified as DeltaGlider 6.2.0 gives it: botocore's datetime, ``isoformat()``."""
    parsed = parse_s3_time(text)
    return parsed.isoformat() if parsed is not None else (text or "")


def contents_entry(obj: ObjectInfo) -> dict[str, Any]:
    """One ``Contents`` item as DeltaGlider 6.2.0's ``list_objects`` builds it.

    ``deltaglider-compression-ratio`` is the fraction saved once metadata is
    known (DeltaGlider 6.2.0 prints "0.0" there even then: it reads a key no
    writer sets), "unknown" for a delta without metadata, "0.0" for others.
    """
    meta: dict[str, str] = {
        "deltaglider-is-delta": "true" if obj.is_delta else "false",
        "deltaglider-original-size": str(obj.original_size if obj.is_delta and obj.original_size is not None
                                         else obj.size),
        "deltaglider-compression-ratio": "0.0" if not obj.is_delta else (
            str(obj.compression_ratio) if obj.compression_ratio is not None else "unknown"),
    }
    if obj.is_delta and obj.metadata_loaded and obj.reference_key:
        meta["deltaglider-reference-key"] = obj.reference_key
    return {
        "Key": obj.key,
        "Size": obj.size,
        "LastModified": boto3_time(obj.last_modified),
        "ETag": obj.etag or "",
        "StorageClass": obj.storage_class,
        "Metadata": meta,
    }


class ListObjectsResponse(dict):
    """DeltaGlider 6.2.0's ``list_objects`` dict, with dgtui's page behind it.

    Keys: ``IsTruncated``, ``Contents``, ``Name``, ``Prefix``, ``Delimiter``,
    ``MaxKeys``, ``KeyCount`` (objects on the page, as DeltaGlider counts),
    ``ResponseMetadata``; ``CommonPrefixes``, ``NextContinuationToken`` and
    ``ContinuationToken`` when they have a value. Attributes are those of
    ``ListObjectsResult`` (``contents`` holds ``ObjectInfo`` objects).
    """

    def __init__(self, page: ListObjectsResult):
        contents = [contents_entry(o) for o in page.contents]
        super().__init__(
            IsTruncated=page.is_truncated, Contents=contents, Name=page.name, Prefix=page.prefix,
            Delimiter=page.delimiter, MaxKeys=page.max_keys, KeyCount=len(contents),
            ResponseMetadata={"HTTPStatusCode": 200},
        )
        if page.common_prefixes:
            self["CommonPrefixes"] = [{"Prefix": p} for p in page.common_prefixes]
        if page.next_continuation_token:
            self["NextContinuationToken"] = page.next_continuation_token
        if page.continuation_token:
            self["ContinuationToken"] = page.continuation_token
        object.__setattr__(self, "_page", page)

    @property
    def page(self) -> ListObjectsResult:
        return self._page  # type: ignore[attr-defined, no-any-return]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(object.__getattribute__(self, "_page"), name)

    def __reduce__(self) -> Any:  # pickles as the plain dict it equals
        return (dict, (dict(self),))


def put_info(summary: UploadSummary) -> dict[str, Any]:
    """``DeltaGliderInfo`` of a ``put_object`` answer, with DeltaGlider's keys."""
    return {
        "OriginalSizeMB": summary.original_size / (1024 * 1024),
        "StoredSizeMB": summary.stored_size / (1024 * 1024),
        "IsDelta": summary.is_delta,
        "CompressionRatio": summary.delta_ratio or 1.0,
        # delta size / file size (0 when stored whole): DeltaGlider's README reads it, its 6.2.0 code has no such key
        "DeltaRatio": summary.delta_ratio,
        "SavingsPercent": summary.savings_percent,
        "StoredAs": summary.stored_key,
        "Operation": summary.operation,
    }
