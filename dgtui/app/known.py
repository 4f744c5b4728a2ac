"""Metadata already known for listed deltas: this session's, or the on-disk cache's. No request is sent.

The details screen keeps what it read for the session; exact statistics,
savings by folder and audits fill the on-disk metadata cache, whose entries
hold only for the exact version a listing names (ETag and modification time).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable

from dgtui import ObjectInfo
from dgtui.core.stats import apply_metadata


def fill_known(app: Any, bucket: str, infos: Iterable[ObjectInfo], *, copy: bool = False) -> list[ObjectInfo]:
    """Fill the deltas among ``infos`` whose metadata is known; returns those filled.

    With ``copy`` the given objects are left alone and filled copies are
    returned (for rows the screen may be drawing at the same moment).
    """
    client = app.client
    wanted = [o for o in infos if o.is_delta and not o.metadata_loaded]
    if copy:
        wanted = [dataclasses.replace(o, metadata=dict(o.metadata)) for o in wanted]
    if not wanted or client is None:
        return []
    session = app.info_cache
    rest: list[ObjectInfo] = []
    for info in wanted:
        seen = session.get((bucket, info.key))
        if seen is not None and seen.metadata_loaded and seen.etag == info.etag:
            apply_metadata(info, seen.metadata)
        else:
            rest.append(info)
    client.known_metadata(bucket, rest)
    return [o for o in wanted if o.metadata_loaded]
