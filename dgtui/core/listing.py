"""Listing pages fast, and turning stored keys into logical ones.

Most of the time boto3 spends on a ListObjectsV2 page goes to its generic,
model-driven XML parser (and dateutil for every LastModified). botocore emits
``before-parse.s3.ListObjectsV2`` with the raw response before parsing; we
keep the raw body beside botocore's answer and hand the generic parser an
empty document. Signing, retries, redirects and error handling all stay
botocore's own. The body is read by ElementTree, in the thread that fetched
it, so that the next page is requested as soon as this one's token is known.
Which stored keys are listed, and under which names: docs/FORMAT.md §2.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Iterator, Sequence
from urllib.parse import unquote_plus
from xml.etree import ElementTree

from . import format as fmt
from .errors import UNREADABLE_LISTING_CODE, ListingLoopError, NotS3Error
from .models import ListObjectsResult, ObjectInfo, ObjectKind, parse_s3_time
from .text import printable, where

_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_EMPTY_RESULT = (b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult '
                 b'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></ListBucketResult>')
PAGE_KEY = "DgtuiRawPage"
UNREADABLE_PAGE_MESSAGE = ("the server answered 200 with a listing page that is not XML (cut short on the way, "
                           "or not an S3 server: check the endpoint URL)")


@dataclass(slots=True)
class RawPage:
    """A ListObjectsV2 page as S3 sent it (keys already URL-decoded)."""

    objects: list[tuple[str, int, str, str, str]] = field(default_factory=list)  # key, size, modified, etag, class
    common_prefixes: list[str] = field(default_factory=list)
    is_truncated: bool = False
    next_token: str | None = None
    key_count: int = 0
    #: the server's echo of the request's StartAfter, as sent (None: not echoed)
    start_after: str | None = None


def parse_list_v2(body: bytes) -> RawPage:
    """A ListObjectsV2 body read by ElementTree; ``NotS3Error`` when it is not an S3 listing."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise NotS3Error("the endpoint answered a listing with something that is not XML; "
                         "check the endpoint URL (is it an S3 server?)") from None
    return page_from_root(root)


_KEY, _SIZE, _MODIFIED, _ETAG, _CLASS = (_NS + tag for tag in ("Key", "Size", "LastModified", "ETag", "StorageClass"))


def page_from_root(root: ElementTree.Element) -> RawPage:
    """A parsed ListObjectsV2 document as a page; ``NotS3Error`` when it is not an S3 listing."""
    if root.tag.rsplit("}", 1)[-1] != "ListBucketResult":
        # A web server or captive portal answering 200 with a page: never an empty bucket.
        raise NotS3Error(f"the endpoint answered a listing with <{root.tag.rsplit('}', 1)[-1][:40]}>, not an S3 "
                         f"listing; check the endpoint URL (is it an S3 server?)")
    page = RawPage()
    url_encoded = False
    if root.tag.startswith(_NS):
        # findtext on a plain tag runs in C: about a third of the time of a Python loop over each element
        page.objects = objects = [
            (c.findtext(_KEY) or "", _size(c.findtext(_SIZE)), c.findtext(_MODIFIED) or "",
             (c.findtext(_ETAG) or "").strip('"'), c.findtext(_CLASS) or "STANDARD")
            for c in root.iterfind(_NS + "Contents")]
    else:
        objects = page.objects
    for child in root:
        tag = child.tag[len(_NS):] if child.tag.startswith(_NS) else child.tag
        if tag == "Contents":
            if root.tag.startswith(_NS):
                continue
            # A server that leaves the namespace out (tags read the same without it)
            key = size = modified = etag = ""
            storage = "STANDARD"
            for part in child:
                ptag = part.tag[len(_NS):] if part.tag.startswith(_NS) else part.tag
                if ptag == "Key":
                    key = part.text or ""
                elif ptag == "Size":
                    size = part.text or "0"
                elif ptag == "LastModified":
                    modified = part.text or ""
                elif ptag == "ETag":
                    etag = (part.text or "").strip('"')
                elif ptag == "StorageClass":
                    storage = part.text or "STANDARD"
            objects.append((key, _size(size), modified, etag, storage))
        elif tag == "CommonPrefixes":
            for part in child:
                page.common_prefixes.append(part.text or "")
        elif tag == "IsTruncated":
            page.is_truncated = (child.text or "").strip().lower() == "true"
        elif tag == "NextContinuationToken":
            page.next_token = child.text
        elif tag == "KeyCount":
            page.key_count = int(child.text or 0)
        elif tag == "StartAfter":
            page.start_after = child.text or ""
        elif tag == "EncodingType":
            url_encoded = (child.text or "").strip().lower() == "url"
    if url_encoded:
        page.objects = [(unquote_plus(k), s, m, e, c) for k, s, m, e, c in objects]
        page.common_prefixes = [unquote_plus(p) for p in page.common_prefixes]
    return page


#: set while this thread sends one of dgtui's own listing requests; any other
#: ListObjectsV2 call on the same client (``DgClient.boto3_client``) is parsed by botocore as usual
_OWN_LISTING = threading.local()


def _before_parse(response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any) -> None:
    """Our own listings' bodies: parsed once, here, instead of by botocore's 200-error check and
    then its model-driven parser (which gets an empty document)."""
    if not getattr(_OWN_LISTING, "active", False) or response_dict.get("status_code") != 200:
        return
    body = response_dict.get("body")
    if not isinstance(body, (bytes, bytearray)) or not body:
        return
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        # As botocore's 200-error check does: a body cut short by the network is retried as a 500.
        # The error says what happened, not a 500 the server never sent. A split listing's request from
        # StartAfter is not retried: it falls back to a plain listing at once (a server may break its
        # pages on every StartAfter).
        response_dict["status_code"] = 500 if getattr(_OWN_LISTING, "retry_unreadable", True) else 400
        customized_response_dict["Error"] = {"Code": UNREADABLE_LISTING_CODE, "Message": UNREADABLE_PAGE_MESSAGE}
        return
    if root.tag == "Error":  # S3's error inside a 200: botocore retries and explains it
        response_dict["status_code"] = 500
        return
    customized_response_dict[PAGE_KEY] = root
    response_dict["body"] = _EMPTY_RESULT


def _check_200_errors_except_own_listings(botocore_check: Any) -> Any:
    def check(operation_model: Any = None, response_dict: Any = None, **kwargs: Any) -> Any:
        if getattr(_OWN_LISTING, "active", False) and getattr(operation_model, "name", None) == "ListObjectsV2":
            return None  # ``_before_parse`` parses the body once and does the same check
        return botocore_check(operation_model=operation_model, response_dict=response_dict, **kwargs)
    return check


def install_fast_list_parser(s3_client: Any) -> None:
    events = s3_client.meta.events
    events.register("before-parse.s3.ListObjectsV2", _before_parse)
    # botocore parses every S3 answer of 200 once just to see whether it is an <Error>; for a
    # 1,000-key page that is a third of the page's client CPU. Our own listings do that check in
    # the parse they need anyway. Private to botocore: when it is not there, nothing changes.
    from botocore import handlers as botocore_handlers

    botocore_check = getattr(botocore_handlers, "_handle_200_error", None)
    if callable(botocore_check):
        events.unregister("before-parse.s3.*", botocore_check)
        events.register_first("before-parse.s3.*", _check_200_errors_except_own_listings(botocore_check),
                              unique_id="dgtui-200-error-check")


def fetch_page(s3_client: Any, bucket: str, prefix: str = "", delimiter: str | None = None,
               max_keys: int = 1000, continuation_token: str | None = None,
               start_after: str | None = None, *, retry_unreadable: bool = True) -> RawPage:
    """One real ListObjectsV2 request, parsed (by ElementTree, or by botocore without the fast path).

    ``retry_unreadable=False``: a 200 whose body is not XML fails at once instead of being retried."""
    params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": max_keys,
                              "EncodingType": "url"}
    if delimiter:
        params["Delimiter"] = delimiter
    resumes_after = start_after_of(continuation_token)
    if resumes_after is not None:  # dgtui's own token: the page before held names back (one_per_logical_key)
        continuation_token, start_after = None, resumes_after
    if continuation_token:
        params["ContinuationToken"] = continuation_token
    if start_after:
        params["StartAfter"] = start_after
    _OWN_LISTING.active = True
    _OWN_LISTING.retry_unreadable = retry_unreadable
    try:
        response = s3_client.list_objects_v2(**params)
    finally:
        _OWN_LISTING.active = False
    root = response.get(PAGE_KEY)
    if root is not None:
        return page_from_root(root)
    return RawPage(
        objects=[(o["Key"], o["Size"], _iso(o.get("LastModified")), o.get("ETag", "").strip('"'),
                  o.get("StorageClass", "STANDARD")) for o in response.get("Contents", [])],
        common_prefixes=[p["Prefix"] for p in response.get("CommonPrefixes", [])],
        is_truncated=response.get("IsTruncated", False),
        next_token=response.get("NextContinuationToken"),
        key_count=response.get("KeyCount", 0),
        start_after=response.get("StartAfter"),
    )


#: marks a continuation token dgtui made: S3's own tokens are opaque strings no server starts so
RESUME_TOKEN_PREFIX = "dgtui-start-after:"


def resume_token(start_after: str) -> str:
    """A continuation token that resumes a listing with the names after ``start_after``."""
    return RESUME_TOKEN_PREFIX + base64.urlsafe_b64encode(start_after.encode("utf-8")).decode("ascii")


def start_after_of(token: str | None) -> str | None:
    """The name a token of ``resume_token`` resumes after; None for S3's own tokens."""
    if not token or not token.startswith(RESUME_TOKEN_PREFIX):
        return None
    try:
        return base64.urlsafe_b64decode(token[len(RESUME_TOKEN_PREFIX):]).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def list_raw_page(s3_client: Any, bucket: str, prefix: str = "", delimiter: str | None = None,
                  max_keys: int = 1000, continuation_token: str | None = None,
                  start_after: str | None = None) -> RawPage:
    """One real ListObjectsV2 request; the continuation token is S3's own."""
    return fetch_page(s3_client, bucket, prefix, delimiter, max_keys, continuation_token, start_after)


#: what a listing entry's size becomes when it is not a number (reported as the object's problem)
UNREADABLE_SIZE = -1 << 63
#: S3's ISO-8601 times, as listings give them (``2026-11-25T04:49:49.000Z``)
_S3_TIME = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?")


def _size(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return UNREADABLE_SIZE


def _iso(moment: Any) -> str:
    """botocore's parsed LastModified as ISO text; what it could not parse stays the text it was."""
    isoformat = getattr(moment, "isoformat", None)
    return isoformat() if isoformat is not None else str(moment or "")


def _valid_time(modified: str) -> bool:
    return bool(_S3_TIME.fullmatch(modified)) and parse_s3_time(modified) is not None


def listing_problem(size: int, modified: str) -> str | None:
    """What is wrong with a listing entry's size or date, if anything."""
    problems = []
    if size < 0:
        problems.append("the listing gives no valid size" + (f" ({size})" if size != UNREADABLE_SIZE else ""))
    if modified and not _valid_time(modified):
        problems.append(f"the listing gives no valid date ({printable(modified, 40)})")
    return "; ".join(problems) or None


def to_object_info(stored_key: str, size: int, modified: str, etag: str, storage: str) -> ObjectInfo:
    problem = listing_problem(size, modified) if size < 0 or not _S3_TIME.fullmatch(modified) else None
    size_known = size >= 0
    if problem:
        # one bad entry is that object's problem, shown on it (no size, no date), not the end of the listing
        size = max(size, 0)
        if modified and not _valid_time(modified):
            modified = ""  # the text is in the problem; shown nowhere else
    if stored_key.endswith(fmt.DELTA_SUFFIX):
        info = ObjectInfo(key=stored_key[: -len(fmt.DELTA_SUFFIX)], size=size, last_modified=modified,
                          etag=etag, storage_class=storage, is_delta=True, stored_key=stored_key,
                          kind=ObjectKind.DELTA, compressed_size=size,
                          reference_key=fmt.reference_key_for(fmt.deltaspace_of(stored_key)))
    else:
        info = ObjectInfo(key=stored_key, size=size, last_modified=modified, etag=etag,
                          storage_class=storage, stored_key=stored_key, compressed_size=size)
        if stored_key.startswith(fmt.PROXY_HOUSEKEEPING_PREFIX):
            info.housekeeping = True
    if problem:
        info.answer_problem = info.metadata_problem = problem
        info.size_known = size_known
    return info


class Head:
    """What settles ``<name>`` against ``<name>.delta`` (rare: a pair costs two HEADs, once): their
    metadata, from the metadata cache when it holds this version of the object, else from a HEAD."""

    def __init__(self, s3_client: Any, bucket: str, cache: Any = None, endpoint: str | None = None):
        self.s3_client, self.bucket, self.cache, self.endpoint = s3_client, bucket, cache, endpoint

    def __call__(self, stored_key: str) -> dict[str, Any] | None:
        """botocore's answer to a HEAD, or None when the object is missing or cannot be read."""
        try:
            return self.s3_client.head_object(Bucket=self.bucket, Key=stored_key)
        except Exception:  # missing, refused or unreadable: the listing's dates alone decide
            return None

    def metadata(self, info: ObjectInfo) -> dict[str, str] | None:
        version = f"{info.etag or ''}@{info.last_modified}"  # as ``stats.object_version``, the cache's check
        if self.cache is not None:
            hit = self.cache.get_many(self.endpoint, self.bucket, [(info.stored_key, version)]).get(info.stored_key)
            if hit is not None:
                return hit
        answer = self(info.stored_key)
        if answer is None:
            return None
        metadata = answer.get("Metadata", {})
        if self.cache is not None:
            self.cache.put_many(self.endpoint, self.bucket, [(info.stored_key, version, metadata)])
        return metadata


def head_by(s3_client: Any, bucket: str, cache: Any = None, endpoint: str | None = None) -> Head:
    return Head(s3_client, bucket, cache, endpoint)


def _copy(info: ObjectInfo, head: Head | None) -> fmt.StoredCopy:
    metadata = head.metadata(info) if head is not None else None
    return fmt.StoredCopy.of(info.stored_key, metadata, info.last_modified)


def current_of(delta: ObjectInfo, plain: ObjectInfo, head: Head | None) -> ObjectInfo:
    """Which of a listed pair is the object, by ``fmt.current_copy`` (their dg-created-at read by ``head``)."""
    chosen = fmt.current_copy(_copy(delta, head), _copy(plain, head))
    return delta if chosen.stored_key == delta.stored_key else plain


def settle_twins(contents: list[ObjectInfo], hidden: list[ObjectInfo], head: Head | None = None) -> list[ObjectInfo]:
    """One entry per logical key when ``<name>`` and ``<name>.delta`` both exist (docs/FORMAT.md §2.4).

    deltaglider_proxy writes the new form before it deletes the old one, so
    both can be there for a while. The listing keeps the current copy by
    ``fmt.current_copy``, as reads do (``Engine.resolve``); the other one
    moves to ``hidden``.
    """
    if not any(o.is_delta for o in contents):
        return contents
    plain = {o.key: o for o in contents if not o.is_delta}
    if not plain or not any(o.is_delta and o.key in plain for o in contents):
        return contents
    deltas = {o.key: o for o in contents if o.is_delta}
    current = {key: current_of(deltas[key], plain[key], head) for key in deltas.keys() & plain.keys()}
    kept: list[ObjectInfo] = []
    for info in contents:
        other = plain.get(info.key) if info.is_delta else deltas.get(info.key)
        if other is None:
            kept.append(info)
        elif current[info.key] is info:
            info.older_copy_key = other.stored_key
            kept.append(info)
        else:
            hidden.append(info)
    return kept


def logical_page(bucket: str, raw: RawPage, *, prefix: str, delimiter: str | None, max_keys: int,
                 continuation_token: str | None, head: Head | None = None) -> ListObjectsResult:
    contents: list[ObjectInfo] = []
    hidden: list[ObjectInfo] = []
    for stored_key, size, modified, etag, storage in raw.objects:
        info = to_object_info(stored_key, size, modified, etag, storage)
        (hidden if fmt.is_internal_key(stored_key) else contents).append(info)
    contents = settle_twins(contents, hidden, head)
    prefixes = [p for p in raw.common_prefixes if not fmt.is_internal_key(p)]
    return ListObjectsResult(
        name=bucket, prefix=prefix, delimiter=delimiter or "", max_keys=max_keys,
        contents=contents, common_prefixes=prefixes, is_truncated=raw.is_truncated,
        next_continuation_token=raw.next_token if raw.is_truncated else None,
        continuation_token=continuation_token, key_count=len(contents) + len(prefixes), hidden=hidden,
    )


class ListingProgress:
    """What one chain of listing pages has been given, to stop a server that would make it loop for ever.

    As boto3's paginator does, a continuation token that comes a second time
    ends the listing; so does a truncated page that gives nothing but the
    names of the page before (a new token each time, the same page again).
    Names are compared as sets, not by order: some servers do not keep
    code-point order across folders.
    """

    __slots__ = ("bucket", "prefix", "tokens", "previous")

    def __init__(self, bucket: str, prefix: str):
        self.bucket, self.prefix = bucket, prefix
        self.tokens: set[str] = set()
        self.previous: frozenset[str] = frozenset()

    def check(self, next_token: str, raw: RawPage) -> None:
        """Before ``next_token`` is followed: ``ListingLoopError`` when it was followed before, or when
        ``raw`` (the truncated page that gave it) gave nothing new."""
        place = where(self.bucket, self.prefix or None)
        if next_token in self.tokens:
            raise ListingLoopError(f"the server sent the same continuation token twice while listing {place}; "
                                   f"the listing stopped there (it would never end)", bucket=self.bucket)
        names = frozenset([o[0] for o in raw.objects] + raw.common_prefixes)
        if names and names <= self.previous:
            raise ListingLoopError(f"the server sent the same page again while listing {place}; "
                                   f"the listing stopped there (it would never end)", bucket=self.bucket)
        self.tokens.add(next_token)
        self.previous = names


def iter_raw_pages(s3_client: Any, bucket: str, prefix: str = "", delimiter: str | None = None,
                   page_size: int = 1000, continuation_token: str | None = None,
                   start_after: str | None = None) -> Iterator[tuple[str | None, RawPage]]:
    """(token, page) for every page under a prefix, the next one requested while this one is used.

    One request at a time is in flight, as with plain paging: a page is
    fetched and parsed in a thread of its own, and the next one is asked for
    before the caller gets this one.
    """
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dgtui-list")
    token = continuation_token

    def request(next_token: str | None) -> Future[RawPage]:
        return pool.submit(fetch_page, s3_client, bucket, prefix, delimiter, page_size, next_token,
                           None if next_token else start_after)

    progress = ListingProgress(bucket, prefix)
    if token:
        progress.tokens.add(token)
    try:
        pending: Future[RawPage] | None = request(token)
        while pending is not None:
            raw = pending.result()
            real = raw.next_token if raw.is_truncated and raw.next_token else None
            if real:
                progress.check(real, raw)
            pending = request(real) if real else None
            yield token, raw
            token = real
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def iter_logical_pages(s3_client: Any, bucket: str, prefix: str = "", delimiter: str | None = None,
                       page_size: int = 1000, continuation_token: str | None = None,
                       head: Head | None = None) -> Iterator[ListObjectsResult]:
    """Every page under a prefix, following S3's continuation tokens.

    A logical key is listed once, as its current copy (``fmt.current_copy``),
    even when ``<name>`` ends one page and its ``<name>.delta`` twin comes on a
    later one (see ``one_per_logical_key``).
    """
    head = head or head_by(s3_client, bucket)
    yield from one_per_logical_key(
        (logical_page(bucket, raw, prefix=prefix, delimiter=delimiter, max_keys=page_size, continuation_token=token,
                      head=head)
         for token, raw in iter_raw_pages(s3_client, bucket, prefix, delimiter, page_size, continuation_token)),
        head)


#: objects a listing holds back at most while it waits for a name's ``.delta`` twin on the next pages
HOLD_LIMIT = 1000


def one_per_logical_key(pages: Iterable[ListObjectsResult], head: Head | None = None) -> Iterator[ListObjectsResult]:
    """Pages of one listing, in key order, with a logical key listed once across them, as its current copy.

    When a page ends with a plain ``<name>`` whose ``<name>.delta`` twin could
    come on the next page, ``<name>`` and what follows it are held back and
    given out at the start of the next page, where ``settle_twins`` keeps the
    current copy (``fmt.current_copy``) as within any page. Past
    ``HOLD_LIMIT`` objects held (a twin many pages away), the twin is looked
    for with a HEAD instead, the current one shown, and the other hidden (or
    dropped, when it is the copy shown already) when it comes.
    """
    tail: dict[str, ObjectInfo] = {}  # shown plain copies whose .delta twin may still come: it is hidden then
    shown_early: set[str] = set()  # logical keys whose .delta was shown from its HEAD: the listed one is dropped
    held: list[ObjectInfo] = []
    held_hidden: list[ObjectInfo] = []
    last_page: ListObjectsResult | None = None
    for page in pages:
        last_page = page
        if held or held_hidden:
            hidden = held_hidden + page.hidden
            page.contents = settle_twins(held + page.contents, hidden, head)
            page.hidden = hidden
            held, held_hidden = [], []
        if (tail or shown_early) and any(o.is_delta and (o.key in tail or o.key in shown_early)
                                         for o in page.contents):
            kept = []
            for o in page.contents:
                if o.is_delta and o.key in shown_early:
                    shown_early.discard(o.key)  # the same object, shown on an earlier page already
                    continue
                shown = tail.pop(o.key, None) if o.is_delta else None
                if shown is None:
                    kept.append(o)
                else:
                    shown.older_copy_key = o.stored_key
                    page.hidden.append(o)
            page.contents = kept
        names = [o.stored_key for o in page.contents] + [h.stored_key or h.key for h in page.hidden]
        names += page.common_prefixes
        if names:
            last = max(names)
            tail = {k: o for k, o in tail.items() if k + fmt.DELTA_SUFFIX > last}
            # Plain keys whose .delta twin sorts after this page's last name (only when that name starts
            # with the key): the twin may come on the next pages.
            waiting = [o for o in page.contents if not o.is_delta and last.startswith(o.key)
                       and o.key + fmt.DELTA_SUFFIX > last] if page.is_truncated else []
            if waiting:
                first = page.contents.index(waiting[0])
                if len(page.contents) - first <= HOLD_LIMIT:
                    held, page.contents = page.contents[first:], page.contents[:first]
                    start = waiting[0].stored_key
                    held_hidden = [h for h in page.hidden if (h.stored_key or h.key) >= start]
                    page.hidden = [h for h in page.hidden if (h.stored_key or h.key) < start]
                    # S3's token would resume after the names held back: resume after the last one given
                    given = [n for n in names if n < start]
                    after = max(given) if given else None
                    if after is not None and after in page.common_prefixes:
                        after += "\U0010ffff"  # past every name in that folder, which the folder stood for
                    page.next_continuation_token = resume_token(after) if after is not None \
                        else page.continuation_token
                else:
                    _look_ahead(page, waiting, head, tail, shown_early)
        page.key_count = len(page.contents) + len(page.common_prefixes)
        yield page
    if (held or held_hidden) and last_page is not None:  # the pages ended while these waited
        yield dataclasses.replace(last_page, contents=held, hidden=held_hidden, common_prefixes=[],
                                  key_count=len(held), is_truncated=False, next_continuation_token=None)


def _look_ahead(page: ListObjectsResult, waiting: list[ObjectInfo], head: Head | None, tail: dict[str, ObjectInfo],
                shown_early: set[str]) -> None:
    """Settle plain copies whose twin is pages away by a HEAD of the twin (see ``one_per_logical_key``)."""
    for o in waiting:
        twin = _later_twin(o, head) if head is not None else None
        if twin is None or fmt.current_copy(twin[1], _copy(o, head)).stored_key == o.stored_key:
            if twin is not None:
                o.older_copy_key = twin[0].stored_key
            tail[o.key] = o
        else:
            twin[0].older_copy_key = o.stored_key
            page.contents[page.contents.index(o)] = twin[0]
            page.hidden.append(o)
            shown_early.add(o.key)


def _later_twin(plain: ObjectInfo, head: Head) -> tuple[ObjectInfo, fmt.StoredCopy] | None:
    """The ``<name>.delta`` of a plain ``<name>``, as its HEAD describes it; None when there is none."""
    stored_key = fmt.delta_key_for(plain.key)
    answer = head(stored_key)
    if answer is None:
        return None
    size = answer.get("ContentLength")
    modified = answer.get("LastModified")
    info = to_object_info(stored_key, size if isinstance(size, int) else UNREADABLE_SIZE,
                          modified.isoformat() if isinstance(modified, datetime) else "",
                          str(answer.get("ETag") or "").strip('"'), answer.get("StorageClass") or "STANDARD")
    return info, fmt.StoredCopy.of(stored_key, answer.get("Metadata"), modified)


# -- where a listing's pages broke, to list it in parallel next time ---------------------

def page_bounds(stored_keys: Sequence[str], page_size: int = 1000) -> list[str] | None:
    """The last key of every full page of a complete, flat listing, to split the next one by.

    None when the listing was not in code-point order (so this server orders
    keys some other way, and splitting by our comparison could miss keys).
    """
    if any(a >= b for a, b in zip(stored_keys, stored_keys[1:])):
        return None
    return [stored_keys[i] for i in range(page_size - 1, len(stored_keys) - 1, page_size)]


class ListingOrderError(Exception):
    """A listing did not come in the order split listing relies on."""
