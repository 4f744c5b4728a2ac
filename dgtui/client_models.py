"""DeltaGlider's ``deltaglider.client_models`` names, for scripts that import them from there."""

from .core.models import BucketStats, ObjectInfo, UploadSummary
from .core.responses import CompressionEstimate, ListObjectsResponse

__all__ = ["BucketStats", "CompressionEstimate", "ListObjectsResponse", "ObjectInfo", "UploadSummary"]
