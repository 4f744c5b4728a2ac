"""The SDK under test: dgtui (default) or DeltaGlider 6.2.0 itself (``DG_COMPAT_SDK=deltaglider``)."""

from __future__ import annotations

import os

SDK = "deltaglider" if os.environ.get("DG_COMPAT_SDK") == "deltaglider" else "dgtui"

if SDK == "deltaglider":
    from deltaglider import BucketStats, CompressionEstimate, ObjectInfo, create_client
else:
    from dgtui import BucketStats, CompressionEstimate, ObjectInfo, create_client

__all__ = ["SDK", "BucketStats", "CompressionEstimate", "ObjectInfo", "create_client"]
