"""Listing a big prefix as key ranges in parallel, keys in order, each exactly once.

ListObjectsV2 pages come one after another (each page's token comes from the
one before), so a prefix of 100,000 keys costs at least 100 round trips. Once
the first page shows the prefix is large, the rest of the key space is cut
into ranges ``(lo, hi]`` at split points, and every range is listed at once
from ``StartAfter=lo``, its pages trimmed at ``hi``. A range whose first page
shows it is large again is cut again, so the work spreads out in a few round
trips whatever the keys look like.

Split points are strings, not keys: they come from the page-break cache of an
earlier listing when there is one, else from the keys of the page just read
(the next value of each character position that varies, in the alphabet the
keys use: ``data/000999`` gives ``data/001`` ... ``data/009``, ``data/01`` ...).
A bad guess costs an empty range, never a key: the ranges cover the whole key
space between them, a key equal to a split point belongs to the range it ends
and ``StartAfter`` excludes it from the next. Keys added or deleted while the
listing runs are listed once if they are there when their range passes them.

With a delimiter, a folder whose keys straddle a split point is named by both
ranges; it is shown once. A server that does not keep code-point order or
ignores ``StartAfter`` is noticed on its pages, and the listing goes on the
plain way, skipping what it already gave. So does one that echoes ``StartAfter``
changed, rejects it, or answers a request from it with a page that cannot be
read: split listing is a speed-up, and no server's way with ``StartAfter`` may
cost a key or turn into an error of its own (the ``dgtui.ranged`` logger says
why it fell back, under ``--debug``).

Split points are text every server takes as a key: valid UTF-8 and valid XML
1.0 characters (a server may echo ``StartAfter`` raw into its XML answer), at
most S3's 1,024 bytes.
"""

from __future__ import annotations

import logging
import threading
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from os.path import commonprefix
from typing import Any
from urllib.parse import unquote, unquote_plus

from .listing import (
    Head,
    ListingOrderError,
    ListingProgress,
    RawPage,
    fetch_page,
    head_by,
    iter_raw_pages,
    logical_page,
    one_per_logical_key,
)
from .models import ListObjectsResult

log = logging.getLogger("dgtui.ranged")

#: ranges listed at once
RANGE_WORKERS = 16
#: most new ranges one page is cut into
SPLITS_PER_PAGE = 16
#: what sorts after every key of a folder named by a common prefix (for StartAfter): the last code
#: point, a valid XML 1.0 character (U+FFFF is not: a server echoing it makes its page unreadable)
_AFTER_FOLDER = "\U0010ffff"
#: S3's longest key, in UTF-8 bytes: a longer StartAfter may be refused
MAX_KEY_BYTES = 1024
#: fewest keys asked for in one request
MIN_REQUEST = 20

log = logging.getLogger("dgtui.ranged")


class RangeFallback(ListingOrderError):
    """The server's answer to a request from ``StartAfter`` cannot be trusted: list the prefix the plain way."""


def _xml_char_before(ch: str) -> str | None:
    """The greatest character before ``ch`` that is valid in XML 1.0 and in a key (None: none worth using)."""
    code = ord(ch) - 1
    if 0xD800 <= code <= 0xDFFF:
        code = 0xD7FF  # surrogates are no text
    elif 0xFFFE <= code <= 0xFFFF:
        code = 0xFFFD
    return chr(code) if code >= 0x20 else None  # control characters: no split point there


def _echoed(echo: str | None, sent: str) -> bool:
    """True when the page's ``StartAfter`` is the one sent (as it is, or URL-encoded), or not echoed."""
    return echo is None or sent in (echo, unquote_plus(echo), unquote(echo))


class _Range:
    """Keys in (lo, hi]: the first page from StartAfter=lo (or from a token), then what follows it.

    ``expected``: about how many keys the range holds (None: unknown), so that a
    request near its end asks for about that many instead of a whole page of
    keys beyond it; ``at_least``: the fewest keys to ask for (doubled each
    time the estimate proves too low).
    """

    __slots__ = ("lo", "hi", "token", "expected", "at_least", "future", "children", "progress")

    def __init__(self, lo: str | None, hi: str | None, token: str | None = None, expected: float | None = None,
                 at_least: int = 0, progress: ListingProgress | None = None):
        self.lo, self.hi, self.token = lo, hi, token
        #: the tokens and last page of the chain this range follows by token (a loop there ends the listing)
        self.progress = progress
        self.expected, self.at_least = expected, at_least
        self.future: Future[RawPage] | None = None
        self.children: list[_Range] = []

    def max_keys(self, page_size: int) -> int:
        if self.expected is None:
            return page_size
        return max(MIN_REQUEST, self.at_least, min(page_size, int(self.expected * 1.25) + MIN_REQUEST))


class _Scale:
    """Where a string lies in the key space, as a fraction, read in the alphabet of one page's names:
    with the page's density, about how many keys lie between two strings."""

    def __init__(self, names: Sequence[str], prefix: str, varying: int):
        self.start = len(prefix)
        self.width = max(1, varying - self.start + 4)
        # The characters of the positions that vary: in them, one position up is worth base positions down.
        self.alphabet = sorted({c for name in names for c in name[varying:varying + 3]})
        self.base = max(2, len(self.alphabet))
        span = self.at(names[-1]) - self.at(names[0]) if names else 0.0
        self.density = (len(names) - 1) / span if span > 0 and len(names) > 1 else None

    def at(self, text: str | None) -> float:
        if text is None:
            return 1.0
        value, unit = 0.0, 1.0
        for ch in text[self.start:self.start + self.width]:
            unit /= self.base
            value += min(bisect_left(self.alphabet, ch), self.base) * unit
        return value

    def keys_between(self, lo: str | None, hi: str | None) -> float | None:
        if self.density is None:
            return None
        return max(0.0, self.density * (self.at(hi) - self.at(lo)))


def split_points(names: Sequence[str], last: str, hi: str | None, prefix: str,
                 limit: int = SPLITS_PER_PAGE) -> list[str]:
    """Strings after ``last`` (and before ``hi``) to start ranges at, guessed from a page's ``names``.

    For each character position from the last one that varies across the
    page back to the prefix, the next characters of the alphabet the names
    use there: the nearest points first, at most ``limit``.

    A point is written as the string just before it (``data/001`` as
    ``data/000`` + U+10FFFF): the same range to an S3 server that compares
    strings, and one that a server listing by folders (SeaweedFS, whose
    ``StartAfter=f/dir2`` skips the whole folder ``f/dir2/``) reads the same.
    """
    if not names:
        return []
    varying = len(commonprefix([names[0], last]))
    # The characters used where the names vary (not those of the fixed part before).
    alphabet = sorted({c for name in names for c in name[varying:varying + 3]})
    found: list[str] = []
    for j in range(min(varying, len(last) - 1), len(prefix) - 1, -1):
        for c in alphabet:
            before = _xml_char_before(c) if c > last[j] else None
            if before is not None:
                point = last[:j] + before + _AFTER_FOLDER
                if (point > last and (hi is None or point < hi)
                        and len(point.encode("utf-8", "surrogatepass")) <= MAX_KEY_BYTES):
                    found.append(point)
        if len(found) >= limit:
            break
    return sorted(set(found))[:limit]


def _balanced(points: list[str], last: str, hi: str | None, scale: _Scale, page_size: int) -> list[str]:
    """The points that leave about half a page of keys or more between each other, by the page's density
    (a range costs at least one request, and one more to see its end)."""
    kept: list[str] = []
    before = last
    for point in points:
        between = scale.keys_between(before, point)
        if between is None or between >= page_size / 2:
            kept.append(point)
            before = point
    if kept and (scale.keys_between(kept[-1], hi) or page_size) < page_size / 4:
        kept.pop()  # the last range would hold next to nothing: the one before takes it
    return kept


def iter_ranged_pages(s3_client: Any, bucket: str, prefix: str = "", delimiter: str | None = None,
                      page_size: int = 1000, *, hints: Sequence[str] = (),
                      workers: int = RANGE_WORKERS) -> Iterator[RawPage]:
    """Every page under a prefix, in key order, ranges fetched in parallel once the prefix shows it is large.

    ``hints``: split points known beforehand (the last keys of an earlier
    listing's pages); every range they give starts at once. The pages'
    ``next_token`` is not a point to resume from and is left empty.
    """
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="dgtui-range")
    stop = threading.Event()

    def start(node: _Range) -> _Range:
        node.future = pool.submit(work, node)
        return node

    def follow(node: _Range, child: _Range) -> _Range:
        # The first page goes to the caller before its ranges start: a browser shows it without 16 threads
        # parsing pages beside it; they start when the caller asks for the next page, a few ms later.
        return child if node is first else start(child)

    def work(node: _Range) -> RawPage:
        asked = node.max_keys(page_size)
        start_after = None if node.token else node.lo
        try:
            raw = fetch_page(s3_client, bucket, prefix, delimiter, asked, node.token, start_after,
                             retry_unreadable=start_after is None)
        except Exception as error:
            if start_after is None:
                raise
            # Refused, or answered with a page that cannot be read: the plain listing says what is wrong, if anything.
            raise RangeFallback(f"a request from StartAfter failed: {error}") from error
        if start_after is not None and not _echoed(raw.start_after, start_after):
            raise RangeFallback("the server changed StartAfter in its answer")
        keys = [o[0] for o in raw.objects]
        if any(a >= b for a, b in zip(keys, keys[1:])):
            raise RangeFallback("keys not in code-point order")
        if keys and start_after is not None and keys[0] <= start_after:
            raise RangeFallback("the server ignored StartAfter")
        if node.hi is not None:
            hi = node.hi
            # Keys come in order: one at or past hi means every key of the range is here.
            reached = bool(keys and keys[-1] >= hi) or any(p >= hi for p in raw.common_prefixes)
            raw.objects = [o for o in raw.objects if o[0] <= hi]
            raw.common_prefixes = [p for p in raw.common_prefixes if p <= hi]
        else:
            reached = False
        more = raw.is_truncated and bool(raw.next_token) and not reached
        token, raw.next_token = raw.next_token, None
        if more and not stop.is_set():
            names = sorted([*keys, *raw.common_prefixes])
            last = names[-1] if names else node.lo
            if last is not None and last in raw.common_prefixes:
                last += _AFTER_FOLDER
            points: list[str] = []
            scale: _Scale | None = None
            if asked >= page_size and names and last is not None:  # only a whole page tells enough to cut by
                points = split_points(names, last, node.hi, prefix)
                scale = _Scale(names, prefix, len(commonprefix([names[0], last])))
                points = _balanced(points, last, node.hi, scale, page_size) if points else []
            if points and scale is not None:
                edges: list[str | None] = [last, *points]
                ends: list[str | None] = [*points, node.hi]
                node.children = [follow(node, _Range(lo, hi, expected=scale.keys_between(lo, hi)))
                                 for lo, hi in zip(edges, ends)]
                log.debug("listing s3://%s/%s: range after %r cut into %d ranges at %r", bucket, prefix,
                          node.lo, len(node.children), points)
            else:
                left = None if node.expected is None else node.expected - len(names)
                # A full answer short of the range's end: the estimate was low; a whole page next time.
                grow = page_size if len(names) >= asked and asked < page_size else 0
                chain = node.progress or ListingProgress(bucket, prefix)
                assert token is not None
                chain.check(token, raw)
                node.children = [follow(node, _Range(last, node.hi, token, expected=left, at_least=grow,
                                                     progress=chain))]
        return raw

    #: the range of the first page when it is listed alone (no hints): its ranges start once it is taken
    first = None if hints else _Range(None, None)
    if first is None:
        bounds = sorted(set(hints))
        log.debug("listing s3://%s/%s: %d ranges from %d known page breaks", bucket, prefix, len(bounds) + 1,
                  len(bounds))
        tops = [start(_Range(lo, hi)) for lo, hi in zip([None, *bounds], [*bounds, None])]
    else:
        tops = [start(first)]
    stack = list(reversed(tops))
    shown: set[str] = set()
    #: the keys given so far, page by page (lists: a set is built only if the listing falls back)
    given: list[list[str]] = []
    try:
        while stack:
            node = stack.pop()
            assert node.future is not None
            try:
                raw = node.future.result()
            except ListingOrderError as error:
                stop.set()
                log.debug("listing s3://%s/%s in ranges stops (the page from StartAfter=%s), the rest is listed the "
                          "plain way: %s", bucket, ascii(prefix)[1:-1], ascii(node.lo), error or "keys out of order")
                yield from _plain_after(s3_client, bucket, prefix, delimiter, page_size,
                                        {key for keys in given for key in keys}, shown)
                return
            raw.common_prefixes = [p for p in raw.common_prefixes if p not in shown]
            shown.update(raw.common_prefixes)
            raw.is_truncated = bool(node.children or stack)
            given.append([o[0] for o in raw.objects])
            yield raw
            for child in node.children:
                if child.future is None:
                    start(child)
            stack.extend(reversed(node.children))
    finally:
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)


def _plain_after(s3_client: Any, bucket: str, prefix: str, delimiter: str | None, page_size: int,
                 given: set[str], shown: set[str]) -> Iterator[RawPage]:
    """The rest of a listing the plain way, without what was already given."""
    for _, raw in iter_raw_pages(s3_client, bucket, prefix, delimiter, page_size):
        raw.objects = [o for o in raw.objects if o[0] not in given]
        raw.common_prefixes = [p for p in raw.common_prefixes if p not in shown]
        shown.update(raw.common_prefixes)
        raw.next_token = None
        yield raw


def iter_ranged_logical_pages(s3_client: Any, bucket: str, prefix: str = "", delimiter: str | None = None,
                              page_size: int = 1000, head: Head | None = None) -> Iterator[ListObjectsResult]:
    """``iter_ranged_pages`` as logical pages (``.delta`` stripped, internal keys hidden, a name once)."""
    head = head or head_by(s3_client, bucket)
    yield from one_per_logical_key(
        (logical_page(bucket, raw, prefix=prefix, delimiter=delimiter, max_keys=page_size, continuation_token=None,
                      head=head)
         for raw in iter_ranged_pages(s3_client, bucket, prefix, delimiter, page_size)), head)
