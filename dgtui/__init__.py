"""dgtui: browse, restore and upload DeltaGlider-compressed S3 buckets.

``from dgtui import create_client`` gives a DeltaGlider-compatible SDK.

Every name is imported when first used: ``dgtui --help`` and the commands that do not need the
SDK (or botocore) start without loading them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .core.audit import Auditor, AuditProblem, AuditSummary, ProblemKind
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

    #: DeltaGlider's name for the client class, for scripts that annotate with it
    DeltaGliderClient = DgClient

#: where each public name lives
_LAZY = {
    "DgClient": "dgtui.core.client",
    "create_client": "dgtui.core.client",
    "parse_s3_url": "dgtui.core.client",
    "AccessDeniedError": "dgtui.core.errors",
    "BucketNotEmptyError": "dgtui.core.errors",
    "BucketNotFoundError": "dgtui.core.errors",
    "CancelledError": "dgtui.core.errors",
    "CodecError": "dgtui.core.errors",
    "ConnectionFailedError": "dgtui.core.errors",
    "CredentialsError": "dgtui.core.errors",
    "DestinationExistsError": "dgtui.core.errors",
    "DgError": "dgtui.core.errors",
    "ExpansionError": "dgtui.core.errors",
    "IntegrityError": "dgtui.core.errors",
    "InvalidKeyError": "dgtui.core.errors",
    "LocalWriteError": "dgtui.core.errors",
    "MetadataError": "dgtui.core.errors",
    "MetadataInvalidError": "dgtui.core.errors",
    "NotFoundError": "dgtui.core.errors",
    "NotS3Error": "dgtui.core.errors",
    "ProxyEncryptedError": "dgtui.core.errors",
    "RecompressionError": "dgtui.core.errors",
    "SourceChangedError": "dgtui.core.errors",
    "SourceFileError": "dgtui.core.errors",
    "SourceNotFoundError": "dgtui.core.errors",
    "UnsupportedParameterError": "dgtui.core.errors",
    "XdeltaMissingError": "dgtui.core.errors",
    "BucketStats": "dgtui.core.models",
    "DownloadResult": "dgtui.core.models",
    "ListObjectsResult": "dgtui.core.models",
    "ObjectInfo": "dgtui.core.models",
    "ObjectKind": "dgtui.core.models",
    "RestorePlanItem": "dgtui.core.models",
    "UploadSummary": "dgtui.core.models",
    "VerifyResult": "dgtui.core.models",
    "CompressionEstimate": "dgtui.core.responses",
    "ListObjectsResponse": "dgtui.core.responses",
    "CopyObjectResponse": "dgtui.types",
    "CreateBucketResponse": "dgtui.types",
    "DeleteObjectResponse": "dgtui.types",
    "DeleteObjectsResponse": "dgtui.types",
    "GetObjectResponse": "dgtui.types",
    "HeadObjectResponse": "dgtui.types",
    "ListBucketsResponse": "dgtui.types",
    "ListObjectsV2Response": "dgtui.types",
    "PutObjectResponse": "dgtui.types",
    "S3Object": "dgtui.types",
    "Auditor": "dgtui.core.audit",
    "AuditProblem": "dgtui.core.audit",
    "AuditSummary": "dgtui.core.audit",
    "ProblemKind": "dgtui.core.audit",
    "DeltaGliderClient": "dgtui.core.client:DgClient",
}


def __getattr__(name: str) -> object:
    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module 'dgtui' has no attribute {name!r}")
    module, _, attribute = where.partition(":")
    value = getattr(importlib.import_module(module), attribute or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
