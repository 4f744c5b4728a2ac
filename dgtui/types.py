"""Type hints for the dict responses of dgtui's boto3-style calls.

The same names as ``deltaglider.types`` (DeltaGlider 6.2.0), so scripts that
annotate with them keep working after ``from deltaglider`` becomes
``from dgtui``. At run time every response is a plain ``dict`` (a subclass
for ``list_objects``); these ``TypedDict`` classes only help editors and
type checkers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, NotRequired, TypedDict


class ResponseMetadata(TypedDict):
    HTTPStatusCode: int
    RequestId: NotRequired[str]
    HostId: NotRequired[str]
    HTTPHeaders: NotRequired[dict[str, str]]
    RetryAttempts: NotRequired[int]


class S3Object(TypedDict):
    """One ``Contents`` entry of ``list_objects`` (``LastModified`` is ISO text there, as DeltaGlider gives it)."""

    Key: str
    Size: int
    LastModified: str
    ETag: NotRequired[str]
    StorageClass: NotRequired[str]
    Owner: NotRequired[dict[str, str]]
    Metadata: NotRequired[dict[str, str]]


class CommonPrefix(TypedDict):
    Prefix: str


class ListObjectsV2Response(TypedDict):
    Contents: list[S3Object]
    Name: NotRequired[str]
    Prefix: NotRequired[str]
    Delimiter: NotRequired[str]
    MaxKeys: NotRequired[int]
    CommonPrefixes: NotRequired[list[CommonPrefix]]
    EncodingType: NotRequired[str]
    KeyCount: NotRequired[int]
    ContinuationToken: NotRequired[str]
    NextContinuationToken: NotRequired[str]
    StartAfter: NotRequired[str]
    IsTruncated: NotRequired[bool]
    ResponseMetadata: NotRequired[ResponseMetadata]


class PutObjectResponse(TypedDict):
    ETag: str
    VersionId: NotRequired[str]
    ServerSideEncryption: NotRequired[str]
    ResponseMetadata: NotRequired[ResponseMetadata]


class HeadObjectResponse(TypedDict):
    ContentLength: int
    ContentType: NotRequired[str]
    ETag: NotRequired[str]
    LastModified: NotRequired[datetime]
    Metadata: NotRequired[dict[str, str]]
    VersionId: NotRequired[str]
    StorageClass: NotRequired[str]
    ResponseMetadata: NotRequired[ResponseMetadata]


class GetObjectResponse(HeadObjectResponse):
    Body: Any


class DeleteObjectResponse(TypedDict):
    DeleteMarker: NotRequired[bool]
    VersionId: NotRequired[str]
    ResponseMetadata: NotRequired[ResponseMetadata]


class DeletedObject(TypedDict):
    Key: str
    VersionId: NotRequired[str]
    DeleteMarker: NotRequired[bool]
    DeleteMarkerVersionId: NotRequired[str]


class DeleteError(TypedDict):
    Key: str
    Code: str
    Message: str
    VersionId: NotRequired[str]


class DeleteObjectsResponse(TypedDict):
    Deleted: NotRequired[list[DeletedObject]]
    Errors: NotRequired[list[DeleteError]]
    ResponseMetadata: NotRequired[ResponseMetadata]


class Bucket(TypedDict):
    Name: str
    CreationDate: datetime


class ListBucketsResponse(TypedDict):
    Buckets: list[Bucket]
    Owner: NotRequired[dict[str, str]]
    ResponseMetadata: NotRequired[ResponseMetadata]


class CreateBucketResponse(TypedDict):
    Location: NotRequired[str]
    ResponseMetadata: NotRequired[ResponseMetadata]


class CopyObjectResponse(TypedDict):
    CopyObjectResult: NotRequired[dict[str, Any]]
    ETag: NotRequired[str]
    LastModified: NotRequired[datetime]
    VersionId: NotRequired[str]
    ResponseMetadata: NotRequired[ResponseMetadata]


class CompletedPart(TypedDict):
    PartNumber: int
    ETag: str


class CompleteMultipartUploadResponse(TypedDict):
    Location: NotRequired[str]
    Bucket: NotRequired[str]
    Key: NotRequired[str]
    ETag: NotRequired[str]
    VersionId: NotRequired[str]
    ResponseMetadata: NotRequired[ResponseMetadata]


BucketName = str
ObjectKey = str
Prefix = str
Delimiter = str
StorageClass = Literal[
    "STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER",
    "DEEP_ARCHIVE", "GLACIER_IR",
]
