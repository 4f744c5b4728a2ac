"""Split listings against servers that do odd things with StartAfter: whatever the server does, the
listing is exact (the keys a plain listing gives, none twice) or falls back to a plain listing, said on
the ``dgtui.ranged`` logger; never a partial result or a status the server did not send.

The real servers of the matrix (tests/matrix) take StartAfter as S3 does; the answers here are those
none of them gives, from a scripted listing server on 127.0.0.1.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from urllib.parse import parse_qs, quote, urlsplit
from xml.sax.saxutils import escape

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dgtui.core.ranged import _AFTER_FOLDER, iter_ranged_pages, split_points
from dgtui.core.s3 import S3Access

from ..scripted_http import QuietHandler, serving

KEYS = [f"d/{i:04d}.bin" for i in range(1_200)]
PAGE_SIZE = 100
_NS = "http://s3.amazonaws.com/doc/2006-03-01/"


def xml_char(ch: str) -> bool:
    """XML 1.0's Char production."""
    c = ord(ch)
    return c in (0x9, 0xA, 0xD) or 0x20 <= c <= 0xD7FF or 0xE000 <= c <= 0xFFFD or 0x10000 <= c <= 0x10FFFF


class ListingServer(QuietHandler):
    """ListObjectsV2 over ``keys``, as S3 answers it unless ``mode`` says otherwise for requests with
    StartAfter: ``echo-raw`` (the StartAfter echoed as it came, as moto does), ``echo-changed``,
    ``reject`` (400), ``ignore`` (listed from the start), ``unparsable`` (a 200 that is not XML);
    ``unparsable-always`` answers every request so."""

    keys: list[str] = KEYS
    mode = "s3"
    start_afters: list[str] = []
    lock = threading.Lock()

    def do_GET(self) -> None:  # noqa: N802
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query, keep_blank_values=True).items()}
        prefix, start_after = query.get("prefix", ""), query.get("start-after")
        token, max_keys = query.get("continuation-token"), int(query.get("max-keys", "1000"))
        if start_after is not None:
            with self.lock:
                self.start_afters.append(start_after)
        mode = self.mode if start_after is not None and token is None else "s3"
        if self.mode == "unparsable-always":
            mode = "unparsable"
        if mode == "reject":
            return self.answer(400, b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidArgument</Code>'
                                    b"<Message>Invalid StartAfter</Message></Error>")
        if mode == "unparsable":
            return self.answer(200, b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><StartAfter>\x01')
        after = token or (start_after if mode != "ignore" else None) or ""
        chosen = [k for k in self.keys if k.startswith(prefix) and k > after]
        page, truncated = chosen[:max_keys], len(chosen) > max_keys
        echo = ""
        if start_after is not None and mode != "ignore":
            # moto writes StartAfter back as it came, escaped for markup but not checked for XML characters
            shown = start_after[:-1] if mode == "echo-changed" else start_after
            echo = f"<StartAfter>{escape(shown)}</StartAfter>"
        contents = "".join(f"<Contents><Key>{quote(k)}</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified>"
                           f"<ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;</ETag><Size>0</Size>"
                           f"<StorageClass>STANDARD</StorageClass></Contents>" for k in page)
        more = f"<NextContinuationToken>{escape(page[-1])}</NextContinuationToken>" if truncated else ""
        body = (f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="{_NS}"><Name>b</Name>'
                f"<Prefix>{escape(prefix)}</Prefix>{echo}<KeyCount>{len(page)}</KeyCount><MaxKeys>{max_keys}"
                f"</MaxKeys><EncodingType>url</EncodingType><IsTruncated>{str(truncated).lower()}</IsTruncated>"
                f"{more}{contents}</ListBucketResult>")
        self.answer(200, body.encode("utf-8", "surrogatepass"))

    def answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def listing_server(s3_env) -> Iterator[type[ListingServer]]:
    handler = type("Scripted", (ListingServer,), {"start_afters": [], "mode": "s3", "keys": KEYS})
    with serving(handler) as url:
        handler.url = url  # type: ignore[attr-defined]
        yield handler


def ranged_keys(server: type[ListingServer]) -> list[str]:
    s3 = S3Access(endpoint_url=server.url, aws_access_key_id="k",  # type: ignore[attr-defined]
                  aws_secret_access_key="s", region_name="us-east-1")
    return [o[0] for raw in iter_ranged_pages(s3.client, "b", "d/", None, PAGE_SIZE) for o in raw.objects]


def test_a_server_that_echoes_start_after_raw_still_gives_a_readable_page(listing_server, caplog):
    # moto's way: before, U+FFFF in the split points made its page invalid XML, and the listing failed
    # part-way with a 500 the server never sent.
    listing_server.mode = "echo-raw"
    with caplog.at_level(logging.DEBUG, logger="dgtui"):
        assert ranged_keys(listing_server) == KEYS
    assert len(listing_server.start_afters) >= 5, "listed in ranges"
    assert all(xml_char(ch) for s in listing_server.start_afters for ch in s)
    assert not [r for r in caplog.records if r.name == "dgtui.ranged" and "plain way" in r.getMessage()], \
        "no fallback needed"


@pytest.mark.parametrize("mode, reason", [
    ("echo-changed", "changed StartAfter"),
    ("reject", "InvalidArgument"),
    ("ignore", "ignored StartAfter"),
    ("unparsable", "StartAfter failed"),
])
def test_a_server_that_breaks_start_after_gets_a_plain_listing(listing_server, caplog, mode, reason):
    listing_server.mode = mode
    with caplog.at_level(logging.DEBUG, logger="dgtui"):
        assert ranged_keys(listing_server) == KEYS
    said = [r.getMessage() for r in caplog.records if r.name == "dgtui.ranged" and "plain way" in r.getMessage()]
    assert len(said) == 1 and "plain way" in said[0] and reason in said[0], said
    starts = listing_server.start_afters
    assert starts and len(starts) == len(set(starts)), "no request from StartAfter retried"


def test_the_cli_lists_everything_from_a_server_that_rejects_start_after(listing_server, s3_env, capsys,
                                                                        monkeypatch):
    from dgtui.cli import main

    listing_server.keys = [f"d/{i:04d}.bin" for i in range(2_100)]
    listing_server.mode = "reject"
    monkeypatch.setenv("AWS_ENDPOINT_URL", listing_server.url)
    code = main(["ls", "--recursive", "--json", "s3://b/d/"])
    out, err = capsys.readouterr()
    assert code == 0, err[-2000:]
    assert [line.split('"key": "')[1].split('"')[0] for line in out.splitlines()] == listing_server.keys
    assert listing_server.start_afters, "the CLI tried ranges first"


names = st.lists(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=6),
                 min_size=2, max_size=40, unique=True)


@settings(max_examples=300, deadline=None)
@given(names)
def test_split_points_are_xml_text_and_lie_after_the_page(raw_names):
    listed = sorted(f"p/{n}" for n in raw_names)
    for hi in (None, listed[-1] + "\U0001f600"):
        points = split_points(listed, listed[-1], hi, "p/", limit=64)
        assert all(xml_char(ch) for point in points for ch in point), points
        assert all(point > listed[-1] and (hi is None or point < hi) for point in points)
        assert all(len(point.encode()) <= 1024 for point in points)
    assert all(xml_char(ch) for ch in _AFTER_FOLDER)


def test_pages_that_are_never_xml_fail_with_what_happened_not_a_500(listing_server, s3_env, capsys, monkeypatch):
    from dgtui.cli import main

    listing_server.mode = "unparsable-always"
    monkeypatch.setenv("AWS_ENDPOINT_URL", listing_server.url)
    code = main(["ls", "--recursive", "s3://b/d/"])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "listing page that is not XML" in err, err
    assert "500" not in err and "Internal Server Error" not in err, "the server never said 500"
