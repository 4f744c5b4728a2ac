"""Every object under a prefix, once: the one listing stream that whole-prefix counts are taken from.

Statistics (``stats``), savings by folder (``savings``), sampled statistics
(``sampling``) and the audit (``audit``) all need every page of a flat
listing of a prefix, and nothing of it before the last page. ``walk`` gives
those pages: key ranges listed in parallel (``ranged``), a name stored as
both ``<name>`` and ``<name>.delta`` given once as its current copy (the
other one among the page's ``hidden``), errors translated as a listing's,
and the caller's cancel seen as each page arrives. What each of them counts
is its own business; which hidden objects are references and which are
older copies of a name is said once, here (``hidden_objects``).
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator

from . import format as fmt
from .cache import MetadataCache
from .errors import CancelledError
from .listing import Head, head_by, logical_page, one_per_logical_key, page_bounds
from .models import ListObjectsResult, ObjectInfo
from .ranged import iter_ranged_pages
from .s3 import S3Access

#: keys per LIST request of a full listing
STATS_PAGE_SIZE = 1000
#: parts a listing is split into when it is listed again (more parts, shorter server work each)
SPLIT_SEGMENTS = 16
#: fewest keys per part (each part is one more request)
SPLIT_MIN_PAGE = 200

ShouldCancel = Callable[[], bool]


def walk(s3: S3Access, cache: MetadataCache | None, bucket: str, prefix: str = "", *,
         pages: Iterable[ListObjectsResult] | None = None,
         should_cancel: ShouldCancel | None = None) -> Iterator[ListObjectsResult]:
    """The pages of a full listing of ``prefix`` (or the given ``pages``), in order.

    Each page is fetched under the listing's error translation; once
    ``should_cancel()`` says so, ``CancelledError`` is raised as the next page
    arrives (the pages already given stay counted by the caller).
    """
    source = iter(pages if pages is not None else full_listing(s3, cache, bucket, prefix))
    while True:
        with s3.ctx(bucket, prefix, "list"):
            page = next(source, None)
        if page is None:
            return
        if should_cancel is not None and should_cancel():
            raise CancelledError()
        yield page


def hidden_objects(page: ListObjectsResult) -> Iterator[tuple[ObjectInfo, bool]]:
    """(object, is a reference) for the stored objects a page hides that count as stored bytes.

    The references, and the older of ``<name>`` and ``<name>.delta`` (the
    listing shows a name once); ``.deltaglider/`` keys are left out.
    """
    for hidden in page.hidden:
        if fmt.is_reference_key(hidden.key):
            yield hidden, True
        elif not fmt.is_internal_key(hidden.stored_key or hidden.key):
            yield hidden, False


def full_listing(s3: S3Access, cache: MetadataCache | None, bucket: str, prefix: str) -> Iterator[ListObjectsResult]:
    """Every page under a prefix, key ranges listed in parallel.

    A listing records where its pages broke (about ``SPLIT_SEGMENTS`` parts
    of at most ``STATS_PAGE_SIZE`` keys); the next one starts every part at
    once from there. Without that, ranges are split as the first pages
    show the prefix is large. Whole-prefix counts need every page before
    they can say anything, so fetching them together costs nothing in what
    is shown first. A name stored both as ``<name>`` and ``<name>.delta`` is
    listed as its current copy (``fmt.current_copy``), the other among
    ``hidden``.
    """
    head = head_by(s3.client, bucket, cache, s3.endpoint_url)
    return one_per_logical_key(_listed_pages(s3, cache, bucket, prefix, head), head)


def _listed_pages(s3: S3Access, cache: MetadataCache | None, bucket: str, prefix: str,
                  head: Head) -> Iterator[ListObjectsResult]:
    kept = cache.get_bounds(s3.endpoint_url, bucket, prefix) if cache is not None else None
    stored_keys: list[str] = []
    raws = iter_ranged_pages(s3.client, bucket, prefix, page_size=kept[0] if kept else STATS_PAGE_SIZE,
                             hints=kept[1] if kept else ())
    for raw in raws:
        stored_keys.extend(o[0] for o in raw.objects)
        yield logical_page(bucket, raw, prefix=prefix, delimiter=None, max_keys=STATS_PAGE_SIZE,
                           continuation_token=None, head=head)
    if cache is not None:
        page = min(STATS_PAGE_SIZE, max(SPLIT_MIN_PAGE, len(stored_keys) // SPLIT_SEGMENTS))
        bounds = page_bounds(stored_keys, page) or None
        if (page, bounds) != (kept or (None, None)):
            cache.put_bounds(s3.endpoint_url, bucket, prefix, page, bounds)
