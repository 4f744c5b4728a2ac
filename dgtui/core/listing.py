"""Listing pages fast, and turning stored keys into logical ones.

Most of the time boto3 spends on a ListObjectsV2 page goes to its generic,
model-driven XML parser (and dateutil for every LastModified). botocore emits
``before-parse.s3.ListObjectsV2`` with the raw response before parsing; we
keep the raw body beside botocore's answer and hand the generic parser an
empty document. Signing, retries, redirects and error handling all stay
botocore's own.

The body is then read by a parser that only splits and finds (S3 listings
are flat and regular), which checks the document has nothing it does not
understand and otherwise hands it to ElementTree. While one page is parsed
and used, the next one is already on its way: its continuation token is
read from the raw body first.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence
from urllib.parse import unquote_plus
from xml.etree import ElementTree

from . import format as fmt
from .errors import NotS3Error
from .models import ListObjectsResult, ObjectInfo, ObjectKind

_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_EMPTY_RESULT = b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></ListBucketResult>'
PAGE_KEY = "DgtuiRawPage"


@dataclass(slots=True)
class RawPage:
    """A ListObjectsV2 page as S3 sent it (keys already URL-decoded)."""

    objects: list[tuple[str, int, str, str, str]] = field(default_factory=list)  # key, size, modified, etag, class
    common_prefixes: list[str] = field(default_factory=list)
    is_truncated: bool = False
    next_token: str | None = None
    key_count: int = 0


def parse_list_v2(body: bytes) -> RawPage:
    """A ListObjectsV2 body, read by the fast parser when it can be, else by ElementTree."""
    page = parse_list_v2_fast(body)
    return page if page is not None else parse_list_v2_tree(body)


def parse_list_v2_tree(body: bytes) -> RawPage:
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise NotS3Error("the endpoint answered a listing with something that is not XML; "
                         "check the endpoint URL (is it an S3 server?)") from None
    if root.tag.rsplit("}", 1)[-1] != "ListBucketResult":
        # A web server or captive portal answering 200 with a page: never an empty bucket.
        raise NotS3Error(f"the endpoint answered a listing with <{root.tag.rsplit('}', 1)[-1][:40]}>, not an S3 "
                         f"listing; check the endpoint URL (is it an S3 server?)")
    page = RawPage()
    url_encoded = False
    objects = page.objects
    for child in root:
        tag = child.tag[len(_NS):] if child.tag.startswith(_NS) else child.tag
        if tag == "Contents":
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
            objects.append((key, int(size or 0), modified, etag, storage))
        elif tag == "CommonPrefixes":
            for part in child:
                page.common_prefixes.append(part.text or "")
        elif tag == "IsTruncated":
            page.is_truncated = (child.text or "").strip().lower() == "true"
        elif tag == "NextContinuationToken":
            page.next_token = child.text
        elif tag == "KeyCount":
            page.key_count = int(child.text or 0)
        elif tag == "EncodingType":
            url_encoded = (child.text or "").strip().lower() == "url"
    if url_encoded:
        page.objects = [(unquote_plus(k), s, m, e, c) for k, s, m, e, c in objects]
        page.common_prefixes = [unquote_plus(p) for p in page.common_prefixes]
    return page


# -- the fast parser ------------------------------------------------------------

class _Unusual(Exception):
    """The document has something the fast parser does not read; ElementTree will."""


_ENTITY = re.compile(r"&(?:#[xX]([0-9A-Fa-f]{1,6})|#([0-9]{1,7})|(amp|lt|gt|quot|apos));")
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
_DECLARATION = re.compile(r'<\?xml[^?]*\?>')
#: bytes no XML document may hold (and \r, which XML rewrites as \n)
_NOT_XML_BYTES = bytes(c for c in range(32) if c not in (0x9, 0xA))
_ROOT_OPEN = re.compile(r'<ListBucketResult(?:\s+xmlns="http://s3\.amazonaws\.com/doc/2006-03-01/")?\s*>')


def _entity(match: re.Match) -> str:
    hex_code, dec_code, name = match.groups()
    if name:
        return _NAMED[name]
    code = int(hex_code, 16) if hex_code else int(dec_code)
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF or (code < 0x20 and code not in (0x9, 0xA, 0xD)):
        raise _Unusual()  # not a character XML allows
    return chr(code)


def _text(value: str) -> str:
    if "&" not in value:
        return value
    out = _ENTITY.sub(_entity, value)
    if out.count("&") != value.count("&amp;") + value.count("&#38;") + value.count("&#x26;"):
        raise _Unusual()  # an entity we do not know (ElementTree refuses those)
    return out


def _inner(chunk: str, open_tag: str, close_tag: str) -> str | None:
    start = chunk.find(open_tag)
    if start < 0:
        return None
    start += len(open_tag)
    end = chunk.find(close_tag, start)
    if end < 0:
        raise _Unusual()
    return chunk[start:end]


def parse_list_v2_fast(body: bytes) -> RawPage | None:
    """Split-and-find parsing of a plain ListObjectsV2 page; None when the page is not plain.

    Plain means: UTF-8, the S3 namespace as the only one, no comments, CDATA,
    DOCTYPE or processing instructions, no attributes on the elements read,
    no carriage returns (XML rewrites those). Markup cannot hide in text,
    because ``<`` in text is always escaped.
    """
    try:
        return _parse_plain(body)
    except (_Unusual, UnicodeDecodeError, ValueError):
        return None


def _parse_plain(body: bytes) -> RawPage | None:
    text = body.decode("utf-8")
    head = text[:200].lstrip("\ufeff \t\n")
    declaration = _DECLARATION.match(head)
    if declaration:
        if re.search(r"encoding=[\"'](?!utf-8[\"'])", declaration.group(0), re.IGNORECASE):
            return None
        head = head[declaration.end():].lstrip()
    if not _ROOT_OPEN.match(head):
        return None
    if ("<!" in text or text.count("<?") > 1 or "xmlns:" in text or "\ufffe" in text or "\uffff" in text
            or len(body.translate(None, _NOT_XML_BYTES)) != len(body)
            or not text.rstrip(" \t\n").endswith("</ListBucketResult>")):
        return None
    page = RawPage()
    chunks = text.split("<Contents>")
    count = len(chunks) - 1
    # Exactly one plain <Key> per entry (checked per entry below), and no other kind of Key element.
    if text.count("<Contents") != count or text.count("<Key>") != count or text.count("<Key") != \
            count + text.count("<KeyCount>"):
        return None
    objects = page.objects
    append = objects.append
    tail = chunks[0]
    for chunk in chunks[1:]:
        end = chunk.find("</Contents>")
        start = chunk.find("<Key>", 0, end)
        if end < 0 or start < 0:
            return None
        close = chunk.find("</Key>", start, end)
        key = chunk[start + 5:close]
        start = chunk.find("<Size>", 0, end)
        size = int(chunk[start + 6:chunk.find("</Size>", start, end)]) if start >= 0 else 0
        start = chunk.find("<LastModified>", 0, end)
        modified = chunk[start + 14:chunk.find("</LastModified>", start, end)] if start >= 0 else ""
        start = chunk.find("<ETag>", 0, end)
        etag = chunk[start + 6:chunk.find("</ETag>", start, end)] if start >= 0 else ""
        if etag.startswith("&quot;") and etag.endswith("&quot;"):
            etag = etag[6:-6]
        start = chunk.find("<StorageClass>", 0, end)
        storage = chunk[start + 14:chunk.find("</StorageClass>", start, end)] if start >= 0 else "STANDARD"
        if close < 0 or "<" in key or "<" in etag or "<" in modified or "<" in storage:
            return None  # an element closed somewhere unexpected
        if "&" in key:
            key = _text(key)
        if "&" in etag or "&" in modified or "&" in storage:
            etag, modified, storage = _text(etag), _text(modified), _text(storage)
        append((key, size, modified, etag.strip('"'), storage or "STANDARD"))
        after = chunk[end + 11:]
        if after and not after.isspace():
            tail += after
    # What is left holds the page's own fields and the common prefixes.
    prefix_chunks = tail.split("<CommonPrefixes>")
    if tail.count("<CommonPrefixes") != len(prefix_chunks) - 1:
        return None
    rest = prefix_chunks[0]
    for chunk in prefix_chunks[1:]:
        end = chunk.find("</CommonPrefixes>")
        if end < 0:
            return None
        entry = chunk[:end]
        if entry.count("<Prefix") != entry.count("<Prefix>"):
            return None
        for part in entry.split("<Prefix>")[1:]:
            close = part.find("</Prefix>")
            if close < 0:
                return None
            page.common_prefixes.append(_text(part[:close]))
        rest += chunk[end + len("</CommonPrefixes>"):]
    for name in ("IsTruncated", "NextContinuationToken", "KeyCount", "EncodingType"):
        if rest.count(f"<{name}") > 1 or rest.count(f"<{name}") != rest.count(f"<{name}>"):
            return None
    truncated = _inner(rest, "<IsTruncated>", "</IsTruncated>")
    page.is_truncated = (truncated or "").strip().lower() == "true"
    token = _inner(rest, "<NextContinuationToken>", "</NextContinuationToken>")
    page.next_token = _text(token) if token is not None else None
    page.key_count = int(_inner(rest, "<KeyCount>", "</KeyCount>") or 0)
    if (_inner(rest, "<EncodingType>", "</EncodingType>") or "").strip().lower() == "url":
        page.objects = [(unquote_plus(k), s, m, e, c) for k, s, m, e, c in objects]
        page.common_prefixes = [unquote_plus(p) for p in page.common_prefixes]
    return page


_TRUNCATED = re.compile(rb"<IsTruncated>\s*true\s*</IsTruncated>", re.IGNORECASE)
_NEXT_TOKEN = re.compile(rb"<NextContinuationToken>([^<]*)</NextContinuationToken>")


def peek_next_token(body: bytes) -> str | None:
    """The continuation token of a raw page, read without parsing it (a guess the parse confirms)."""
    if not _TRUNCATED.search(body):
        return None
    match = _NEXT_TOKEN.search(body)
    if match is None:
        return None
    try:
        return _text(match.group(1).decode("utf-8"))
    except (_Unusual, UnicodeDecodeError):
        return None


#: set while this thread sends one of dgtui's own listing requests; any other
#: ListObjectsV2 call on the same client (``DgClient.boto3_client``) is parsed by botocore as usual
_OWN_LISTING = threading.local()


def _before_parse(response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any) -> None:
    if not getattr(_OWN_LISTING, "active", False) or response_dict.get("status_code") != 200:
        return
    body = response_dict.get("body")
    if not isinstance(body, (bytes, bytearray)) or not body:
        return
    customized_response_dict[PAGE_KEY] = bytes(body)
    response_dict["body"] = _EMPTY_RESULT


def install_fast_list_parser(s3_client: Any) -> None:
    s3_client.meta.events.register("before-parse.s3.ListObjectsV2", _before_parse)


def fetch_page(s3_client: Any, bucket: str, prefix: str = "", delimiter: str | None = None,
               max_keys: int = 1000, continuation_token: str | None = None,
               start_after: str | None = None) -> bytes | RawPage:
    """One real ListObjectsV2 request: the raw body, or a RawPage when the fast path is not installed."""
    params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": max_keys,
                              "EncodingType": "url"}
    if delimiter:
        params["Delimiter"] = delimiter
    if continuation_token:
        params["ContinuationToken"] = continuation_token
    if start_after:
        params["StartAfter"] = start_after
    _OWN_LISTING.active = True
    try:
        response = s3_client.list_objects_v2(**params)
    finally:
        _OWN_LISTING.active = False
    body = response.get(PAGE_KEY)
    if body is not None:
        return body
    return RawPage(
        objects=[(o["Key"], o["Size"], o["LastModified"].isoformat(), o.get("ETag", "").strip('"'),
                  o.get("StorageClass", "STANDARD")) for o in response.get("Contents", [])],
        common_prefixes=[p["Prefix"] for p in response.get("CommonPrefixes", [])],
        is_truncated=response.get("IsTruncated", False),
        next_token=response.get("NextContinuationToken"),
        key_count=response.get("KeyCount", 0),
    )


def _as_page(fetched: bytes | RawPage) -> RawPage:
    return fetched if isinstance(fetched, RawPage) else parse_list_v2(fetched)


def list_raw_page(s3_client: Any, bucket: str, prefix: str = "", delimiter: str | None = None,
                  max_keys: int = 1000, continuation_token: str | None = None,
                  start_after: str | None = None) -> RawPage:
    """One real ListObjectsV2 request; the continuation token is S3's own."""
    return _as_page(fetch_page(s3_client, bucket, prefix, delimiter, max_keys, continuation_token, start_after))


def to_object_info(stored_key: str, size: int, modified: str, etag: str, storage: str) -> ObjectInfo:
    if stored_key.endswith(fmt.DELTA_SUFFIX):
        return ObjectInfo(key=stored_key[: -len(fmt.DELTA_SUFFIX)], size=size, last_modified=modified,
                          etag=etag, storage_class=storage, is_delta=True, stored_key=stored_key,
                          kind=ObjectKind.DELTA, compressed_size=size,
                          reference_key=fmt.reference_key_for(fmt.deltaspace_of(stored_key)))
    return ObjectInfo(key=stored_key, size=size, last_modified=modified, etag=etag,
                      storage_class=storage, stored_key=stored_key, compressed_size=size)


def logical_page(bucket: str, raw: RawPage, *, prefix: str, delimiter: str | None, max_keys: int,
                 continuation_token: str | None) -> ListObjectsResult:
    contents: list[ObjectInfo] = []
    hidden: list[ObjectInfo] = []
    for stored_key, size, modified, etag, storage in raw.objects:
        info = to_object_info(stored_key, size, modified, etag, storage)
        (hidden if fmt.is_internal_key(stored_key) else contents).append(info)
    prefixes = [p for p in raw.common_prefixes if not fmt.is_internal_key(p)]
    return ListObjectsResult(
        name=bucket, prefix=prefix, delimiter=delimiter or "", max_keys=max_keys,
        contents=contents, common_prefixes=prefixes, is_truncated=raw.is_truncated,
        next_continuation_token=raw.next_token if raw.is_truncated else None,
        continuation_token=continuation_token, key_count=len(contents) + len(prefixes), hidden=hidden,
    )


def iter_raw_pages(s3_client: Any, bucket: str, prefix: str = "", delimiter: str | None = None,
                   page_size: int = 1000, continuation_token: str | None = None,
                   start_after: str | None = None) -> Iterator[tuple[str | None, RawPage]]:
    """(token, page) for every page under a prefix, the next one requested while this one is used.

    One request at a time is in flight, as with plain paging. The guessed
    token is checked against the parsed page; on a mismatch the guess is
    dropped and the parsed token is requested.
    """
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dgtui-list")
    token = continuation_token

    def request(next_token: str | None) -> Future:
        return pool.submit(fetch_page, s3_client, bucket, prefix, delimiter, page_size, next_token,
                           None if next_token else start_after)

    try:
        pending = request(token)
        while True:
            fetched = pending.result()
            guess = peek_next_token(fetched) if isinstance(fetched, bytes) else None
            ahead = request(guess) if guess else None
            raw = _as_page(fetched)
            real = raw.next_token if raw.is_truncated and raw.next_token else None
            if real != guess:
                if ahead is not None:
                    ahead.cancel()
                ahead = request(real) if real else None
            yield token, raw
            if ahead is None:
                return
            token, pending = real, ahead
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def iter_logical_pages(s3_client: Any, bucket: str, prefix: str = "", delimiter: str | None = None,
                       page_size: int = 1000, continuation_token: str | None = None) -> Iterator[ListObjectsResult]:
    """Every page under a prefix, following S3's continuation tokens."""
    for token, raw in iter_raw_pages(s3_client, bucket, prefix, delimiter, page_size, continuation_token):
        yield logical_page(bucket, raw, prefix=prefix, delimiter=delimiter, max_keys=page_size,
                           continuation_token=token)


# -- listing again, in parallel, from where the pages broke last time ---------------------

def page_bounds(stored_keys: Sequence[str], page_size: int = 1000) -> list[str] | None:
    """The last key of every full page of a complete, flat listing, to split the next one by.

    None when the listing was not in code-point order (so this server orders
    keys some other way, and splitting by our comparison could miss keys).
    """
    if any(a >= b for a, b in zip(stored_keys, stored_keys[1:])):
        return None
    return [stored_keys[i] for i in range(page_size - 1, len(stored_keys) - 1, page_size)]


def list_split(s3_client: Any, bucket: str, prefix: str, bounds: Sequence[str], *,
               page_size: int = 1000, max_workers: int = 16) -> list[RawPage]:
    """A whole flat listing, fetched as segments in parallel that start after each of ``bounds``.

    Segment i holds the keys in (bounds[i-1], bounds[i]]. Each is listed
    from StartAfter=bounds[i-1] and followed with continuation tokens until
    it reaches bounds[i], so keys added since the bounds were taken are
    still listed, and keys beyond a segment's end are left to the next
    segment: nothing is missed or listed twice, whatever has changed. When
    a segment's keys do not come in code-point order (or the server ignores
    StartAfter) it raises ``ListingOrderError`` before returning anything,
    and the caller lists the plain way.
    """
    if any(a >= b for a, b in zip(bounds, bounds[1:])):
        raise ListingOrderError()  # bounds from a damaged cache: segments would overlap
    edges: list[str | None] = [None, *bounds]
    ends: list[str | None] = [*bounds, None]

    def segment(start_after: str | None, end: str | None) -> list[RawPage]:
        pages: list[RawPage] = []
        token: str | None = None
        last: str | None = start_after
        while True:
            raw = _as_page(fetch_page(s3_client, bucket, prefix, None, page_size, token,
                                      None if token else start_after))
            keys = [o[0] for o in raw.objects]
            in_order = all(a < b for a, b in zip(keys, keys[1:]))
            if not in_order or (keys and last is not None and keys[0] <= last):
                raise ListingOrderError()  # or StartAfter was ignored
            if keys:
                last = keys[-1]
            if end is not None and last is not None and last >= end:
                raw.objects = [o for o in raw.objects if o[0] <= end]
                pages.append(raw)
                return pages
            pages.append(raw)
            if not raw.is_truncated or not raw.next_token:
                return pages
            token = raw.next_token

    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(edges))),
                            thread_name_prefix="dgtui-list") as pool:
        futures = [pool.submit(segment, start, end) for start, end in zip(edges, ends)]
        try:
            return [raw for future in futures for raw in future.result()]
        finally:
            for future in futures:
                future.cancel()


class ListingOrderError(Exception):
    """A listing did not come in the order split listing relies on."""
