"""dgtui: browse, restore and upload DeltaGlider-compressed S3 buckets.

``from dgtui import create_client`` gives a DeltaGlider-compatible SDK.
"""

from typing import TYPE_CHECKING

from .core.client import DgClient, create_client, parse_s3_url
from .core.errors import (
    AccessDeniedError,
    BucketNotEmptyError,
    BucketNotFoundError,
    CancelledError,
    CodecError,
    ConnectionFailedError,
    CredentialsError,
    DestinationExistsError,
    DgError,
    ExpansionError,
    IntegrityError,
    InvalidKeyError,
    LocalWriteError,
    MetadataError,
    MetadataInvalidError,
    NotFoundError,
    NotS3Error,
    ProxyEncryptedError,
    RecompressionError,
    SourceChangedError,
    SourceFileError,
    SourceNotFoundError,
    UnsupportedParameterError,
    XdeltaMissingError,
)
from .core.models import (
    BucketStats,
    DownloadResult,
    ListObjectsResult,
    ObjectInfo,
    ObjectKind,
    RestorePlanItem,
    UploadSummary,
    VerifyResult,
)
from .core.responses import CompressionEstimate, ListObjectsResponse
from .types import (
    CopyObjectResponse,
    CreateBucketResponse,
    DeleteObjectResponse,
    DeleteObjectsResponse,
    GetObjectResponse,
    HeadObjectResponse,
    ListBucketsResponse,
    ListObjectsV2Response,
    PutObjectResponse,
    S3Object,
)

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .core.audit import Auditor, AuditProblem, AuditSummary, ProblemKind

#: names imported when first used (``dgtui get`` and other commands start faster without them)
_LAZY = {"Auditor": "dgtui.core.audit", "AuditProblem": "dgtui.core.audit", "AuditSummary": "dgtui.core.audit",
         "ProblemKind": "dgtui.core.audit"}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dgtui' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

#: DeltaGlider's name for the client class, for scripts that annotate with it
DeltaGliderClient = DgClient

__all__ = [
    "create_client", "DgClient", "DeltaGliderClient", "parse_s3_url",
    "BucketStats", "DownloadResult", "ListObjectsResult", "ObjectInfo", "ObjectKind", "RestorePlanItem",
    "UploadSummary", "CompressionEstimate", "ListObjectsResponse", "VerifyResult", "Auditor", "AuditProblem",
    "AuditSummary", "ProblemKind",
    "DgError", "NotFoundError", "BucketNotFoundError", "BucketNotEmptyError", "AccessDeniedError",
    "CredentialsError", "ConnectionFailedError", "NotS3Error", "IntegrityError", "ExpansionError", "RecompressionError",
    "MetadataInvalidError", "XdeltaMissingError", "CodecError", "InvalidKeyError",
    "DestinationExistsError", "LocalWriteError", "CancelledError", "MetadataError", "SourceChangedError",
    "SourceFileError", "SourceNotFoundError", "UnsupportedParameterError", "ProxyEncryptedError",
    # DeltaGlider's response type hints (dgtui.types)
    "ListObjectsV2Response", "PutObjectResponse", "GetObjectResponse", "DeleteObjectResponse",
    "DeleteObjectsResponse", "HeadObjectResponse", "ListBucketsResponse", "CreateBucketResponse",
    "CopyObjectResponse", "S3Object",
]
