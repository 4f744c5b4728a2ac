"""Random keys and metadata through the pure parts: listing pages, metadata
classification, object details and restore paths. Nothing may raise, and a
restore path is always inside the folder or refused."""

from __future__ import annotations

import math
import os
import tempfile
import unicodedata
from urllib.parse import quote_plus
from xml.sax.saxutils import escape

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from dgtui.core import format as fmt
from dgtui.core.paths import safe_relative_path
from dgtui.core.errors import NotS3Error
from dgtui.core.listing import logical_page, parse_list_v2
from dgtui.core.models import ObjectInfo, ObjectKind
from dgtui.core.stats import apply_metadata

# Hypothesis keeps caches in ./.hypothesis; keep the working tree clean.
set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "dgtui-hypothesis"))
FUZZ = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# Characters that matter to paths and terminals, plus any other Unicode (no surrogates).
special = st.sampled_from(["/", "/", ".", "..", "\\", ":", "C:", "\x00", "\x1b", "\n", "\r", "\x7f", "\x9b",
                           "\u202e", "\u200d", " ", "+", "%", "%2F", "&", "<", "~", "reference.bin", ".delta",
                           ".deltaglider/", "日本", "é"])
any_char = st.characters(blacklist_categories=("Cs",))
key_part = st.one_of(special, st.text(any_char, min_size=1, max_size=8))
keys = st.lists(key_part, max_size=12).map("".join)


def xml_page(objects, prefixes, truncated, token) -> bytes:
    parts = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
             "<Name>b</Name><EncodingType>url</EncodingType>",
             f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>",
             f"<KeyCount>{len(objects) + len(prefixes)}</KeyCount>"]
    if token:
        parts.append(f"<NextContinuationToken>{escape(token)}</NextContinuationToken>")
    for key, size, etag in objects:
        parts.append(f"<Contents><Key>{quote_plus(key, safe='/')}</Key><LastModified>2026-01-01T00:00:00.000Z"
                     f"</LastModified><ETag>&quot;{etag}&quot;</ETag><Size>{size}</Size>"
                     f"<StorageClass>STANDARD</StorageClass></Contents>")
    for p in prefixes:
        parts.append(f"<CommonPrefixes><Prefix>{quote_plus(p, safe='/')}</Prefix></CommonPrefixes>")
    parts.append("</ListBucketResult>")
    return "".join(parts).encode("utf-8")


@FUZZ
@example(objects=[("/", 0, ""), ("/.delta", 0, "")], prefixes=[], truncated=False, token=None)  # twins
@given(objects=st.lists(st.tuples(keys.filter(bool), st.integers(0, 2**53), st.text("0123456789abcdef", max_size=32)),
                        max_size=20),
       prefixes=st.lists(keys.filter(bool).map(lambda k: k + "/"), max_size=5),
       truncated=st.booleans(), token=st.one_of(st.none(), st.text("abcXYZ019+/=", min_size=1, max_size=40)))
def test_listing_pages(objects, prefixes, truncated, token):
    raw = parse_list_v2(xml_page(objects, prefixes, truncated, token))
    assert [(k, s, e) for k, s, _, e, _ in raw.objects] == objects
    assert raw.common_prefixes == prefixes and raw.is_truncated == truncated
    page = logical_page("b", raw, prefix="", delimiter="/", max_keys=1000, continuation_token=None)
    assert len(page.contents) + len(page.hidden) == len(objects)
    for info in page.contents:
        assert not fmt.is_internal_key(info.stored_key)
        assert info.key == fmt.logical_key_of(info.stored_key)
        assert info.is_delta == info.stored_key.endswith(".delta")
    # hidden: DeltaGlider's own keys, and the older of two copies of one name (`x` and `x.delta`)
    shown = {info.key for info in page.contents}
    assert all(fmt.is_internal_key(h.stored_key) or h.key in shown for h in page.hidden)
    assert page.key_count == len(page.contents) + len(page.common_prefixes)
    assert page.next_continuation_token == (token if truncated else None)
    page["Contents"], page.get("NextContinuationToken")  # the boto3-style view builds too


@FUZZ
@given(body=st.one_of(st.binary(max_size=200), st.text(any_char, max_size=100).map(lambda t: t.encode()),
                      st.sampled_from([b"<html><body>portal</body></html>", b"<Error><Code>x</Code></Error>",
                                       b"", b"null", b"<?xml version='1.0'?><ListAllMyBucketsResult/>"])))
def test_listing_bodies_that_are_not_s3(body):
    try:
        page = parse_list_v2(body)
    except NotS3Error as exc:
        assert "endpoint" in str(exc)
    else:  # only a real ListBucketResult gets here
        assert page.objects == [] or body.lstrip().startswith((b"<", b"\xef"))


meta_keys = st.sampled_from([a for aliases in fmt.ALIASES.values() for a in aliases]
                            + ["DG-FILE-SHA256", "Dg-Ref-Key", "user-owner", "dg-md5", "x"])
meta_values = st.one_of(
    st.text(any_char, max_size=30),
    st.text("0123456789abcdef", min_size=64, max_size=64),
    st.integers(-10**30, 10**30).map(str),
    st.sampled_from(["none", "passthrough", "reference", "", " 12 ", "1e9", "NaN", "reference.bin",
                     "../../reference.bin", "/abs/reference.bin", "0x10", "１２"]),
)
metadata = st.dictionaries(meta_keys, meta_values, max_size=14)


@FUZZ
@given(stored_key=keys, md=metadata)
def test_metadata_classification(stored_key, md):
    parsed = fmt.parse_metadata(stored_key, md)
    assert parsed.kind in (ObjectKind.DELTA, ObjectKind.DIRECT, ObjectKind.PLAIN)
    assert parsed.file_sha256 is None or (len(parsed.file_sha256) == 64 and
                                          set(parsed.file_sha256) <= set("0123456789abcdef"))
    assert parsed.ref_sha256 is None or len(parsed.ref_sha256) == 64
    for size in (parsed.file_size, parsed.delta_size):
        assert size is None or 0 <= size <= fmt.MAX_SIZE
    assert all(isinstance(p, str) and p for p in parsed.problems)
    if parsed.kind == ObjectKind.DELTA and stored_key.endswith(".delta") and parsed.file_sha256:
        assert parsed.ref_key


@FUZZ
@given(stored_key=keys, size=st.integers(0, 2**53), md=metadata)
def test_object_details(stored_key, size, md):
    info = ObjectInfo(key=fmt.logical_key_of(stored_key), size=size, last_modified="", stored_key=stored_key,
                      is_delta=stored_key.endswith(".delta"))
    apply_metadata(info, md)
    assert info.metadata_loaded and info.kind != ObjectKind.UNKNOWN
    assert info.metadata_problem is None or isinstance(info.metadata_problem, str)
    assert info.original_size is None or info.original_size >= 0
    assert info.compression_ratio is None or math.isfinite(info.compression_ratio)
    info.savings_percent, info.to_boto3()


ROOT = "/restore/here"


@FUZZ
@given(key=keys, prefix=st.one_of(st.just(""), keys.map(lambda k: k + "/" if k else k)))
def test_restore_paths_stay_inside_the_folder(key, prefix):
    rel, problem = safe_relative_path(key, prefix)
    if rel is None:
        assert problem
        return
    assert problem is None
    text = str(rel)
    assert not os.path.isabs(text) and "\\" not in text
    assert all(part not in ("", ".", "..") and len(part.encode()) <= 255 for part in rel.parts)
    assert not any(unicodedata.category(c) == "Cc" or c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
                   for c in text)
    joined = os.path.normpath(os.path.join(ROOT, text))
    assert joined.startswith(ROOT + os.sep)
    assert os.path.commonpath([ROOT, joined]) == ROOT
    # Adversarial shapes must be refused whatever the prefix.
    for evil in ("../x", "a/../../x", "/etc/passwd", "a\\..\\x", "a//b", "./a", "a/."):
        assert safe_relative_path(prefix + evil, prefix)[0] is None, evil
